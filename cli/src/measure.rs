//! Measuring helpers shared by `hearth bench` and `hearth eval`: percentiles, this process's
//! memory, JSON-lines output.

use std::path::Path;

use anyhow::{Context, Result};

/// Write `lines` to `path`, one per line (a JSON-lines file).
pub(crate) fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    std::fs::write(path, lines.join("\n") + "\n").with_context(|| path.display().to_string())
}

/// Write `items` to `path` as JSON lines.
pub(crate) fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let lines: Vec<String> = items
        .iter()
        .map(serde_json::to_string)
        .collect::<std::result::Result<_, _>>()?;
    write_lines(path, &lines)
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

/// Peak resident memory of this process (VmHWM), bytes; 0 where /proc is not available.
pub(crate) fn peak_rss_bytes() -> u64 {
    proc_status_bytes("VmHWM:")
}

/// Resident memory of this process now (VmRSS), bytes.
pub(crate) fn rss_bytes() -> u64 {
    proc_status_bytes("VmRSS:")
}

/// A `kB` field of /proc/self/status, in bytes; 0 where /proc is not available.
fn proc_status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
