//! Integration tests: the real default embedding model, a real LanceDB in a temp dir, real files.

mod util;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hearth::{Cancel, IngestEvent, SearchMode, SearchRequest};
use util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_right_file_and_page() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(report.indexed, 6, "{report:?}");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.chunks >= 8, "{report:?}");

    // Page-level citations into the PDF, in every mode.
    for mode in [SearchMode::Hybrid, SearchMode::Vector, SearchMode::Text] {
        let hits = search(
            &lib,
            "How thick did the lake ice get in February 2019?",
            mode,
        )
        .await;
        assert_eq!(
            file_name(&hits[0].path),
            "field-guide.pdf",
            "{mode:?}: {hits:?}"
        );
        assert_eq!(hits[0].page, Some(3), "{mode:?}");
        assert!(hits[0].text.contains("71 centimetres"));
    }
    let hits = search(&lib, "when do heron eggs hatch", SearchMode::Hybrid).await;
    assert_eq!(
        (file_name(&hits[0].path), hits[0].page),
        ("field-guide.pdf", Some(2))
    );
    let hits = search(
        &lib,
        "battery capacity of the solar system",
        SearchMode::Hybrid,
    )
    .await;
    assert_eq!(hits[0].page, Some(4));

    // Markdown keeps heading paths; non-PDFs have no page.
    let hits = search(
        &lib,
        "how long is bulk fermentation for the bread dough",
        SearchMode::Hybrid,
    )
    .await;
    assert_eq!(file_name(&hits[0].path), "sourdough.md", "{hits:?}");
    assert_eq!(hits[0].page, None);
    assert!(
        hits[0].heading.starts_with("Sourdough"),
        "{}",
        hits[0].heading
    );

    // HTML: visible text is indexed and entities decoded, scripts are not indexed.
    let hits = search(
        &lib,
        "which cheese goes into cacio e pepe",
        SearchMode::Hybrid,
    )
    .await;
    assert_eq!(file_name(&hits[0].path), "pasta-recipe.html");
    let secret = search(&lib, "zzqxvv", SearchMode::Text).await;
    assert!(secret.is_empty(), "script content was indexed: {secret:?}");

    let hits = search(
        &lib,
        "who owns the PostgreSQL migration of billing",
        SearchMode::Hybrid,
    )
    .await;
    assert_eq!(file_name(&hits[0].path), "meeting-2024-03-14.txt");
    let hits = search(&lib, "retry base delay in milliseconds", SearchMode::Hybrid).await;
    assert_eq!(file_name(&hits[0].path), "retry.rs");

    // Offsets point at the exact text (PDF offsets are within the page).
    let hit = &search(&lib, "tyre pressure in bar", SearchMode::Hybrid).await[0];
    let source = std::fs::read_to_string(&hit.path).unwrap();
    let slice: String = source
        .chars()
        .skip(hit.char_start as usize)
        .take((hit.char_end - hit.char_start) as usize)
        .collect();
    assert_eq!(slice, hit.text);

    let status = lib.status().await.unwrap();
    assert_eq!(status.documents, 6);
    assert!(status.fts_index);
    assert_eq!(status.embedder.as_deref(), Some("all-minilm-l6-v2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_ingest_skips_replaces_and_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let lib = library(tmp.path()).await;
    let first = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(first.indexed, 6);

    // Unchanged: nothing is embedded.
    let again = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(
        (again.indexed, again.skipped, again.chunks, again.removed),
        (0, 6, 0, 0)
    );

    // Touched but same content: skipped without new chunks.
    let note = corpus.join("notes/bike-maintenance.md");
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&note, &text).unwrap();
    // a new modification time set outright (a sleep would not change it on a file system
    // that keeps whole seconds), so the content hash decides
    let later =
        std::fs::metadata(&note).unwrap().modified().unwrap() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&note)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let touched = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(
        (touched.indexed, touched.chunks, touched.skipped),
        (0, 0, 6)
    );

    // Changed: replaced; the old text is gone, the new one found.
    std::fs::write(
        &note,
        "# Bike\n\nThe derailleur hanger was replaced with a titanium part from Kestrelworks.\n",
    )
    .unwrap();
    let changed = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!((changed.indexed, changed.skipped), (1, 5));
    let hits = search(
        &lib,
        "Kestrelworks titanium derailleur hanger",
        SearchMode::Text,
    )
    .await;
    assert_eq!(file_name(&hits[0].path), "bike-maintenance.md");
    let old = search(&lib, "chain lubrication every 300 km", SearchMode::Text).await;
    assert!(
        old.iter()
            .all(|h| file_name(&h.path) != "bike-maintenance.md"),
        "{old:?}"
    );

    // Deleted: leaves the index.
    std::fs::remove_file(corpus.join("code/retry.rs")).unwrap();
    let removed = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(removed.removed, 1);
    let hits = search(&lib, "exponential backoff base delay", SearchMode::Hybrid).await;
    assert!(hits.iter().all(|h| file_name(&h.path) != "retry.rs"));
    assert_eq!(lib.status().await.unwrap().documents, 5);

    // A fresh Library on the same data dir sees the same index (it is on disk).
    drop(lib);
    let reopened = library(tmp.path()).await;
    let status = reopened.status().await.unwrap();
    assert_eq!(status.documents, 5);
    let hits = search(&reopened, "Kestrelworks", SearchMode::Text).await;
    assert_eq!(file_name(&hits[0].path), "bike-maintenance.md");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_per_file_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    // Without OCR (as on a machine without Tesseract): images are not documents, a scanned
    // PDF has no text. With OCR: `scanned_pages_and_images_are_read_by_ocr`.
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    std::fs::write(
        tmp.path().join("data/config.toml"),
        "[ocr]\nenabled = false\n",
    )
    .unwrap();
    let lib = library(tmp.path()).await;
    ingest(&lib, std::slice::from_ref(&corpus)).await;

    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("empty.txt"), b"").unwrap();
    std::fs::write(
        bad.join("photo.txt"),
        [0x89u8, b'P', b'N', b'G', 0, 0, 1, 2, 3, 0, 0xff, 0xfe, 0],
    )
    .unwrap();
    // Latin-1 and UTF-16 text are decoded and indexed.
    std::fs::write(
        bad.join("latin1.txt"),
        b"Le g\xe2teau de Mirabelle \xe9tait d\xe9licieux, cr\xe8me fra\xeeche.\n",
    )
    .unwrap();
    let utf16: Vec<u8> = [0xFFu8, 0xFE]
        .into_iter()
        .chain(
            "Quokkas live on Rottnest Island near Perth."
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        )
        .collect();
    std::fs::write(bad.join("utf16.txt"), utf16).unwrap();
    // PDFs: truncated, encrypted, image-only, and a "PDF" that is not one.
    let pdf = std::fs::read(data("corpus/field-guide.pdf")).unwrap();
    std::fs::write(bad.join("truncated.pdf"), &pdf[..pdf.len() / 3]).unwrap();
    std::fs::copy(data("bad/encrypted.pdf"), bad.join("encrypted.pdf")).unwrap();
    std::fs::copy(data("bad/scanned.pdf"), bad.join("scanned.pdf")).unwrap();
    std::fs::write(bad.join("fake.pdf"), "just some words, no PDF here").unwrap();
    // A dangling symlink (a file that vanished), a symlink loop, a 500 MB file.
    std::os::unix::fs::symlink(bad.join("gone.txt"), bad.join("vanished.txt")).unwrap();
    std::fs::create_dir_all(bad.join("loop")).unwrap();
    std::os::unix::fs::symlink(&bad, bad.join("loop/back")).unwrap();
    let big = std::fs::File::create(bad.join("huge.txt")).unwrap();
    big.set_len(500 * 1024 * 1024).unwrap(); // sparse: no disk needed
    drop(big);
    // Types Hearth does not read (yet): counted and listed, not dropped in silence; a hidden
    // file is not counted.
    std::fs::write(bad.join("talk.key"), b"PK\x03\x04 a Keynote deck").unwrap();
    std::fs::write(bad.join("holiday.JPG"), [0xffu8, 0xd8, 0xff]).unwrap();
    std::fs::write(bad.join("beach.jpg"), [0xffu8, 0xd8, 0xff]).unwrap();
    std::fs::write(bad.join(".DS_Store"), b"\0\0").unwrap();
    // An already-indexed file becomes corrupt: the failed re-index must keep the old version.
    std::fs::write(corpus.join("field-guide.pdf"), &pdf[..200]).unwrap();

    let report = ingest(
        &lib,
        &[
            bad.clone(),
            corpus.clone(),
            tmp.path().join("no-such-folder"),
        ],
    )
    .await;
    let reason = |name: &str| -> String {
        report
            .failed
            .iter()
            .find(|f| f.path.ends_with(name))
            .map(|f| format!("{} {}", f.code, f.error))
            .unwrap_or_else(|| panic!("no failure for {name}: {:?}", report.failed))
    };
    assert!(reason("empty.txt").contains("empty"));
    assert!(reason("photo.txt").contains("binary"));
    assert!(reason("truncated.pdf").starts_with("corrupt_pdf"));
    assert!(reason("encrypted.pdf").starts_with("encrypted_pdf"));
    assert!(reason("scanned.pdf").contains("no text layer"));
    assert!(reason("scanned.pdf").contains("OCR is turned off"));
    assert!(reason("fake.pdf").contains("not a PDF"));
    assert!(
        reason("vanished.txt").contains("no such file"),
        "{}",
        reason("vanished.txt")
    );
    assert!(reason("loop/back").contains("symlink loop"));
    assert!(reason("huge.txt").contains("too large"));
    assert!(reason("field-guide.pdf").starts_with("corrupt_pdf"));
    assert!(reason("no-such-folder").contains("no such file"));
    assert_eq!(report.failed.len(), 11, "{:#?}", report.failed);
    assert_eq!(report.indexed, 2, "latin1 + utf16: {report:?}");
    let u = &report.unsupported;
    assert_eq!(u.count, 3, "{u:?}");
    assert_eq!(u.describe(), "3 (.jpg 2, .key 1)");
    let mut listed: Vec<&str> = u.paths.iter().map(|p| file_name(p)).collect();
    listed.sort();
    assert_eq!(listed, ["beach.jpg", "holiday.JPG", "talk.key"]);

    let hits = search(&lib, "gâteau de Mirabelle crème fraîche", SearchMode::Text).await;
    assert_eq!(file_name(&hits[0].path), "latin1.txt");
    let hits = search(&lib, "quokkas Rottnest", SearchMode::Text).await;
    assert_eq!(file_name(&hits[0].path), "utf16.txt");
    // The old version of the now-corrupt PDF is still searchable.
    let hits = search(&lib, "ice reached 71 centimetres", SearchMode::Hybrid).await;
    assert_eq!(
        (file_name(&hits[0].path), hits[0].page),
        ("field-guide.pdf", Some(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_ingest_keeps_a_consistent_index() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("many");
    std::fs::create_dir_all(&docs).unwrap();
    for i in 0..80 {
        std::fs::write(
            docs.join(format!("note-{i:03}.txt")),
            format!("Note number {i}. The courier code for parcel {i} is QX{i:03}Z."),
        )
        .unwrap();
    }
    let mut config = hearth::Config::load(&tmp.path().join("data"), &models_dir()).unwrap();
    config.ingest.files_per_batch = 16;
    let lib = hearth::Library::open(config).await.unwrap();
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    // Cancel as soon as the first batch has been committed.
    let sink = move |e: IngestEvent| {
        if let IngestEvent::Progress { files_done, .. } = e {
            if files_done >= 20 {
                trigger.cancel();
            }
        }
    };
    let report = lib
        .ingest(std::slice::from_ref(&docs), &sink, &cancel)
        .await
        .unwrap();
    assert!(report.cancelled);
    assert!(report.indexed > 0 && report.indexed < 80, "{report:?}");
    let status = lib.status().await.unwrap();
    assert_eq!(status.documents, report.indexed);
    assert_eq!(status.chunks, report.chunks);
    // Resuming finishes the job and embeds only what is missing.
    let rest = ingest(&lib, std::slice::from_ref(&docs)).await;
    assert_eq!(rest.indexed + report.indexed, 80);
    assert_eq!(rest.skipped, report.indexed);
    let hits = search(&lib, "QX079Z", SearchMode::Text).await;
    assert_eq!(file_name(&hits[0].path), "note-079.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_never_sees_half_a_replaced_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("docs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("log.md");
    let version = |k: usize| -> String {
        (0..6)
            .map(|s| format!("## Section {s}\n\nAurora lighthouse keeper log, revision marker rev{k}, entry {s}.\n\n"))
            .collect()
    };
    std::fs::write(&file, version(0)).unwrap();
    let lib = Arc::new(library(tmp.path()).await);
    ingest(&lib, std::slice::from_ref(&dir)).await;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let lib = lib.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut checks = 0;
            while !done.load(Ordering::SeqCst) {
                let hits = lib
                    .search(&hearth::SearchRequest {
                        query: "Aurora lighthouse keeper log".into(),
                        limit: 50,
                        mode: SearchMode::Text,
                        collections: Vec::new(),
                    })
                    .await
                    .unwrap();
                let revs: std::collections::HashSet<String> = hits
                    .iter()
                    .filter_map(|h| {
                        h.text
                            .split_whitespace()
                            .find(|w| w.starts_with("rev"))
                            .map(|w| w.trim_end_matches(',').to_string())
                    })
                    .collect();
                assert_eq!(hits.len(), 6, "a search saw {} chunks", hits.len());
                assert_eq!(revs.len(), 1, "a search saw a mix of versions: {revs:?}");
                checks += 1;
            }
            checks
        })
    };
    let first = std::fs::metadata(&file).unwrap().modified().unwrap();
    for k in 1..=5 {
        std::fs::write(&file, version(k)).unwrap();
        // same size: a modification time set outright marks the change on any file system
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(first + std::time::Duration::from_secs(k as u64))
            .unwrap();
        let r = ingest(&lib, std::slice::from_ref(&dir)).await;
        assert_eq!(r.indexed, 1);
    }
    done.store(true, Ordering::SeqCst);
    let checks = reader.await.unwrap();
    assert!(checks > 0);
    let hits = search(&lib, "rev5", SearchMode::Text).await;
    assert!(!hits.is_empty());
}

