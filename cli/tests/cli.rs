//! The `hearth` command-line contract: JSON shapes, exit codes, one-line errors.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{corpus, hearth};

#[test]
fn ingest_search_status_json_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let bad = tmp.path().join("empty.txt");
    std::fs::write(&bad, "").unwrap();

    let out = hearth(
        &data,
        &["ingest", &corpus(), bad.to_str().unwrap(), "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["indexed"], 6);
    assert_eq!(report["skipped"], 0);
    assert_eq!(report["removed"], 0);
    assert_eq!(report["unsupported"]["count"], 0, "{report}");
    assert!(report["chunks"].as_u64().unwrap() >= 8);
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["path"].as_str().unwrap().ends_with("empty.txt"));
    assert!(failed[0]["error"].as_str().unwrap().contains("empty"));

    let out = hearth(
        &data,
        &[
            "search",
            "when do the heron eggs hatch",
            "--limit",
            "3",
            "--json",
        ],
    );
    assert!(out.status.success());
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() <= 3);
    let top = &hits[0];
    for key in ["path", "page", "score", "text", "heading"] {
        assert!(top.get(key).is_some(), "missing {key}: {top}");
    }
    assert!(top["path"].as_str().unwrap().ends_with("field-guide.pdf"));
    assert_eq!(top["page"], 2);
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );

    for mode in ["vector", "text"] {
        let out = hearth(
            &data,
            &[
                "search",
                "sourdough starter feeding ratio",
                "--mode",
                mode,
                "--json",
            ],
        );
        let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            hits[0]["path"].as_str().unwrap().ends_with("sourdough.md"),
            "{mode}"
        );
        assert!(hits[0]["page"].is_null());
    }

    let out = hearth(&data, &["status", "--json"]);
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["documents"], 6);
    assert!(status["index_bytes"].as_u64().unwrap() > 0);

    // Unchanged re-ingest embeds nothing.
    let out = hearth(&data, &["ingest", &corpus(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            report["indexed"].as_u64(),
            report["skipped"].as_u64(),
            report["chunks"].as_u64()
        ),
        (Some(0), Some(6), Some(0))
    );
}

