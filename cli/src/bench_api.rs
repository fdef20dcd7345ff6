//! `hearth bench api`: the HTTP API and MCP under load, on loopback.
//!
//! 1. Search requests/s and p50/p99 latency at 1, 8 and 32 concurrent clients (each a
//!    keep-alive connection in a bounded loop).
//! 2. Time to the first streamed answer token over HTTP against the same question asked
//!    in-process, as `hearth ask` does.
//! 3. Under load: 32 clients search (half `/api/search`, half MCP's `search` tool) while an
//!    ingest runs over `/api/ingest` and answers stream: requests, failures, p50/p99.
//! 4. A client that leaves mid-answer while another waits: how long until the waiting one gets
//!    the generation turn, in ms and in tokens of the leaver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hearth::answer::{self, AnswerEvent};
use hearth::{Cancel, Config};
use serde_json::{json, Value};

use crate::measure::percentile;

/// One keep-alive HTTP/1.1 connection that reads `Content-Length` replies.
struct Connection {
    reader: BufReader<TcpStream>,
    auth: String,
}

impl Connection {
    fn open(addr: SocketAddr, token: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
            auth: format!("Bearer {token}"),
        })
    }

    /// Writes a JSON `POST` to `path`, with the `extra` header lines (each ending in CRLF).
    fn send(&mut self, path: &str, body: &Value, extra: &str) -> Result<()> {
        let body = serde_json::to_vec(body)?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {}\r\n\
             Content-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
            self.auth,
            body.len()
        );
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(&body)?;
        Ok(())
    }

    fn post(&mut self, path: &str, body: &Value) -> Result<(u16, Vec<u8>)> {
        self.send(path, body, "")?;
        let mut status = 0;
        let mut length = None;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the server closed the connection");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(code) = status_code(l) {
                status = code;
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                }
            }
        }
        let mut reply = vec![0; length.context("a reply without Content-Length")?];
        self.reader.read_exact(&mut reply)?;
        Ok((status, reply))
    }

    /// Sends a streaming chat request; returns the ms until the first non-empty answer text
    /// arrived (the stream is read to its end so the next request starts on a quiet server).
    fn first_token(&mut self, question: &str, max_tokens: usize) -> Result<f64> {
        let started = Instant::now();
        let mut first = None;
        let body = chat(question, max_tokens);
        self.stream(
            "/v1/chat/completions",
            &body,
            "",
            |_| {},
            |data| {
                if first.is_none() && chat_text(data)?.is_some_and(|t| !t.is_empty()) {
                    first = Some(started.elapsed().as_secs_f64() * 1e3);
                }
                Ok(true)
            },
        )?;
        first.context("the stream held no answer text")
    }

    /// Sends a request whose reply is a stream of server-sent events (`Connection: close`) and
    /// hands each `data:` message to `each` until it returns false (`Ok(true)`: more may
    /// follow) or the stream ends (`Ok(false)`). The status line is given to `status` as soon
    /// as it arrives.
    fn stream(
        &mut self,
        path: &str,
        body: &Value,
        extra: &str,
        mut status: impl FnMut(u16),
        mut each: impl FnMut(&str) -> Result<bool>,
    ) -> Result<bool> {
        self.send(path, body, &format!("{extra}Connection: close\r\n"))?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("{path}: the server closed the connection without a reply");
            }
            if let Some(code) = status_code(&line) {
                status(code);
                if code != 200 {
                    bail!("{path}: status {code}");
                }
            }
            if line.trim_end().is_empty() {
                break;
            }
        }
        self.events(&mut each)
    }

    /// Reads the stream's `data:` messages on, handing each to `each` until it returns false
    /// or the stream ends (`Ok(false)` then).
    fn events(&mut self, mut each: impl FnMut(&str) -> Result<bool>) -> Result<bool> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(false);
            }
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                if !each(data)? {
                    return Ok(true);
                }
            }
        }
    }

    /// Closes the connection (both ways) now.
    fn close(self) {
        let _ = self.reader.get_ref().shutdown(std::net::Shutdown::Both);
    }
}

/// The status of an HTTP/1.1 status line (0 when it does not parse), `None` for other lines.
fn status_code(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.1 ")?;
    Some(rest.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0))
}

