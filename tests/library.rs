//! A library that stays true: watched folders, one writer at a time, repair after an
//! interrupted write. Real LanceDB in temp dirs, the real default embedder.

#[allow(dead_code)]
mod util;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth::watch::{watch, FolderState, WatchControl, WatchEvent, WatchOptions};
use hearth::{Cancel, IngestEvent, Library, SearchMode, SearchRequest};
use util::*;

/// A watch running in the background, with every event it reported.
struct Watching {
    control: WatchControl,
    events: Arc<Mutex<Vec<WatchEvent>>>,
    task: tokio::task::JoinHandle<hearth::Result<()>>,
}

impl Watching {
    fn start(lib: &Arc<Library>, folders: &[PathBuf], opts: WatchOptions) -> Watching {
        let control = WatchControl::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (lib, folders, control, events) = (
                lib.clone(),
                folders.to_vec(),
                control.clone(),
                events.clone(),
            );
            tokio::spawn(async move {
                let sink = move |e: WatchEvent| events.lock().unwrap().push(e);
                watch(&lib, &folders, &opts, &sink, &control).await
            })
        };
        Watching {
            control,
            events,
            task,
        }
    }

    fn applied(&self) -> Vec<hearth::IngestReport> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Applied { report, .. } => Some(report.clone()),
                _ => None,
            })
            .collect()
    }

    fn states(&self, folder: &Path) -> Vec<FolderState> {
        let key = folder.display().to_string();
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Folder { path, state } if *path == key => Some(state.clone()),
                _ => None,
            })
            .collect()
    }

    async fn stop(self) {
        self.control.stop();
        self.task.await.unwrap().unwrap();
    }
}

/// Wait until `cond` (an expression that may `.await`) holds: the watch applies changes within
/// seconds; panic after 60 s.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let started = Instant::now();
        while !($cond) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "not within 60 s: {}",
                $what
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

async fn files_found(lib: &Library, query: &str) -> Vec<String> {
    search(lib, query, SearchMode::Text)
        .await
        .into_iter()
        .map(|h| file_name(&h.path).to_string())
        .collect()
}

