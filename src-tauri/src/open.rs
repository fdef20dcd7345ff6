//! Hand a document to the system's viewer.

use std::path::Path;
use std::process::{Command, Stdio};

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Open `path` with the desktop's default application. A PDF with a page opens at that page
/// when Evince (GNOME's viewer) is installed; `xdg-open` cannot pass a page.
pub fn open_file(path: &Path, page: Option<u32>) -> std::io::Result<()> {
    let is_pdf = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    let mut cmd = match page {
        Some(p) if is_pdf && on_path("evince") => {
            let mut c = Command::new("evince");
            c.arg(format!("--page-index={p}")).arg(path);
            c
        }
        _ => {
            let mut c = Command::new("xdg-open");
            c.arg(path);
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
}