/// The int8 ONNX MiniLM's model file and tokenizer copied to `<dir>/my-model`, as a user's own
/// ONNX model.
fn own_model_copy(dir: &std::path::Path) -> PathBuf {
    let own = dir.join("my-model");
    std::fs::create_dir_all(&own).unwrap();
    let src = models_dir().join("all-minilm-l6-v2-int8");
    for f in ["model.onnx", "tokenizer.json"] {
        std::fs::copy(src.join(f), own.join(f)).unwrap();
    }
    own
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_remembers_its_model_and_is_rebuilt_when_that_model_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    // An index built with the user's own copy of a model...
    let own = own_model_copy(tmp.path());
    let data = tmp.path().join("data");
    let mut config = hearth::Config::load(&data, &models_dir()).unwrap();
    config.embedder.id = "my-minilm".into();
    config.embedder.model = own.join("model.onnx");
    config.embedder.tokenizer_dir = own.clone();
    let corpus = copy_corpus(tmp.path());
    {
        let lib = hearth::Library::open(config).await.unwrap();
        ingest(&lib, std::slice::from_ref(&corpus)).await;
    }
    // ...whose files are then deleted, with the configuration back on the catalog model: the
    // library opens, says what is wrong and what to do, and the rebuild puts it right.
    std::fs::remove_dir_all(&own).unwrap();
    let lib = library(tmp.path()).await;
    assert_eq!(
        lib.pending_change().map(|c| c.from_embedder),
        Some("my-minilm".to_string())
    );
    let err = lib
        .search(&SearchRequest {
            query: "solar panels".into(),
            limit: 3,
            mode: SearchMode::Hybrid,
            collections: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "index_incompatible", "{err}");
    assert!(err.to_string().contains("hearth reindex"), "{err}");
    let report = lib.rebuild(&|_| {}, &Cancel::new()).await.unwrap();
    assert!(report.switched, "{report:?}");
    assert_eq!(report.ingest.indexed, 6, "{report:?}");
    let hits = search(&lib, "how many solar panels", SearchMode::Vector).await;
    assert_eq!(hits[0].page, Some(4));
    assert_eq!(
        lib.status().await.unwrap().embedder.as_deref(),
        Some("all-minilm-l6-v2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_model_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = hearth::Config::load(
        &tmp.path().join("data"),
        &PathBuf::from("/nonexistent/models"),
    )
    .unwrap();
    let err = hearth::Library::open(config).await.unwrap_err();
    assert_eq!(err.code(), "model_missing", "{err}");
    assert!(err.to_string().contains("models fetch"), "{err}");
}

#[test]
fn embedder_tokenizer_counts_real_tokens_and_vectors_are_unit_length() {
    let config = hearth::Config::load(std::path::Path::new("/tmp/unused"), &models_dir()).unwrap();
    let e = hearth::encoder::load(&config.embedder, &config.runtime_library).unwrap();
    assert_eq!(e.dim(), 384);
    // WordPiece splits rare words: more tokens than words, spans cover the text.
    let text = "Unbelievably, the silver-throated heron nests in alder.";
    let spans = e.token_spans(text);
    assert!(spans.len() > text.split_whitespace().count());
    let joined: String = spans.iter().map(|r| &text[r.clone()]).collect();
    assert_eq!(joined, text.split_whitespace().collect::<String>());
    let v = e
        .embed(&[
            "a cat sat on the mat".into(),
            "a kitten sat on the rug".into(),
            "quarterly tax filing deadline".into(),
        ])
        .unwrap();
    for x in &v {
        let n: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-3);
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]) + 0.2);
}

