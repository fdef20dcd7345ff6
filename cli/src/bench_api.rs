//! `hearth bench api`: the HTTP API under load, on loopback. Search requests/s and p50/p99
//! latency at several numbers of concurrent clients (each a keep-alive connection in a bounded
//! loop), then time to the first streamed answer token over HTTP against the same question
//! asked in-process, as `hearth ask` does.

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

use crate::eval::percentile;

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

    fn post(&mut self, path: &str, body: &Value) -> Result<(u16, Vec<u8>)> {
        let body = serde_json::to_vec(body)?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.auth,
            body.len()
        );
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(&body)?;
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
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
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

    /// Sends a streaming chat request; returns when the first non-empty answer text arrives
    /// (then reads the stream to its end so the next request starts on a quiet server).
    fn first_token(&mut self, question: &str, max_tokens: usize) -> Result<f64> {
        let body = serde_json::to_vec(&json!({
            "model": "hearth",
            "messages": [{ "role": "user", "content": question }],
            "stream": true,
            "max_tokens": max_tokens,
        }))?;
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nAuthorization: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.auth,
            body.len()
        );
        let started = Instant::now();
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(&body)?;
        let mut first = None;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                break;
            }
            if first.is_some() {
                continue;
            }
            let Some(data) = line.trim_end().strip_prefix("data: ") else {
                continue;
            };
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                if v["error"].is_object() {
                    bail!("the server failed: {}", v["error"]["message"]);
                }
                if v["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
                {
                    first = Some(started.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        first.context("the stream held no answer text")
    }
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
) -> Result<()> {
    if questions.is_empty() {
        bail!("no questions to ask");
    }
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
    let mut direct = Vec::new();
    for q in &asked {
        let first = Arc::new(std::sync::Mutex::new(None::<f64>));
        let started = Instant::now();
        let seen = first.clone();
        answer::ask(
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
        let f = *first.lock().unwrap_or_else(|e| e.into_inner());
        direct.push(f.context("an answer without text")?);
    }
    let (h50, h95, _) = spread(http);
    let (d50, d95, _) = spread(direct);
    println!("                 p50 ms   p95 ms");
    println!("  HTTP stream  {h50:>9.0} {h95:>8.0}");
    println!("  in-process   {d50:>9.0} {d95:>8.0}");
    println!("  HTTP / in-process p50: {:.2}", h50 / d50.max(1e-9));
    let _ = stop.send(());
    server.await??;
    Ok(())
}
