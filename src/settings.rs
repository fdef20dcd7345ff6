//! Loading and saving the settings: the catalog's defaults, then `<data dir>/config.toml` on
//! top, checked; `save_settings` writes the desktop's changes back keeping the other keys.

use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::chunk::ChunkingConfig;
use crate::config::{
    is_auto, AnswerConfig, ApiConfig, Config, ConfigFile, EmbedderChoice, IngestConfig, LlmConfig,
    OcrConfig, SettingsUpdate,
};
use crate::embed::EmbedderConfig;
use crate::error::{Error, Result};

impl Config {
    /// The name of the optional settings file inside the data dir.
    pub const FILE_NAME: &'static str = "config.toml";

    /// Defaults for a data dir and models dir, then `data_dir/config.toml` applied on top.
    pub fn load(data_dir: &Path, models_dir: &Path) -> Result<Config> {
        let catalog = Catalog::builtin();
        let mut config = Self::load_defaults(data_dir, models_dir)?;
        let path = data_dir.join(Self::FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: ConfigFile = toml::from_str(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
                config.apply(file, &catalog)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        }
        config.settle_evidence();
        Ok(config)
    }

    /// The defaults for a data dir and models dir, without `config.toml`.
    fn load_defaults(data_dir: &Path, models_dir: &Path) -> Result<Config> {
        let catalog = Catalog::builtin();
        let default_embedder = catalog
            .default_of("embedder")
            .ok_or_else(|| Error::Internal("catalog has no default embedder".into()))?;
        let config = Config {
            data_dir: data_dir.to_path_buf(),
            models_dir: models_dir.to_path_buf(),
            embedder: catalog.embedder_config(&default_embedder.id, models_dir)?,
            embedder_endpoint: None,
            runtime_library: catalog.runtime_library(models_dir)?,
            chunking: ChunkingConfig::default(),
            ingest: IngestConfig::default(),
            ocr: OcrConfig::default(),
            llm: LlmConfig::default(),
            answer: AnswerConfig::default(),
            api: ApiConfig::default(),
        };
        Ok(config)
    }

    /// Write `update` into this data dir's `config.toml` and return the configuration it gives.
    /// The new file is checked before it replaces the old one; a bad value is refused and the
    /// old file is kept.
    pub fn save_settings(&self, update: &SettingsUpdate) -> Result<Config> {
        let path = self.data_dir.join(Self::FILE_NAME);
        let old = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let mut table: toml::Table =
            toml::from_str(&old).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if let Some(c) = update.chunking {
            let mut t = toml::Table::new();
            t.insert(
                "chunk_tokens".into(),
                toml::Value::Integer(c.chunk_tokens as i64),
            );
            t.insert(
                "overlap_tokens".into(),
                toml::Value::Integer(c.overlap_tokens as i64),
            );
            table.insert("chunking".into(), toml::Value::Table(t));
        }
        if let Some(model) = &update.llm_model {
            let llm = table
                .entry("llm")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match llm {
                toml::Value::Table(t) => {
                    t.insert("model".into(), toml::Value::String(model.clone()));
                }
                _ => {
                    return Err(Error::Config(format!(
                        "{}: [llm] is not a table",
                        path.display()
                    )))
                }
            }
        }
        let text = toml::to_string(&table).map_err(|e| Error::Config(e.to_string()))?;
        // check the result before writing it
        let file: ConfigFile = toml::from_str(&text).map_err(|e| Error::Config(e.to_string()))?;
        let mut checked = Config::load_defaults(&self.data_dir, &self.models_dir)?;
        checked.apply(file, &Catalog::builtin())?;
        checked.settle_evidence();
        if !is_auto(update.llm_model.as_deref().unwrap_or("")) {
            let (_, path) = checked.llm_model(None)?;
            if !path.is_file() {
                return Err(Error::ModelMissing {
                    path,
                    hint: "give the path of a .gguf file that exists, or a catalog id".into(),
                });
            }
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| Error::DataDir {
            path: self.data_dir.clone(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        Ok(checked)
    }

    fn apply(&mut self, file: ConfigFile, catalog: &Catalog) -> Result<()> {
        match file.embedder {
            Some(EmbedderChoice::Catalog { catalog: id }) => {
                self.embedder = catalog.embedder_config(&id, &self.models_dir)?
            }
            Some(EmbedderChoice::Custom(custom)) => self.embedder = custom,
            Some(EmbedderChoice::Remote(remote)) => {
                self.embedder = EmbedderConfig {
                    id: remote.id.clone(),
                    model: PathBuf::new(),
                    tokenizer_dir: PathBuf::new(),
                    max_tokens: remote.max_tokens,
                    pooling: Default::default(),
                    batch_size: 32,
                    threads: 0,
                };
                self.embedder_endpoint = Some(remote);
            }
            None => {}
        }
        if let Some(c) = file.chunking {
            self.chunking = c;
        }
        if let Some(i) = file.ingest {
            self.ingest = i;
        }
        if let Some(o) = file.ocr {
            self.ocr = o;
        }
        if let Some(l) = file.llm {
            self.llm = l;
        }
        if let Some(a) = file.answer {
            self.answer = a;
        }
        if let Some(a) = file.api {
            self.api = a;
        }
        if let Some(lib) = file.runtime_library {
            self.runtime_library = lib;
        }
        self.validate()
    }

    /// Check settings that would otherwise fail later in confusing ways.
    pub fn validate(&self) -> Result<()> {
        let langs_ok =
            !self.ocr.languages.is_empty()
                && self.ocr.languages.split('+').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
        if !langs_ok {
            return Err(Error::Config(format!(
                "ocr.languages must be Tesseract language codes joined by '+' (e.g. \"eng+deu\"), got {:?}",
                self.ocr.languages
            )));
        }
        if !(70..=600).contains(&self.ocr.dpi) {
            return Err(Error::Config(format!(
                "ocr.dpi must be between 70 and 600, got {}",
                self.ocr.dpi
            )));
        }
        let max_chunk = self.embedder.max_tokens.saturating_sub(2);
        if self.chunking.chunk_tokens < 16 || self.chunking.chunk_tokens > max_chunk {
            return Err(Error::Config(format!(
                "chunking.chunk_tokens must be between 16 and {max_chunk} (the model's {} tokens minus 2), got {}",
                self.embedder.max_tokens, self.chunking.chunk_tokens
            )));
        }
        if self.chunking.overlap_tokens * 2 > self.chunking.chunk_tokens {
            return Err(Error::Config(
                "chunking.overlap_tokens must be at most half of chunk_tokens".into(),
            ));
        }
        if self.ingest.files_per_batch == 0
            || self.ingest.chunks_per_batch == 0
            || self.ingest.max_file_mb == 0
        {
            return Err(Error::Config(
                "ingest.files_per_batch, chunks_per_batch and max_file_mb must be positive".into(),
            ));
        }
        let budget = self.llm.first_token_budget_s;
        if !(budget.is_finite() && budget > 0.0) {
            return Err(Error::Config(
                "llm.first_token_budget_s must be a positive number of seconds".into(),
            ));
        }
        let web = |url: &str| {
            url::Url::parse(url.trim())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        };
        if let Some(remote) = &self.embedder_endpoint {
            if !web(&remote.endpoint) || remote.id.trim().is_empty() {
                return Err(Error::Config(format!(
                    "embedder.endpoint must be an http:// or https:// base URL such as \
                     \"http://127.0.0.1:11434/v1\", with an id naming the model, got {:?}",
                    remote.endpoint
                )));
            }
            readable_ca("embedder.endpoint_ca", &remote.endpoint_ca)?;
        }
        let endpoint = self.llm.endpoint.trim();
        if !endpoint.is_empty() {
            if !web(endpoint) {
                return Err(Error::Config(format!(
                    "llm.endpoint must be an http:// or https:// base URL such as \
                     \"http://127.0.0.1:8080/v1\", got {endpoint:?}"
                )));
            }
            readable_ca("llm.endpoint_ca", &self.llm.endpoint_ca)?;
            let t = self.llm.endpoint_timeout_s;
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::Config(
                    "llm.endpoint_timeout_s must be a positive number of seconds".into(),
                ));
            }
        }
        if self.llm.context_window < 512 {
            return Err(Error::Config(
                "llm.context_window must be at least 512".into(),
            ));
        }
        if self.answer.passages == 0 || (1..64).contains(&self.answer.source_tokens) {
            return Err(Error::Config(
                "answer.passages must be positive and answer.source_tokens 0 (automatic) or at \
                 least 64"
                    .into(),
            ));
        }
        let q = self.answer.min_quote_score;
        if q.is_nan() || q < 0.0 {
            return Err(Error::Config(
                "answer.min_quote_score must be a number from 0 (always quote when the model's \
                 answer fails the check) up; above 2 Hearth never quotes"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `endpoint_ca`, when set, names a file that can be read.
fn readable_ca(what: &str, path: &str) -> Result<()> {
    let path = path.trim();
    if path.is_empty() {
        return Ok(());
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::Config(format!("{what} {path:?} is not a file"))),
        Err(e) => Err(Error::Config(format!("{what} {path:?}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_saved_into_config_toml_keeping_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[ingest]\nmax_file_mb = 7\n").unwrap();
        let c = Config::load(dir.path(), Path::new("/models")).unwrap();
        let update = SettingsUpdate {
            chunking: Some(ChunkingConfig {
                chunk_tokens: 120,
                overlap_tokens: 20,
            }),
            llm_model: None,
        };
        let saved = c.save_settings(&update).unwrap();
        assert_eq!(saved.chunking.chunk_tokens, 120);
        let reloaded = Config::load(dir.path(), Path::new("/models")).unwrap();
        assert_eq!(reloaded.chunking.overlap_tokens, 20);
        assert_eq!(reloaded.ingest.max_file_mb, 7, "other keys are kept");

        // a bad value is refused and the file is left as it was
        let before = std::fs::read_to_string(&file).unwrap();
        let bad = SettingsUpdate {
            chunking: Some(ChunkingConfig {
                chunk_tokens: 100,
                overlap_tokens: 90,
            }),
            llm_model: None,
        };
        let err = reloaded.save_settings(&bad).unwrap_err();
        assert!(err.to_string().contains("overlap_tokens"), "{err}");
        let unknown = SettingsUpdate {
            chunking: None,
            llm_model: Some("no-such-model".into()),
        };
        assert!(reloaded.save_settings(&unknown).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    }

    #[test]
    fn config_file_overrides_defaults_and_custom_embedder() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path(), Path::new("/models")).unwrap();
        assert_eq!(c.embedder.id, "all-minilm-l6-v2");
        std::fs::write(
            dir.path().join("config.toml"),
            "[embedder]\nid = \"my-e5\"\nonnx = \"/x/model.onnx\"\ntokenizer_dir = \"/x\"\nmax_tokens = 512\npooling = \"cls\"\n\n[chunking]\nchunk_tokens = 300\noverlap_tokens = 40\n",
        )
        .unwrap();
        let c = Config::load(dir.path(), Path::new("/models")).unwrap();
        assert_eq!(c.embedder.id, "my-e5");
        assert_eq!(c.embedder.max_tokens, 512);
        assert_eq!(c.chunking.chunk_tokens, 300);
        std::fs::write(
            dir.path().join("config.toml"),
            "[chunking]\nchunk_tokens = 9000\n",
        )
        .unwrap();
        let err = Config::load(dir.path(), Path::new("/models")).unwrap_err();
        assert!(err.to_string().contains("chunk_tokens"), "{err}");
        std::fs::write(
            dir.path().join("config.toml"),
            "[chunking]\nchunk_size = 9\n",
        )
        .unwrap();
        assert_eq!(
            Config::load(dir.path(), Path::new("/models"))
                .unwrap_err()
                .code(),
            "config"
        );
    }
}