/// Hearth's own integer encoder (the default) gives the vectors the fp32 weights give: every
/// paragraph of the test corpus, a text longer than the model takes, an empty one and one
/// word, each within cosine 0.995 of candle's fp32 BERT on the same safetensors; and a text's
/// vector hardly depends on the texts batched with it (short batches take the few-token
/// kernel: within cosine 0.999).
#[test]
fn own_encoder_agrees_with_the_fp32_model_and_ignores_its_batch() {
    let config = hearth::Config::load(std::path::Path::new("/tmp/unused"), &models_dir()).unwrap();
    assert!(
        config.embedder.model.extension().unwrap() == "safetensors",
        "the default embedder is the own encoder: {:?}",
        config.embedder.model
    );
    let e = hearth::encoder::load(&config.embedder, &config.runtime_library).unwrap();
    let mut texts: Vec<String> = Vec::new();
    let mut dirs = vec![data("corpus")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            texts.extend(
                text.split("\n\n")
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(String::from),
            );
        }
    }
    assert!(texts.len() >= 10, "{} paragraphs", texts.len());
    let long = texts.join(" ").repeat(3);
    assert!(e.token_spans(&long).len() > e.max_tokens());
    texts.extend([long, String::new(), "heron".into()]);
    let ours = e.embed(&texts).unwrap();
    let reference = hearth::encoder::reference_vectors(&config.embedder, &texts).unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for ((t, a), b) in texts.iter().zip(&ours).zip(&reference) {
        assert_eq!(a.len(), 384);
        let c = cos(a, b);
        assert!(c >= 0.995, "cosine {c} for {:?}", &t[..t.len().min(60)]);
    }
    // alone, or with the others in another order: the same vector
    for (i, t) in texts.iter().enumerate() {
        let alone = e.embed(std::slice::from_ref(t)).unwrap();
        let c = cos(&alone[0], &ours[i]);
        assert!(
            c > 0.999,
            "text {i} alone: cosine {c} to its vector in the batch"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_onnx_model_can_be_configured_instead_of_the_catalog_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Bring-your-own model: copy the ONNX file and tokenizer somewhere else and point the
    // data dir's config.toml at them under a new id.
    let own = own_model_copy(tmp.path());
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("config.toml"),
        format!(
            "[embedder]\nid = \"my-minilm\"\nonnx = \"{}\"\ntokenizer_dir = \"{}\"\nmax_tokens = 128\npooling = \"mean\"\n\n[chunking]\nchunk_tokens = 100\noverlap_tokens = 16\n",
            own.join("model.onnx").display(),
            own.display()
        ),
    )
    .unwrap();
    let lib = library(tmp.path()).await;
    assert_eq!(lib.embedder().id(), "my-minilm");
    let corpus = copy_corpus(tmp.path());
    let report = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(report.indexed, 6);
    let hits = search(&lib, "how many solar panels", SearchMode::Vector).await;
    assert_eq!(hits[0].page, Some(4));
    assert_eq!(
        lib.status().await.unwrap().embedder.as_deref(),
        Some("my-minilm")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vector_index_is_built_once_the_table_is_large_enough() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("notes");
    std::fs::create_dir_all(&docs).unwrap();
    let topics = [
        "gardening",
        "astronomy",
        "cooking",
        "cycling",
        "taxes",
        "chess",
    ];
    for i in 0..300 {
        let topic = topics[i % topics.len()];
        std::fs::write(
            docs.join(format!("n{i:03}.txt")),
            format!("Note {i} about {topic}: entry {i} of the {topic} journal, code K{i:03}."),
        )
        .unwrap();
    }
    std::fs::write(
        docs.join("special.txt"),
        "The spare key to the allotment shed is hidden under the blue flowerpot.",
    )
    .unwrap();
    let mut config = hearth::Config::load(&tmp.path().join("data"), &models_dir()).unwrap();
    config.ingest.vector_index_min_rows = 256;
    let lib = hearth::Library::open(config).await.unwrap();
    ingest(&lib, std::slice::from_ref(&docs)).await;
    let status = lib.status().await.unwrap();
    assert_eq!(status.chunks, 301);
    assert!(status.vector_index, "{status:?}");
    let hits = search(
        &lib,
        "where is the spare key for the garden shed",
        SearchMode::Vector,
    )
    .await;
    assert_eq!(file_name(&hits[0].path), "special.txt");
    // Rows added after the index was built are found too.
    std::fs::write(
        docs.join("late.txt"),
        "The passport renewal appointment is on the ninth of May.",
    )
    .unwrap();
    ingest(&lib, std::slice::from_ref(&docs)).await;
    let hits = search(
        &lib,
        "when is my passport renewal appointment",
        SearchMode::Vector,
    )
    .await;
    assert_eq!(file_name(&hits[0].path), "late.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_listed_read_back_by_page_and_removed_by_file_or_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let lib = library(tmp.path()).await;
    ingest(&lib, std::slice::from_ref(&corpus)).await;
    let docs = lib.documents().await.unwrap();
    assert_eq!(docs.len(), 6);
    assert!(docs.windows(2).all(|w| w[0].path < w[1].path), "sorted");

    // A PDF page comes back whole, and only that page.
    let pdf = corpus
        .join("field-guide.pdf")
        .to_string_lossy()
        .into_owned();
    let p2 = lib.page_text(&pdf, Some(2)).await.unwrap();
    assert_eq!((p2.page, p2.pages), (Some(2), Some(4)));
    assert!(
        p2.text.contains("The eggs hatch after 26 days"),
        "{}",
        p2.text
    );
    assert!(p2.text.contains("alder twigs"));
    assert!(!p2.text.contains("71 centimetres"));
    assert_eq!(lib.page_text(&pdf, None).await.unwrap().page, Some(1));
    let err = lib.page_text(&pdf, Some(9)).await.unwrap_err();
    assert_eq!(err.code(), "invalid_request", "{err}");
    // A text document comes back as the text that was indexed, in order.
    let md = corpus.join("notes/sourdough.md");
    let whole = lib.page_text(&md.to_string_lossy(), None).await.unwrap();
    assert_eq!(whole.page, None);
    let source = std::fs::read_to_string(&md).unwrap();
    let first = whole.text.find("Bertha").expect("the starter's name");
    assert!(source.contains("Bertha"));
    assert!(
        whole.text.find("250").is_some_and(|i| i > first),
        "document order"
    );
    // Nothing outside the index can be read this way.
    let err = lib.page_text("/etc/passwd", None).await.unwrap_err();
    assert_eq!(err.code(), "bad_path");

    // Remove one file, then a folder; the files on disk stay.
    let removed = lib.remove(&pdf).await.unwrap();
    assert_eq!(removed, vec![pdf.clone()]);
    let notes = corpus.join("notes").to_string_lossy().into_owned();
    let removed = lib.remove(&format!("{notes}/")).await.unwrap();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(md.is_file());
    assert_eq!(lib.documents().await.unwrap().len(), 2);
    let hits = search(&lib, "sourdough starter Bertha", SearchMode::Text).await;
    assert!(hits.iter().all(|h| !h.path.contains("/notes/")), "{hits:?}");
    assert_eq!(lib.remove(&notes).await.unwrap_err().code(), "bad_path");
    // A folder name that is only a prefix of another name does not match it.
    assert_eq!(
        lib.remove(&corpus.join("cod").to_string_lossy())
            .await
            .unwrap_err()
            .code(),
        "bad_path"
    );
}

/// A query embedded while a bulk batch holds the main session goes through the second session
/// and gets the same vector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_embedded_during_a_bulk_batch_get_the_same_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = library(tmp.path()).await;
    let embedder = lib.embedder().clone();
    let query = vec!["when do heron eggs hatch".to_string()];
    let idle = embedder.embed(&query).unwrap().remove(0);
    let bulk: Vec<String> = (0..384)
        .map(|i| format!("passage number {i} about lake ice, herons and solar panels"))
        .collect();
    let e = embedder.clone();
    let worker = std::thread::spawn(move || e.embed(&bulk).unwrap().len());
    let mut during = 0;
    while !worker.is_finished() {
        let v = embedder.embed(&query).unwrap().remove(0);
        let cos: f32 = v.iter().zip(&idle).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "cosine {cos}");
        during += 1;
    }
    assert_eq!(worker.join().unwrap(), 384);
    assert!(during > 0);
}

