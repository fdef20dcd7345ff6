//! The remote client against real sockets: canned replies from a server thread (plain TCP, or
//! TLS with the certificates in `http/tests/tls/`: a test CA and a `localhost` certificate it
//! signed, and a self-signed `localhost` certificate, made with `openssl req -x509` /
//! `openssl x509 -req` and valid for 100 years).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth::config::{EmbedderEndpoint, LlmConfig};
use hearth::llm::StopReason;
use hearth::{Cancel, Embedder, GenerateParams, Generation, Generator, Message, Result};
use serde_json::{json, Value};

use super::embed::normalised;
use super::*;
use hearth::chunk::Tokenize;

/// What a canned server does with one connection.
enum Canned {
    /// Writes these bytes, then closes.
    Reply(String),
    /// Writes the bytes, waits, then closes.
    Stall(String, Duration),
}

/// Reads one request's head and body; keeps the body as JSON.
fn read_request(r: &mut impl BufRead) -> Option<Value> {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn answer(s: &mut impl Write, reply: Canned) {
    match reply {
        Canned::Reply(r) => {
            let _ = s.write_all(r.as_bytes());
        }
        Canned::Stall(r, wait) => {
            let _ = s.write_all(r.as_bytes());
            let _ = s.flush();
            std::thread::sleep(wait);
        }
    }
    let _ = s.flush();
}

/// A server on `listener` that answers each connection with the next canned reply and keeps
/// the request bodies.
fn serve(listener: TcpListener, replies: Vec<Canned>) -> Arc<Mutex<Vec<Value>>> {
    serve_over(listener, replies, |tcp| tcp, |_| {})
}

/// [`serve`] over the stream `open` makes of each connection (TLS: the handshake is run while
/// the request is read); `close` ends it after the reply. A connection that brings no request
/// (a client that refused the handshake) gets no reply.
fn serve_over<S: Read + Write>(
    listener: TcpListener,
    replies: Vec<Canned>,
    open: impl Fn(TcpStream) -> S + Send + 'static,
    close: impl Fn(&mut S) + Send + 'static,
) -> Arc<Mutex<Vec<Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let mut r = BufReader::new(open(tcp));
            if let Some(body) = read_request(&mut r) {
                log.lock().unwrap().push(body);
                let s = r.get_mut();
                answer(s, reply);
                close(s);
            }
        }
    });
    seen
}

fn fake(replies: Vec<Canned>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    (url, serve(listener, replies))
}

fn canned(replies: Vec<String>) -> Vec<Canned> {
    replies.into_iter().map(Canned::Reply).collect()
}

fn event(piece: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]})
        .to_string()
}

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

const STREAM_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

/// The first `pieces` as a chunked event stream, without its end.
fn stream_start(pieces: &[&str]) -> String {
    let mut out = String::from(STREAM_HEAD);
    for p in pieces {
        out.push_str(&chunk(&format!("data: {}\n\n", event(p))));
    }
    out
}

/// An event stream as llama-server sends it: chunked, one event per chunk.
fn stream(pieces: &[&str], finish: &str) -> String {
    let mut out = stream_start(pieces);
    let ends = [
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}).to_string(),
        json!({"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": pieces.len()}})
            .to_string(),
        "[DONE]".into(),
    ];
    for e in ends {
        out.push_str(&chunk(&format!("data: {e}\n\n")));
    }
    out.push_str("0\r\n\r\n");
    out
}

