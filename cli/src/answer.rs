//! `hearth ask`, `hearth chat` and `hearth summarize`: streaming answers on the terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hearth::answer::{self, AnswerEvent, SummaryEvent};
use hearth::{Answer, Cancel, Config, Generator, Library, Llm, Message};

/// `config` for answering with `choice` (`--model`) when one is given: an automatic evidence
/// budget is settled again for that model.
pub(crate) fn for_model(mut config: Config, choice: Option<&str>) -> Config {
    if let Some(m) = choice {
        config.set_model(m);
    }
    config
}

/// Load the configured (or chosen) language model, off the async threads.
pub(crate) async fn load_llm(config: &Config, choice: Option<&str>) -> Result<Arc<Llm>> {
    if choice.map_or(config.llm_is_auto(), hearth::config::is_auto) {
        crate::models::measure_if_needed(config).await;
    }
    let (name, path) = config.llm_model(choice)?;
    let window = config.llm.context_window;
    let llm = tokio::task::spawn_blocking(move || Llm::load(&path, &name, window))
        .await
        .context("model loading thread")??;
    llm.set_speculation(config.llm.speculate);
    Ok(Arc::new(llm))
}

/// What answers: the server of `[llm] endpoint` when one is set (and no model is chosen on the
/// command line), else the local model. The endpoint is asked for its models first, so a server
/// that is down is reported before the question is taken.
pub(crate) async fn load_answerer(
    config: &Config,
    choice: Option<&str>,
) -> Result<Arc<dyn Generator>> {
    if choice.is_none() {
        if let Some(remote) = hearth_http::answerer(&config.llm).await? {
            return Ok(remote);
        }
    }
    Ok(load_llm(config, choice).await?)
}

/// A cancel token that Ctrl-C trips (a second Ctrl-C quits at once).
fn ctrl_c_cancel() -> Cancel {
    let cancel = Cancel::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    cancel
}

async fn open(config: Config) -> Result<Library> {
    if hearth::store::read_meta(&config.data_dir)?.is_none() {
        bail!(
            "no index in {}; run `hearth ingest PATH` first",
            config.data_dir.display()
        );
    }
    crate::open_library(config).await
}

/// Streams an answer to the terminal: the evidence as soon as it is chosen, then the tokens.
fn stream_printer(show: bool) -> answer::OnEvent {
    Box::new(move |ev| {
        if !show {
            return;
        }
        match ev {
            AnswerEvent::Sources(sources) => {
                println!("Evidence:");
                for s in &sources {
                    println!("  [{}] {}", s.n, where_label(&s.path, s.page));
                    println!("      {}", crate::snippet(&s.text, 240));
                }
                println!();
            }
            AnswerEvent::Token(t) => print!("{t}"),
        }
        let _ = std::io::stdout().flush();
    })
}

fn where_label(path: &str, page: Option<u32>) -> String {
    match page {
        Some(p) => format!("{path}, {} {p}", hearth::extract::page_unit(path)),
        None => path.to_string(),
    }
}

fn print_sources(a: &Answer) {
    // an attributed citation was appended after the stream: show it where it belongs
    for c in a.citations.iter().filter(|c| c.attributed) {
        print!(" [{}]", c.n);
    }
    println!();
    if a.not_found {
        return;
    }
    if a.quoted {
        println!(
            "\n(a quote from your documents: the model's answer did not hold up against them)"
        );
    }
    let list = if a.citations.is_empty() {
        println!("\nSources given to the model (the answer cites none of them):");
        &a.sources
    } else {
        println!("\nSources:");
        &a.citations
    };
    for c in list {
        println!("  [{}] {}", c.n, where_label(&c.path, c.page));
    }
    if !a.unsupported.is_empty() {
        println!("\nNo source supports:");
        for s in &a.unsupported {
            println!("  \"{s}\"");
        }
    }
    if !a.dropped_citations.is_empty() {
        println!(
            "  (removed citation(s) {:?}: they matched no source)",
            a.dropped_citations
        );
    }
}