async fn indexed_names(lib: &Library) -> Vec<String> {
    lib.documents()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_follows_creates_saves_renames_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let notes = std::fs::canonicalize(notes).unwrap();
    std::fs::write(
        notes.join("seed.md"),
        "# Seed\n\nThe greenhouse pump runs at dawn.\n",
    )
    .unwrap();
    let lib = Arc::new(library(tmp.path()).await);
    let w = Watching::start(&lib, std::slice::from_ref(&notes), WatchOptions::default());
    eventually!("the catch-up indexes the seed note", {
        files_found(&lib, "greenhouse").await == ["seed.md"]
    });
    assert!(w
        .states(&notes)
        .contains(&FolderState::Watching { polling: false }));

    // A new file.
    let note = notes.join("trip.md");
    std::fs::write(
        &note,
        "# Trip\n\nPack the zephyr quokka lantern for the ferry.\n",
    )
    .unwrap();
    eventually!("a created file is searchable", {
        files_found(&lib, "quokka").await == ["trip.md"]
    });

    // A save the way many editors do it: write a hidden temp file, rename it over the note.
    let temp = notes.join(".goutputstream-7XQ2");
    std::fs::write(
        &temp,
        "# Trip\n\nPack the zephyr walrus lantern for the ferry.\n",
    )
    .unwrap();
    std::fs::rename(&temp, &note).unwrap();
    eventually!("a saved file's new text replaces the old", {
        files_found(&lib, "walrus").await == ["trip.md"]
            && files_found(&lib, "quokka").await.is_empty()
    });

    // A rename.
    let renamed = notes.join("ferry trip.md");
    std::fs::rename(&note, &renamed).unwrap();
    eventually!("a renamed file is indexed under its new name only", {
        let docs = indexed_names(&lib).await;
        docs.contains(&renamed.display().to_string()) && !docs.contains(&note.display().to_string())
    });

    // A folder created with a file in it, then moved out of the watched folder.
    let sub = notes.join("recipes");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        sub.join("bread.txt"),
        "Sourdough bread: feed the starter, proof overnight.",
    )
    .unwrap();
    eventually!("a new folder's file is searchable", {
        files_found(&lib, "sourdough").await == ["bread.txt"]
    });
    std::fs::rename(&sub, tmp.path().join("recipes-elsewhere")).unwrap();
    // A removal commits the chunks, then the document rows: wait for both.
    let bread = sub.join("bread.txt").display().to_string();
    eventually!("a folder moved out of the watched one leaves the index", {
        files_found(&lib, "sourdough").await.is_empty()
            && !indexed_names(&lib).await.contains(&bread)
    });

    // A delete.
    std::fs::remove_file(&renamed).unwrap();
    eventually!("a deleted file leaves the index", {
        files_found(&lib, "walrus").await.is_empty()
            && !indexed_names(&lib)
                .await
                .contains(&renamed.display().to_string())
    });

    // Nothing failed, nothing hidden was indexed, and the seed note was never embedded again.
    let docs = indexed_names(&lib).await;
    assert_eq!(docs, [notes.join("seed.md").display().to_string()]);
    let reports = w.applied();
    assert!(reports.iter().all(|r| r.failed.is_empty()), "{reports:?}");
    assert_eq!(reports[0].indexed, 1, "the catch-up: {reports:?}");
    // Created, saved, renamed, the new folder's file: 4 embeddings (5 if a save was seen half
    // written and then again); the seed note never again.
    let embedded: usize = reports[1..].iter().map(|r| r.indexed).sum();
    assert!((4..=5).contains(&embedded), "{reports:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_again_catches_up_with_what_changed_and_embeds_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let lib = Arc::new(library(tmp.path()).await);
    let first = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert!(first.indexed >= 5 && first.failed.is_empty(), "{first:?}");

    // While nobody watches: one file edited, one added, one deleted.
    let mut files: Vec<PathBuf> = walk_files(&corpus);
    files.sort();
    let edited = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .unwrap()
        .clone();
    let deleted = files.iter().rev().find(|p| **p != edited).unwrap().clone();
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("\n\nAddendum: the marmalade ledger is kept in the attic.\n");
    std::fs::write(&edited, text).unwrap();
    std::fs::write(
        corpus.join("new note.txt"),
        "The glimmerwick census counted forty lanterns.",
    )
    .unwrap();
    std::fs::remove_file(&deleted).unwrap();

    let w = Watching::start(&lib, std::slice::from_ref(&corpus), WatchOptions::default());
    eventually!("the catch-up ran", { !w.applied().is_empty() });
    let catch_up = w.applied()[0].clone();
    assert_eq!(
        catch_up.indexed, 2,
        "only the edited and the new file are embedded: {catch_up:?}"
    );
    assert_eq!(catch_up.removed, 1, "{catch_up:?}");
    assert_eq!(catch_up.skipped, first.indexed - 2, "{catch_up:?}");
    assert_eq!(
        files_found(&lib, "marmalade").await,
        [file_name(&edited.display().to_string())]
    );
    assert_eq!(files_found(&lib, "glimmerwick").await, ["new note.txt"]);
    w.stop().await;
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_that_goes_away_keeps_its_documents_and_is_followed_when_back() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap().join("drive");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), "The lighthouse generator needs diesel.").unwrap();
    std::fs::write(root.join("b.txt"), "The ferry timetable changes in winter.").unwrap();
    let lib = Arc::new(library(tmp.path()).await);
    let opts = WatchOptions {
        folder_check: Duration::from_millis(300),
        ..WatchOptions::default()
    };
    let w = Watching::start(&lib, std::slice::from_ref(&root), opts);
    eventually!("both files indexed", {
        indexed_names(&lib).await.len() == 2
    });

    // The folder is moved away (as an unmounted drive would vanish) and changed there.
    let away = tmp.path().join("drive-away");
    std::fs::rename(&root, &away).unwrap();
    eventually!("the folder shows as missing", {
        w.states(&root).last() == Some(&FolderState::Missing)
    });
    std::fs::remove_file(away.join("a.txt")).unwrap();
    std::fs::write(away.join("b.txt"), "The ferry timetable changes in spring.").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        indexed_names(&lib).await.len(),
        2,
        "a missing folder's documents are kept"
    );
    assert_eq!(files_found(&lib, "winter").await, ["b.txt"]);

    // Back again, with its changes: caught up with and watched.
    std::fs::rename(&away, &root).unwrap();
    eventually!("the folder back in place is caught up with", {
        indexed_names(&lib).await == [root.join("b.txt").display().to_string()]
            && files_found(&lib, "spring").await == ["b.txt"]
    });
    std::fs::write(root.join("c.txt"), "The orchard ladder is in the barn.").unwrap();
    eventually!("and watched again", {
        files_found(&lib, "orchard").await == ["c.txt"]
    });
    let states = w.states(&root);
    assert_eq!(
        states.last(),
        Some(&FolderState::Watching { polling: false }),
        "{states:?}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_change_notices_a_periodic_scan_finds_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap().join("share");
    std::fs::create_dir_all(&root).unwrap();
    let lib = Arc::new(library(tmp.path()).await);
    let opts = WatchOptions {
        poll: Some(Duration::from_millis(500)),
        ..WatchOptions::default()
    };
    let w = Watching::start(&lib, std::slice::from_ref(&root), opts);
    eventually!("watching by scan", {
        w.states(&root).last() == Some(&FolderState::Watching { polling: true })
    });
    std::fs::write(
        root.join("mount.txt"),
        "The network share holds the kayak manifest.",
    )
    .unwrap();
    eventually!("a file on a polled folder is searchable", {
        files_found(&lib, "kayak").await == ["mount.txt"]
    });
    std::fs::remove_file(root.join("mount.txt")).unwrap();
    eventually!("and its deletion is seen", {
        files_found(&lib, "kayak").await.is_empty()
    });
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_waits_or_refuses_readers_go_on_and_the_index_holds_both() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("alpha.txt"), "Alpha notes: the beekeeping schedule.").unwrap();
    std::fs::write(b.join("beta.txt"), "Beta notes: the canoe repair kit.").unwrap();
    // Three handles on one data dir, as three processes would have.
    let first = Arc::new(library(tmp.path()).await);
    let mut second = library(tmp.path()).await;
    second.set_writer("second writer", true);
    let mut impatient = library(tmp.path()).await;
    impatient.set_writer("impatient writer", false);
    let reader = Arc::new(library(tmp.path()).await);
    ingest(&first, std::slice::from_ref(&a)).await;

    // A search loop that must never fail while the others write.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searches = {
        let (reader, stop) = (reader.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let hits = search(&reader, "beekeeping schedule", SearchMode::Hybrid).await;
                assert_eq!(file_name(&hits[0].path), "alpha.txt");
                n += 1;
            }
            n
        })
    };

    let lock = first.write_lock(&|_| {}, &Cancel::new()).await.unwrap();
    // The impatient one is refused at once, naming the holder.
    let err = impatient
        .ingest(std::slice::from_ref(&b), &|_| {}, &Cancel::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "library_busy");
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    // The patient one waits, and says so.
    let waited = Arc::new(Mutex::new(None));
    let run = {
        let waited = waited.clone();
        let b = b.clone();
        tokio::spawn(async move {
            let sink = move |e: IngestEvent| {
                if let IngestEvent::Waiting { holder } = e {
                    *waited.lock().unwrap() = Some(holder.to_string());
                }
            };
            second.ingest(&[b], &sink, &Cancel::new()).await
        })
    };
    eventually!("the second writer reports waiting", {
        waited.lock().unwrap().is_some()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !run.is_finished(),
        "the second writer must wait for the lock"
    );
    // The holder lets go; both write (in turn) and both land.
    drop(lock);
    std::fs::write(a.join("alpha2.txt"), "Alpha notes: the honey harvest.").unwrap();
    let mine = ingest(&first, std::slice::from_ref(&a)).await;
    assert_eq!(mine.indexed, 1);
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.indexed, 1);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(searches.await.unwrap() > 0);

    let docs: Vec<String> = indexed_names(&reader)
        .await
        .iter()
        .map(|p| file_name(p).to_string())
        .collect();
    assert_eq!(docs, ["alpha.txt", "alpha2.txt", "beta.txt"]);
    assert!(waited
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains(&std::process::id().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_interrupted_between_the_two_tables_is_repaired_and_reindexed() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let data = tmp.path().join("data");
    let before = {
        let lib = library(tmp.path()).await;
        ingest(&lib, std::slice::from_ref(&corpus)).await;
        lib.status().await.unwrap()
    };
    let victim = lib_doc(&tmp, &corpus).await;
    let index = hearth::store::read_meta(&data).unwrap().unwrap().index_dir;
    let pending = data.join(format!("{index}.pending"));
    // What a writer killed after committing a file's new chunks, before its document row,
    // leaves: chunks under another content hash, and the journal marker.
    {
        let db = lancedb::connect(data.join(&index).to_str().unwrap())
            .execute()
            .await
            .unwrap();
        let chunks = db.open_table("chunks").execute().await.unwrap();
        chunks
            .update()
            .only_if(format!("doc_path = '{}'", victim.replace('\'', "''")))
            .column(
                "doc_hash",
                "'0000000000000000000000000000000000000000000000000000000000000000'",
            )
            .execute()
            .await
            .unwrap();
    }
    std::fs::write(&pending, b"").unwrap();
    // Opening the library repairs it: the orphaned chunks go, the document is dropped so that
    // the next ingest indexes it again; everything else is untouched.
    let lib = library(tmp.path()).await;
    assert!(!pending.exists());
    let repaired = lib.status().await.unwrap();
    assert_eq!(repaired.documents, before.documents - 1);
    let docs = lib.documents().await.unwrap();
    let chunk_sum: i32 = docs.iter().map(|d| d.chunks).sum();
    assert_eq!(
        repaired.chunks, chunk_sum as usize,
        "tables agree after the repair"
    );
    let again = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(again.indexed, 1, "{again:?}");
    let after = lib.status().await.unwrap();
    assert_eq!(
        (after.documents, after.chunks),
        (before.documents, before.chunks)
    );
}

async fn lib_doc(tmp: &tempfile::TempDir, corpus: &Path) -> String {
    let lib = library(tmp.path()).await;
    lib.documents()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.path)
        .find(|p| p.starts_with(&corpus.display().to_string()) && p.ends_with(".md"))
        .unwrap()
}

