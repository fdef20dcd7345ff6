//! Answers, follow-ups, summaries and the language model itself, with the real SmolLM2-135M
//! GGUF (fetched by `scripts/test.sh`) over the real test corpus in a real LanceDB.

#[allow(dead_code)]
mod util;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hearth::answer::{self, AnswerEvent, SummaryEvent};
use hearth::llm::{self, GenerateParams, Message, StopReason};
use hearth::{AnswerConfig, Cancel, Citation, Config, Library, Llm, OcrConfig};
use util::{copy_corpus, file_name, ingest, models_dir};

const SMOL: &str = "smollm2-135m-instruct-q4_1";

fn config(dir: &Path) -> Config {
    let mut c = Config::load(&dir.join("data"), &models_dir()).expect("config");
    c.llm.model = SMOL.into();
    c
}

fn smol(window: usize) -> Arc<Llm> {
    let c = Config::load(Path::new("/nonexistent"), &models_dir()).unwrap();
    let (name, path) = c
        .llm_model(Some(SMOL))
        .expect("SmolLM2 is fetched (scripts/test.sh fetches it)");
    Arc::new(Llm::load(&path, &name, window).expect("load SmolLM2"))
}

async fn indexed_library(dir: &Path) -> Library {
    let lib = Library::open(config(dir)).await.expect("open library");
    let corpus = copy_corpus(dir);
    let report = ingest(&lib, &[corpus]).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    lib
}

/// Collects streamed answer text.
fn collector() -> (Arc<Mutex<String>>, answer::OnEvent) {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    (
        buf,
        Box::new(move |ev| {
            if let AnswerEvent::Token(t) = ev {
                b.lock().unwrap().push_str(&t)
            }
        }),
    )
}

const HERON: &str = "After how many days do the eggs of the silver-throated heron hatch?";

#[tokio::test(flavor = "multi_thread")]
async fn ask_streams_an_answer_over_the_right_sources_and_cites_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let lib = indexed_library(dir.path()).await;
    let llm = smol(2048);
    let (streamed, on_event) = collector();
    let a = answer::ask(
        &lib,
        llm,
        HERON,
        &[],
        &AnswerConfig::default(),
        &Cancel::new(),
        on_event,
    )
    .await
    .expect("ask");
    assert!(!a.not_found, "{a:?}");
    // The passage that holds the fact went to the model, with its file and page.
    assert!(
        a.sources
            .iter()
            .any(|s| file_name(&s.path) == "field-guide.pdf"
                && s.page == Some(2)
                && s.text.contains("The eggs hatch after 26 days")),
        "{:?}",
        a.sources
    );
    // Every citation kept is one of the numbered sources (one Hearth attributed says so).
    for c in &a.citations {
        let source = Citation {
            attributed: false,
            ..c.clone()
        };
        assert!(
            a.sources.contains(&source),
            "citation {} is not a prompt source",
            c.n
        );
    }
    // What streamed is what came back (before invalid citations were cleaned).
    let streamed = streamed.lock().unwrap().clone();
    assert!(!a.answer.is_empty());
    if a.dropped_citations.is_empty() {
        // an attributed source's marker is added after the answer streamed
        let mut expected = streamed.trim().to_string();
        for c in a.citations.iter().filter(|c| c.attributed) {
            expected = format!("{expected} [{}]", c.n);
        }
        assert_eq!(expected, a.answer);
    }
    assert!(a.timings.prompt_tokens > 50);
    assert!(a.timings.first_token_ms > 0.0);
    assert_eq!(a.model, SMOL);
}

