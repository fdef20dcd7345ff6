//! `hearth models list|measure|use|import`: what is installed, how fast it runs here, and which
//! model answers.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use hearth::catalog::{self, Catalog};
use hearth::config::SettingsUpdate;
use hearth::llm::speed::{self, Machine, Speed, SpeedTable};
use hearth::Config;

use crate::{human_bytes, print_models, ModelsCommand};

pub(crate) async fn run(config: Config, command: ModelsCommand) -> Result<i32> {
    match command {
        ModelsCommand::List { json } => list(&config, json),
        ModelsCommand::Measure { ids } => {
            let all = catalog::language_models(&config.models_dir);
            let chosen: Vec<(String, PathBuf)> = if ids.is_empty() {
                all
            } else {
                let mut out = Vec::new();
                for id in &ids {
                    out.push(config.llm_model(Some(id))?);
                }
                out
            };
            if chosen.is_empty() {
                anyhow::bail!("no language model is installed; run `hearth models fetch` first");
            }
            let failed = measure_all(&config, &chosen, true).await;
            Ok(if failed == 0 { 0 } else { 1 })
        }
        ModelsCommand::Use { model } => {
            let config = config.save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some(model),
            })?;
            println!("{}", active_line(&config));
            Ok(0)
        }
        ModelsCommand::Import { file, name } => {
            let (name, path) = hearth::llm::import(&config.models_dir, &file, name.as_deref())?;
            println!("imported {name} -> {}", path.display());
            println!(
                "use it with: hearth ask --model {name} \"...\"  (or `hearth models use {name}`)"
            );
            Ok(0)
        }
        ModelsCommand::Fetch { .. } => unreachable!("handled by main"),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Measure each model, record it, and say so on stderr (`verbose`: on stdout, one line per
/// model). Returns how many failed; a failure does not stop the others.
pub(crate) async fn measure_all(
    config: &Config,
    models: &[(String, PathBuf)],
    verbose: bool,
) -> usize {
    let mut failed = 0;
    for (name, path) in models {
        if !verbose {
            eprintln!(
                "measuring {name} on this machine (once; `hearth models measure` redoes it)…"
            );
        }
        let (dir, n, p) = (config.models_dir.clone(), name.clone(), path.clone());
        let result =
            tokio::task::spawn_blocking(move || speed::measure_and_record(&dir, &n, &p, now()))
                .await
                .context("measuring thread")
                .and_then(|r| Ok(r?));
        match result {
            Ok(r) if verbose => {
                println!(
                    "{name}: {}",
                    speed_line(&r.kept, config.typical_prompt_tokens())
                );
                if r.measured.disturbed() {
                    println!("  {}", disturbed_line(&r));
                }
            }
            Ok(r) if r.measured.disturbed() => eprintln!("{name}: {}", disturbed_line(&r)),
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                eprintln!("{name}: cannot measure: {e:#}");
            }
        }
    }
    failed
}

/// Before the automatic choice loads a model: measure the candidates not yet measured here.
pub(crate) async fn measure_if_needed(config: &Config) {
    let todo = config.unmeasured_answerers();
    if !todo.is_empty() {
        measure_all(config, &todo, false).await;
    }
}

/// What a measurement disturbed by other programs means for the numbers shown.
fn disturbed_line(r: &speed::Recorded) -> String {
    let share = (r.measured.busy * 100.0).round();
    if r.kept.disturbed() {
        format!(
            "other programs used {share:.0}% of the CPU meanwhile: these numbers are low, and \
             are taken again on the next start"
        )
    } else {
        format!(
            "other programs used {share:.0}% of the CPU meanwhile: the earlier measurement is \
             kept (prefill {:.0} tok/s now)",
            r.measured.prefill_tok_s
        )
    }
}

fn speed_line(s: &Speed, prompt: usize) -> String {
    format!(
        "prefill {:.0} tok/s, decode {:.1} tok/s, load {:.1} s; first token in ~{:.1} s for a \
         {prompt}-token prompt",
        s.prefill_tok_s,
        s.decode_tok_s,
        s.load_s,
        s.first_token_s(prompt)
    )
}

fn active_line(config: &Config) -> String {
    match config.llm_model(None) {
        Ok((name, _)) if config.llm_is_auto() => {
            let why = config
                .auto_llm()
                .map(|c| c.reason)
                .unwrap_or_else(|| "the default".into());
            format!("active language model: {name} (automatic: {why})")
        }
        Ok((name, _)) => format!(
            "active language model: {name} (chosen in the settings; `hearth models use auto` \
             lets Hearth choose)"
        ),
        Err(e) => format!("active language model: none ({e})"),
    }
}

fn list(config: &Config, json: bool) -> Result<i32> {
    let models = Catalog::builtin().installed(&config.models_dir);
    let imported = catalog::imported(&config.models_dir);
    let table = SpeedTable::load(&config.models_dir);
    let machine = Machine::this();
    let speed_of = |id: &str, size: u64| table.get(id, size, &machine).cloned();
    if json {
        let active = config.llm_model(None).ok().map(|(n, _)| n);
        let auto = config.llm_is_auto().then(|| config.auto_llm()).flatten();
        let extras = |v: &mut serde_json::Value, id: &str, size: u64, llm: bool| {
            let speed = speed_of(id, size);
            let is_active = llm && active.as_deref() == Some(id);
            v["first_token_s"] = speed
                .as_ref()
                .map(|s| s.first_token_s(config.typical_prompt_tokens()))
                .into();
            v["speed"] = serde_json::to_value(speed).unwrap_or_default();
            v["active"] = is_active.into();
            v["chosen_because"] = auto
                .as_ref()
                .filter(|c| is_active && c.id == id)
                .map(|c| c.reason.clone())
                .into();
        };
        let mut list = Vec::new();
        for m in &models {
            let mut v = serde_json::to_value(m)?;
            extras(&mut v, &m.model.id, m.size, m.model.kind == "llm");
            list.push(v);
        }
        for (n, p) in &imported {
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let mut v = serde_json::json!({
                "id": n, "kind": "llm", "default": false,
                "description": "imported GGUF", "licence": "as stated by its source",
                "source": "imported", "file": [],
                "path": p, "installed": true, "size": size,
            });
            extras(&mut v, n, size, true);
            list.push(v);
        }
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    println!("models dir: {}", config.models_dir.display());
    print_models(&models);
    for (n, p) in &imported {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {:<34} {:<9} {:>9}  imported   {}",
            n,
            "llm",
            human_bytes(size),
            p.display()
        );
    }
    println!(
        "on this machine ({}, {} threads; kernels: {}):",
        machine.cpu,
        machine.threads,
        hearth::llm::cpu::kernels_in_use()
    );
    let sized = models
        .iter()
        .filter(|m| m.installed && m.model.kind == "llm")
        .map(|m| (m.model.id.clone(), m.size))
        .chain(imported.iter().map(|(n, p)| {
            (
                n.clone(),
                std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            )
        }));
    for (id, size) in sized {
        match speed_of(&id, size) {
            Some(s) => println!(
                "  {id:<34} {}",
                speed_line(&s, config.typical_prompt_tokens())
            ),
            None => println!("  {id:<34} not measured (`hearth models measure`)"),
        }
    }
    println!("{}", active_line(config));
    Ok(0)
}