/// A tmpfs of `size` mounted on `dir` until the guard drops; `None` where mounting is not
/// allowed (it needs root: the test then says why it did not run).
fn mount_tmpfs(dir: &Path, size: &str) -> Option<Unmount> {
    std::fs::create_dir_all(dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
    }
    mounted.then(|| Unmount(dir.to_path_buf()))
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_a_commit_loses_nothing_and_the_next_run_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    // A small file system of its own for the data dir.
    let disk = tmp.path().join("small-disk");
    let Some(_unmount) = mount_tmpfs(&disk, "3m") else {
        return;
    };
    let open = || async {
        let config = hearth::Config::load(&disk.join("data"), &models_dir()).unwrap();
        Library::open(config).await.unwrap()
    };
    let lib = open().await;
    let corpus = copy_corpus(tmp.path());
    let first = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert!(first.failed.is_empty(), "{first:?}");
    let before = lib.status().await.unwrap();
    let before_docs = indexed_names(&lib).await;
    let found = files_found(&lib, "starter").await;
    assert!(!found.is_empty(), "{before:?}");

    // Far more than the disk holds.
    let many = tmp.path().join("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..3000 {
        std::fs::write(
            many.join(format!("reading-{i:04}.txt")),
            format!(
                "Gauge {i} read {} millimetres of rain on day {} at the weir.",
                i * 7 % 101,
                i % 28
            ),
        )
        .unwrap();
    }
    let err = lib
        .ingest(std::slice::from_ref(&many), &|_| {}, &Cancel::new())
        .await
        .expect_err("the disk cannot hold this");
    assert_eq!(err.code(), "store", "{err}");
    assert!(
        err.to_string().contains("disk holding the library is full"),
        "{err}"
    );
    drop(lib);

    // The library opens on the full disk, and everything indexed before is there and found.
    let lib = open().await;
    let docs = lib.documents().await.unwrap();
    for d in before_docs {
        assert!(docs.iter().any(|x| x.path == d), "{d} lost");
    }
    assert_eq!(files_found(&lib, "starter").await, found);
    drop(lib);

    // With room again, the run finishes and the tables agree.
    assert!(std::process::Command::new("mount")
        .args(["-o", "remount,size=256m"])
        .arg(&disk)
        .status()
        .unwrap()
        .success());
    let lib = open().await;
    let report = ingest(&lib, &[corpus.clone(), many.clone()]).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let after = lib.status().await.unwrap();
    assert_eq!(after.documents, before.documents + 3000);
    let docs = lib.documents().await.unwrap();
    assert_eq!(
        after.chunks,
        docs.iter().map(|d| d.chunks as usize).sum::<usize>()
    );
    let again = ingest(&lib, &[corpus, many]).await;
    assert_eq!((again.indexed, again.removed), (0, 0), "{again:?}");
}