fn chat(question: &str, max_tokens: usize) -> Value {
    json!({
        "model": "hearth",
        "messages": [{ "role": "user", "content": question }],
        "stream": true,
        "max_tokens": max_tokens,
    })
}

fn mcp_call(id: usize, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments, "_meta": { "progressToken": id } },
    })
}

/// A chat-completion stream's message: its text, or the error it carries.
fn chat_text(data: &str) -> Result<Option<String>> {
    if data == "[DONE]" {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(data)?;
    if v["error"].is_object() {
        bail!("the answer failed: {}", v["error"]["message"]);
    }
    Ok(Some(
        v["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    ))
}

/// What one kind of request saw under load.
#[derive(Default)]
struct Tally {
    took_ms: Vec<f64>,
    failed: usize,
    first_failure: Option<String>,
}

impl Tally {
    fn record(&mut self, started: Instant, outcome: Result<()>) {
        self.took_ms.push(started.elapsed().as_secs_f64() * 1e3);
        if let Err(e) = outcome {
            self.failed += 1;
            self.first_failure.get_or_insert_with(|| format!("{e:#}"));
        }
    }

    fn merge(&mut self, other: Tally) {
        self.took_ms.extend(other.took_ms);
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn print(self, kind: &str) {
        let n = self.took_ms.len();
        let failure = self.first_failure.clone().unwrap_or_default();
        let (p50, _, p99) = spread(self.took_ms);
        println!(
            "  {kind:<22} {n:>8} {:>7} {p50:>9.1} {p99:>9.1}  {failure}",
            self.failed
        );
    }
}

/// `clients` clients search (half over `/api/search`, half through MCP's `search` tool at
/// `/mcp`), each in a loop of at most `per_client` requests, while an ingest of `folder` runs
/// over `/api/ingest` and answers stream one after another over `/v1/chat/completions`. The
/// loops end when the ingest has ended. Every reply is checked: a status other than 200, an
/// MCP tool error or an answer stream that fails counts as a failure.
fn under_load(
    addr: SocketAddr,
    token: &str,
    questions: &[String],
    folder: &Path,
    clients: usize,
    per_client: usize,
) -> Result<()> {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let questions = Arc::new(questions.to_vec());
    let started = Instant::now();
    let ingest = {
        let (done, token, folder) = (done.clone(), token.to_string(), folder.to_path_buf());
        std::thread::spawn(move || -> Result<(f64, Value)> {
            let mut last = Value::Null;
            let r = Connection::open(addr, &token).and_then(|mut c| {
                c.stream(
                    "/api/ingest",
                    &json!({ "paths": [folder] }),
                    "",
                    |_| {},
                    |data| {
                        last = serde_json::from_str(data)?;
                        Ok(last["phase"] != "finished")
                    },
                )
            });
            done.store(true, Ordering::SeqCst);
            r?;
            Ok((started.elapsed().as_secs_f64(), last))
        })
    };
    let answers = {
        let (done, token, questions) = (done.clone(), token.to_string(), questions.clone());
        std::thread::spawn(move || {
            let mut tally = Tally::default();
            let mut pieces = 0usize;
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let q = &questions[i % questions.len()];
                i += 1;
                let t = Instant::now();
                let mut text = String::new();
                let r = Connection::open(addr, &token).and_then(|mut c| {
                    c.stream(
                        "/v1/chat/completions",
                        &chat(q, 64),
                        "",
                        |_| {},
                        |data| {
                            Ok(match chat_text(data)? {
                                Some(piece) => {
                                    pieces += usize::from(!piece.is_empty());
                                    text.push_str(&piece);
                                    true
                                }
                                None => false,
                            })
                        },
                    )
                });
                let r = r.and_then(|_| {
                    if text.trim().is_empty() {
                        bail!("an answer without text");
                    }
                    Ok(())
                });
                tally.record(t, r);
            }
            (tally, pieces)
        })
    };
    let searchers: Vec<_> = (0..clients)
        .map(|n| {
            let (done, token, questions) = (done.clone(), token.to_string(), questions.clone());
            std::thread::spawn(move || -> (bool, Tally) {
                let mcp = n % 2 == 1;
                let mut tally = Tally::default();
                let Ok(mut c) = Connection::open(addr, &token) else {
                    tally.record(Instant::now(), Err(anyhow::anyhow!("cannot connect")));
                    return (mcp, tally);
                };
                for i in 0..per_client {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    let q = &questions[(n * 7 + i) % questions.len()];
                    let t = Instant::now();
                    let r = if mcp {
                        let call = mcp_call(i, "search", json!({ "query": q, "limit": 10 }));
                        c.post("/mcp", &call).and_then(|(status, body)| {
                            let v: Value = serde_json::from_slice(&body)?;
                            if status != 200 || v["result"]["isError"] != false {
                                bail!("MCP search: {status} {v}");
                            }
                            Ok(())
                        })
                    } else {
                        c.post("/api/search", &json!({ "query": q, "limit": 10 }))
                            .and_then(|(status, body)| {
                                if status != 200 {
                                    bail!("search: {status} {}", String::from_utf8_lossy(&body));
                                }
                                Ok(())
                            })
                    };
                    let failed = r.is_err();
                    tally.record(t, r);
                    if failed {
                        match Connection::open(addr, &token) {
                            Ok(fresh) => c = fresh,
                            Err(_) => break,
                        }
                    }
                }
                (mcp, tally)
            })
        })
        .collect();
    let (mut api, mut mcp) = (Tally::default(), Tally::default());
    for s in searchers {
        let (is_mcp, tally) = s.join().map_err(|_| anyhow::anyhow!("client thread"))?;
        if is_mcp { &mut mcp } else { &mut api }.merge(tally);
    }
    let searched = started.elapsed().as_secs_f64();
    let ingest = ingest
        .join()
        .map_err(|_| anyhow::anyhow!("ingest thread"))?;
    let (answers, pieces) = answers
        .join()
        .map_err(|_| anyhow::anyhow!("answer thread"))?;
    println!(
        "under load: {clients} clients search (half API, half MCP, at most {per_client} each) \
         while an ingest runs and answers stream:"
    );
    println!("  kind                   requests  failed    p50 ms    p99 ms");
    api.print("search /api/search");
    mcp.print("search MCP /mcp");
    let streamed = answers.took_ms.len();
    answers.print("answer stream (whole)");
    match ingest {
        Ok((secs, last)) => println!(
            "  ingest over /api/ingest: {} indexed, {} chunks, {} failed files, {secs:.1} s; \
             searches ran {searched:.1} s; {streamed} answers, {pieces} text pieces streamed (a piece is a checked sentence or more)",
            last["indexed"],
            last["chunks"],
            last["failed"].as_array().map_or(0, Vec::len)
        ),
        Err(e) => println!("  ingest over /api/ingest FAILED: {e:#}"),
    }
    Ok(())
}

/// How soon a generation's turn passes on when its client leaves: client A streams an answer
/// (over `/v1/chat/completions`, or MCP's `ask` at `/mcp`), client B asks meanwhile and waits
/// for the turn; A closes its connection 0.3 s after the answer began (its first shown text,
/// or MCP's "writing the answer"). Returns ms from A's close to B's turn (B's status line;
/// below zero: B had its turn before A left), or `None` when A's answer was complete before A
/// could leave (nothing to measure).
fn handover(addr: SocketAddr, token: &str, question: &str, mcp: bool) -> Result<Option<f64>> {
    let spawn_b = |token: String, question: String| {
        std::thread::spawn(move || -> Result<Instant> {
            let mut b = Connection::open(addr, &token)?;
            let mut turn = None;
            b.stream(
                "/v1/chat/completions",
                &chat(&question, 4),
                "",
                |_| turn = Some(Instant::now()),
                |_| Ok(false),
            )?;
            turn.context("no status line")
        })
    };
    // a message of A's stream: (the answer has begun, the answer is complete)
    let read = |data: &str| -> Result<(bool, bool)> {
        if mcp {
            let v: Value = serde_json::from_str(data)?;
            let done = v.get("result").is_some();
            Ok((done || v["params"]["message"] == "writing the answer", done))
        } else {
            Ok(match chat_text(data)? {
                Some(t) => (!t.is_empty(), false),
                None => (true, true),
            })
        }
    };
    let mut a = Connection::open(addr, token)?;
    let (path, body, accept) = if mcp {
        let call = mcp_call(1, "ask", json!({ "question": question }));
        (
            "/mcp",
            call,
            "Accept: application/json, text/event-stream\r\n",
        )
    } else {
        ("/v1/chat/completions", chat(question, 400), "")
    };
    let mut done = false;
    a.stream(
        path,
        &body,
        accept,
        |_| {},
        |data| {
            let (begun, end) = read(data)?;
            done = end;
            Ok(!begun)
        },
    )?;
    if done {
        return Ok(None);
    }
    let b = spawn_b(token.to_string(), question.to_string());
    a.reader
        .get_ref()
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))?;
    let timed_out = |e: &anyhow::Error| {
        e.downcast_ref::<std::io::Error>().is_some_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        })
    };
    match a.events(|data| {
        done = read(data)?.1;
        Ok(!done)
    }) {
        Ok(more) => done |= !more,
        Err(e) if timed_out(&e) => {}
        Err(e) => return Err(e),
    }
    let closed_at = Instant::now();
    a.close();
    let turn = b.join().map_err(|_| anyhow::anyhow!("client thread"))??;
    if done {
        return Ok(None);
    }
    let ms = |a: Instant, b: Instant| match a.checked_duration_since(b) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(b - a).as_secs_f64() * 1e3,
    };
    Ok(Some(ms(turn, closed_at)))
}