#[test]
fn commands_that_cannot_work_exit_non_zero_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    // No index yet.
    let out = hearth(&tmp.path().join("data"), &["search", "anything"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("hearth ingest"), "{err}");
    // Bad mode.
    let out = hearth(
        &tmp.path().join("data"),
        &["search", "x", "--mode", "fuzzy"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown search mode"));
    // No model.
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "--data-dir",
            tmp.path().join("d2").to_str().unwrap(),
            "--models-dir",
            "/nonexistent",
            "ingest",
            &corpus(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("models fetch"), "{err}");
    // Unusable data dir (a file where the folder should be).
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = hearth(&file, &["ingest", &corpus()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}

#[test]
fn models_list_shows_the_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hearth(tmp.path(), &["models", "list", "--json"]);
    assert!(out.status.success());
    let models: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let embedder = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "all-minilm-l6-v2")
        .unwrap();
    assert_eq!(embedder["installed"], true);
    assert!(embedder["licence"].as_str().unwrap().contains("Apache-2.0"));
}

#[test]
fn models_are_measured_on_this_machine_and_chosen_or_set() {
    let tmp = tempfile::tempdir().unwrap();
    let smol = "smollm2-135m-instruct-q4_1";
    let entry = |id: &str| {
        let out = hearth(tmp.path(), &["models", "list", "--json"]);
        assert!(out.status.success());
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap()
    };
    let out = hearth(tmp.path(), &["models", "measure", smol]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with(smol) && text.contains("tok/s"), "{text}");
    let m = entry(smol);
    // measured (how fast depends on the machine and its load: not asserted)
    assert!(m["speed"]["prefill_tok_s"].as_f64().unwrap() > 0.0, "{m}");
    assert!(m["speed"]["decode_tok_s"].as_f64().unwrap() > 0.0, "{m}");
    assert!(m["first_token_s"].as_f64().unwrap() > 0.0, "{m}");
    // SmolLM2 has no answer rank: not chosen automatically, but it can be set
    assert_eq!(m["active"], false, "{m}");
    let out = hearth(tmp.path(), &["models", "use", smol]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("chosen in the settings"));
    let m = entry(smol);
    assert_eq!(m["active"], true, "{m}");
    assert!(m["chosen_because"].is_null(), "{m}");
    // `auto` hands the choice back to Hearth, which says why
    let out = hearth(tmp.path(), &["models", "use", "auto"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("(automatic: "),
        "{text}"
    );
    // (which ranked model depends on this machine's measured speeds: the 0.5B, or the 1.5B
    // where it starts in time)
    let out = hearth(tmp.path(), &["models", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let active: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["active"] == true)
        .collect();
    assert_eq!(active.len(), 1, "{list}");
    let m = active[0];
    assert!(
        m["id"].as_str().unwrap().starts_with("qwen2.5-coder-"),
        "a ranked model: {m}"
    );
    assert!(
        m["chosen_because"].as_str().is_some_and(|s| !s.is_empty()),
        "{m}"
    );
    // an unknown model is refused with the known ones
    let out = hearth(tmp.path(), &["models", "use", "no-such-model"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model"));
}

#[test]
fn ask_summarize_json_contract_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let smol = ["--model", "smollm2-135m-instruct-q4_1"];

    // no index yet: one actionable line
    let out = hearth(&data, &["ask", "anything", smol[0], smol[1]]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("hearth ingest"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    assert!(hearth(&data, &["ingest", &corpus(), "--json"])
        .status
        .success());
    let out = hearth(
        &data,
        &[
            "ask",
            "How thick did the lake ice get in February 2019?",
            smol[0],
            smol[1],
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(a["answer"].as_str().is_some_and(|s| !s.is_empty()), "{a}");
    assert_eq!(a["model"], "smollm2-135m-instruct-q4_1");
    for c in a["citations"].as_array().unwrap() {
        assert!(c["n"].as_u64().unwrap() >= 1);
        assert!(c["path"].as_str().unwrap().ends_with(".pdf") || c["path"].is_string());
        assert!(c.get("page").is_some() && c["text"].is_string());
    }
    // the evidence the model was given: numbered, with its file and page; the ice fact is in it
    let evidence = a["evidence"].as_array().expect("evidence");
    assert!(!evidence.is_empty(), "{a}");
    for (i, e) in evidence.iter().enumerate() {
        assert_eq!(e["n"].as_u64(), Some(i as u64 + 1), "{a}");
        assert!(e["path"].is_string() && e.get("page").is_some() && e["text"].is_string());
    }
    assert!(
        evidence
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("71 centimetres")),
        "{a}"
    );
    assert!(a["unsupported"].is_array(), "{a}");
    for key in [
        "retrieve_ms",
        "evidence_ms",
        "prompt_tokens",
        "first_token_ms",
        "tokens_per_s",
    ] {
        assert!(a["timings"][key].is_number(), "timings.{key}: {a}");
    }

    // a 20,000-character question
    let long = "why ".repeat(5_000);
    let out = hearth(&data, &["ask", &long, smol[0], smol[1]]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limit is 4000"), "{err}");

    // an unknown model
    let out = hearth(&data, &["ask", "x", "--model", "no-such-model"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model"));

    // summarize --json
    let md = format!("{}/notes/sourdough.md", corpus());
    let out = hearth(&data, &["summarize", &md, smol[0], smol[1], "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        s["summary"]
            .as_str()
            .is_some_and(|t| t.split_whitespace().count() > 5),
        "{s}"
    );
    assert_eq!(s["pages"], 1);
}

#[test]
fn collections_and_reindex_after_new_chunk_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&hearth(
        &data,
        &["ingest", &corpus(), "--collection", "Work", "--json"],
    ));
    let list: serde_json::Value =
        serde_json::from_str(&ok(&hearth(&data, &["collections", "list", "--json"]))).unwrap();
    assert_eq!(list[0]["name"], "Work");
    assert_eq!(list[0]["documents"], 6);
    let hits: serde_json::Value = serde_json::from_str(&ok(&hearth(
        &data,
        &["search", "heron eggs", "--collection", "work", "--json"],
    )))
    .unwrap();
    assert!(!hits.as_array().unwrap().is_empty());
    let out = hearth(&data, &["search", "heron", "--collection", "Thesis"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no collection named \"Thesis\" (collections: Work)"),
        "{err}"
    );

    // New chunk sizes: every command says the index is as it was built until `reindex`.
    std::fs::write(
        data.join("config.toml"),
        "[chunking]\nchunk_tokens = 64\noverlap_tokens = 16\n",
    )
    .unwrap();
    assert!(ok(&hearth(&data, &["status"]))
        .contains("pending:    the configuration asks for chunks of 200/32 → 64/16"));
    let out = hearth(&data, &["search", "heron eggs"]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("until `hearth reindex` rebuilds the index")
    );
    let before: serde_json::Value =
        serde_json::from_str(&ok(&hearth(&data, &["status", "--json"]))).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&ok(&hearth(&data, &["reindex", "--json"]))).unwrap();
    assert_eq!(report["switched"], true, "{report}");
    assert_eq!(report["documents"], 6);
    assert_eq!(report["ingest"]["indexed"], 6);
    let after: serde_json::Value =
        serde_json::from_str(&ok(&hearth(&data, &["status", "--json"]))).unwrap();
    assert!(after["index_change"].is_null(), "{after}");
    assert!(
        after["chunks"].as_u64() > before["chunks"].as_u64(),
        "{before} {after}"
    );
    assert!(ok(&hearth(&data, &["reindex"])).contains("nothing to do"));
    // Collections are untouched by the rebuild.
    assert!(ok(&hearth(&data, &["collections"])).starts_with("Work  (6 documents"));
}

#[test]
fn a_reader_that_stops_early_ends_hearth_quietly() {
    // `hearth models list | head -0`: the pipe is closed before anything is written
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["models", "list"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// One binary for every x86-64 processor: without AVX2 (Nehalem: not even AVX; Sandy Bridge:
/// AVX only) `hearth` runs its portable kernels, on Haswell its AVX2 ones (without AVX-512),
/// and `models list` says which; under the oldest of them a real ingest and search (the
/// encoder, LanceDB, BM25) finds the same passages as on this processor, with nearly the same
/// scores. Run under qemu's user-mode emulation of those processors (`qemu-user`, which
/// scripts/test.sh installs).
#[test]
#[cfg(target_arch = "x86_64")]
fn every_x86_64_processor_runs_hearth_on_the_kernels_it_has() {
    let qemu = "qemu-x86_64";
    let bin = env!("CARGO_BIN_EXE_hearth");
    let tmp = tempfile::tempdir().unwrap();
    let emulated = |cpu: &str, args: &[&str]| -> Output {
        let out = Command::new(qemu)
            // (what the emulated processor has decides, not a switch the tests run under)
            .env_remove("HEARTH_AVX2")
            .args(["-cpu", cpu, bin, "--data-dir"])
            .arg(tmp.path().join(cpu))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{qemu}: {e} (install Debian's qemu-user)"));
        assert!(
            out.status.success(),
            "{cpu} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    for (cpu, kernels) in [
        (
            "Nehalem",
            "kernels: portable kernels: no AVX2 + FMA on this processor",
        ),
        (
            "SandyBridge",
            "kernels: portable kernels: no AVX2 + FMA on this processor",
        ),
        (
            "Haswell",
            "kernels: AVX2 + FMA kernels; no AVX-512 VNNI on this processor",
        ),
    ] {
        let out = emulated(cpu, &["--version"]);
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("hearth "));
        let out = emulated(cpu, &["models", "list"]);
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains(kernels), "{cpu}: {listed}");
    }
    // the same search, natively and on the oldest processor
    let notes = Path::new(&corpus()).join("notes");
    let notes = notes.to_str().unwrap();
    let search = |out: Output| -> Vec<(String, f64)> {
        let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        hits.as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["text"].as_str().unwrap().to_string(),
                    h["score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let query = ["search", "how long should the dough rise", "--json"];
    let native = tmp.path().join("native");
    assert!(hearth(&native, &["ingest", notes]).status.success());
    let want = search(hearth(&native, &query));
    emulated("Nehalem", &["ingest", notes]);
    let got = search(emulated("Nehalem", &query));
    assert!(!want.is_empty());
    assert_eq!(
        got.iter().map(|h| &h.0).collect::<Vec<_>>(),
        want.iter().map(|h| &h.0).collect::<Vec<_>>(),
        "the same passages in the same order"
    );
    for ((_, a), (_, b)) in got.iter().zip(&want) {
        assert!((a - b).abs() < 0.02, "scores {got:?} vs {want:?}");
    }
}

/// `hearth eval --evidence` chooses each question's evidence as `ask` does, without generating,
/// and scores what the prompt would hold.
#[test]
fn eval_evidence_scores_what_the_prompt_would_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(docs.join("notes")).unwrap();
    for f in [
        "meeting-2024-03-14.txt",
        "sourdough.md",
        "bike-maintenance.md",
    ] {
        std::fs::copy(
            Path::new(&corpus()).join("notes").join(f),
            docs.join("notes").join(f),
        )
        .unwrap();
    }
    std::fs::write(docs.join(".complete"), "").unwrap();
    let questions = tmp.path().join("questions.jsonl");
    let meeting = "notes/meeting-2024-03-14.txt";
    let lines = [
        serde_json::json!({"id": "n-1", "question": "How long did the monthly invoice run take on PostgreSQL 16 in staging?", "file": meeting, "answers": ["41 minutes"], "answerable": true}),
        serde_json::json!({"id": "n-2", "question": "Who will write the plan for moving the billing service?", "file": meeting, "answers": ["Priya"], "answerable": true}),
        serde_json::json!({"id": "n-3", "question": "What colour is the new office carpet?", "file": null, "answers": [], "answerable": false}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&questions, text).unwrap();
    let work = tmp.path().join("work");
    let (docs, questions, work) = (
        docs.display().to_string(),
        questions.display().to_string(),
        work.display().to_string(),
    );
    let out = hearth(
        &tmp.path().join("data"),
        &[
            "eval",
            "--set",
            "docs",
            "--docs-dir",
            &docs,
            "--docs-questions",
            &questions,
            "--evidence",
            "--model",
            "smollm2-135m-instruct-q4_1",
            "--work-dir",
            &work,
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &rows[0]["evidence"];
    assert_eq!(e["questions"], 2, "{rows}"); // the answerable ones
    assert_eq!(e["gold_in_prompt"], 1.0, "{rows}");
    assert_eq!(e["answer_in_prompt"], 1.0, "{rows}");
    let probed =
        std::fs::read_to_string(Path::new(&work).join("evidence-manuals-dev.jsonl")).unwrap();
    assert_eq!(probed.lines().count(), 2);
    assert!(probed.contains("41 minutes"), "{probed}");
}