/// Real third-party HTML documentation (PostgreSQL 15 pages and Debian Reference chapters from
/// Debian's doc packages, fetched by `eval/fetch-corpus.sh` into `<models dir>/eval-real`):
/// every page is indexed (the hand-written HTML reader used to abort the whole run on one of
/// them), headings become heading paths, navigation chrome stays out, and paraphrased
/// questions find their page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_html_documentation_is_indexed_whole_and_found() {
    let corpus = models_dir().join("eval-real");
    assert!(
        corpus.join(".complete").exists(),
        "no real-document corpus in {} (scripts/test.sh runs eval/fetch-corpus.sh)",
        corpus.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("html");
    copy_dir(&corpus.join("postgresql"), &html.join("postgresql"));
    copy_dir(
        &corpus.join("debian-reference"),
        &html.join("debian-reference"),
    );
    let files = std::fs::read_dir(html.join("postgresql")).unwrap().count()
        + std::fs::read_dir(html.join("debian-reference"))
            .unwrap()
            .count();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, &[std::fs::canonicalize(&html).unwrap()]).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.indexed, files, "{report:?}");

    let vacuum = lib
        .page_text(
            &std::fs::canonicalize(html.join("postgresql/sql-vacuum.html"))
                .unwrap()
                .to_string_lossy(),
            None,
        )
        .await
        .unwrap()
        .text;
    // DocBook's navigation bars ("Prev Up Next") are not text.
    assert!(
        !vacuum.contains("Prev"),
        "{}",
        &vacuum[..vacuum.len().min(400)]
    );
    assert!(
        vacuum.contains("VACUUM FULL"),
        "{}",
        &vacuum[..vacuum.len().min(400)]
    );

    let hits = search(
        &lib,
        "how do I give the disk space of a bloated table back to the operating system?",
        SearchMode::Hybrid,
    )
    .await;
    assert!(
        hits.iter().any(|h| file_name(&h.path) == "sql-vacuum.html"
            || file_name(&h.path) == "routine-vacuuming.html"),
        "{:?}",
        hits.iter()
            .map(|h| (&h.path, &h.heading))
            .collect::<Vec<_>>()
    );
    // Headings became heading paths: a hit in the VACUUM page names its section.
    let hits = search(&lib, "VACUUM FULL exclusive lock", SearchMode::Text).await;
    assert!(
        hits.iter()
            .any(|h| file_name(&h.path) == "sql-vacuum.html" && h.heading.contains("VACUUM")),
        "{:?}",
        hits.iter()
            .map(|h| (&h.path, &h.heading))
            .collect::<Vec<_>>()
    );
    // Names the pages never mention are found out; names they do mention, in any case or
    // spelling of their parts (pg_reload_conf, "VACUUM FULL", iproute2), are not.
    let unknown = lib
        .unknown_terms(
            "How do I set up a WireGuard tunnel between two Debian hosts?",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(unknown, vec!["WireGuard".to_string()]);
    for known in [
        "Does pg_reload_conf pick up pg_hba.conf changes?",
        "Does vacuum full lock the table?",
        "Which iproute2 command lists addresses?",
    ] {
        let unknown = lib.unknown_terms(known, &[]).await.unwrap();
        assert!(unknown.is_empty(), "{known}: {unknown:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spreadsheet_row_is_found_with_its_column_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("accounts");
    std::fs::create_dir_all(&dir).unwrap();
    let months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut csv = String::from("Month;Rent;Groceries;Total\n");
    for (i, m) in months.iter().enumerate() {
        csv.push_str(&format!("{m};\"950\";{};{}\n", 300 + i * 11, 1250 + i * 11));
    }
    std::fs::write(dir.join("budget-2026.csv"), csv).unwrap();
    std::fs::write(
        dir.join("parts.tsv"),
        "part\tbin\tcount\nhex bolt M6\tA4\t120\nwing nut\tB2\t35\n",
    )
    .unwrap();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&dir)).await;
    assert_eq!(report.indexed, 2, "{report:?}");
    let docs = lib.documents().await.unwrap();
    assert!(docs.iter().all(|d| d.kind == "table"), "{docs:?}");
    for mode in [SearchMode::Hybrid, SearchMode::Text] {
        let hits = search(&lib, "what was the total for March", mode).await;
        assert_eq!(file_name(&hits[0].path), "budget-2026.csv", "{mode:?}");
        assert!(
            hits[0]
                .text
                .contains("Row 3 · Month: March · Rent: 950 · Groceries: 322 · Total: 1272"),
            "{mode:?}: {}",
            hits[0].text
        );
    }
    let hits = search(&lib, "which bin holds the wing nuts", SearchMode::Hybrid).await;
    assert_eq!(file_name(&hits[0].path), "parts.tsv");
    assert!(
        hits[0].text.contains("part: wing nut · bin: B2"),
        "{}",
        hits[0].text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_document_is_read_with_its_headings_and_tables_and_bad_ones_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    std::fs::create_dir_all(&dir).unwrap();
    // Made by python-docx (tests/data/formats/make_docx.py).
    let docx = std::fs::read(data("formats/field-report.docx")).unwrap();
    std::fs::write(dir.join("field-report.docx"), &docx).unwrap();
    // Read by content, not by extension: a damaged or password-protected .docx is refused with
    // the reason, a .docx holding plain text is read as the text it is.
    std::fs::write(dir.join("truncated.docx"), &docx[..docx.len() / 2]).unwrap();
    std::fs::write(
        dir.join("locked.docx"),
        [0xD0u8, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0, 0],
    )
    .unwrap();
    std::fs::write(dir.join("notes.docx"), "plain text pretending").unwrap();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&dir)).await;
    assert_eq!(report.indexed, 2, "the report and the text one: {report:?}");
    let reason = |name: &str| failure(&report, name);
    assert!(
        reason("truncated.docx").contains("damaged Office document"),
        "{}",
        reason("truncated.docx")
    );
    assert!(
        reason("locked.docx").contains("password-protected"),
        "{}",
        reason("locked.docx")
    );
    assert_eq!(report.failed.len(), 2, "{report:?}");

    let doc = lib
        .document(
            &std::fs::canonicalize(dir.join("field-report.docx"))
                .unwrap()
                .display()
                .to_string(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.kind, "docx");
    let hits = search(&lib, "when did the heron chicks hatch", SearchMode::Hybrid).await;
    assert_eq!(file_name(&hits[0].path), "field-report.docx");
    assert_eq!(hits[0].heading, "Lake Varnen field report > Nesting");
    assert!(hits[0].text.contains("ninth of May"), "{}", hits[0].text);
    let hits = search(&lib, "where are the waders kept", SearchMode::Text).await;
    assert!(
        hits[0].text.contains("Waders | 5 | north shed"),
        "{}",
        hits[0].text
    );
    assert_eq!(hits[0].heading, "Lake Varnen field report > Equipment");
}

