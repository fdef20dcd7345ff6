//! `[llm] endpoint`: `hearth ask` with the answer written by an OpenAI-compatible server, here
//! a small in-process one that streams as llama-server does (the real llama-server is driven by
//! `bench/remote_llama_server.sh`). Retrieval, the prompt and the citation check stay Hearth's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

mod common;
use common::{corpus, hearth};

/// One HTTP request: its first line, its body, and the stream to answer on.
fn read_request(stream: TcpStream) -> (String, Vec<u8>, TcpStream) {
    let mut r = BufReader::new(stream);
    let (mut request_line, mut line, mut length) = (String::new(), String::new(), 0);
    r.read_line(&mut request_line).unwrap();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    (request_line, body, r.into_inner())
}

/// Answers every chat request by quoting the first sentence of the excerpt from
/// field-guide.pdf and citing its number, streamed in three pieces; keeps the requests.
fn quoting_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (request_line, body, mut s) = read_request(stream.unwrap());
            if request_line.starts_with("GET /v1/models") {
                let b = json!({"object": "list", "data": [{"id": "quoter", "object": "model"}]})
                    .to_string();
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
                .unwrap();
                continue;
            }
            let req: Value = serde_json::from_slice(&body).unwrap();
            log.lock().unwrap().push(req.clone());
            let prompt = req["messages"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .and_then(|m| m["content"].as_str())
                .unwrap_or("")
                .to_string();
            let (n, sentence) = prompt
                .lines()
                .find_map(|l| {
                    let rest = l.strip_prefix('[')?;
                    let (n, rest) = rest.split_once("] (")?;
                    let (label, text) = rest.split_once(") ")?;
                    label
                        .starts_with("field-guide.pdf")
                        .then(|| (n.to_string(), text.split(". ").next().unwrap().to_string()))
                })
                .unwrap_or(("9".into(), "no excerpt from the field guide".into()));
            let answer = format!("{sentence} [{n}].");
            let words: Vec<&str> = answer.split_inclusive(' ').collect();
            let third = words.len().div_ceil(3);
            let mut out = String::from(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let mut events: Vec<String> = words
                .chunks(third)
                .map(|c| json!({"choices": [{"delta": {"content": c.concat()}}]}).to_string())
                .collect();
            events.push(json!({"choices": [{"delta": {}, "finish_reason": "stop"}]}).to_string());
            events.push("[DONE]".into());
            for e in events {
                let data = format!("data: {e}\n\n");
                out.push_str(&format!("{:x}\r\n{data}\r\n", data.len()));
            }
            out.push_str("0\r\n\r\n");
            s.write_all(out.as_bytes()).unwrap();
        }
    });
    (format!("http://{addr}/v1"), seen)
}

#[test]
fn an_openai_compatible_server_writes_the_answer_and_hearth_cites_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = hearth(&data, &["ingest", &corpus(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (url, seen) = quoting_server();
    std::fs::write(
        data.join("config.toml"),
        format!(
            "[llm]\nendpoint = \"{url}\"\nendpoint_model = \"quoter\"\nendpoint_key = \"k3y\"\n"
        ),
    )
    .unwrap();
    let out = hearth(&data, &["ask", "When do the heron eggs hatch?", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        a["model"]
            .as_str()
            .unwrap()
            .starts_with("quoter at http://127.0.0.1:"),
        "{a}"
    );
    assert!(a["answer"].as_str().unwrap().contains("eggs"), "{a}");
    let citations = a["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 1, "{a}");
    assert!(citations[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("field-guide.pdf"));
    // the server got Hearth's prompt: numbered excerpts, then the question
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req["model"], "quoter");
    assert_eq!(req["stream"], true);
    let prompt = req["messages"].to_string();
    assert!(
        prompt.contains("Excerpts:") && prompt.contains("field-guide.pdf"),
        "{prompt}"
    );

    // a server that is not there is named, with a hint
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        data.join("config.toml"),
        format!("[llm]\nendpoint = \"http://127.0.0.1:{port}/v1\"\n"),
    )
    .unwrap();
    let out = hearth(&data, &["ask", "When do the heron eggs hatch?"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the model server") && err.contains("is it running"),
        "{err}"
    );

    // an endpoint that is not http(s), or a certificate file that is not there, is refused
    // when the configuration is read
    std::fs::write(
        data.join("config.toml"),
        "[llm]\nendpoint = \"ftp://gpu-box.example/v1\"\n",
    )
    .unwrap();
    let out = hearth(&data, &["ask", "When do the heron eggs hatch?"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("must be an http:// or https:// base URL"),
        "{err}"
    );
    std::fs::write(
        data.join("config.toml"),
        "[llm]\nendpoint = \"https://gpu-box.example/v1\"\nendpoint_ca = \"/nonexistent/ca.pem\"\n",
    )
    .unwrap();
    let out = hearth(&data, &["ask", "When do the heron eggs hatch?"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("llm.endpoint_ca") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

/// A bag-of-words embedder: each word of more than two letters adds 1 to one of 64
/// dimensions (by a hash of the word). Keeps the model names it was asked for.
fn bag_of_words_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let embed = |text: &str| -> Vec<f32> {
        let mut v = vec![0f32; 64];
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
        {
            let h = w
                .to_lowercase()
                .bytes()
                .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
            v[(h % 64) as usize] += 1.0;
        }
        v[63] += 0.01; // never all zero
        v
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (_, body, mut s) = read_request(stream.unwrap());
            let req: Value = serde_json::from_slice(&body).unwrap();
            log.lock()
                .unwrap()
                .push(req["model"].as_str().unwrap_or("").to_string());
            let data: Vec<Value> = req["input"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t.as_str().unwrap())}))
                .collect();
            let b = json!({"object": "list", "data": data}).to_string();
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )
            .unwrap();
        }
    });
    (format!("http://{addr}/v1"), seen)
}

#[test]
fn an_openai_compatible_server_embeds_and_the_index_records_its_model() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (url, seen) = bag_of_words_server();
    std::fs::write(
        data.join("config.toml"),
        format!("[embedder]\nid = \"bow-64\"\nendpoint = \"{url}\"\nendpoint_model = \"bow\"\n"),
    )
    .unwrap();
    let out = hearth(&data, &["ingest", &corpus(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["indexed"], 6, "{report}");
    let out = hearth(
        &data,
        &[
            "search",
            "heron eggs hatch nest",
            "--mode",
            "vector",
            "--limit",
            "1",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        hits[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("field-guide.pdf"),
        "{hits}"
    );
    let out = hearth(&data, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["embedder"], "bow-64", "{status}");
    assert!(seen.lock().unwrap().iter().all(|m| m == "bow"));

    // back to the local model: the index is kept, and it says a rebuild is due
    std::fs::remove_file(data.join("config.toml")).unwrap();
    let out = hearth(&data, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["embedder"], "bow-64");
    assert!(!status["index_change"].is_null(), "{status}");
}
