//! Measure the real desktop app (run under a display, e.g. `xvfb-run -a`):
//!   cargo run -p hearth-desktop-tests --bin desktop-bench -- [--files N] [--runs N]
//! Prints: cold start to interactive, idle memory, memory while indexing and while answering,
//! and search latency (through the UI's IPC) when idle and while an ingest runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hearth_desktop_tests::{copy_dir, models_dir, repo_root, AppEnv, Desktop};
use serde_json::Value;

/// RSS (kB) of the app process and of its WebKit child processes.
#[derive(Debug, Default, Clone, Copy)]
struct Rss {
    app_kb: u64,
    total_kb: u64,
}

impl Rss {
    fn max(self, other: Rss) -> Rss {
        Rss {
            app_kb: self.app_kb.max(other.app_kb),
            total_kb: self.total_kb.max(other.total_kb),
        }
    }
}

fn proc_stat(pid: u32) -> Option<(String, u32, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut name = String::new();
    let mut ppid = 0;
    let mut rss = 0;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("Name:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("PPid:") {
            ppid = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("VmRSS:") {
            rss = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
        }
    }
    Some((name, ppid, rss))
}

fn processes() -> HashMap<u32, (String, u32, u64)> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() {
            if let Some(s) = proc_stat(pid) {
                out.insert(pid, s);
            }
        }
    }
    out
}

fn rss() -> Rss {
    let procs = processes();
    let Some((&app, _)) = procs
        .iter()
        .find(|(_, (name, _, _))| name.starts_with("hearth-desktop"))
    else {
        return Rss::default();
    };
    let mut total = procs[&app].2;
    // WebKit runs the page in child processes (WebKitWebProcess, WebKitNetworkProcess).
    let mut frontier = vec![app];
    while let Some(p) = frontier.pop() {
        for (&pid, (_, ppid, kb)) in &procs {
            if *ppid == p {
                total += kb;
                frontier.push(pid);
            }
        }
    }
    Rss {
        app_kb: procs[&app].2,
        total_kb: total,
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Run `n` searches from the page through the same IPC the UI uses; latencies in ms.
async fn searches(app: &Desktop, queries: &[String]) -> Vec<f64> {
    let list = serde_json::to_string(queries).unwrap();
    let body = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{
           const out = [];
           for (const q of {list}) {{
             const t = performance.now();
             await window.__TAURI__.core.invoke('search', {{ query: q, mode: 'hybrid', limit: 10 }});
             out.push(performance.now() - t);
           }}
           done(out);
         }})().catch(e => done(String(e)));"
    );
    let v = app.eval_async(&body).await;
    v.as_array()
        .unwrap_or_else(|| panic!("searches failed: {v}"))
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