/// Needs Debian's `tesseract-ocr`, `tesseract-ocr-eng` and `poppler-utils` (scripts/setup.sh
/// installs them); OCR is on by default when they are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanned_pages_and_images_are_read_by_ocr_and_cited_by_page() {
    assert!(
        std::process::Command::new("tesseract")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "this test needs tesseract-ocr and poppler-utils: run scripts/setup.sh"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scans");
    std::fs::create_dir_all(&dir).unwrap();
    // Made from corpus/field-guide.pdf by tests/data/formats/make_scans.sh.
    for f in [
        "field-guide-scanned.pdf",
        "field-guide-mixed.pdf",
        "field-guide-p4.png",
        "field-guide-p2-3.tif",
    ] {
        std::fs::copy(data(&format!("formats/{f}")), dir.join(f)).unwrap();
    }
    let png = std::fs::read(data("formats/field-guide-p4.png")).unwrap();
    std::fs::write(dir.join("torn.png"), &png[..png.len() / 3]).unwrap();
    // A PNG with no writing on it (a 64x64 white square, made here).
    std::fs::write(dir.join("blank.png"), white_png(64, 64)).unwrap();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&dir)).await;
    assert_eq!(report.indexed, 4, "{report:#?}");
    let reason = |name: &str| failure(&report, name);
    assert!(
        reason("torn.png").contains("PNG image that could not be read"),
        "{}",
        reason("torn.png")
    );
    assert!(
        reason("blank.png").contains("recognised no text"),
        "{}",
        reason("blank.png")
    );
    assert_eq!(report.failed.len(), 2, "{report:?}");

    let key = |f: &str| doc_key(&dir, f);
    let scanned = lib
        .document(&key("field-guide-scanned.pdf"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((scanned.kind.as_str(), scanned.pages), ("pdf", Some(4)));
    let tif = lib
        .document(&key("field-guide-p2-3.tif"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((tif.kind.as_str(), tif.pages), ("image", Some(2)));

    // Each fact is found on its page in every copy that holds it.
    let pages_of = |hits: &[hearth::Hit], file: &str| -> Vec<Option<u32>> {
        let mut pages: Vec<Option<u32>> = hits
            .iter()
            .filter(|h| file_name(&h.path) == file)
            .map(|h| h.page)
            .collect();
        pages.dedup();
        pages
    };
    let hits = search(&lib, "ice reached 71 centimetres", SearchMode::Text).await;
    assert_eq!(
        pages_of(&hits, "field-guide-scanned.pdf"),
        [Some(3)],
        "{hits:#?}"
    );
    assert_eq!(
        pages_of(&hits, "field-guide-mixed.pdf"),
        [Some(3)],
        "{hits:#?}"
    );
    assert_eq!(
        pages_of(&hits, "field-guide-p2-3.tif"),
        [Some(2)],
        "{hits:#?}"
    );
    let hits = search(&lib, "eggs hatch after 26 days", SearchMode::Text).await;
    // (its page 2 may follow lower down on the words "after" and "days")
    assert_eq!(
        pages_of(&hits, "field-guide-p2-3.tif")[0],
        Some(1),
        "{hits:#?}"
    );
    let hits = search(&lib, "how big is the solar battery", SearchMode::Hybrid).await;
    let png_hit = hits
        .iter()
        .find(|h| file_name(&h.path) == "field-guide-p4.png")
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert_eq!(png_hit.page, None);
    assert!(png_hit.text.contains("9.2 kWh"), "{}", png_hit.text);

    // A mixed PDF keeps the text layer of the pages that have one: page 1 is the original text.
    let original = hearth::extract::extract(
        std::path::Path::new("f.pdf"),
        &std::fs::read(data("corpus/field-guide.pdf")).unwrap(),
    )
    .unwrap();
    let mixed = lib
        .page_text(&key("field-guide-mixed.pdf"), Some(1))
        .await
        .unwrap();
    assert_eq!(mixed.text.trim(), original.pages[0].text.trim());
}

/// A white greyscale PNG, written by hand (stored deflate blocks, no image crate).
fn white_png(w: u32, h: u32) -> Vec<u8> {
    fn crc(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    for _ in 0..h {
        raw.push(0u8); // filter: none
        raw.extend(std::iter::repeat_n(0xffu8, w as usize));
    }
    // zlib stream of one stored block (raw is far below 65,535 bytes here).
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend((raw.len() as u16).to_le_bytes());
    z.extend((!(raw.len() as u16)).to_le_bytes());
    z.extend(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit greyscale
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slides_and_opendocument_files_are_read_with_slide_numbers_and_headings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    std::fs::create_dir_all(&dir).unwrap();
    // field-talk.pptx by python-pptx, .odp and .odt converted by LibreOffice
    // (tests/data/formats/make_office.py).
    for f in [
        "field-talk.pptx",
        "field-talk.odp",
        "field-report.odt",
        "field-report.epub",
        "field-report.rtf",
    ] {
        std::fs::copy(data(&format!("formats/{f}")), dir.join(f)).unwrap();
    }
    // Bad ones: a truncated deck, an .odp that is a zip of something else, and a deck whose
    // slide XML is broken.
    let pptx = std::fs::read(data("formats/field-talk.pptx")).unwrap();
    std::fs::write(dir.join("cut.pptx"), &pptx[..pptx.len() / 2]).unwrap();
    let mut other = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(&mut other);
        w.start_file(
            "photos/readme.txt",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(b"holiday snaps").unwrap();
        w.finish().unwrap();
    }
    std::fs::write(dir.join("album.odp"), other.into_inner()).unwrap();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&dir)).await;
    assert_eq!(report.indexed, 5, "{report:#?}");
    let reason = |name: &str| failure(&report, name);
    assert!(
        reason("cut.pptx").contains("damaged"),
        "{}",
        reason("cut.pptx")
    );
    assert!(
        reason("album.odp").contains("not a document Hearth reads"),
        "{}",
        reason("album.odp")
    );

    let key = |f: &str| doc_key(&dir, f);
    for deck in ["field-talk.pptx", "field-talk.odp"] {
        let doc = lib.document(&key(deck)).await.unwrap().unwrap();
        assert_eq!(
            (doc.kind.as_str(), doc.pages),
            ("slides", Some(4)),
            "{deck}"
        );
    }
    // A slide's body, a table on a slide, and speaker notes: each found on its slide, under the
    // slide's title, in both the PowerPoint and the LibreOffice deck.
    for (query, slide, title, text) in [
        (
            "how thick was the ice at the north buoy",
            2,
            "Ice cover",
            "64 centimetres",
        ),
        (
            "how much diesel was used in January",
            3,
            "Fuel used",
            "January | 455",
        ),
        (
            "when was the auger blade replaced",
            2,
            "Ice cover",
            "Speaker notes: Remind everyone",
        ),
        (
            "price quoted for the snowmobile track",
            4,
            "Next steps",
            "1,840 euros",
        ),
    ] {
        let hits = search(&lib, query, SearchMode::Hybrid).await;
        for deck in ["field-talk.pptx", "field-talk.odp"] {
            let hit = hits
                .iter()
                .find(|h| file_name(&h.path) == deck)
                .unwrap_or_else(|| panic!("{query}: no {deck} in {hits:#?}"));
            assert_eq!(hit.page, Some(slide), "{query} in {deck}: {hit:#?}");
            assert_eq!(hit.heading, title, "{query} in {deck}");
            assert!(hit.text.contains(text), "{query} in {deck}: {}", hit.text);
        }
    }
    let odt = lib
        .document(&key("field-report.odt"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((odt.kind.as_str(), odt.pages), ("odt", None));
    let hits = search(&lib, "when did the heron chicks hatch", SearchMode::Hybrid).await;
    let hit = hits
        .iter()
        .find(|h| file_name(&h.path) == "field-report.odt")
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert_eq!(hit.heading, "Lake Varnen field report > Nesting");
    let hits = search(&lib, "where are the waders kept", SearchMode::Text).await;
    let hit = hits
        .iter()
        .find(|h| file_name(&h.path) == "field-report.odt")
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert!(hit.text.contains("Waders | 5 | north shed"), "{}", hit.text);
    // The e-book (LibreOffice's EPUB export drops heading styles): chapters in spine order, each
    // under its table-of-contents label.
    let epub = lib
        .document(&key("field-report.epub"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(epub.kind, "epub");
    let hits = search(&lib, "gauge at the weir in April", SearchMode::Text).await;
    let hit = hits
        .iter()
        .find(|h| file_name(&h.path) == "field-report.epub")
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert_eq!(hit.heading, "Nesting");
    assert!(hit.text.contains("41 centimetres"), "{}", hit.text);
    let page = lib
        .page_text(&key("field-report.epub"), None)
        .await
        .unwrap();
    let (a, b) = (
        page.text.find("reed beds").unwrap(),
        page.text.find("north shed").unwrap(),
    );
    assert!(a < b, "chapters out of spine order: {}", page.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreadsheets_are_read_one_section_per_sheet_with_named_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sheets");
    std::fs::create_dir_all(&dir).unwrap();
    // station-log.xlsx by openpyxl, .ods converted by LibreOffice (make_office.py).
    for f in ["station-log.xlsx", "station-log.ods"] {
        std::fs::copy(data(&format!("formats/{f}")), dir.join(f)).unwrap();
    }
    let xlsx = std::fs::read(data("formats/station-log.xlsx")).unwrap();
    std::fs::write(dir.join("cut.xlsx"), &xlsx[..xlsx.len() / 2]).unwrap();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&dir)).await;
    assert_eq!(report.indexed, 2, "{report:#?}");
    assert_eq!(report.failed.len(), 1, "{report:#?}");
    assert!(report.failed[0].error.contains("damaged"), "{report:?}");
    let key = |f: &str| doc_key(&dir, f);
    for book in ["station-log.xlsx", "station-log.ods"] {
        let doc = lib.document(&key(book)).await.unwrap().unwrap();
        assert_eq!(doc.kind, "spreadsheet");
        let text = lib.page_text(&key(book), None).await.unwrap().text;
        // Title row kept as a line, the header names every value, dates as dates.
        assert!(
            text.contains("Lake Varnen station: fuel deliveries"),
            "{text}"
        );
        assert!(
            text.contains(
                "Month: March · Delivered on: 2024-03-12 · Diesel (litres): 1204 · Supplier: Nordvik Oil"
            ),
            "{book}: {text}"
        );
        // Sheets in the workbook's order.
        let fuel = text.find("Ostby Fuel").unwrap();
        let visitors = text.find("Ines Alvarado").unwrap();
        assert!(fuel < visitors, "{text}");
    }
    // LibreOffice calculated the total; openpyxl stored only the formula.
    let ods = lib
        .page_text(&key("station-log.ods"), None)
        .await
        .unwrap()
        .text;
    assert!(
        ods.contains("Month: Total · Diesel (litres): 2259"),
        "{ods}"
    );
    let xlsx = lib
        .page_text(&key("station-log.xlsx"), None)
        .await
        .unwrap()
        .text;
    assert!(xlsx.contains("Diesel (litres): =SUM(C3:C6)"), "{xlsx}");

    let hits = search(
        &lib,
        "how many nights did Tomas Berg stay",
        SearchMode::Hybrid,
    )
    .await;
    for book in ["station-log.xlsx", "station-log.ods"] {
        let hit = hits
            .iter()
            .find(|h| file_name(&h.path) == book)
            .unwrap_or_else(|| panic!("{book}: {hits:#?}"));
        assert_eq!(hit.heading, "Sheet: Visitors");
        assert!(hit.text.contains("Name: Tomas Berg"), "{}", hit.text);
        assert!(hit.text.contains("Nights: 11"), "{}", hit.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_is_read_one_page_per_message_with_sender_date_and_attachments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mail");
    std::fs::create_dir_all(&dir).unwrap();
    // Written by Python's email package and mailbox module (tests/data/formats/make_mail.py).
    for f in ["station-list.mbox", "boathouse.eml"] {
        std::fs::copy(data(&format!("formats/{f}")), dir.join(f)).unwrap();
    }
    // Not mail at all, though named so.
    std::fs::write(dir.join("junk.eml"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    let lib = library(tmp.path()).await;
    let report = ingest(&lib, std::slice::from_ref(&dir)).await;
    assert_eq!(report.indexed, 2, "{report:#?}");
    assert_eq!(report.failed.len(), 1, "{report:#?}");
    assert!(report.failed[0].path.ends_with("junk.eml"), "{report:?}");
    let key = |f: &str| doc_key(&dir, f);
    let mbox = lib
        .document(&key("station-list.mbox"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((mbox.kind.as_str(), mbox.pages), ("mail", Some(4)));
    let eml = lib.document(&key("boathouse.eml")).await.unwrap().unwrap();
    assert_eq!((eml.kind.as_str(), eml.pages), ("mail", None));

    let find = |hits: &[hearth::Hit], file: &str| {
        hits.iter()
            .find(|h| file_name(&h.path) == file)
            .cloned()
            .unwrap_or_else(|| panic!("no {file} in {hits:#?}"))
    };
    // Subject, sender and date travel with every chunk of a message (its heading).
    let hits = search(&lib, "how long was the ice core", SearchMode::Hybrid).await;
    let hit = find(&hits, "station-list.mbox");
    assert_eq!(hit.page, Some(1));
    assert_eq!(hit.heading, "Ice core results (Ines Alvarado, 2024-03-04)");
    assert!(hit.text.contains("64 centimetres"), "{}", hit.text);
    // An HTML-only message, and the Word file attached to it.
    let hits = search(&lib, "what does the generator need", SearchMode::Hybrid).await;
    assert_eq!(find(&hits, "station-list.mbox").page, Some(2));
    let hits = search(&lib, "when did the heron chicks hatch", SearchMode::Hybrid).await;
    let hit = find(&hits, "station-list.mbox");
    assert_eq!(hit.page, Some(2));
    assert_eq!(
        hit.heading,
        "Field report attached (Tomas Berg, 2024-03-05) > Attachment: field-report.docx"
    );
    // A Latin-1 quoted-printable body under an RFC 2047 subject.
    let hits = search(&lib, "price of a cup of coffee", SearchMode::Hybrid).await;
    let hit = find(&hits, "station-list.mbox");
    assert_eq!(hit.page, Some(3));
    assert!(
        hit.heading.starts_with("Café budget für März"),
        "{}",
        hit.heading
    );
    assert!(hit.text.contains("coûte 4,50 EUR"), "{}", hit.text);
    // A forwarded message inside a message, and the same message as its own .eml.
    let hits = search(&lib, "where is the spare boathouse key", SearchMode::Hybrid).await;
    let hit = find(&hits, "station-list.mbox");
    assert_eq!(hit.page, Some(4));
    assert_eq!(
        hit.heading,
        "Fwd: boathouse key (Ines Alvarado, 2024-03-07) > Attached message: boathouse key (Harbour office, 2024-03-06)"
    );
    assert!(hit.text.contains("hook number 17"), "{}", hit.text);
    // The forwarding message's own text is stored once.
    let page = lib
        .page_text(&key("station-list.mbox"), Some(4))
        .await
        .unwrap()
        .text;
    assert_eq!(page.matches("See below.").count(), 1, "{page}");
    let hit = find(&hits, "boathouse.eml");
    assert_eq!(hit.heading, "boathouse key (Harbour office, 2024-03-06)");
    assert!(hit.text.contains("hook number 17"), "{}", hit.text);
}