/// Notes enough for a rebuild to take several batches: note `i` names animal `i`.
const ANIMALS: [&str; 12] = [
    "heron", "otter", "badger", "lynx", "marten", "stoat", "vole", "wren", "ibis", "newt", "tapir",
    "okapi",
];

fn write_notes(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, animal) in ANIMALS.iter().enumerate() {
        std::fs::write(
            dir.join(format!("{animal}.md")),
            format!(
                "# Field note {i}\n\nThe {animal} was seen near the mill pond at dawn; it fed \
                 for an hour, then went back into the reeds. Count: {i}.\n"
            ),
        )
        .unwrap();
    }
}

fn config_with(tmp: &Path, change: impl FnOnce(&mut hearth::Config)) -> hearth::Config {
    let mut config = hearth::Config::load(&tmp.join("data"), &models_dir()).unwrap();
    config.ingest.files_per_batch = 2;
    change(&mut config);
    config
}

/// The default model with [CLS] pooling instead of mean pooling: a real, different embedder
/// (other vectors for the same text), as a user's own ONNX model would be.
fn cls_pooled(config: &mut hearth::Config) {
    config.embedder.id = "minilm-cls".into();
    config.embedder.pooling = hearth::embed::Pooling::Cls;
}

async fn vector_top(lib: &Library, query: &str) -> (String, f32) {
    let hit = search(lib, query, SearchMode::Vector).await.remove(0);
    (file_name(&hit.path).to_string(), hit.score)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_embedding_model_is_built_beside_the_old_index_which_serves_until_the_switch() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    write_notes(&notes);
    let data = tmp.path().join("data");
    let old = Library::open(config_with(tmp.path(), |_| {}))
        .await
        .unwrap();
    ingest(&old, std::slice::from_ref(&notes)).await;
    let before = vector_top(&old, "where was the otter seen").await;
    assert_eq!(before.0, "otter.md");
    let old_dir = hearth::store::read_meta(&data).unwrap().unwrap().index_dir;
    assert!(old.pending_change().is_none());

    // The configuration now names another model: the library opens and searches as before,
    // with the model the index was built with.
    let lib = Arc::new(
        Library::open(config_with(tmp.path(), cls_pooled))
            .await
            .unwrap(),
    );
    let change = lib.pending_change().expect("a change is pending");
    assert_eq!(
        (change.from_embedder.as_str(), change.to_embedder.as_str()),
        ("all-minilm-l6-v2", "minilm-cls")
    );
    assert_eq!(vector_top(&lib, "where was the otter seen").await, before);
    assert_eq!(
        lib.status().await.unwrap().index_change,
        Some(change.clone())
    );

    // A rebuild cancelled after its first batches: the old index stays in use, here and for a
    // library opened afresh.
    let cancel = Cancel::new();
    let sink = {
        let cancel = cancel.clone();
        move |e: IngestEvent| {
            if let IngestEvent::Progress { files_done, .. } = e {
                if files_done >= 5 {
                    cancel.cancel();
                }
            }
        }
    };
    let stopped = lib.rebuild(&sink, &cancel).await.unwrap();
    assert!(!stopped.switched && stopped.ingest.cancelled, "{stopped:?}");
    assert!(stopped.ingest.indexed >= 4, "{stopped:?}");
    assert_eq!(vector_top(&lib, "where was the otter seen").await, before);
    let reopened = Library::open(config_with(tmp.path(), cls_pooled))
        .await
        .unwrap();
    assert_eq!(
        vector_top(&reopened, "where was the otter seen").await,
        before
    );
    assert_eq!(
        hearth::store::read_meta(&data).unwrap().unwrap().index_dir,
        old_dir
    );
    drop(reopened);

    // Resumed: what the stopped run embedded is kept; searches from another handle run the
    // whole time and see the old index until the switch, never an error or a half index.
    let searching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let searcher = {
        let (searching, before) = (searching.clone(), before.clone());
        let reader = Library::open(config_with(tmp.path(), |_| {}))
            .await
            .unwrap();
        tokio::spawn(async move {
            let (mut old_seen, mut new_seen) = (0, 0);
            // until the rebuild is over and this handle has seen the new index (however long
            // a loaded machine takes to notice the switch)
            let started = Instant::now();
            while searching.load(std::sync::atomic::Ordering::SeqCst) || new_seen == 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "the other handle never saw the switch"
                );
                let top = vector_top(&reader, "where was the otter seen").await;
                assert_eq!(top.0, "otter.md", "a search during the rebuild");
                if top == before {
                    assert_eq!(new_seen, 0, "the old index came back after the switch");
                    old_seen += 1;
                } else {
                    new_seen += 1;
                }
                let docs = reader.documents().await.unwrap();
                assert_eq!(docs.len(), ANIMALS.len(), "a search during the rebuild");
            }
            (old_seen, reader.embedder().id().to_string())
        })
    };
    let done = lib.rebuild(&|_| {}, &Cancel::new()).await.unwrap();
    searching.store(false, std::sync::atomic::Ordering::SeqCst);
    let (old_seen, reader_model) = searcher.await.unwrap();
    assert!(done.switched, "{done:?}");
    assert!(
        done.ingest.skipped >= 4,
        "the stopped run's files kept: {done:?}"
    );
    assert_eq!(
        done.ingest.indexed + done.ingest.skipped,
        ANIMALS.len(),
        "{done:?}"
    );
    assert_eq!(done.documents, ANIMALS.len());
    assert!(old_seen > 0, "searches ran during the rebuild");
    // The other handle (configured with the old model) followed the switch.
    assert_eq!(reader_model, "minilm-cls");

    // Switched: new vectors, the old folder gone, nothing pending.
    let meta = hearth::store::read_meta(&data).unwrap().unwrap();
    assert_eq!(meta.embedder, "minilm-cls");
    assert_ne!(meta.index_dir, old_dir);
    assert!(!data.join(&old_dir).exists());
    assert!(lib.pending_change().is_none());
    let after = vector_top(&lib, "where was the otter seen").await;
    assert_ne!(after.1, before.1, "vectors from the new model");
    assert_eq!(lib.status().await.unwrap().documents, ANIMALS.len());
    // Writes go to the new index.
    std::fs::write(
        notes.join("heron.md"),
        "The heron nested by the weir this spring.",
    )
    .unwrap();
    let report = ingest(&lib, std::slice::from_ref(&notes)).await;
    assert_eq!(report.indexed, 1, "{report:?}");
    assert_eq!(files_found(&lib, "weir").await, ["heron.md"]);
    assert!(lib
        .rebuild(&|_| {}, &Cancel::new())
        .await
        .unwrap()
        .change
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_chunk_sizes_rebuild_the_index_and_a_vanished_file_is_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let lib = Library::open(config_with(tmp.path(), |_| {}))
        .await
        .unwrap();
    ingest(&lib, std::slice::from_ref(&corpus)).await;
    let before = lib.status().await.unwrap();
    let gone = lib.documents().await.unwrap()[0].path.clone();
    std::fs::remove_file(&gone).unwrap();
    drop(lib);

    let small = |c: &mut hearth::Config| {
        c.chunking.chunk_tokens = 48;
        c.chunking.overlap_tokens = 8;
    };
    let lib = Library::open(config_with(tmp.path(), small)).await.unwrap();
    assert!(lib.pending_change().unwrap().describe().contains("→ 48/8"));
    let report = lib.rebuild(&|_| {}, &Cancel::new()).await.unwrap();
    assert!(report.switched, "{report:?}");
    assert_eq!(report.gone, std::slice::from_ref(&gone));
    assert!(report.ingest.failed.is_empty(), "{report:?}");
    let after = lib.status().await.unwrap();
    assert_eq!(after.documents, before.documents - 1);
    assert!(
        after.chunks > before.chunks,
        "smaller chunks, more of them: {} → {}",
        before.chunks,
        after.chunks
    );
    assert!(lib
        .documents()
        .await
        .unwrap()
        .iter()
        .all(|d| d.path != gone));
    let hits = search(&lib, "when do heron eggs hatch", SearchMode::Hybrid).await;
    assert_eq!(file_name(&hits[0].path), "field-guide.pdf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_scope_search_and_a_shared_file_is_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let notes = tmp.path().join("notes");
    write_notes(&notes);
    let notes = std::fs::canonicalize(notes).unwrap();
    let guide = corpus.join("field-guide.pdf");
    let lib = library(tmp.path()).await;
    lib.add_to_collection("Work", std::slice::from_ref(&corpus))
        .await
        .unwrap();
    // The field guide is in both collections.
    lib.add_to_collection(" Nature ", &[notes.clone(), guide.clone()])
        .await
        .unwrap();
    ingest(&lib, &[corpus.clone(), notes.clone()]).await;
    let status = lib.status().await.unwrap();
    assert_eq!(status.documents, 6 + ANIMALS.len(), "stored once");
    let stats = lib.collection_stats().await.unwrap();
    let names: Vec<(&str, usize)> = stats
        .iter()
        .map(|c| (c.name.as_str(), c.documents))
        .collect();
    assert_eq!(names, [("Nature", ANIMALS.len() + 1), ("Work", 6)]);
    assert_eq!(
        stats.iter().map(|c| c.chunks).sum::<usize>(),
        status.chunks
            + lib
                .document(&guide.display().to_string())
                .await
                .unwrap()
                .unwrap()
                .chunks as usize,
        "the shared file counts in both"
    );

    let scoped = |q: &str, mode: SearchMode, names: &[&str]| SearchRequest {
        query: q.into(),
        limit: 5,
        mode,
        collections: names.iter().map(|n| n.to_string()).collect(),
    };
    let under = |hits: &[hearth::Hit], roots: &[&Path]| {
        hits.iter().all(|h| {
            roots.iter().any(|r| Path::new(&h.path).starts_with(r)) || Path::new(&h.path) == guide
        })
    };
    // The otter is only in the notes: scoped to Work, a search by meaning still fills its five
    // places from Work (the filter comes before the nearest are taken), and never shows a note.
    for mode in [SearchMode::Vector, SearchMode::Hybrid] {
        let hits = lib
            .search(&scoped("where was the otter seen", mode, &["work"]))
            .await
            .unwrap();
        assert_eq!(hits.len(), 5, "{mode:?}");
        assert!(under(&hits, &[&corpus]), "{mode:?}: {hits:?}");
        let hits = lib
            .search(&scoped("where was the otter seen", mode, &["Nature"]))
            .await
            .unwrap();
        assert_eq!(file_name(&hits[0].path), "otter.md", "{mode:?}");
        assert!(under(&hits, &[&notes]), "{mode:?}: {hits:?}");
    }
    let text = lib
        .search(&scoped("heron", SearchMode::Text, &["Nature"]))
        .await
        .unwrap();
    let files: Vec<&str> = text.iter().map(|h| file_name(&h.path)).collect();
    assert!(
        files.contains(&"heron.md") && files.contains(&"field-guide.pdf"),
        "{files:?}"
    );
    let both = lib
        .search(&scoped("heron", SearchMode::Text, &["Nature", "Work"]))
        .await
        .unwrap();
    assert!(!both.is_empty());
    // A name the notes never use is unknown there, known in the whole library.
    let q = "What does the Okapi eat?";
    assert_eq!(
        lib.unknown_terms(q, &["Work".into()]).await.unwrap(),
        ["Okapi"]
    );
    assert!(lib.unknown_terms(q, &[]).await.unwrap().is_empty());

    // Unknown names are refused with the ones there are; rename and delete touch no document.
    let err = lib
        .search(&scoped("heron", SearchMode::Text, &["Thesis"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    assert!(err.to_string().contains("Nature, Work"), "{err}");
    assert!(lib.rename_collection("nature", "work").await.is_err());
    lib.rename_collection("nature", "Wildlife").await.unwrap();
    assert!(!lib
        .search(&scoped("heron", SearchMode::Text, &["Wildlife"]))
        .await
        .unwrap()
        .is_empty());
    lib.delete_collection("Work").await.unwrap();
    lib.remove_from_collection("Wildlife", std::slice::from_ref(&guide))
        .await
        .unwrap();
    let reopened = library(tmp.path()).await;
    let left = reopened.collections().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "Wildlife");
    assert_eq!(left[0].paths, [notes.display().to_string()]);
    assert_eq!(
        reopened.status().await.unwrap().documents,
        6 + ANIMALS.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_while_the_ingest_reads_it_is_indexed_again_by_the_next_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let notes = std::fs::canonicalize(notes).unwrap();
    let (early, late) = (notes.join("a-early.md"), notes.join("b-late.md"));
    std::fs::write(&early, "The early note speaks of a copper kettle.").unwrap();
    std::fs::write(&late, "The late note speaks of a brass lantern.").unwrap();
    let lib = library(tmp.path()).await;
    // The early note is rewritten just before it is read (after the walk listed it); the late
    // one just after it was read (while the run goes on with the rest).
    let (e, l) = (early.clone(), late.clone());
    let sink = move |ev: IngestEvent| {
        if let IngestEvent::Progress { current, .. } = ev {
            std::thread::sleep(Duration::from_millis(20));
            if current == e.display().to_string() {
                std::fs::write(&e, "The early note now speaks of a pewter jug.").unwrap();
            }
            if current.is_empty() && std::fs::read_to_string(&l).unwrap().contains("brass") {
                // Embedding: both files were read; the late one changes now.
                std::fs::write(&l, "The late note now speaks of a silver bell.").unwrap();
            }
        }
    };
    let first = lib
        .ingest(std::slice::from_ref(&notes), &sink, &Cancel::new())
        .await
        .unwrap();
    assert_eq!(first.indexed, 2, "{first:?}");
    // Whatever the first pass caught, the next one brings the index to the files as they are.
    let second = ingest(&lib, std::slice::from_ref(&notes)).await;
    assert!(second.failed.is_empty(), "{second:?}");
    assert_eq!(files_found(&lib, "pewter").await, ["a-early.md"]);
    assert_eq!(files_found(&lib, "silver").await, ["b-late.md"]);
    assert!(files_found(&lib, "copper").await.is_empty());
    assert!(files_found(&lib, "brass").await.is_empty());
    let third = ingest(&lib, std::slice::from_ref(&notes)).await;
    assert_eq!((third.indexed, third.skipped), (0, 2), "{third:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_meta_json_is_named_and_deleting_it_finds_the_index_again() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let data = tmp.path().join("data");
    {
        let lib = library(tmp.path()).await;
        ingest(&lib, std::slice::from_ref(&corpus)).await;
    }
    let meta = data.join("meta.json");
    let text = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &text[..text.len() / 2]).unwrap();
    let config = hearth::Config::load(&data, &models_dir()).unwrap();
    let err = Library::open(config).await.unwrap_err();
    assert_eq!(err.code(), "index_incompatible", "{err}");
    assert!(
        err.to_string().contains("meta.json is damaged")
            && err.to_string().contains("delete this file"),
        "{err}"
    );
    // Deleted as the message says: the index beside it is found and nothing is lost.
    std::fs::remove_file(&meta).unwrap();
    let lib = library(tmp.path()).await;
    assert_eq!(lib.status().await.unwrap().documents, 6);
    assert_eq!(files_found(&lib, "starter").await[0], "sourdough.md");
    drop(lib);

    // The same with an index made before rebuilds existed (its folder is `index`).
    let index = hearth::store::read_meta(&data).unwrap().unwrap().index_dir;
    std::fs::rename(data.join(&index), data.join("index")).unwrap();
    std::fs::remove_file(&meta).unwrap();
    let lib = library(tmp.path()).await;
    assert_eq!(lib.status().await.unwrap().documents, 6);
    assert_eq!(
        hearth::store::read_meta(&data).unwrap().unwrap().index_dir,
        "index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_on_a_read_only_mount_searches_and_refuses_writes_with_a_reason() {
    use std::process::Command;
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    let Some(_unmount) = mount_tmpfs(&disk, "16m") else {
        return;
    };
    let open = || async {
        let config = hearth::Config::load(&disk.join("data"), &models_dir()).unwrap();
        Library::open(config).await
    };
    let corpus = copy_corpus(tmp.path());
    {
        let lib = open().await.unwrap();
        ingest(&lib, std::slice::from_ref(&corpus)).await;
        lib.add_to_collection("Notes", &[corpus.join("notes")])
            .await
            .unwrap();
    }
    let read_only = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&disk)
        .status()
        .is_ok_and(|s| s.success());
    if !read_only {
        eprintln!("SKIPPED: cannot remount the tmpfs read-only here");
        return;
    }
    let lib = open().await.expect("a read-only library opens");
    assert_eq!(files_found(&lib, "starter").await[0], "sourdough.md");
    let hits = lib
        .search(&SearchRequest {
            query: "chain lubrication".into(),
            limit: 3,
            mode: SearchMode::Hybrid,
            collections: vec!["Notes".into()],
        })
        .await
        .unwrap();
    assert!(!hits.is_empty());
    std::fs::write(corpus.join("notes/new.md"), "A new note about kites.").unwrap();
    let err = lib
        .ingest(std::slice::from_ref(&corpus), &|_| {}, &Cancel::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = lib
        .add_to_collection("Kites", std::slice::from_ref(&corpus))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(lib.status().await.unwrap().documents, 6);
}

/// A speech does not name its speaker; its file does. The folder and file name and the
/// headings are searched with the text (BM25 over both as one field), and the unknown-term
/// check finds names there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_only_the_file_name_holds_is_found_and_not_called_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let speeches = tmp.path().join("Speeches");
    std::fs::create_dir_all(&speeches).unwrap();
    std::fs::write(
        speeches.join("2018-donald-j-trump.txt"),
        "Tonight I am calling on the Congress to produce a bill that generates at least 1.5 \
         trillion dollars for the new infrastructure investment our country needs.",
    )
    .unwrap();
    std::fs::write(
        speeches.join("1964-lyndon-b-johnson.txt"),
        "This administration today, here and now, declares unconditional war on poverty.",
    )
    .unwrap();
    std::fs::write(
        speeches.join("notes.txt"),
        "Shopping list: bread, apples, and a new kettle.",
    )
    .unwrap();
    let lib = library(tmp.path()).await;
    ingest(&lib, &[speeches]).await;
    assert!(
        lib.pending_change().is_none(),
        "a new index has the current layout"
    );
    let hits = search(&lib, "Trump", SearchMode::Text).await;
    assert_eq!(
        hits.iter().map(|h| file_name(&h.path)).collect::<Vec<_>>(),
        ["2018-donald-j-trump.txt"]
    );
    let q = "How much did Trump ask Congress to raise for infrastructure?";
    assert!(lib.unknown_terms(q, &[]).await.unwrap().is_empty());
    // what no text and no name holds is still unknown
    let unknown = lib
        .unknown_terms("What did Obama say about infrastructure?", &[])
        .await
        .unwrap();
    assert_eq!(unknown, ["Obama"]);
}

/// An index made before document context existed (layout 1: no `context` column) is searched
/// as it was, says a rebuild is due, and `rebuild` brings it to the current layout, after which
/// file names are searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_the_previous_layout_searches_and_is_rebuilt_with_names() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = copy_corpus(tmp.path());
    let data = tmp.path().join("data");
    {
        let lib = library(tmp.path()).await;
        ingest(&lib, std::slice::from_ref(&corpus)).await;
    }
    // Turn it into a layout 1 index: no context column, meta.json says version 1.
    let mut meta = hearth::store::read_meta(&data).unwrap().unwrap();
    {
        let db = lancedb::connect(data.join(&meta.index_dir).to_str().unwrap())
            .execute()
            .await
            .unwrap();
        let chunks = db.open_table("chunks").execute().await.unwrap();
        for index in chunks.list_indices().await.unwrap() {
            if index.columns.iter().any(|c| c == "context") {
                chunks.drop_index(&index.name).await.unwrap();
            }
        }
        chunks.drop_columns(&["context"]).await.unwrap();
    }
    meta.schema_version = 1;
    hearth::store::write_meta(&data, &meta).unwrap();

    let lib = library(tmp.path()).await;
    let change = lib.pending_change().expect("a rebuild is due");
    assert!(
        change.describe().contains("file names"),
        "{}",
        change.describe()
    );
    assert_eq!(files_found(&lib, "starter").await[0], "sourdough.md");
    assert!(
        search(&lib, "sourdough", SearchMode::Text)
            .await
            .iter()
            .all(|h| h.text.to_lowercase().contains("sourdough")),
        "only the text is searched"
    );
    // still writable in its own layout
    std::fs::write(corpus.join("notes/kites.md"), "A new note about kites.").unwrap();
    let r = ingest(&lib, std::slice::from_ref(&corpus)).await;
    assert_eq!(r.indexed, 1, "{r:?}");
    let report = lib.rebuild(&|_| {}, &Cancel::new()).await.unwrap();
    assert!(report.switched, "{report:?}");
    assert!(lib.pending_change().is_none());
    assert_eq!(lib.status().await.unwrap().documents, 7);
    // now a word only a file's name holds finds it
    let hits = search(&lib, "kites", SearchMode::Text).await;
    assert!(hits.iter().any(|h| file_name(&h.path) == "kites.md"));
    let by_name = search(&lib, "sourdough", SearchMode::Text).await;
    assert!(
        by_name
            .iter()
            .any(|h| !h.text.to_lowercase().contains("sourdough")),
        "the file name is searched too"
    );
}
