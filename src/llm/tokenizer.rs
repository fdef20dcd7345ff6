//! The model's tokenizer, built from the GGUF metadata (or a `tokenizer.json` beside the file),
//! with incremental detokenization for streaming.

use std::path::Path;

use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::Tokenizer;

use super::gguf::GgufFile;
use crate::error::{Error, Result};

/// Build the tokenizer for `gguf`, preferring a `tokenizer.json` next to `model_path`.
pub fn load(gguf: &GgufFile, model_path: &Path) -> Result<Tokenizer> {
    let invalid = |reason: String| Error::ModelInvalid {
        name: model_path.display().to_string(),
        reason,
    };
    let beside = model_path.with_file_name("tokenizer.json");
    if beside.is_file() {
        return Tokenizer::from_file(&beside)
            .map_err(|e| invalid(format!("{}: {e}", beside.display())));
    }
    let mut tokenizer = Tokenizer::from_gguf(&gguf.content).map_err(|e| {
        invalid(format!(
            "cannot build the tokenizer from GGUF metadata: {e}"
        ))
    })?;
    if gguf.string("tokenizer.ggml.pre").as_deref() == Some("smollm") {
        // SmolLM2's tokenizer.json: single digits, then byte-level BPE without a prefix space.
        let pre = Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ]);
        tokenizer.with_pre_tokenizer(Some(pre));
    }
    Ok(tokenizer)
}

/// Encode `text` as it appears (special tokens in it are matched, no BOS/EOS added).
pub fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| Error::Generation(format!("tokenizer: {e}")))
}

/// Turns a growing list of token ids into text pieces, emitting only complete UTF-8 text.
pub struct TokenStream<'a> {
    tokenizer: &'a Tokenizer,
    tokens: Vec<u32>,
    prev_index: usize,
    current_index: usize,
}

impl<'a> TokenStream<'a> {
    /// A stream over `tokenizer`.
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            tokens: Vec::new(),
            prev_index: 0,
            current_index: 0,
        }
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(tokens, true)
            .map_err(|e| Error::Generation(format!("tokenizer: {e}")))
    }

    /// Add one token; returns the new text it completes, if any.
    pub fn push(&mut self, token: u32) -> Result<Option<String>> {
        let prev_text = self.decode(&self.tokens[self.prev_index..self.current_index])?;
        self.tokens.push(token);
        let text = self.decode(&self.tokens[self.prev_index..])?;
        if text.len() > prev_text.len() && !text.ends_with('\u{fffd}') {
            let new = text[prev_text.len()..].to_string();
            self.prev_index = self.current_index;
            self.current_index = self.tokens.len();
            Ok(Some(new))
        } else {
            Ok(None)
        }
    }

    /// Text of tokens not yet emitted (at the end of generation).
    pub fn rest(&self) -> Result<Option<String>> {
        let prev_text = self.decode(&self.tokens[self.prev_index..self.current_index])?;
        let text = self.decode(&self.tokens[self.prev_index..])?;
        Ok((text.len() > prev_text.len()).then(|| text[prev_text.len()..].to_string()))
    }
}