/// The default answerer (Qwen2.5-0.5B) gets the fact right and cites the page it is on.
#[tokio::test(flavor = "multi_thread")]
async fn default_model_answers_correctly_with_a_citation_to_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let lib = Library::open(c.clone()).await.unwrap();
    let report = ingest(&lib, &[copy_corpus(dir.path())]).await;
    assert!(report.failed.is_empty());
    // the catalog's default (what "auto" answers with before this machine is measured; once
    // measured, a faster machine may choose the 1.5B)
    let default = hearth::catalog::Catalog::builtin()
        .default_of("llm")
        .expect("a default answerer")
        .id
        .clone();
    let (name, path) = c.llm_model(Some(&default)).expect("default model fetched");
    let llm = Arc::new(Llm::load(&path, &name, 4096).unwrap());
    let a = answer::ask(
        &lib,
        llm,
        HERON,
        &[],
        &c.answer,
        &Cancel::new(),
        Box::new(|_| {}),
    )
    .await
    .unwrap();
    assert!(a.answer.contains("26"), "{}", a.answer);
    assert!(!a.citations.is_empty(), "no citation: {}", a.answer);
    for c in &a.citations {
        assert_eq!(
            (file_name(&c.path), c.page),
            ("field-guide.pdf", Some(2)),
            "{c:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unrelated_question_is_declined_without_inventing() {
    let dir = tempfile::tempdir().unwrap();
    let lib = indexed_library(dir.path()).await;
    let a = answer::ask(
        &lib,
        smol(2048),
        "Which team won the 1966 football World Cup final at Wembley?",
        &[],
        &AnswerConfig::default(),
        &Cancel::new(),
        Box::new(|_| {}),
    )
    .await
    .expect("ask");
    assert!(a.not_found, "should decline, answered: {}", a.answer);
    // off topic, and it names what the documents never mention
    assert!(a.answer.starts_with(answer::NOT_FOUND), "{}", a.answer);
    assert!(a.answer.contains("Wembley"), "{}", a.answer);
    assert!(a.citations.is_empty() && a.sources.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_up_is_rewritten_into_a_standalone_query() {
    let dir = tempfile::tempdir().unwrap();
    let lib = indexed_library(dir.path()).await;
    let history = vec![
        Message::user("What is the Lake Varnen Field Station?"),
        Message::assistant(
            "It is a research station on Lake Varnen with sleeping quarters for eleven \
             visiting researchers [1].",
        ),
    ];
    let a = answer::ask(
        &lib,
        smol(2048),
        "When was it founded?",
        &history,
        &AnswerConfig::default(),
        &Cancel::new(),
        Box::new(|_| {}),
    )
    .await
    .expect("ask");
    assert_ne!(
        a.query, "When was it founded?",
        "the follow-up was not rewritten"
    );
    let q = a.query.to_lowercase();
    assert!(
        q.contains("varnen") || q.contains("station"),
        "the rewrite lost the subject: {}",
        a.query
    );
    assert!(
        q.contains("found"),
        "the rewrite lost the question: {}",
        a.query
    );
    // With the subject back, retrieval finds the page that has the founding year.
    assert!(
        a.sources
            .iter()
            .any(|s| file_name(&s.path) == "field-guide.pdf" && s.page == Some(1)),
        "{:?}",
        a.sources
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn summarize_reads_every_page_of_a_pdf_in_parts() {
    // A small window forces the map-reduce path: each page becomes a part.
    let llm = smol(1024);
    let pdf = util::data("corpus/field-guide.pdf");
    let streamed = Arc::new(Mutex::new(String::new()));
    let parts_seen = Arc::new(Mutex::new(Vec::new()));
    let (s2, p2) = (streamed.clone(), parts_seen.clone());
    let s = answer::summarize(
        llm,
        &pdf,
        64,
        &OcrConfig::default(),
        &Cancel::new(),
        Box::new(move |ev| match ev {
            SummaryEvent::Token(t) => s2.lock().unwrap().push_str(&t),
            SummaryEvent::Part { done, total } => p2.lock().unwrap().push((done, total)),
        }),
    )
    .await
    .expect("summarize");
    assert_eq!(s.pages, 4);
    assert!(s.parts >= 2, "expected a map step, got {} parts", s.parts);
    let parts = parts_seen.lock().unwrap().clone();
    assert_eq!(
        parts.last().map(|p| p.0),
        parts.last().map(|p| p.1),
        "{parts:?}"
    );
    assert!(s.summary.split_whitespace().count() >= 10, "{}", s.summary);
    assert_eq!(streamed.lock().unwrap().trim(), s.summary);
}

#[tokio::test(flavor = "multi_thread")]
async fn summarize_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let llm = smol(1024);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "  \n").unwrap();
    for (path, want) in [
        (empty, "invalid_request"),
        (util::data("bad/encrypted.pdf"), "invalid_request"),
        (dir.path().join("gone.md"), "bad_path"),
    ] {
        let e = answer::summarize(
            llm.clone(),
            &path,
            64,
            &OcrConfig::default(),
            &Cancel::new(),
            Box::new(|_| {}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), want, "{}: {e}", path.display());
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ask_on_an_empty_index_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(config(dir.path())).await.unwrap();
    let e = answer::ask(
        &lib,
        smol(1024),
        "anything?",
        &[],
        &AnswerConfig::default(),
        &Cancel::new(),
        Box::new(|_| {}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "invalid_request");
    assert!(e.to_string().contains("hearth ingest"), "{e}");
}

#[test]
fn generation_streams_stops_and_cancels() {
    let llm = smol(1024);
    let prompt = llm
        .render(&[Message::user(
            "Write a long story about a lighthouse keeper.",
        )])
        .unwrap();
    let params = GenerateParams {
        max_tokens: 24,
        ..GenerateParams::default()
    };
    let mut pieces = String::new();
    let g = llm
        .generate(&prompt, &params, &Cancel::new(), &mut |t| {
            pieces.push_str(t)
        })
        .unwrap();
    assert_eq!(pieces, g.text);
    assert_eq!(g.completion_tokens, 24);
    assert_eq!(g.stop_reason, StopReason::Length);
    // Same prompt again: the KV cache is reused up to the last prompt token. (The text may
    // differ in a near-tie: the last prompt token now runs through the single-token path.)
    let again = llm
        .generate(&prompt, &params, &Cancel::new(), &mut |_| {})
        .unwrap();
    assert_eq!(again.cached_tokens, again.prompt_tokens - 1);
    assert_eq!(again.completion_tokens, 24);
    assert!(
        again.text.starts_with(g.text.split(',').next().unwrap()),
        "{:?}",
        again.text
    );

    // Cancel from inside the stream: generation stops at the next token.
    let cancel = Cancel::new();
    let c = cancel.clone();
    let long = GenerateParams {
        max_tokens: 200,
        ..GenerateParams::default()
    };
    let g = llm
        .generate(&prompt, &long, &cancel, &mut |_| c.cancel())
        .unwrap();
    assert_eq!(g.stop_reason, StopReason::Cancelled);
    assert!(g.completion_tokens <= 3, "{}", g.completion_tokens);

    // Stop strings end the answer and are not part of it.
    let first_word = g.text.split_whitespace().next().unwrap_or("").to_string();
    if !first_word.is_empty() {
        let stop = GenerateParams {
            max_tokens: 24,
            stop: vec![first_word.clone()],
            ..GenerateParams::default()
        };
        let g = llm
            .generate(&prompt, &stop, &Cancel::new(), &mut |_| {})
            .unwrap();
        assert_eq!(g.stop_reason, StopReason::StopString);
        assert!(!g.text.contains(&first_word), "{:?}", g.text);
    }
}

/// A model that writes what it is told to (a fake behind the `Generator` trait: the answer
/// check above it is what these tests are about), streaming it in small pieces.
struct Scripted {
    info: llm::LlmInfo,
    reply: String,
}

impl Scripted {
    fn new(reply: &str) -> Arc<Scripted> {
        Arc::new(Scripted {
            info: llm::LlmInfo {
                name: "scripted".into(),
                path: PathBuf::new(),
                architecture: "none".into(),
                trained_context: 4096,
                context_window: 4096,
                vocab: 0,
                chat_template: false,
            },
            reply: reply.into(),
        })
    }
}

impl llm::Generator for Scripted {
    fn info(&self) -> &llm::LlmInfo {
        &self.info
    }
    fn count_tokens(&self, text: &str) -> hearth::Result<usize> {
        Ok(text.len().div_ceil(4))
    }
    fn chat(
        &self,
        _: &[Message],
        _: &GenerateParams,
        _: &Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> hearth::Result<llm::Generation> {
        let chars: Vec<char> = self.reply.chars().collect();
        for piece in chars.chunks(3) {
            on_text(&piece.iter().collect::<String>());
        }
        Ok(llm::Generation {
            text: self.reply.clone(),
            stop_reason: StopReason::EndOfTurn,
            prompt_tokens: 100,
            cached_tokens: 0,
            completion_tokens: chars.len() / 3,
            prefill_ms: 1.0,
            first_token_ms: 1.0,
            tokens_per_s: 1.0,
            drafted_tokens: 0,
            accepted_tokens: 0,
        })
    }
}

/// Ask HERON of the real test library with a scripted reply; returns the answer and what
/// streamed.
async fn ask_scripted(lib: &Library, reply: &str) -> (answer::Answer, String) {
    let (streamed, on_event) = collector();
    let a = answer::ask(
        lib,
        Scripted::new(reply),
        HERON,
        &[],
        &AnswerConfig::default(),
        &Cancel::new(),
        on_event,
    )
    .await
    .expect("ask");
    let s = streamed.lock().unwrap().clone();
    (a, s)
}

/// An answer that restates the question, or names a number no source has, is never shown:
/// the evidence sentence that answers is quoted instead, cited to its page.
#[tokio::test(flavor = "multi_thread")]
async fn answers_that_restate_or_invent_are_replaced_by_a_quote_of_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let lib = indexed_library(dir.path()).await;
    for reply in [
        "The eggs of the silver-throated heron hatch after some days [1].",
        "The eggs hatch after 41 days [1].",
    ] {
        let (a, streamed) = ask_scripted(&lib, reply).await;
        assert!(a.quoted && !a.not_found, "{reply}: {a:?}");
        assert!(
            a.answer.starts_with("Your documents say: \u{201c}"),
            "{}",
            a.answer
        );
        assert!(a.answer.contains("26 days"), "{}", a.answer);
        assert_eq!(streamed, a.answer, "nothing of the draft was shown");
        assert_eq!(a.draft.as_deref(), Some(reply));
        assert_eq!(a.citations.len(), 1);
        assert_eq!(
            (file_name(&a.citations[0].path), a.citations[0].page),
            ("field-guide.pdf", Some(2))
        );
    }
}

/// An answer that adds what the evidence holds streams as written, sentence by sentence; a
/// closing sentence that adds nothing is left out. A reply saying the excerpts do not tell
/// becomes "not in your documents".
#[tokio::test(flavor = "multi_thread")]
async fn answers_that_answer_stream_and_a_model_that_finds_nothing_declines() {
    let dir = tempfile::tempdir().unwrap();
    let lib = indexed_library(dir.path()).await;
    // the number the prompt gives the passage on hatching
    let (probe, _) = ask_scripted(&lib, "They hatch.").await;
    let n = probe
        .sources
        .iter()
        .find(|c| c.text.contains("26 days"))
        .expect("the passage on hatching is a source")
        .n;
    let (a, streamed) = ask_scripted(
        &lib,
        &format!("They hatch after 26 days, almost always early in the morning [{n}]. I hope this helps!"),
    )
    .await;
    assert!(!a.quoted && !a.not_found, "{a:?}");
    assert_eq!(
        streamed,
        format!("They hatch after 26 days, almost always early in the morning [{n}].")
    );
    assert_eq!(a.answer, streamed);
    assert!(a.draft.unwrap().ends_with("I hope this helps!"));
    assert!(a
        .citations
        .iter()
        .all(|c| file_name(&c.path) == "field-guide.pdf"));

    let (a, streamed) =
        ask_scripted(&lib, "The excerpts do not mention when the eggs hatch.").await;
    assert!(a.not_found && !a.quoted, "{a:?}");
    assert_eq!(
        a.declined_because,
        Some(answer::DeclineReason::NotInEvidence)
    );
    assert_eq!(a.answer, answer::NOT_FOUND);
    assert_eq!(streamed, answer::NOT_FOUND);
    assert!(a.citations.is_empty() && !a.sources.is_empty());
}

/// With `quote_kinds`, a question of that kind is answered by a quote without the model.
#[tokio::test(flavor = "multi_thread")]
async fn chosen_kinds_of_question_are_quoted_without_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let lib = indexed_library(dir.path()).await;
    let cfg = AnswerConfig {
        quote_kinds: vec![answer::QuestionKind::Quantity],
        ..AnswerConfig::default()
    };
    assert_eq!(answer::question_kind(HERON), answer::QuestionKind::Quantity);
    // a reply that would pass: never asked for
    let a = answer::ask(
        &lib,
        Scripted::new("They hatch after 26 days [1]."),
        HERON,
        &[],
        &cfg,
        &Cancel::new(),
        Box::new(|_| {}),
    )
    .await
    .unwrap();
    assert!(a.quoted && a.draft.is_none(), "{a:?}");
    assert!(a.answer.contains("26 days"), "{}", a.answer);
    assert_eq!(a.timings.prompt_tokens, 0, "the model was not run");
}

#[test]
fn prompt_longer_than_the_context_is_refused() {
    let llm = smol(512);
    let prompt = "lighthouse ".repeat(2000);
    let e = llm
        .generate(
            &prompt,
            &GenerateParams::default(),
            &Cancel::new(),
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(e.code(), "invalid_request");
    assert!(e.to_string().contains("context window is 512"), "{e}");
}

#[test]
fn tokenizer_from_gguf_round_trips() {
    let llm = smol(512);
    let tok = llm.tokenizer();
    for text in [
        "Hello world",
        "  two leading spaces and trailing  ",
        "Numbers 12345 and 3.14159, dates 2024-03-14.",
        "Café naïve façade — “quotes” 東京 🚀",
        "fn main() {\n\tprintln!(\"hi\");\n}\n",
        "line one\n\nline three\r\n",
    ] {
        let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
        assert!(!ids.is_empty());
        let back = tok.decode(&ids, false).unwrap();
        assert_eq!(back, text, "ids {ids:?}");
    }
    // Special tokens are single ids, as in the chat template.
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>", false).unwrap();
    assert_eq!(ids.get_ids()[0], 1);
    assert_eq!(*ids.get_ids().last().unwrap(), 2);
}

#[test]
fn chat_template_from_the_gguf_renders_as_the_model_expects() {
    let llm = smol(512);
    let out = llm
        .render(&[Message::system("Be brief."), Message::user("Hi there")])
        .unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    );
    // Without a system message SmolLM2's own template adds its default one.
    let out = llm.render(&[Message::user("Hi")]).unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert!(llm.info().chat_template);
    assert_eq!(llm.info().architecture, "llama");
}

/// The engine's own transformer for the GGUF at `path`, 512 positions.
fn native(path: &Path) -> hearth::llm::transformer::Transformer {
    use hearth::llm::{gguf::GgufFile, transformer::Hyper, transformer::Transformer};
    let mut gguf = GgufFile::open(path).unwrap();
    let hyper = Hyper::read(&gguf).unwrap();
    Transformer::load(&mut gguf, hyper, 512).unwrap()
}

fn write_gguf_header(path: &Path, arch: &str) {
    // GGUF v3: magic, version, tensor count, kv count, then general.architecture (string).
    let mut b = Vec::new();
    b.extend_from_slice(b"GGUF");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    let key = b"general.architecture";
    b.extend_from_slice(&(key.len() as u64).to_le_bytes());
    b.extend_from_slice(key);
    b.extend_from_slice(&8u32.to_le_bytes());
    b.extend_from_slice(&(arch.len() as u64).to_le_bytes());
    b.extend_from_slice(arch.as_bytes());
    std::fs::write(path, b).unwrap();
}

#[test]
fn bad_model_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, real) = Config::load(d, &models_dir())
        .unwrap()
        .llm_model(Some(SMOL))
        .unwrap();
    // truncated: the header survives, the weights do not
    let truncated = d.join("truncated.gguf");
    let bytes = std::fs::read(&real).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let text = d.join("notes.gguf");
    std::fs::write(&text, "just some text, not a model").unwrap();
    let mamba = d.join("mamba.gguf");
    write_gguf_header(&mamba, "mamba");
    // a real model whose header says it has no attention heads (would divide by zero)
    let headless = d.join("headless.gguf");
    let key = b"llama.attention.head_count\x04\x00\x00\x00";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("SmolLM2's header has llama.attention.head_count")
        + key.len();
    let mut patched = bytes.clone();
    patched[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&headless, patched).unwrap();
    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (d.join("missing.gguf"), "model_missing", "models fetch"),
        (truncated, "model_invalid", "truncated"),
        (text, "model_invalid", "not a GGUF"),
        (mamba, "model_invalid", "unsupported architecture `mamba`"),
        (headless, "model_invalid", "`attention.head_count` as 0"),
    ];
    for (path, code, words) in cases {
        let e = Llm::load(&path, "x", 1024).unwrap_err();
        assert_eq!(e.code(), code, "{}: {e}", path.display());
        assert!(e.to_string().contains(words), "{}: {e}", path.display());
        assert!(!e.to_string().contains('\n'));
        // import checks the same way and copies nothing
        assert!(llm::import(&d.join("models"), &path, None).is_err());
    }
    assert!(hearth::catalog::imported(&d.join("models")).is_empty());
    // A good file imports and is then found by name.
    let (name, dest) = llm::import(&d.join("models"), &real, Some("tiny")).unwrap();
    assert_eq!(name, "tiny");
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), bytes.len() as u64);
    let mut c = Config::load(d, &d.join("models")).unwrap();
    c.llm.model = "tiny".into();
    assert_eq!(c.llm_model(None).unwrap(), ("tiny".to_string(), dest));
    assert!(
        llm::import(&d.join("models"), &real, Some("tiny")).is_err(),
        "no overwrite"
    );
}

