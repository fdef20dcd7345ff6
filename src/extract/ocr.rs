//! Text recognition for pages that have no text layer (scanned PDFs) and for images, with
//! Tesseract. A scanned PDF is copied once to a temporary file only this user can read
//! (fed through a pipe, the whole PDF would be sent once per page; the copy is deleted when
//! the file is done, even on an error), and its pages are rendered by poppler's `pdftoppm` (greyscale, `ocr.dpi`) straight
//! into Tesseract's standard input; no page image is written to disk. Both are separate programs
//! (Debian's `tesseract-ocr` and `poppler-utils`): OCR is used when they are installed and
//! `ocr.enabled` is on, and a scanned file without them keeps its "no text layer" error, with a
//! hint naming the packages.
//!
//! Bounded: at most `ocr.max_pages` pages per file, a time limit per page (a hung tool is
//! killed), one Tesseract per core (each told to use one thread), and the ingest's cancel flag
//! is checked between pages.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// `[ocr]`: pages without a text layer (scanned PDFs) and images are read with Tesseract
/// (`tesseract-ocr`, pages rendered by poppler's `pdftoppm`) when both are installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcrConfig {
    /// OCR at all (it is used only when Tesseract and pdftoppm are installed).
    pub enabled: bool,
    /// Tesseract language codes joined by `+` (e.g. `eng+deu`); each needs its
    /// `tesseract-ocr-<lang>` package.
    pub languages: String,
    /// Most pages recognised per file; pages past it stay without text (a 1,000-page scan
    /// would otherwise hold an ingest for an hour).
    pub max_pages: usize,
    /// Resolution pages are rendered at for recognition.
    pub dpi: u32,
    /// Pages recognised at once (one Tesseract each); 0: one per core. Lower it to keep cores
    /// free while a large scan is read.
    pub threads: usize,
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            enabled: true,
            languages: "eng".into(),
            max_pages: 500,
            // Measured on 20 pages of the Bash manual: 200 dpi recognises as well as 300
            // (character error 0.95 % vs 1.05 %) in 25 % less time.
            dpi: 200,
            threads: 0,
        }
    }
}

/// Longest one page may take to render or recognise before the tool is killed.
const PAGE_TIMEOUT: Duration = Duration::from_secs(180);

/// A page with fewer visible characters than this in its text layer is recognised instead.
pub(super) const MIN_PAGE_CHARS: usize = 16;

/// Pages recognised so far of the file being read (0 of 0: no OCR running).
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    /// `(done, total)` while an OCR runs.
    pub fn get(&self) -> Option<(usize, usize)> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done.load(Ordering::Relaxed), total))
    }
    fn start(&self, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    fn page_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn clear(&self) {
        self.total.store(0, Ordering::Relaxed);
    }
}

/// OCR as configured on a machine that has the tools.
#[derive(Debug, Clone)]
pub struct Ocr {
    languages: String,
    max_pages: usize,
    dpi: u32,
    threads: usize,
}

/// Why OCR is not available: a sentence to append to a "no text layer" error.
pub fn unavailable_hint(cfg: &OcrConfig) -> String {
    if !cfg.enabled {
        return "OCR is turned off (ocr.enabled in config.toml)".into();
    }
    match tools() {
        Err(missing) => format!("install {missing} to read it with OCR"),
        Ok(langs) => {
            let missing: Vec<&str> = cfg
                .languages
                .split('+')
                .filter(|l| !langs.iter().any(|have| have == l))
                .collect();
            format!(
                "OCR language data missing for {} (install tesseract-ocr-{})",
                missing.join(", "),
                missing.first().copied().unwrap_or("eng")
            )
        }
    }
}

/// The languages Tesseract has data for, or which packages are missing. Checked once per
/// process.
fn tools() -> std::result::Result<&'static [String], &'static str> {
    static TOOLS: OnceLock<std::result::Result<Vec<String>, &'static str>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let langs = Command::new("tesseract")
                .arg("--list-langs")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success());
            let pdftoppm = Command::new("pdftoppm")
                .arg("-v")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
            match (langs, pdftoppm) {
                (None, false) => Err("tesseract-ocr and poppler-utils"),
                (None, true) => Err("tesseract-ocr"),
                (Some(_), false) => Err("poppler-utils"),
                (Some(out), true) => Ok(String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .skip(1) // "List of available languages in ..."
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()),
            }
        })
        .as_ref()
        .map(|v| v.as_slice())
        .map_err(|e| *e)
}

impl Ocr {
    /// OCR as `cfg` asks, if it is enabled and Tesseract (with every configured language) and
    /// pdftoppm are installed.
    pub fn from_config(cfg: &OcrConfig) -> Option<Ocr> {
        if !cfg.enabled {
            return None;
        }
        let langs = tools().ok()?;
        if !cfg
            .languages
            .split('+')
            .all(|l| langs.iter().any(|h| h == l))
        {
            return None;
        }
        Some(Ocr {
            languages: cfg.languages.clone(),
            max_pages: cfg.max_pages,
            dpi: cfg.dpi,
            threads: match cfg.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
        })
    }

    /// Most pages recognised per file.
    pub fn max_pages(&self) -> usize {
        self.max_pages
    }

