//! `hearth serve` end to end: the real binary on a free loopback port, a real library (LanceDB
//! on disk, the real embedder and language model), driven over plain HTTP/1.1 sockets as curl
//! would. The official `openai` Python client is driven against it by `tests/api/run.sh`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::corpus;

struct Server {
    child: Child,
    addr: String,
    token: String,
    /// Everything the server wrote on stderr after its first line.
    log: Arc<Mutex<Vec<String>>>,
}

/// Answers come from the catalog's default model, not from what this machine's measured
/// speeds would choose (the 1.5B where it starts in time): the answers checked here are the
/// 0.5B's. Added to the data dir's config.toml unless it names a model.
fn pin_answerer(data: &Path) {
    let file = data.join("config.toml");
    let old = std::fs::read_to_string(&file).unwrap_or_default();
    if !old.contains("[llm]") {
        std::fs::create_dir_all(data).unwrap();
        std::fs::write(
            &file,
            format!("{old}\n[llm]\nmodel = \"qwen2.5-coder-0.5b-instruct-q4km\"\n"),
        )
        .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, extra: &[&str]) -> Server {
    pin_answerer(data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start hearth serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    // "hearth serve: listening on http://127.0.0.1:PORT (bearer token in PATH)"
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address on the first line: {first:?}"))
        .to_string();
    let token_file = first
        .split("bearer token in ")
        .nth(1)
        .map(|r| r.trim().trim_end_matches(')'))
        .unwrap_or_else(|| panic!("no token file on the first line: {first:?}"));
    assert_eq!(Path::new(token_file), data.join("api-token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    let token = std::fs::read_to_string(token_file)
        .unwrap()
        .trim()
        .to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Server {
        child,
        addr,
        token,
        log,
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The `data:` payloads of a server-sent event stream.
    fn events(&self) -> Vec<String> {
        sse_data(&String::from_utf8_lossy(&self.body))
    }
    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(str::to_string)
        .collect()
}

/// Undo `Transfer-Encoding: chunked`.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        raw = &raw[eol + 2..];
        if size == 0 || raw.len() < size {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[(size + 2).min(raw.len())..];
    }
}

fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    if let Some(b) = body {
        // a server may answer (413) and close before reading all of a huge body
        let _ = s.write_all(b);
    }
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        // a reset after the reply (a huge body the server did not read) leaves the reply
        assert!(!raw.is_empty(), "{method} {path}: {e}");
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP reply: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

impl Server {
    fn get(&self, path: &str) -> Reply {
        self.send_as(&self.token, "GET", path, None)
    }
    fn post(&self, path: &str, body: &Value) -> Reply {
        self.send_as(&self.token, "POST", path, Some(body))
    }
    /// A request with `token` as the bearer token and `body` as JSON.
    fn send_as(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {token}");
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        send(
            &self.addr,
            method,
            path,
            &[("Authorization", &auth)],
            bytes.as_deref(),
        )
    }
    /// Sends a chat request and leaves the connection open for the test to read (or drop).
    fn open_chat_stream(&self, body: &Value) -> TcpStream {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let body = serde_json::to_vec(body).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            self.token,
            body.len()
        )
        .unwrap();
        s.write_all(&body).unwrap();
        s
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

const HERON: &str = "When do the heron eggs hatch?";

fn chat_body(question: &str, stream: bool) -> Value {
    json!({
        "model": "hearth",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
        "stream": stream,
        "max_tokens": 64,
    })
}

#[test]
fn serve_answers_searches_ingests_and_refuses_what_it_should() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // clients may index the corpus and a notes folder, nothing else; in the notes folder a
    // link leads out to a secret folder
    let notes = tmp.path().join("notes");
    let secret = tmp.path().join("secret");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(
        notes.join("garden.txt"),
        "The tomatoes went in on the ninth of May.",
    )
    .unwrap();
    std::fs::write(secret.join("keys.txt"), "the safe's code is 4711").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, notes.join("leak")).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("config.toml"),
        format!(
            "[api]\nallowed_roots = [{:?}, {:?}]\n",
            corpus(),
            notes.display().to_string()
        ),
    )
    .unwrap();
    let server = start(&data, &[]);
    let addr = server.addr.clone();

    // health needs no token; everything else does
    let r = send(&addr, "GET", "/health", &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = send(&addr, "GET", "/api/status", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = send(
        &addr,
        "GET",
        "/v1/models",
        &[("Authorization", "Bearer not-the-token")],
        None,
    );
    assert_eq!(r.status, 401);
    // a web page's request is refused: no CORS unless asked for
    let auth = format!("Bearer {}", server.token);
    let r = send(
        &addr,
        "GET",
        "/api/status",
        &[("Authorization", &auth), ("Origin", "http://evil.example")],
        None,
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "forbidden_origin");
    assert_eq!(r.header("access-control-allow-origin"), None);

    // ingest a folder with progress as server-sent events
    let r = server.post("/api/ingest", &json!({ "paths": [corpus()] }));
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let events: Vec<Value> = r
        .events()
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e["phase"] == "progress"),
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["phase"], "finished", "{last}");
    assert_eq!(last["indexed"], 6, "{last}");
    let r = server.post("/api/ingest", &json!({ "paths": ["relative/dir"] }));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("absolute"));

    // documents, status
    let r = server.get("/api/documents");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["documents"].as_array().unwrap().len(), 6);
    let r = server.get("/api/status");
    assert_eq!(r.json()["documents"], 6);

    // 20 searches at once, each answered with the heron document first
    let searches: Vec<_> = (0..20)
        .map(|i| {
            let (addr, token) = (addr.clone(), server.token.clone());
            std::thread::spawn(move || {
                let mode = ["hybrid", "vector", "text"][i % 3];
                let body = serde_json::to_vec(
                    &json!({ "query": "when do the heron eggs hatch", "mode": mode, "limit": 3 }),
                )
                .unwrap();
                let auth = format!("Bearer {token}");
                send(
                    &addr,
                    "POST",
                    "/api/search",
                    &[("Authorization", &auth)],
                    Some(&body),
                )
            })
        })
        .collect();
    for s in searches {
        let r = s.join().unwrap();
        assert_eq!(r.status, 200);
        let hits = r.json()["hits"].clone();
        // the heron page first (which of its two passages comes first differs by mode)
        assert!(
            hits[0]["path"]
                .as_str()
                .unwrap()
                .ends_with("field-guide.pdf")
                && hits[0]["page"] == 2,
            "{hits}"
        );
    }

    // bad requests, each with its code
    let r = send(
        &addr,
        "POST",
        "/api/search",
        &[("Authorization", &auth)],
        Some(b"{not json"),
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_json"));
    let huge = serde_json::to_vec(&json!({ "query": "x".repeat(2 << 20) })).unwrap();
    let r = send(
        &addr,
        "POST",
        "/api/search",
        &[("Authorization", &auth)],
        Some(&huge),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (413, "payload_too_large")
    );
    let r = server.post("/api/search", &json!({ "query": "x", "mode": "psychic" }));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_request")
    );
    let r = server.get("/v1/nothing");
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    let mut body = chat_body(HERON, false);
    body["model"] = json!("gpt-4o");
    let r = server.post("/v1/chat/completions", &body);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "model_not_found")
    );
    let r = server.post(
        "/v1/chat/completions",
        &json!({ "messages": [{"role": "assistant", "content": "hi"}] }),
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_request")
    );

    // embeddings: the library's embedder, as floats or base64 of the same floats
    let r = server.post(
        "/v1/embeddings",
        &json!({ "input": ["heron eggs", "tax forms"] }),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    let first: Vec<f64> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert!(first.len() >= 128);
    let norm: f64 = first.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "unit vectors, got {norm}");
    assert_eq!(v["data"][1]["index"], 1);
    let r = server.post(
        "/v1/embeddings",
        &json!({ "input": "heron eggs", "encoding_format": "base64" }),
    );
    let b64 = r.json()["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b64.len(), (first.len() * 4).div_ceil(3) * 4);

    // models: the library and the embedder
    let r = server.get("/v1/models");
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"hearth".to_string()), "{ids:?}");
    assert!(ids.contains(&v["model"].as_str().unwrap().to_string()));

    // a chat answer, cited
    let r = server.post("/v1/chat/completions", &chat_body(HERON, false));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.is_empty());
    let citations = v["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{v}");
    assert!(citations
        .iter()
        .all(|c| content.contains(&format!("[{}]", c["n"]))));
    assert!(citations
        .iter()
        .any(|c| c["path"].as_str().unwrap().ends_with("field-guide.pdf")));
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    // the same streamed: chunks, then the citations, then [DONE]
    let r = server.post("/v1/chat/completions", &chat_body(HERON, true));
    assert_eq!(r.status, 200);
    let events = r.events();
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(!last["citations"].as_array().unwrap().is_empty());
    // greedy decoding: a later answer to the same question says what the plain answer said
    // (to the token with the AVX2 kernels, whose results do not depend on how tokens are
    // batched; the portable kernels' do, and a later prompt reuses the cached prefix of the
    // first)
    let same_answer = |answer: &str| {
        if hearth::llm::cpu::avx2() {
            assert_eq!(answer.trim(), content.trim());
        } else {
            assert!(answer.contains("26 days"), "{answer}");
        }
    };
    same_answer(&streamed);

    // 4 chats at once: one runs, the others wait their turn, all are answered
    let chats: Vec<_> = (0..4)
        .map(|_| {
            let (addr, token) = (addr.clone(), server.token.clone());
            std::thread::spawn(move || {
                let body = serde_json::to_vec(&chat_body(HERON, false)).unwrap();
                let auth = format!("Bearer {token}");
                send(
                    &addr,
                    "POST",
                    "/v1/chat/completions",
                    &[("Authorization", &auth)],
                    Some(&body),
                )
            })
        })
        .collect();
    // (joined all before any answer is checked: a failed check would end the server and cut
    // the others' connections, which would then look like the failure)
    let replies: Vec<Reply> = chats.into_iter().map(|c| c.join().unwrap()).collect();
    for r in replies {
        assert_eq!(r.status, 200);
        let v = r.json();
        same_answer(v["choices"][0]["message"]["content"].as_str().unwrap());
    }

    // a client that leaves mid-stream cancels its answer
    let mut s = server.open_chat_stream(&json!({
        "messages": [{"role": "user", "content": "Tell me everything about the herons, the eggs and the nest."}],
        "stream": true,
        "max_tokens": 1000,
    }));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"content\":\"")
        || String::from_utf8_lossy(&seen).matches("data:").count() < 4
    {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(s);
    // the next answer gets its turn once the abandoned one stopped; the server says it stopped
    let r = server.post("/v1/chat/completions", &chat_body(HERON, false));
    assert_eq!(r.status, 200);
    let log = server.log();
    assert!(
        log.iter().any(|l| l.contains("cancelled")),
        "the server log says the abandoned answer was cancelled: {log:?}"
    );

    // the read-only token searches and answers, but may not index or remove
    let read = std::fs::read_to_string(data.join("api-token-read"))
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(read, server.token);
    let search = json!({ "query": "heron eggs", "limit": 2 });
    let r = server.send_as(&read, "POST", "/api/search", Some(&search));
    assert_eq!(r.status, 200);
    let r = server.send_as(&read, "GET", "/api/documents", None);
    assert_eq!(r.status, 200);
    let ingest = json!({ "paths": [corpus()] });
    let r = server.send_as(&read, "POST", "/api/ingest", Some(&ingest));
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "read_only_token");
    let remove = format!("/api/documents?path={}", corpus());
    let r = server.send_as(&read, "DELETE", &remove, None);
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "read_only_token");

    // only the roots the user chose can be indexed: a folder outside, a path that climbs out
    // with "..", and a link that leads out are refused, naming the roots
    let climbing = notes.join("..").join("secret");
    for (path, leads) in [
        (&secret, false),
        (&climbing, true),
        (&notes.join("leak"), true),
    ] {
        let r = server.post("/api/ingest", &json!({ "paths": [path] }));
        assert_eq!(r.status, 403, "{}", path.display());
        assert_eq!(r.error_code(), "path_not_allowed");
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&corpus()), "{message}");
        assert!(message.contains("allowed_roots"), "{message}");
        assert_eq!(message.contains("it leads to"), leads, "{message}");
    }
    // the allowed folder is indexed, but the link inside it is not followed out
    let r = server.post("/api/ingest", &json!({ "paths": [notes] }));
    assert_eq!(r.status, 200);
    let events: Vec<Value> = r
        .events()
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["phase"], "finished", "{last}");
    assert_eq!(last["indexed"], 1, "{last}");
    let failed = last["failed"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .any(|f| f["code"] == "path_not_allowed"
                && f["path"].as_str().unwrap().contains("keys.txt")),
        "{last}"
    );
    let r = server.get("/api/documents");
    let docs = r.json()["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 7);
    assert!(
        !docs.iter().any(|d| d.to_string().contains("keys.txt")),
        "{docs:?}"
    );
}

#[test]
fn a_full_queue_is_told_to_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(&data)
        .args(["ingest", &corpus(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let server = start(&data, &["--max-queued", "0"]);
    // keep the model busy with a streamed answer, read its first token, then ask again
    let mut s = server.open_chat_stream(&chat_body(HERON, true));
    let mut first = [0u8; 512];
    assert!(s.read(&mut first).unwrap() > 0);
    let r = server.post("/v1/chat/completions", &chat_body(HERON, false));
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), "too_many_requests");
    assert!(r.header("retry-after").is_some());
    // MCP's ask takes its turn from the same generations: refused the same way, as a tool error
    let call = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": { "name": "ask", "arguments": { "question": HERON } },
    });
    let r = server.post("/mcp", &call);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["result"]["isError"], true, "{v}");
    let text = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("[too_many_requests]"), "{text}");
    // searches do not wait for the model
    let r = server.post("/api/search", &json!({ "query": "heron" }));
    assert_eq!(r.status, 200);
}