fn reply(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn llm_config(endpoint: &str) -> LlmConfig {
    LlmConfig {
        endpoint: endpoint.into(),
        endpoint_model: "qwen".into(),
        endpoint_key: "sekrit".into(),
        endpoint_timeout_s: 5.0,
        ..LlmConfig::default()
    }
}

fn remote(endpoint: &str) -> RemoteLlm {
    RemoteLlm::new(&llm_config(endpoint)).unwrap()
}

fn ask(llm: &RemoteLlm, cancel_after_first: bool) -> (Result<Generation>, Vec<String>) {
    let cancel = Cancel::new();
    let mut pieces = Vec::new();
    let params = GenerateParams {
        max_tokens: 16,
        stop: vec!["\nQuestion:".into()],
        ..GenerateParams::default()
    };
    let c = cancel.clone();
    let result = llm.chat(
        &[
            Message::system("Answer."),
            Message::user("When do the eggs hatch?"),
        ],
        &params,
        &cancel,
        &mut |p| {
            pieces.push(p.to_string());
            if cancel_after_first {
                c.cancel();
            }
        },
    );
    (result, pieces)
}

#[test]
fn a_streamed_answer_arrives_piece_by_piece_with_its_usage() {
    let (url, seen) = fake(canned(vec![stream(
        &["They hatch", " after 25 days", " [1]."],
        "stop",
    )]));
    let (gen, pieces) = ask(&remote(&url), false);
    let gen = gen.unwrap();
    assert_eq!(pieces, ["They hatch", " after 25 days", " [1]."]);
    assert_eq!(gen.text, "They hatch after 25 days [1].");
    assert_eq!((gen.prompt_tokens, gen.completion_tokens), (42, 3));
    assert_eq!(gen.stop_reason, StopReason::EndOfTurn);
    let req = &seen.lock().unwrap()[0];
    assert_eq!(req["model"], "qwen");
    assert_eq!(req["stream"], true);
    assert_eq!(req["max_tokens"], 16);
    assert_eq!(req["stop"][0], "\nQuestion:");
    assert_eq!(req["messages"][1]["role"], "user");
}

#[test]
fn a_busy_server_is_tried_again_and_a_refusal_is_not() {
    let busy = reply(
        "503 Service Unavailable",
        "application/json",
        r#"{"error":{"message":"loading model"}}"#,
    );
    let (url, seen) = fake(canned(vec![busy, stream(&["Yes."], "length")]));
    let (gen, _) = ask(&remote(&url), false);
    let gen = gen.unwrap();
    assert_eq!(gen.text, "Yes.");
    assert_eq!(gen.stop_reason, StopReason::Length);
    assert_eq!(seen.lock().unwrap().len(), 2);

    let denied = reply(
        "401 Unauthorized",
        "application/json",
        r#"{"error":{"message":"invalid api key"}}"#,
    );
    let (url, seen) = fake(canned(vec![denied]));
    let e = ask(&remote(&url), false).0.unwrap_err().to_string();
    assert!(e.contains("401") && e.contains("invalid api key"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// The server cuts the stream after two pieces; had the client tried again, the second
/// connection would stream the whole answer, and the user would read it twice.
#[test]
fn a_stream_cut_mid_answer_is_an_error_and_nothing_is_streamed_twice() {
    let whole = stream(&["They hatch", " after 25 days", " [1]."], "stop");
    // the socket closes in the middle of the chunked body
    let cut = stream_start(&["They hatch", " after 25 days"]);
    let (url, seen) = fake(canned(vec![cut, whole.clone(), whole]));
    let (gen, pieces) = ask(&remote(&url), false);
    let e = gen.unwrap_err().to_string();
    assert!(e.contains("mid-answer"), "{e}");
    assert_eq!(pieces, ["They hatch", " after 25 days"]);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a cut stream is not tried again"
    );

    // silence after the first piece, longer than the timeout: the same
    let mut cfg = llm_config("");
    cfg.endpoint_timeout_s = 1.0;
    let stall = Canned::Stall(stream_start(&["They hatch"]), Duration::from_secs(3));
    let whole = stream(&["They hatch", " after 25 days"], "stop");
    let (url, seen) = fake(vec![stall, Canned::Reply(whole)]);
    cfg.endpoint = url;
    let (gen, pieces) = ask(&RemoteLlm::new(&cfg).unwrap(), false);
    let e = gen.unwrap_err().to_string();
    assert!(
        e.contains("sent nothing for 1 s") && e.contains("mid-answer"),
        "{e}"
    );
    assert_eq!(pieces, ["They hatch"]);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_server_that_ends_early_gives_an_error_not_a_short_answer() {
    // a chunked body that ends properly, but before the answer did ([DONE], a finish reason)
    let early = format!("{}0\r\n\r\n", stream_start(&["They hatch"]));
    let (url, seen) = fake(canned(vec![early]));
    let (gen, pieces) = ask(&remote(&url), false);
    let e = gen.unwrap_err().to_string();
    assert!(
        e.contains("ended its reply before the answer was finished"),
        "{e}"
    );
    assert_eq!(pieces, ["They hatch"]);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // a body delimited by the connection's end: the same when it ends without [DONE]
    let closed = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n\
         data: {}\n\n",
        event("They hatch")
    );
    let (url, _) = fake(canned(vec![closed]));
    let e = ask(&remote(&url), false).0.unwrap_err().to_string();
    assert!(e.contains("before the answer was finished"), "{e}");

    // a chunk-size line that is not hexadecimal is an error, not the end of the body
    let garbled = format!(
        "{}zz\r\n{}",
        stream_start(&["They hatch"]),
        stream(&[" later"], "stop")
    );
    let (url, _) = fake(canned(vec![garbled]));
    let (gen, pieces) = ask(&remote(&url), false);
    let e = gen.unwrap_err().to_string();
    assert!(e.contains("mid-answer"), "{e}");
    assert_eq!(pieces, ["They hatch"]);

    // a stream whose last event carries the finish reason but no [DONE] is whole
    let mut no_done = stream_start(&["Yes."]);
    no_done.push_str(&chunk(&format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )));
    no_done.push_str("0\r\n\r\n");
    let (url, _) = fake(canned(vec![no_done]));
    assert_eq!(ask(&remote(&url), false).0.unwrap().text, "Yes.");
}

#[test]
fn a_server_that_is_down_or_speaks_something_else_is_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = ask(&remote(&format!("http://127.0.0.1:{port}/v1")), false)
        .0
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot reach the model server") && e.contains("is it running"),
        "{e}"
    );

    let html = reply(
        "200 OK",
        "text/event-stream",
        "data: <html>not an API</html>\n\n",
    );
    let (url, _) = fake(canned(vec![html]));
    let e = ask(&remote(&url), false).0.unwrap_err().to_string();
    assert!(
        e.contains("did not answer as an OpenAI-compatible server"),
        "{e}"
    );

    let (url, _) = fake(canned(vec![reply(
        "200 OK",
        "application/json",
        "{\"data\": 5}",
    )]));
    assert!(remote(&url).check().is_err());
    let (url, _) = fake(canned(vec![reply(
        "200 OK",
        "application/json",
        r#"{"data":[{"id":"qwen"}]}"#,
    )]));
    assert_eq!(remote(&url).check().unwrap(), ["qwen"]);
}