fn summary(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{label}: n={} p50={:.1} ms p95={:.1} ms max={:.1} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn write_passages(dir: &Path, n: usize) -> Vec<String> {
    let data = models_dir().join("halueval-qa/dataset_halueval_qa.jsonl");
    let text = std::fs::read_to_string(&data)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh fetches it)", data.display()));
    std::fs::create_dir_all(dir).unwrap();
    let mut questions = Vec::new();
    for (i, line) in text.lines().take(n).enumerate() {
        let row: Value = serde_json::from_str(line).unwrap();
        std::fs::write(
            dir.join(format!("passage-{i:05}.txt")),
            row["knowledge"].as_str().unwrap_or(""),
        )
        .unwrap();
        questions.push(row["question"].as_str().unwrap_or("").to_string());
    }
    questions
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let files = arg("--files", 1000);
    let runs = arg("--runs", 3);
    let tmp = tempfile::tempdir().unwrap();
    let env = |root: &Path| AppEnv {
        data_dir: root.join("data"),
        config_home: root.join("config"),
        models_dir: models_dir(),
    };

    // 1. Cold start: from asking WebDriver for a session (which launches the binary) to the UI
    //    being interactive (library listed, settings loaded, embedder loaded).
    let corpus: PathBuf = tmp.path().join("corpus");
    copy_dir(&repo_root().join("tests/data/corpus"), &corpus);
    let mut starts = Vec::new();
    let mut shell_ms = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        let app = Desktop::launch(&env(tmp.path()), "bench").await;
        app.wait_until(
            "ready",
            "document.body.dataset.ready === '1'",
            Duration::from_secs(60),
        )
        .await;
        starts.push(t.elapsed().as_secs_f64() * 1e3);
        shell_ms.push(
            app.eval("window.hearthReadyMs")
                .await
                .as_f64()
                .unwrap_or(f64::NAN),
        );
        if run == runs - 1 {
            // 2. Idle memory, with the sample corpus indexed.
            app.type_into("#add-path", &corpus.to_string_lossy()).await;
            app.click("#add-submit").await;
            app.wait_until("sample ingest", "document.body.dataset.ingest === 'idle' && document.querySelectorAll('.doc').length >= 6", Duration::from_secs(120)).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let idle = rss();
            println!(
                "idle memory (sample corpus indexed, embedder loaded): app {:.0} MB, app + WebKit processes {:.0} MB",
                mb(idle.app_kb),
                mb(idle.total_kb)
            );

            // 3. Search latency when idle, then while indexing `files` passages; peak memory.
            let dir = tmp.path().join("passages");
            let questions = write_passages(&dir, files);
            let queries: Vec<String> = questions.iter().take(40).cloned().collect();
            searches(&app, &queries[..5]).await; // warm up
            summary(
                "search latency, idle (UI → IPC → engine → UI)",
                searches(&app, &queries).await,
            );

            app.find("#add-path").await.clear().await.unwrap();
            app.type_into("#add-path", &dir.to_string_lossy()).await;
            let t_ingest = Instant::now();
            app.click("#add-submit").await;
            app.wait_until(
                "ingest to start",
                "document.body.dataset.ingest === 'running'",
                Duration::from_secs(20),
            )
            .await;
            let mut peak = Rss::default();
            let mut during = Vec::new();
            loop {
                let state = app.eval("document.body.dataset.ingest").await;
                if state.as_str() != Some("running") {
                    break;
                }
                // a person typing: a search every ~200 ms
                during.extend(searches(&app, &queries[during.len() % 35..][..1]).await);
                tokio::time::sleep(Duration::from_millis(200)).await;
                peak = peak.max(rss());
            }
            let secs = t_ingest.elapsed().as_secs_f64();
            let line = app.text("#ingest-line").await;
            println!("ingest of {files} passages through the UI: {secs:.1} s ({line})");
            println!(
                "memory while indexing (peak of samples): app {:.0} MB, app + WebKit {:.0} MB",
                mb(peak.app_kb),
                mb(peak.total_kb)
            );
            summary("search latency during ingest", during);

            // 4. Memory and first-token time while answering.
            app.click("#nav-chat").await;
            let mut ttft = Vec::new();
            let mut peak = Rss::default();
            for q in questions.iter().skip(100).take(3) {
                app.click("#chat-new").await;
                app.type_into("#chat-input", q).await;
                let t = Instant::now();
                app.click("#chat-send").await;
                let mut first = None;
                loop {
                    let v = app.eval("(() => { const m = document.querySelector('.msg.assistant'); return m ? [m.dataset.state, Number(m.dataset.tokens)] : ['none', 0]; })()").await;
                    if first.is_none() && v[1].as_f64().unwrap_or(0.0) > 0.0 {
                        first = Some(t.elapsed().as_secs_f64());
                    }
                    peak = peak.max(rss());
                    if v[0].as_str() != Some("streaming") && v[0].as_str() != Some("none") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                if let Some(f) = first {
                    ttft.push(f);
                }
            }
            // The same kind of question straight through IPC, nothing rendered: the engine's
            // own time to first token inside the app.
            for q in questions.iter().skip(110).take(2) {
                let body = format!(
                    "const done = arguments[arguments.length - 1];
                     const ch = new window.__TAURI__.core.Channel(); ch.onmessage = () => {{}};
                     window.__TAURI__.core.invoke('ask', {{ question: {q}, history: [], job: 'bench', onEvent: ch }})
                       .then(a => done([a.timings.first_token_ms, a.timings.prompt_tokens, a.timings.retrieve_ms]), e => done(String(e.message || e)));",
                    q = serde_json::to_string(q).unwrap()
                );
                let v = app.eval_async(&body).await;
                println!("engine timings in the app (no rendering): first token {} ms, prompt {} tokens, retrieval {} ms", v[0], v[1], v[2]);
            }
            println!(
                "answering (3 questions, the first loads the model): first visible token {:?} s; peak memory app {:.0} MB, app + WebKit {:.0} MB",
                ttft.iter().map(|t| (t * 100.0).round() / 100.0).collect::<Vec<_>>(),
                mb(peak.app_kb),
                mb(peak.total_kb)
            );
        }
        app.close().await;
    }
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "cold start to interactive (launch → library listed), {runs} runs: {} ms; page-side (navigation → ready): {} ms",
        fmt(&starts),
        fmt(&shell_ms)
    );
}
