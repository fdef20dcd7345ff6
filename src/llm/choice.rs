//! Which language model answers: the one the settings name (a catalog id, an imported
//! model's name or a `.gguf` path), or, when none is set, the one chosen for this machine from
//! the measured speeds ([`super::speed`]).

use std::path::PathBuf;

use crate::answer::DEFAULT_SOURCE_TOKENS;
use crate::catalog::Catalog;
use crate::config::{is_auto, Config};
use crate::error::{Error, Result};
use crate::llm::speed::{
    choose, choose_evidence, typical_prompt_tokens, AutoChoice, Candidate, Machine, SpeedTable,
};

impl Config {
    /// The language model to load: its display name and GGUF path (`choice` overrides the
    /// configured one). Resolves catalog ids, imported names and file paths.
    pub fn llm_model(&self, choice: Option<&str>) -> Result<(String, PathBuf)> {
        let catalog = Catalog::builtin();
        let want = choice.unwrap_or(&self.llm.model);
        if is_auto(want) {
            if let Some(c) = self.auto_llm() {
                return Ok((c.id, c.path));
            }
            let m = catalog
                .default_of("llm")
                .ok_or_else(|| Error::Internal("catalog has no default llm".into()))?;
            return catalog.llm_path(&m.id, &self.models_dir);
        }
        if let Some(m) = catalog.get(want).filter(|m| m.kind == "llm") {
            return catalog.llm_path(&m.id, &self.models_dir);
        }
        let imported = crate::catalog::imported_path(&self.models_dir, want);
        if imported.is_file() {
            return Ok((want.to_string(), imported));
        }
        let path = PathBuf::from(want);
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            || path.is_file()
        {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| want.to_string());
            return Ok((name, path));
        }
        let known: Vec<String> = catalog
            .models
            .iter()
            .filter(|m| m.kind == "llm")
            .map(|m| m.id.clone())
            .chain(
                crate::catalog::imported(&self.models_dir)
                    .into_iter()
                    .map(|(n, _)| n),
            )
            .collect();
        Err(Error::Config(format!(
            "unknown model '{want}' (known: {}; or give a path to a .gguf file)",
            known.join(", ")
        )))
    }

    /// Whether the language model is chosen for this machine (no model set).
    pub fn llm_is_auto(&self) -> bool {
        is_auto(&self.llm.model)
    }

    /// The installed catalog models the automatic choice may take, with this machine's
    /// measurements where taken.
    pub fn answer_candidates(&self) -> Vec<Candidate> {
        let table = SpeedTable::load(&self.models_dir);
        let machine = Machine::this();
        let catalog = Catalog::builtin();
        catalog
            .installed(&self.models_dir)
            .into_iter()
            .filter(|m| m.installed && m.model.kind == "llm")
            .filter_map(|m| {
                let rank = m.model.rank?;
                let (id, path) = catalog.llm_path(&m.model.id, &self.models_dir).ok()?;
                let speed = table.get(&id, m.size, &machine).cloned();
                Some(Candidate {
                    id,
                    path,
                    rank,
                    speed,
                })
            })
            .collect()
    }

    /// The model the automatic choice takes now, and why; `None` when no ranked model is
    /// installed.
    pub fn auto_llm(&self) -> Option<AutoChoice> {
        let catalog = Catalog::builtin();
        let default = catalog
            .default_of("llm")
            .map(|m| m.id.as_str())
            .unwrap_or("");
        choose(
            &self.answer_candidates(),
            self.llm.first_token_budget_s,
            default,
            self.answer.evidence_tokens(),
        )
    }

    /// Settle an automatic evidence budget (`answer.source_tokens = 0`, the default): with an
    /// automatically chosen local answerer, the budget [`choose_evidence`] gives from this
    /// machine's measurements; otherwise [`DEFAULT_SOURCE_TOKENS`]. Called when the settings are
    /// loaded, so every shell asks with the budget its answerer was chosen for.
    pub(crate) fn settle_evidence(&mut self) {
        if self.answer.source_tokens != 0 && !self.answer.evidence_auto {
            return;
        }
        self.answer.evidence_auto = true;
        self.answer.source_tokens = if self.llm_is_auto() && self.llm.endpoint.trim().is_empty() {
            choose_evidence(&self.answer_candidates(), self.llm.first_token_budget_s)
        } else {
            DEFAULT_SOURCE_TOKENS
        };
    }

    /// Prompt tokens of a typical question with this configuration's evidence budget: the
    /// prompt the models lists give first-token times for.
    pub fn typical_prompt_tokens(&self) -> usize {
        typical_prompt_tokens(self.answer.evidence_tokens())
    }

    /// Answer with `model` (a shell's `--model`) instead of the configured one; an automatic
    /// evidence budget is settled again for it.
    pub fn set_model(&mut self, model: &str) {
        self.llm.model = model.to_string();
        self.settle_evidence();
    }

    /// Candidates of the automatic choice not yet measured on this machine, or measured only
    /// while other programs kept it busy: the shells measure them
    /// ([`crate::llm::speed::measure`]) before the automatic choice loads a model.
    pub fn unmeasured_answerers(&self) -> Vec<(String, PathBuf)> {
        self.answer_candidates()
            .into_iter()
            .filter(|c| c.speed.as_ref().is_none_or(|s| s.disturbed()))
            .map(|c| (c.id, c.path))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SettingsUpdate;
    use crate::llm::speed::Speed;
    use std::path::Path;

    /// "Install" a catalog model as a sparse file of its catalog size.
    fn install(models: &Path, id: &str) -> u64 {
        let m = Catalog::builtin().get(id).unwrap().clone();
        let f = &m.files[0];
        std::fs::create_dir_all(models.join(id)).unwrap();
        std::fs::File::create(models.join(id).join(&f.name))
            .unwrap()
            .set_len(f.size)
            .unwrap();
        f.size
    }

    fn speed(id: &str, size: u64, prefill: f64) -> Speed {
        Speed {
            model: id.into(),
            file_size: size,
            machine: Machine::this(),
            prefill_tok_s: prefill,
            decode_tok_s: 20.0,
            load_s: 1.0,
            measured_at: 0,
            busy: 0.0,
        }
    }

    fn measured(models: &Path, id: &str, size: u64, prefill: f64) {
        SpeedTable::record(models, speed(id, size, prefill)).unwrap();
    }

    #[test]
    fn the_evidence_budget_is_chosen_with_the_answerer() {
        let data = tempfile::tempdir().unwrap();
        let models = tempfile::tempdir().unwrap();
        let (small, big) = (
            "qwen2.5-coder-0.5b-instruct-q4km",
            "qwen2.5-coder-1.5b-instruct-q4km",
        );
        let small_size = install(models.path(), small);
        let big_size = install(models.path(), big);
        // nothing measured: the default model with the default budget
        let config = Config::load(data.path(), models.path()).unwrap();
        assert_eq!(config.answer.source_tokens, DEFAULT_SOURCE_TOKENS);
        // the 1.5B at 140 tokens/s starts in 4.05 s with 400 evidence tokens (560 in all), in
        // 2.62 s with 200: the next start takes it with 200
        measured(models.path(), small, small_size, 300.0);
        measured(models.path(), big, big_size, 140.0);
        assert_eq!(
            config.llm_model(None).unwrap().0,
            small,
            "settled at 400: the 1.5B does not fit"
        );
        let config = Config::load(data.path(), models.path()).unwrap();
        assert_eq!(config.answer.source_tokens, 200);
        assert_eq!(config.answer.evidence_tokens(), 200);
        assert_eq!(config.llm_model(None).unwrap().0, big);
        let reason = config.auto_llm().unwrap().reason;
        assert!(reason.contains("200 of them evidence"), "{reason}");
        // a model asked for by name gets the default budget
        let mut named = config.clone();
        named.set_model(small);
        assert_eq!(named.answer.source_tokens, DEFAULT_SOURCE_TOKENS);
        named.set_model("auto");
        assert_eq!(named.answer.source_tokens, 200);
        // a budget in the settings is kept whatever answers
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[answer]\nsource_tokens = 300\n",
        )
        .unwrap();
        let mut config = Config::load(data.path(), models.path()).unwrap();
        assert_eq!(config.answer.source_tokens, 300);
        // (the choice is judged with that budget: 460 tokens, 3.34 s for the 1.5B)
        assert_eq!(config.llm_model(None).unwrap().0, big);
        config.set_model(big);
        assert_eq!(config.answer.source_tokens, 300);
        // a budget of 1..64 is refused; 0 is automatic
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[answer]\nsource_tokens = 10\n",
        )
        .unwrap();
        let err = Config::load(data.path(), models.path()).unwrap_err();
        assert!(err.to_string().contains("source_tokens"), "{err}");
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[answer]\nsource_tokens = 0\n",
        )
        .unwrap();
        let config = Config::load(data.path(), models.path()).unwrap();
        assert_eq!(config.answer.source_tokens, 200);
    }

    #[test]
    fn the_answerer_is_chosen_for_this_machine_unless_one_is_set() {
        let data = tempfile::tempdir().unwrap();
        let models = tempfile::tempdir().unwrap();
        let (small, big) = (
            "qwen2.5-coder-0.5b-instruct-q4km",
            "qwen2.5-coder-1.5b-instruct-q4km",
        );
        let small_size = install(models.path(), small);
        let big_size = install(models.path(), big);
        install(models.path(), "smollm2-135m-instruct-q4_1"); // unranked: never chosen
        let config = Config::load(data.path(), models.path()).unwrap();
        assert!(config.llm_is_auto());
        // nothing measured: the catalog default, and both ranked models wait for a measurement
        assert_eq!(config.llm_model(None).unwrap().0, small);
        let mut todo: Vec<String> = config
            .unmeasured_answerers()
            .into_iter()
            .map(|m| m.0)
            .collect();
        todo.sort();
        assert_eq!(todo, [small, big]);
        // a measurement taken while other programs kept the machine busy counts for now, and
        // is taken again
        let busy = Speed {
            busy: 0.6,
            ..speed(big, big_size, 60.0)
        };
        SpeedTable::record(models.path(), busy).unwrap();
        measured(models.path(), small, small_size, 600.0);
        assert_eq!(config.llm_model(None).unwrap().0, small);
        let todo: Vec<String> = config
            .unmeasured_answerers()
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(todo, [big]);
        // a fast machine: the 1.5B starts within the 3 s budget (400/200 + 1/20 s)
        measured(models.path(), small, small_size, 600.0);
        measured(models.path(), big, big_size, 200.0);
        assert!(config.unmeasured_answerers().is_empty());
        assert_eq!(config.llm_model(None).unwrap().0, big);
        assert_eq!(config.llm_model(Some("auto")).unwrap().0, big);
        // a slow one: nothing fits, the quickest answers
        measured(models.path(), small, small_size, 90.0);
        measured(models.path(), big, big_size, 30.0);
        let choice = config.auto_llm().unwrap();
        assert_eq!(choice.id, small);
        assert!(choice.reason.contains("quickest"), "{}", choice.reason);
        // a bigger budget lets the 1.5B answer again
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[llm]\nfirst_token_budget_s = 20\n",
        )
        .unwrap();
        let config = Config::load(data.path(), models.path()).unwrap();
        assert_eq!(config.llm_model(None).unwrap().0, big);
        // a model set in the settings wins, and `auto` hands the choice back
        let config = config
            .save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some(small.into()),
            })
            .unwrap();
        assert!(!config.llm_is_auto());
        assert_eq!(config.llm_model(None).unwrap().0, small);
        let config = config
            .save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some("auto".into()),
            })
            .unwrap();
        assert_eq!(config.llm_model(None).unwrap().0, big);
        // a path to a file that is not there is refused, the settings unchanged
        let err = config
            .save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some("/no/such/model.gguf".into()),
            })
            .unwrap_err();
        assert!(matches!(err, Error::ModelMissing { .. }), "{err}");
        let config = Config::load(data.path(), models.path()).unwrap();
        assert!(config.llm_is_auto());
        // a changed model file is measured again
        std::fs::File::options()
            .write(true)
            .open(models.path().join(big).join("model.gguf"))
            .unwrap()
            .set_len(big_size - 1)
            .unwrap();
        assert_eq!(
            config.llm_model(None).unwrap().0,
            small,
            "the 1.5B is no longer installed"
        );
        // a bad budget is refused
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[llm]\nfirst_token_budget_s = 0\n",
        )
        .unwrap();
        let err = Config::load(data.path(), models.path()).unwrap_err();
        assert!(err.to_string().contains("first_token_budget_s"), "{err}");
    }
}