#[test]
fn a_server_that_does_not_stream_is_read_whole_and_cancel_stops_a_stream() {
    let whole = json!({"choices": [{"message": {"role": "assistant", "content": "Whole."}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    .to_string();
    let (url, _) = fake(canned(vec![reply("200 OK", "application/json", &whole)]));
    let (gen, pieces) = ask(&remote(&url), false);
    assert_eq!(gen.unwrap().text, "Whole.");
    assert_eq!(pieces, ["Whole."]);

    let (url, _) = fake(canned(vec![stream(&["One", " two", " three"], "stop")]));
    let (gen, pieces) = ask(&remote(&url), true);
    let gen = gen.unwrap();
    assert_eq!(gen.stop_reason, StopReason::Cancelled);
    assert_eq!(pieces, ["One"]);
}

/// `localhost` is both loopbacks, whichever one the server binds (this machine's hosts file
/// names only 127.0.0.1 for it).
#[test]
fn localhost_reaches_a_server_on_either_loopback() {
    let models = || {
        canned(vec![reply(
            "200 OK",
            "application/json",
            r#"{"data":[{"id":"qwen"}]}"#,
        )])
    };
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = v4.local_addr().unwrap().port();
    serve(v4, models());
    let url = format!("http://localhost:{port}/v1");
    assert_eq!(remote(&url).check().unwrap(), ["qwen"]);

    match TcpListener::bind("[::1]:0") {
        Ok(v6) => {
            let port = v6.local_addr().unwrap().port();
            let mut two = models();
            two.extend(models());
            serve(v6, two);
            let url = format!("http://localhost:{port}/v1");
            assert_eq!(remote(&url).check().unwrap(), ["qwen"]);
            // and the address itself, brackets and all
            let url = format!("http://[::1]:{port}/v1");
            assert_eq!(remote(&url).check().unwrap(), ["qwen"]);
        }
        Err(e) => eprintln!("no IPv6 loopback here ({e}): only 127.0.0.1 was tried"),
    }
}

/// A TLS server with the certificate `name`.pem (`server`: signed by the test CA;
/// `self-signed`: its own issuer, marked as a CA, as `openssl req -x509` makes it).
fn tls_server(name: &str, replies: Vec<Canned>) -> (u16, Arc<Mutex<Vec<Value>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let certs = CertificateDer::pem_file_iter(dir.join(format!("{name}.pem")))
        .unwrap()
        .collect::<std::result::Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = serve_over(
        listener,
        replies,
        move |tcp| {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            rustls::StreamOwned::new(conn, tcp)
        },
        |tls| {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        },
    );
    (port, seen)
}

#[test]
fn https_works_with_a_certificate_the_user_trusts_in_config() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/ca.pem");
    let (port, seen) = tls_server(
        "server",
        vec![
            Canned::Reply(stream(&["Over", " TLS."], "stop")),
            Canned::Reply(stream(&["never"], "stop")),
        ],
    );
    let mut cfg = llm_config(&format!("https://localhost:{port}/v1"));
    cfg.endpoint_ca = ca.into();
    let (gen, pieces) = ask(&RemoteLlm::new(&cfg).unwrap(), false);
    assert_eq!(gen.unwrap().text, "Over TLS.");
    assert_eq!(pieces, ["Over", " TLS."]);
    assert_eq!(seen.lock().unwrap()[0]["model"], "qwen");

    // without endpoint_ca the certificate is not trusted: an error that says what to do, and
    // the question (and the key) never went out
    cfg.endpoint_ca = String::new();
    let (gen, pieces) = ask(&RemoteLlm::new(&cfg).unwrap(), false);
    let e = gen.unwrap_err().to_string();
    assert!(
        e.contains("did not prove who it is") && e.contains("endpoint_ca"),
        "{e}"
    );
    assert!(pieces.is_empty());
    assert_eq!(seen.lock().unwrap().len(), 1);

    // a self-signed certificate (marked as a CA, which path validation refuses as a server's
    // own) is trusted when it is the one in endpoint_ca
    let (port, _) = tls_server(
        "self-signed",
        vec![Canned::Reply(stream(&["Pinned."], "stop"))],
    );
    let mut pinned = llm_config(&format!("https://127.0.0.1:{port}/v1"));
    pinned.endpoint_ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/self-signed.pem").into();
    assert_eq!(
        ask(&RemoteLlm::new(&pinned).unwrap(), false)
            .0
            .unwrap()
            .text,
        "Pinned."
    );
    // but not when the file holds another certificate
    let (port, seen) = tls_server(
        "self-signed",
        vec![Canned::Reply(stream(&["never"], "stop"))],
    );
    pinned.endpoint = format!("https://127.0.0.1:{port}/v1");
    pinned.endpoint_ca = ca.into();
    let e = ask(&RemoteLlm::new(&pinned).unwrap(), false)
        .0
        .unwrap_err()
        .to_string();
    assert!(e.contains("did not prove who it is"), "{e}");
    assert!(seen.lock().unwrap().is_empty());

    // a CA file that is missing or holds no certificate is a configuration error
    cfg.endpoint_ca = "/nonexistent/ca.pem".into();
    let e = RemoteLlm::new(&cfg).unwrap_err().to_string();
    assert!(e.contains("llm.endpoint_ca"), "{e}");
    let empty = std::env::temp_dir().join(format!("hearth-empty-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    cfg.endpoint_ca = empty.to_string_lossy().into();
    let e = RemoteLlm::new(&cfg).unwrap_err().to_string();
    let _ = std::fs::remove_file(&empty);
    assert!(e.contains("holds no PEM certificate"), "{e}");
}

#[test]
fn a_large_embeddings_reply_is_read_whole() {
    // 64 vectors of 4,096 numbers: a ~3 MB JSON reply
    let vectors = |n: usize| {
        let data: Vec<Value> = (0..n)
            .map(|i| json!({"index": i, "embedding": vec![0.123_456_789_f64; 4096]}))
            .collect();
        reply(
            "200 OK",
            "application/json",
            &json!({"data": data}).to_string(),
        )
    };
    let (url, _) = fake(canned(vec![vectors(1), vectors(64)]));
    let e = RemoteEmbedder::new(&EmbedderEndpoint {
        id: "big".into(),
        endpoint: url,
        endpoint_model: String::new(),
        endpoint_key: String::new(),
        max_tokens: 256,
        endpoint_timeout_s: 5.0,
        endpoint_ca: String::new(),
    })
    .unwrap();
    assert_eq!(e.dim(), 4096);
    let texts: Vec<String> = (0..64).map(|i| format!("text {i}")).collect();
    let out = e.embed(&texts).unwrap();
    assert_eq!(out.len(), 64);
    assert!((out[63].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
}

#[test]
fn remote_embedder_tokens_are_words_and_marks() {
    let e = RemoteEmbedder {
        endpoint: Endpoint::new("x", "http://127.0.0.1:1/v1", "", "", 1.0).unwrap(),
        id: "x".into(),
        model: "x".into(),
        dim: 4,
        max_tokens: 16,
    };
    let t = "Héron eggs, 25 days.";
    let words: Vec<&str> = e.token_spans(t).into_iter().map(|r| &t[r]).collect();
    assert_eq!(words, ["Héron", "eggs", ",", "25", "days", "."]);
    assert_eq!(normalised(vec![3.0, 4.0]), [0.6, 0.8]);
}

#[test]
fn http_and_https_endpoints_are_taken_and_others_are_not() {
    let cfg = |e: &str| LlmConfig {
        endpoint: e.into(),
        ..LlmConfig::default()
    };
    assert!(RemoteLlm::new(&cfg("https://example.com/v1")).is_ok());
    let e = RemoteLlm::new(&cfg("ftp://example.com/v1")).unwrap_err();
    assert!(e.to_string().contains("only http:// and https://"), "{e}");
    let r = RemoteLlm::new(&cfg("http://[::1]:8080/v1/")).unwrap();
    assert_eq!(r.endpoint.base, "http://[::1]:8080/v1");
}