    /// Recognise the given 1-based pages of a PDF (at most `max_pages` of them, the first
    /// ones), several at once. Returns each page's text in the order asked.
    pub fn pdf_pages(
        &self,
        pdf: &[u8],
        pages: &[u32],
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        let pages = &pages[..pages.len().min(self.max_pages)];
        progress.start(pages.len());
        // pdftoppm reads the PDF from a private temporary copy: fed through a pipe it would be
        // sent whole for every page (a 70 MB scan × 200 pages).
        let copy = TempCopy::new(pdf)
            .map_err(|e| Error::unsupported(format!("cannot prepare the PDF for OCR: {e}")))?;
        self.each(pages.len(), cancel, |i| {
            let n = pages[i].to_string();
            let image = run_tool(
                Command::new("pdftoppm")
                    .args([
                        "-f",
                        &n,
                        "-l",
                        &n,
                        "-r",
                        &self.dpi.to_string(),
                        "-gray",
                        "-singlefile",
                    ])
                    .arg(&copy.path),
                b"",
            )
            .map_err(|e| Error::unsupported(format!("page {n} could not be rendered: {e}")))?;
            let text = self
                .recognise(&image)
                .map_err(|e| Error::unsupported(format!("page {n}: {e}")))?;
            progress.page_done();
            Ok(text)
        })
    }

    /// Recognise an image file (PNG, JPEG, TIFF, …); a multi-page TIFF gives one text per page.
    pub fn image(&self, bytes: &[u8]) -> Result<Vec<String>> {
        let text = self.recognise(bytes).map_err(Error::unsupported)?;
        let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
        // Tesseract ends every page with a form feed: the last piece is empty.
        if pages.len() > 1 && pages.last().is_some_and(|p| p.trim().is_empty()) {
            pages.pop();
        }
        pages.truncate(self.max_pages.max(1));
        Ok(pages)
    }

    /// One image through Tesseract.
    fn recognise(&self, image: &[u8]) -> std::result::Result<String, String> {
        let out = run_tool(
            Command::new("tesseract")
                .args(["stdin", "stdout", "-l", &self.languages, "--dpi"])
                .arg(self.dpi.to_string())
                // One thread per Tesseract; pages run side by side instead.
                .env("OMP_THREAD_LIMIT", "1"),
            image,
        )?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Run `job` for 0..n on up to `threads` threads, stopping at the first error or when
    /// cancelled; results in index order.
    fn each(
        &self,
        n: usize,
        cancel: &Cancel,
        job: impl Fn(usize) -> Result<String> + Sync,
    ) -> Result<Vec<String>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<String>>>> =
            Mutex::new((0..n).map(|_| None).collect());
        let failed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..self.threads.min(n) {
                s.spawn(|| loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let r = if cancel.is_cancelled() {
                        Err(Error::Cancelled)
                    } else {
                        job(i)
                    };
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = results.iter().flatten().find_map(|r| r.as_ref().err()) {
            return Err(match e {
                Error::Cancelled => Error::Cancelled,
                e => Error::unsupported(e.to_string()),
            });
        }
        Ok(results.into_iter().flatten().flatten().collect())
    }
}

/// A file only this user can read, holding a copy of a document, deleted when dropped.
struct TempCopy {
    path: std::path::PathBuf,
}

impl TempCopy {
    fn new(bytes: &[u8]) -> std::io::Result<Self> {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "hearth-ocr-{}-{}.pdf",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let copy = TempCopy { path };
        options.open(&copy.path)?.write_all(bytes)?;
        Ok(copy)
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Run a tool with `input` on its standard input and return its standard output, killing it
/// after [`PAGE_TIMEOUT`].
fn run_tool(cmd: &mut Command, input: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let started = Instant::now();
    let (out, err, status) = std::thread::scope(|s| {
        // A tool that stops reading early closes the pipe: that write error is not ours to report.
        s.spawn(move || {
            let _ = stdin.write_all(input);
        });
        let out = s.spawn(move || {
            let mut v = Vec::new();
            let _ = stdout.read_to_end(&mut v);
            v
        });
        let err = s.spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            v
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() > PAGE_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "{name} took longer than {} s and was stopped",
                        PAGE_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => break Err(format!("{name}: {e}")),
            }
        };
        (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
            status,
        )
    });
    let status = status?;
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let last = err
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with("Estimating resolution"))
            .unwrap_or("no message");
        return Err(format!("{name} failed ({status}): {last}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_that_fails_says_so_with_its_message() {
        let err = run_tool(
            Command::new("sh").args(["-c", "echo 'broken input' >&2; exit 3"]),
            b"x",
        )
        .unwrap_err();
        assert!(
            err.contains("broken input") && err.contains("sh failed"),
            "{err}"
        );
        let err = run_tool(&mut Command::new("/nonexistent/tool"), b"").unwrap_err();
        assert!(err.contains("cannot run"), "{err}");
    }

    #[test]
    fn large_input_and_output_pass_through_without_deadlock() {
        let input = vec![b'a'; 4 << 20];
        let out = run_tool(&mut Command::new("cat"), &input).unwrap();
        assert_eq!(out.len(), input.len());
    }

    #[test]
    fn the_hint_names_what_is_missing_or_turned_off() {
        let off = OcrConfig {
            enabled: false,
            ..OcrConfig::default()
        };
        assert!(unavailable_hint(&off).contains("turned off"));
        let odd = OcrConfig {
            languages: "xyz".into(),
            ..OcrConfig::default()
        };
        let hint = unavailable_hint(&odd);
        assert!(
            hint.contains("install")
                && (hint.contains("tesseract-ocr") || hint.contains("poppler")),
            "{hint}"
        );
    }
}
