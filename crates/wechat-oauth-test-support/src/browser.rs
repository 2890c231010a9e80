//! Headless Chromium through chromedriver, for browser tests (`scripts/services.sh`
//! installs both). Under `CI=true` a missing Chromium or chromedriver fails the test;
//! elsewhere the test is skipped with a loud message.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Where Debian's chromium-driver package puts chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's chromium package puts Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver this test started; killed (by its own handle) when dropped.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChromeDriver {
    /// Starts chromedriver, or says why the browser test cannot run here.
    pub fn start() -> Option<Self> {
        let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            let why = format!("browser test needs {missing:?} (Debian: chromium chromium-driver)");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}");
            }
            eprintln!("\n*** SKIPPING the browser test: {why} ***\n");
            return None;
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(driver)
    }

    /// A new browser with its own profile directory (its own cookies).
    /// A new headless Chromium session with its own profile directory `profile`.
    pub async fn session(&self, profile: &Path) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=900,900",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromedriver session")
    }
}

/// Saves numbered screenshots under `target/browser-artifacts/`.
#[derive(Debug)]
pub struct Screenshots {
    dir: PathBuf,
    prefix: &'static str,
    count: usize,
}

impl Screenshots {
    /// Screenshots named `<prefix>-<step number>-<step>.png`.
    pub fn new(prefix: &'static str) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        );
        let dir = target.join("browser-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            prefix,
            count: 0,
        }
    }

    /// Saves the page as the next step's screenshot.
    pub async fn take(&mut self, browser: &Client, step: &str) {
        self.count += 1;
        let png = browser.screenshot().await.unwrap();
        let path = self
            .dir
            .join(format!("{}-{:02}-{step}.png", self.prefix, self.count));
        std::fs::write(&path, png).unwrap();
    }
}

/// Waits for the element with this id on the current page.
pub async fn element(browser: &Client, id: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} on the page: {e}"))
}

/// Waits up to 15 s for `check` to hold, polling every 50 ms.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