fn answer_json(a: &Answer) -> serde_json::Value {
    serde_json::json!({
        "answer": a.answer,
        "citations": a.citations.iter().map(|c| serde_json::json!({
            "n": c.n, "path": c.path, "page": c.page, "text": c.text, "attributed": c.attributed,
        })).collect::<Vec<_>>(),
        "evidence": a.sources.iter().map(|c| serde_json::json!({
            "n": c.n, "path": c.path, "page": c.page, "text": c.text,
            "char_start": c.char_start, "char_end": c.char_end,
        })).collect::<Vec<_>>(),
        "unsupported": a.unsupported,
        "model": a.model,
        "not_found": a.not_found,
        "declined_because": a.declined_because,
        "quoted": a.quoted,
        "draft": a.draft,
        "kind": a.kind,
        "query": a.query,
        "best_similarity": a.best_similarity,
        "unknown_terms": a.unknown_terms,
        "dropped_citations": a.dropped_citations,
        "cancelled": a.cancelled,
        "timings": {
            "retrieve_ms": a.timings.retrieve_ms,
            "evidence_ms": a.timings.evidence_ms,
            "rewrite_ms": a.timings.rewrite_ms,
            "prompt_tokens": a.timings.prompt_tokens,
            "first_token_ms": a.timings.first_token_ms,
            "tokens_per_s": a.timings.tokens_per_s,
            "completion_tokens": a.timings.completion_tokens,
            "total_ms": a.timings.total_ms,
        },
    })
}

/// `hearth ask QUESTION`
pub(crate) async fn ask(
    config: Config,
    model: Option<&str>,
    question: &str,
    json: bool,
) -> Result<i32> {
    let cfg = config.answer.clone();
    let library = open(config.clone()).await?;
    let llm = load_answerer(&config, model).await?;
    let cancel = ctrl_c_cancel();
    let a = answer::ask(
        &library,
        llm,
        question,
        &[],
        &cfg,
        &cancel,
        stream_printer(!json),
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string(&answer_json(&a))?);
    } else {
        print_sources(&a);
    }
    Ok(if a.cancelled { 130 } else { 0 })
}

/// `hearth chat`: questions from stdin, one per line; follow-ups see the conversation.
pub(crate) async fn chat(config: Config, model: Option<&str>, json: bool) -> Result<i32> {
    let cfg = config.answer.clone();
    let library = open(config.clone()).await?;
    let llm = load_answerer(&config, model).await?;
    let interactive = std::io::stdin().is_terminal();
    if interactive && !json {
        eprintln!(
            "Chatting with {} over your documents. Ask away; an empty line or Ctrl-D ends.",
            llm.info().name
        );
    }
    let mut history: Vec<Message> = Vec::new();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive && !json {
            print!("\n> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let question = line?;
        if question.trim().is_empty() {
            if interactive {
                break;
            }
            continue;
        }
        let cancel = ctrl_c_cancel();
        let a = match answer::ask(
            &library,
            llm.clone(),
            &question,
            &history,
            &cfg,
            &cancel,
            stream_printer(!json),
        )
        .await
        {
            Ok(a) => a,
            Err(e) if e.is_user_error() => {
                eprintln!("error: {e}");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if json {
            println!("{}", serde_json::to_string(&answer_json(&a))?);
        } else {
            print_sources(&a);
        }
        history.push(Message::user(question));
        history.push(Message::assistant(a.answer.clone()));
        if a.cancelled {
            eprintln!("(stopped)");
        }
    }
    Ok(0)
}

/// `hearth summarize PATH`
pub(crate) async fn summarize(
    config: Config,
    model: Option<&str>,
    path: &Path,
    json: bool,
) -> Result<i32> {
    let path: PathBuf =
        std::fs::canonicalize(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let llm = load_answerer(&config, model).await?;
    let cancel = ctrl_c_cancel();
    let show = !json;
    let progress = show && std::io::stderr().is_terminal();
    let on_event: Box<dyn FnMut(SummaryEvent) + Send> = Box::new(move |ev| match ev {
        SummaryEvent::Part { done, total } if progress => {
            eprint!("\rreading part {done}/{total}…");
            if done == total {
                eprintln!();
            }
        }
        SummaryEvent::Token(t) if show => {
            print!("{t}");
            let _ = std::io::stdout().flush();
        }
        _ => {}
    });
    let s = answer::summarize(
        llm,
        &path,
        config.ingest.max_file_mb,
        &config.ocr,
        &cancel,
        on_event,
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!();
    }
    Ok(if s.cancelled { 130 } else { 0 })
}