/// Copies the files under `from` to `to` (folders made as needed).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn spread(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
    )
}

/// Runs the API benchmark on the library of `config` after ingesting `corpus` into it.
pub(crate) async fn run(
    config: &Config,
    corpus: &Path,
    questions: Vec<String>,
    requests: usize,
    answers: usize,
    handovers: usize,
) -> Result<()> {
    if questions.is_empty() {
        bail!("no questions to ask");
    }
    // the folder ingested under load: a copy of the corpus, which clients may index
    let copy = config.data_dir.join("load-copy");
    let mut config = config.clone();
    config.api.allowed_roots.push(copy.clone());
    let config = &config;
    let library = Arc::new({
        let mut lib = crate::open_library(config.clone()).await?;
        lib.set_writer("hearth bench api", true);
        let report =
            crate::ingest_with_progress(&lib, std::slice::from_ref(&corpus.to_path_buf()), true)
                .await?;
        println!(
            "library: {} indexed, {} unchanged, {} chunks",
            report.indexed, report.skipped, report.chunks
        );
        lib
    });
    let (token, _) = hearth_http::api_token(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hearth_http::serve(
        listener,
        library.clone(),
        crate::serve::llm_loader(config.clone()),
        hearth_http::Options::new(token.clone()),
        async move {
            let _ = stopped.await;
        },
    ));

    // searches at 1, 8 and 32 clients
    println!("search over HTTP ({requests} requests per row, hybrid, limit 10):");
    println!("  clients   req/s    p50 ms   p99 ms");
    for clients in [1usize, 8, 32] {
        let (questions, token) = (Arc::new(questions.clone()), token.clone());
        let row = tokio::task::spawn_blocking(move || -> Result<(f64, Vec<f64>)> {
            let next = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let workers: Vec<_> = (0..clients)
                .map(|_| {
                    let (next, questions, token) = (next.clone(), questions.clone(), token.clone());
                    std::thread::spawn(move || -> Result<Vec<f64>> {
                        let mut c = Connection::open(addr, &token)?;
                        let mut took = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            if i >= requests {
                                return Ok(took);
                            }
                            let q = &questions[i % questions.len()];
                            let t = Instant::now();
                            let (status, body) =
                                c.post("/api/search", &json!({ "query": q, "limit": 10 }))?;
                            took.push(t.elapsed().as_secs_f64() * 1e3);
                            if status != 200 {
                                bail!("search: {status} {}", String::from_utf8_lossy(&body));
                            }
                        }
                    })
                })
                .collect();
            let mut all = Vec::new();
            for w in workers {
                all.extend(w.join().map_err(|_| anyhow::anyhow!("client thread"))??);
            }
            Ok((started.elapsed().as_secs_f64(), all))
        })
        .await??;
        let (secs, took) = row;
        let n = took.len();
        let (p50, _, p99) = spread(took);
        println!(
            "  {clients:>7} {:>7.1} {p50:>9.1} {p99:>8.1}",
            n as f64 / secs
        );
    }

    // time to first token: over HTTP (streamed) and in-process as `hearth ask`
    let asked: Vec<String> = questions.iter().take(answers).cloned().collect();
    println!(
        "time to first answer token, {} questions (32-token answers; the first, untimed, loads \
         the model):",
        asked.len()
    );
    let warm = questions[0].clone();
    let t = token.clone();
    tokio::task::spawn_blocking(move || Connection::open(addr, &t)?.first_token(&warm, 8))
        .await??;
    let mut http = Vec::new();
    for q in &asked {
        let (q, t) = (q.clone(), token.clone());
        http.push(
            tokio::task::spawn_blocking(move || Connection::open(addr, &t)?.first_token(&q, 32))
                .await??,
        );
    }
    let llm = crate::answer::load_answerer(config, None).await?;
    let mut cfg = config.answer.clone();
    cfg.max_answer_tokens = 32;
    let (mut direct, mut speeds) = (Vec::new(), Vec::new());
    for q in &asked {
        let first = Arc::new(std::sync::Mutex::new(None::<f64>));
        let started = Instant::now();
        let seen = first.clone();
        let a = answer::ask(
            &library,
            llm.clone(),
            q,
            &[],
            &cfg,
            &Cancel::new(),
            Box::new(move |ev| {
                if let AnswerEvent::Token(t) = ev {
                    let mut f = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if f.is_none() && !t.is_empty() {
                        *f = Some(started.elapsed().as_secs_f64() * 1e3);
                    }
                }
            }),
        )
        .await?;
        speeds.push(a.timings.tokens_per_s);
        let f = *first.lock().unwrap_or_else(|e| e.into_inner());
        direct.push(f.context("an answer without text")?);
    }
    let (h50, h95, _) = spread(http);
    let (d50, d95, _) = spread(direct);
    speeds.sort_by(f64::total_cmp);
    let token_ms = 1e3 / percentile(&speeds, 0.5).max(1e-9);
    println!("                 p50 ms   p95 ms");
    println!("  HTTP stream  {h50:>9.0} {h95:>8.0}");
    println!("  in-process   {d50:>9.0} {d95:>8.0}");
    println!("  HTTP / in-process p50: {:.2}", h50 / d50.max(1e-9));

    // searches while an ingest runs and answers stream; then clients that leave mid-answer
    let copied = copy.to_string_lossy().to_string();
    let _ = library.remove(&copied).await; // what a killed run left, if anything
    if copy.exists() {
        std::fs::remove_dir_all(&copy)?;
    }
    copy_tree(corpus, &copy)?;
    let (t, qs) = (token.clone(), questions.clone());
    tokio::task::spawn_blocking(move || under_load(addr, &t, &qs, &copy, 32, requests)).await??;
    println!(
        "a client leaves mid-answer while another waits for its turn ({handovers} times each):"
    );
    println!("  leaving client   median, worst in tokens   turn passed after, ms");
    for mcp in [false, true] {
        let (mut after, mut short) = (Vec::new(), 0);
        for q in questions.iter() {
            if after.len() == handovers {
                break;
            }
            let (t, q) = (token.clone(), q.clone());
            match tokio::task::spawn_blocking(move || handover(addr, &t, &q, mcp)).await?? {
                Some(ms) => after.push(ms),
                None => short += 1,
            }
        }
        let listed = after
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        after.sort_by(f64::total_cmp);
        let (median, worst) = (
            percentile(&after, 0.5),
            after.last().copied().unwrap_or(0.0),
        );
        println!(
            "  {:<16} {:>10.1} {:>8.1}        {listed}   ({short} answers ended before the \
             client could leave)",
            if mcp { "MCP ask (SSE)" } else { "chat stream" },
            median / token_ms,
            worst / token_ms,
        );
    }
    println!(
        "  (a token: {token_ms:.0} ms, the median decode speed of the in-process answers above)"
    );
    let removed = library.remove(&copied).await?;
    println!("(the {} copied documents removed again)", removed.len());
    let _ = stop.send(());
    server.await??;
    Ok(())
}