/// Gemma 3 (base model, SentencePiece vocabulary, no chat template) loads, tokenizes
/// reversibly and continues a sentence sensibly.
#[test]
fn gemma3_gguf_runs_with_its_sentencepiece_vocabulary() {
    let c = Config::load(Path::new("/nonexistent"), &models_dir()).unwrap();
    let (name, path) = c
        .llm_model(Some("gemma3-270m-q4km"))
        .expect("Gemma 3 270M is fetched (scripts/test.sh fetches it)");
    let llm = Llm::load(&path, &name, 2048).expect("load gemma3");
    assert_eq!(llm.info().architecture, "gemma3");
    assert!(!llm.info().chat_template);
    let tok = llm.tokenizer();
    for text in [
        "Hello world",
        "Café — 東京, 12345.",
        " two  spaces\nnew line",
    ] {
        let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(tok.decode(&ids, false).unwrap(), text, "{ids:?}");
    }
    let bos = tok.token_to_id("<bos>").unwrap();
    // whole words, as the original tokenizer splits them
    let pieces = tok.encode("<bos>Paris is the capital of", false).unwrap();
    assert_eq!(
        pieces.get_tokens(),
        ["<bos>", "Paris", "▁is", "▁the", "▁capital", "▁of"]
    );
    let prompt = "<bos>Paris is the capital of";
    assert_eq!(tok.encode(prompt, false).unwrap().get_ids()[0], bos);
    let params = GenerateParams {
        max_tokens: 8,
        ..GenerateParams::default()
    };
    let g = llm
        .generate(prompt, &params, &Cancel::new(), &mut |_| {})
        .unwrap();
    assert!(
        g.text.contains("French") || g.text.contains("France"),
        "{:?}",
        g.text
    );
    // past the 512-position sliding window of its local layers: counting on from 260 needs
    // every layer to attend to the right positions (llama.cpp 0.3.36 on this file, 8 tokens
    // — digits are tokens of their own: ", 261, 2";
    // with every layer attending to all positions the model loses count: "1, 1, 2,")
    let count = format!(
        "<bos>{}",
        (1..=260)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(tok.encode(count.as_str(), false).unwrap().len() > 1000);
    let params = GenerateParams {
        max_tokens: 8,
        ..GenerateParams::default()
    };
    let g = llm
        .generate(&count, &params, &Cancel::new(), &mut |_| {})
        .unwrap();
    assert!(g.text.starts_with(", 261,"), "{:?}", g.text);
}

/// The single-token decode path (plain slices, quantized activations) computes what the
/// prompt path (dequantized weights, tensors) computes for the same sequence.
#[test]
fn decode_step_matches_the_prompt_path() {
    for id in [SMOL, "qwen2.5-coder-0.5b-instruct-q4km", "gemma3-270m-q4km"] {
        let c = Config::load(Path::new("/nonexistent"), &models_dir()).unwrap();
        let (_, path) = c.llm_model(Some(id)).unwrap();
        let llm = Llm::load(&path, id, 512).unwrap();
        let ids = llm
            .tokenizer()
            .encode("The lighthouse keeper climbed the narrow stone stairs every single evening, just before sunset, to light the great lamp for the fishing boats, and", false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert!(ids.len() > 19, "{}", ids.len());
        let mut t = native(&path);
        let n = ids.len();
        // prompt path for all but the last three tokens, then three decode steps
        t.forward(&ids[..n - 3]).unwrap();
        let mut decoded = Vec::new();
        for &tok in &ids[n - 3..] {
            decoded.push(t.forward(&[tok]).unwrap().to_vec1::<f32>().unwrap());
        }
        // the prompt path over the whole sequence at once
        t.clear();
        let full = t.forward(&ids).unwrap().to_vec1::<f32>().unwrap();
        let last = decoded.last().unwrap();
        let argmax = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        assert_eq!(argmax(last), argmax(&full), "{id}");
        let spread = full.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = full
            .iter()
            .zip(last)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff < 0.05 * spread,
            "{id}: max diff {diff} vs logit scale {spread}"
        );
    }
}

/// Prompt-lookup speculative decoding keeps greedy decoding's output token for token, on three
/// models (Gemma 3's sliding-window layers included), while really drafting and keeping tokens; and the batched check computes each
/// token's logits bit for bit as running it alone does.
#[test]
fn speculative_decoding_gives_exactly_the_greedy_tokens() {
    let source = "Excerpt [1] (bash.pdf, page 12): The shell searches for commands in the \
        directories listed in the PATH variable, a colon-separated list of directories in \
        which the shell looks for commands. A zero-length (null) directory name in the value \
        of PATH indicates the current directory. The default path is system-dependent, and is \
        set by the administrator who installs bash.";
    for id in [SMOL, "qwen2.5-coder-0.5b-instruct-q4km", "gemma3-270m-q4km"] {
        let c = Config::load(Path::new("/nonexistent"), &models_dir()).unwrap();
        let (_, path) = c.llm_model(Some(id)).unwrap();
        let llm = Llm::load(&path, id, 2048).unwrap();
        let prompt = llm
            .render(&[Message::user(format!(
                "{source}\n\nQuestion: Where does the shell search for commands, and what does \
                 a null directory name in PATH mean? Answer from the excerpt."
            ))])
            .unwrap();
        let run = |speculate: bool| {
            let params = GenerateParams {
                max_tokens: 64,
                speculate,
                ..GenerateParams::default()
            };
            // a fresh cache each time: the same prompt path for both runs
            llm.forward_fresh(&[1, 2], 0).unwrap();
            let mut streamed = String::new();
            let g = llm
                .generate(&prompt, &params, &Cancel::new(), &mut |t| {
                    streamed.push_str(t)
                })
                .unwrap();
            assert_eq!(streamed, g.text);
            g
        };
        let plain = run(false);
        let fast = run(true);
        assert_eq!(plain.drafted_tokens, 0);
        assert_eq!(fast.text, plain.text, "{id}");
        assert_eq!(fast.completion_tokens, plain.completion_tokens, "{id}");
        assert!(
            fast.drafted_tokens > 0 && fast.accepted_tokens > 0,
            "{id}: drafted {} accepted {} for {:?}",
            fast.drafted_tokens,
            fast.accepted_tokens,
            fast.text
        );

        // the batch check against one-by-one decoding, bit for bit
        let ids = llm
            .tokenizer()
            .encode(source, false)
            .unwrap()
            .get_ids()
            .to_vec();
        let mut t = native(&path);
        t.forward(&ids[..ids.len() - 5]).unwrap();
        let batch = t.forward_each(&ids[ids.len() - 5..]).unwrap();
        t.truncate(ids.len() - 5).unwrap();
        let mut one_by_one = Vec::new();
        for &tok in &ids[ids.len() - 5..] {
            one_by_one.extend(t.forward(&[tok]).unwrap().to_vec1::<f32>().unwrap());
        }
        assert!(
            batch == one_by_one,
            "{id}: batched logits differ from one-by-one"
        );
    }
}
