//! extract → chunk on arbitrary bytes under every file name flavour: no reader may crash (a
//! contained crash is `reader_crashed`, turned back into a crash here so libFuzzer keeps the
//! input), and every chunk is an exact slice of its page at its char offsets.
#![no_main]

use std::path::Path;

use hearth::chunk::{chunk_document, ChunkingConfig, WhitespaceTokens as Words};
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &["a.html", "a.md", "a.txt", "a.rs", "a.pdf", "a"];

fuzz_target!(|data: &[u8]| {
    let Some((&flavour, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[flavour as usize % NAMES.len()];
    let doc = match hearth::extract::extract(Path::new(name), bytes) {
        Ok(doc) => doc,
        Err(e) if e.code() == "reader_crashed" => panic!("{name}: {e}"),
        Err(_) => return,
    };
    let cfg = ChunkingConfig {
        chunk_tokens: 24,
        overlap_tokens: 6,
    };
    for chunk in chunk_document(&doc, &Words, &cfg) {
        let page = doc.pages.iter().find(|p| p.number == chunk.page).unwrap();
        let slice: String = page
            .text
            .chars()
            .skip(chunk.char_start)
            .take(chunk.char_end - chunk.char_start)
            .collect();
        assert_eq!(slice, chunk.text);
    }
});
