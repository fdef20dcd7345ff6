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
    if gguf.string("tokenizer.ggml.model").as_deref() == Some("llama") {
        return sentencepiece(gguf).map_err(invalid);
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

/// A SentencePiece BPE vocabulary (`tokenizer.ggml.model = "llama"`: Gemma, Llama 2) from the
/// GGUF's pieces and scores: merges recovered from the scores, byte fallback, `▁` for spaces.
fn sentencepiece(gguf: &GgufFile) -> std::result::Result<Tokenizer, String> {
    use candle_core::quantized::gguf_file::Value;
    use tokenizers::decoders::{
        byte_fallback::ByteFallback, fuse::Fuse, sequence::Sequence as DecSeq,
    };
    use tokenizers::models::bpe::BPE;
    use tokenizers::normalizers::{Prepend, Replace, Sequence as NormSeq};
    use tokenizers::AddedToken;

    let array = |key: &str| match gguf.get(key) {
        Some(Value::Array(a)) => Ok(a),
        _ => Err(format!("GGUF has no {key}")),
    };
    let tokens: Vec<String> = array("tokenizer.ggml.tokens")?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| e.to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let scores: Vec<f64> = array("tokenizer.ggml.scores")?
        .iter()
        .map(|v| v.to_f32().map(|f| f as f64).unwrap_or(0.0))
        .collect();
    let types: Vec<u32> = array("tokenizer.ggml.token_type")
        .map(|a| {
            a.iter()
                .map(|v| {
                    v.to_i32()
                        .map(|t| t as u32)
                        .or_else(|_| v.to_u32())
                        .unwrap_or(1)
                })
                .collect()
        })
        .unwrap_or_default();
    let unk = gguf
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(|v| v.to_u32().ok())
        .map(|u| u as usize);
    // SentencePiece BPE merges the adjacent pair whose result scores highest. Recover that as a
    // merge list (as Hugging Face's converter does): every split of a piece into two pieces of
    // the vocabulary, ordered by the merged piece's score.
    let index: std::collections::HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let mut merges: Vec<(f64, u32, u32, String, String)> = Vec::new();
    for (i, piece) in tokens.iter().enumerate() {
        if types.get(i).is_some_and(|t| *t != 1) {
            continue; // only normal pieces are merge results
        }
        for (at, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(at);
            if let (Some(&li), Some(&ri)) = (index.get(l), index.get(r)) {
                merges.push((scores[i], li, ri, l.to_string(), r.to_string()));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges: Vec<(String, String)> = merges.into_iter().map(|m| (m.3, m.4)).collect();
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true);
    if let Some(u) = unk.and_then(|u| tokens.get(u)) {
        builder = builder.unk_token(u.clone());
    }
    let model = builder.build().map_err(|e| e.to_string())?;
    let mut tk = Tokenizer::new(model);
    let space_prefix = gguf
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    let mut norms = Vec::new();
    if space_prefix {
        norms.push(Prepend::new("▁".into()).into());
    }
    norms.push(Replace::new(" ", "▁").map_err(|e| e.to_string())?.into());
    tk.with_normalizer(Some(NormSeq::new(norms)))
        .map_err(|e| e.to_string())?;
    let mut decoders = vec![
        tokenizers::decoders::DecoderWrapper::Replace(
            Replace::new("▁", " ").map_err(|e| e.to_string())?,
        ),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if space_prefix {
        decoders.push(tokenizers::decoders::strip::Strip::new(' ', 1, 0).into());
    }
    tk.with_decoder(Some(DecSeq::new(decoders)));
    // control (3) and user-defined (4) tokens are matched whole
    let specials: Vec<AddedToken> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t, 3 | 4))
        .filter_map(|(i, _)| tokens.get(i))
        .map(|t| AddedToken::from(t.clone(), true))
        .collect();
    tk.add_special_tokens(specials).map_err(|e| e.to_string())?;
    Ok(tk)
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
