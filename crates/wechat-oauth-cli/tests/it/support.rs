//! Runs the binary with a clean environment pointed at a sandbox and a store in a temp dir.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};

/// The variables the binary reads; removed before every run so the developer's own
/// environment cannot leak into a test.
const CONFIG_VARS: [&str; 12] = [
    "WECHAT_APPID",
    "WECHAT_SECRET",
    "WECHAT_API_BASE",
    "WECHAT_OPEN_BASE",
    "WECHAT_STORE",
    "WECHAT_SESSION_KEY",
    "WECHAT_OAUTH_CODE",
    "WECHAT_JSAPI_TICKET",
    "WECHAT_TOKEN_STORE",
    "WECHAT_SERVER_TOKEN",
    "WECHAT_ENCODING_AES_KEY",
    "RUST_LOG",
];

/// A command for the binary with none of its configuration variables set.
pub fn bare_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wechat-oauth"));
    for var in CONFIG_VARS {
        command.env_remove(var);
    }
    command.kill_on_drop(true);
    command
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout as JSON, asserting the run succeeded.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts the exit code and that stdout is empty (a failure prints only on stderr).
    pub fn assert_failed_with(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        assert!(
            self.stdout.is_empty(),
            "a failure printed on stdout: {self:#?}"
        );
        assert!(
            self.stderr.starts_with("error: "),
            "no error on stderr: {self:#?}"
        );
        self
    }

    /// Whether `needle` appears on stdout or stderr.
    pub fn mentions(&self, needle: &str) -> bool {
        self.stdout.contains(needle) || self.stderr.contains(needle)
    }
}

/// Runs `command` to completion.
pub async fn run(mut command: Command) -> Run {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the binary runs");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `command` to completion with `input` on its standard input.
pub async fn run_with_stdin(mut command: Command, input: &str) -> Run {
    use tokio::io::AsyncWriteExt as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // A command that exits before reading closes the pipe: not this helper's failure.
    let _ = stdin.write_all(input.as_bytes()).await;
    drop(stdin);
    let output = child.wait_with_output().await.expect("the binary runs");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// A sandbox with the default apps and users, and a SQLite store in a temp dir that
/// persists between runs.
pub struct World {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub store_url: String,
}

impl World {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store_url = format!("sqlite://{}", dir.path().join("tokens.db").display());
        Self::with_store(dir, store_url).await
    }

    pub async fn with_store(dir: tempfile::TempDir, store_url: String) -> Self {
        Self::with_sandbox(Sandbox::builder(), dir, store_url).await
    }

    pub async fn with_sandbox(
        sandbox: wechat_sandbox::SandboxBuilder,
        dir: tempfile::TempDir,
        store_url: String,
    ) -> Self {
        let sandbox = sandbox.start().await.unwrap();
        Self {
            sandbox,
            dir,
            store_url,
        }
    }

    /// A command configured for the Official Account app against the sandbox.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = bare_command();
        command
            .env("WECHAT_APPID", OFFICIAL_APPID)
            .env("WECHAT_SECRET", OFFICIAL_SECRET)
            .env("WECHAT_API_BASE", self.sandbox.url())
            .env("WECHAT_OPEN_BASE", self.sandbox.url())
            .env("WECHAT_STORE", &self.store_url)
            .args(args);
        command
    }

    /// Runs the binary configured for the Official Account app against the sandbox.
    pub async fn run(&self, args: &[&str]) -> Run {
        run(self.command(args)).await
    }

    /// `exchange` of a fresh `snsapi_userinfo` code for `user`, with each `(var, value)`
    /// of `env` set (`None`: removed) on top of the usual configuration. Returns the run
    /// and the code.
    pub async fn exchange_with_env(
        &self,
        user: &str,
        env: &[(&str, Option<&str>)],
    ) -> (Run, String) {
        let code = self.code(user, "snsapi_userinfo");
        let mut command = self.command(&["exchange", "--code", &code]);
        for (var, value) in env {
            match value {
                Some(value) => command.env(var, value),
                None => command.env_remove(var),
            };
        }
        (run(command).await, code)
    }

    /// The sandbox's `host:port`, for relays put in front of it.
    pub fn sandbox_addr(&self) -> String {
        self.sandbox
            .url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// A fresh code for `user` approving `scope` for the Official Account app.
    pub fn code(&self, user: &str, scope: &str) -> String {
        self.sandbox.mint_code(OFFICIAL_APPID, user, scope).unwrap()
    }

    /// The Official Account openid of `user`.
    pub fn openid(&self, user: &str) -> String {
        self.sandbox.openid(OFFICIAL_APPID, user)
    }

    /// Exchanges a fresh `snsapi_userinfo` code for `user` and returns the full token JSON.
    pub async fn log_in(&self, user: &str) -> Value {
        let code = self.code(user, "snsapi_userinfo");
        self.run(&["exchange", "--code", &code, "--show-secrets"])
            .await
            .json()
    }

    /// Logs `user` in (see [`log_in`](Self::log_in)) and returns the openid.
    pub async fn logged_in(&self, user: &str) -> String {
        self.log_in(user).await["openid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The token stored for `openid`, unredacted, read through `token get`.
    pub async fn stored(&self, openid: &str) -> Value {
        self.run(&["token", "get", "--openid", openid, "--show-secrets"])
            .await
            .json()
    }

    /// Runs the binary with the configuration variable `var` replaced (`None`: unset).
    pub async fn run_with(&self, var: &str, value: Option<&str>, args: &[&str]) -> Run {
        let mut command = self.command(args);
        match value {
            Some(value) => command.env(var, value),
            None => command.env_remove(var),
        };
        run(command).await
    }

    /// The value of `param` in the last request the sandbox received on `path`.
    pub fn last_param(&self, path: &str, param: &str) -> Option<String> {
        let journal = self.sandbox.journal();
        let entry = journal.iter().rfind(|entry| entry.path == path)?;
        entry.param(param).map(str::to_owned)
    }

    /// How many requests the sandbox received on `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.sandbox
            .journal()
            .iter()
            .filter(|entry| entry.path == path)
            .count()
    }
}

/// Opens `authorize_url` as `user` through the sandbox's scripted consent (header
/// `X-Sandbox-User`) and returns the redirect it answers with, which carries `code` and
/// `state`.
pub async fn approve(authorize_url: &str, user: &str) -> url::Url {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize_url)
        .header("X-Sandbox-User", user)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "the sandbox did not redirect");
    url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

/// The value of `key` in `url`'s query.
pub fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A server the binary runs; killed when dropped.
pub struct Server {
    pub url: String,
    child: Child,
    // Kept open so the server never writes into a closed pipe.
    stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts the binary as a server and reads the URL from its first stdout line, which
    /// must start with `prefix`.
    pub async fn spawn(mut command: Command, prefix: &str) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line))
            .await
            .expect("the server printed its address in time")
            .unwrap();
        let url = line
            .trim_end()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("first line {line:?} does not start with {prefix:?}"))
            .to_owned();
        Self { url, child, stdout }
    }

    /// The next line the server prints on stdout (without its newline).
    pub async fn next_line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), self.stdout.read_line(&mut line))
            .await
            .expect("the server printed another line in time")
            .unwrap();
        line.trim_end().to_owned()
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}
