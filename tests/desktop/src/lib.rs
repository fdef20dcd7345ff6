//! Drive the real Hearth desktop app over WebDriver: `tauri-driver` starts Debian's
//! `WebKitWebDriver`, which starts our binary in a real window (under Xvfb on CI). Helpers here
//! launch it with its own data dirs, wait for the UI, and save screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// One desktop session at a time: tauri-driver and WebKitWebDriver use fixed ports.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Port tauri-driver listens on.
const DRIVER_PORT: u16 = 4444;

/// The profile dir (`<target>/debug`) holding this binary: tests run from `debug/deps/`,
/// the bench binary from `debug/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("profile dir").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The cargo target dir this binary was built into.
pub fn target_dir() -> PathBuf {
    profile_dir().parent().expect("target dir").to_path_buf()
}

/// The desktop binary (built by `cargo build --workspace`).
pub fn app_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HEARTH_DESKTOP_BIN") {
        return PathBuf::from(p);
    }
    profile_dir().join("hearth-desktop")
}

/// Where models are installed (same rule as the engine tests and the CLI).
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HEARTH_MODELS_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share")
        });
    base.join("hearth/models")
}

/// The repository root (this crate is `tests/desktop`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("repo root")
        .to_path_buf()
}

fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A running app with a WebDriver session on it.
pub struct Desktop {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    shots: PathBuf,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Environment of one app run: its own data dir, config dir and the shared models.
pub struct AppEnv {
    /// `HEARTH_DATA_DIR`.
    pub data_dir: PathBuf,
    /// `XDG_CONFIG_HOME` (desktop settings).
    pub config_home: PathBuf,
    /// `HEARTH_MODELS_DIR`.
    pub models_dir: PathBuf,
}

impl Desktop {
    /// Start tauri-driver and open a session on the app. Fails with a clear message when a
    /// piece of the setup is missing (`scripts/test.sh` installs all of it).
    pub async fn launch(env: &AppEnv, name: &str) -> Desktop {
        let turn = ONE_AT_A_TIME.lock().await;
        let app = app_binary();
        assert!(
            app.is_file(),
            "{} is missing: run `cargo build --workspace` first (scripts/test.sh does)",
            app.display()
        );
        let tauri_driver = find_program("tauri-driver").expect(
            "tauri-driver not found: `cargo install tauri-driver --locked` (scripts/test.sh does)",
        );
        assert!(
            find_program("WebKitWebDriver").is_some(),
            "WebKitWebDriver not found: apt-get install webkit2gtk-driver (scripts/test.sh does)"
        );
        assert!(
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some(),
            "no display: run the tests under xvfb-run (scripts/test.sh does)"
        );
        let driver = Command::new(tauri_driver)
            .args(["--port", &DRIVER_PORT.to_string()])
            .env("HEARTH_DATA_DIR", &env.data_dir)
            .env("HEARTH_MODELS_DIR", &env.models_dir)
            .env("XDG_CONFIG_HOME", &env.config_home)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tauri-driver");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert(
            "tauri:options".into(),
            json!({ "application": app.to_string_lossy() }),
        );
        let url = format!("http://127.0.0.1:{DRIVER_PORT}");
        let started = Instant::now();
        eprintln!(
            "[e2e] tauri-driver started; opening a session on {}",
            app.display()
        );
        let client = loop {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session on {url} after 30 s: {e}"),
            }
        };
        eprintln!("[e2e] session open after {:?}", started.elapsed());
        let shots = target_dir().join("e2e-screenshots").join(name);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Desktop {
            client,
            driver,
            shots,
            _turn: turn,
        }
    }

    /// Wait until `script` (a JS expression) is truthy; returns its value. Panics with `what`
    /// and a screenshot after `timeout`.
    pub async fn wait_until(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        let body = format!("return ({script});");
        loop {
            match self.client.execute(&body, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(_) | Err(_) if started.elapsed() < timeout => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Ok(v) => {
                    self.screenshot(&format!("timeout-{}", slug(what))).await;
                    panic!("timed out after {timeout:?} waiting for {what} (last value {v})");
                }
                Err(e) => {
                    self.screenshot(&format!("timeout-{}", slug(what))).await;
                    panic!("timed out after {timeout:?} waiting for {what}: {e}");
                }
            }
        }
    }

    /// Evaluate a JS expression.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(&format!("return ({script});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let css = serde_json::to_string(css).unwrap();
        let v = self
            .eval(&format!("document.querySelector({css}).textContent"))
            .await;
        v.as_str()
            .unwrap_or_else(|| panic!("no text at {css}: {v}"))
            .to_string()
    }

    /// Run an async JS function body; `done(value)` is the last argument (WebDriver's
    /// executeAsync).
    pub async fn eval_async(&self, body: &str) -> Value {
        self.client
            .execute_async(body, vec![])
            .await
            .unwrap_or_else(|e| panic!("async script failed: {body}: {e}"))
    }

    /// Find an element by CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Click an element. A list the window re-renders between finding the element and clicking
    /// it (a watch event refreshes the library) leaves a detached node: it is found again.
    pub async fn click(&self, css: &str) {
        let mut tries = 0;
        loop {
            match self.find(css).await.click().await {
                Ok(_) => return,
                Err(e) if tries < 3 && e.to_string().contains("was not found") => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Type into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Save a PNG of the window (after two animation frames, so the last change is painted).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // let the last change paint
        let _ = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let path = self.shots.join(format!("{name}.png"));
        match self.client.screenshot().await {
            Ok(png) => std::fs::write(&path, png).expect("write screenshot"),
            Err(e) => eprintln!("screenshot {name} failed: {e}"),
        }
        path
    }

    /// End the session and stop the driver (SIGTERM, so WebKitWebDriver exits too).
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        stop(&mut self.driver);
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        stop(&mut self.driver);
    }
}

fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
