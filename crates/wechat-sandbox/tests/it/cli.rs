//! The `wechat-sandbox` binary's command line: a contract outside scripts depend on.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::support::*;

/// A running `wechat-sandbox` binary, killed when dropped.
pub struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub url: String,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wechat-sandbox"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let url = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Running { child, stdout, url }
    }

    /// The next `n` lines of stdout.
    pub fn lines(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let mut line = String::new();
                self.stdout.read_line(&mut line).unwrap();
                line.trim_end().to_owned()
            })
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn first_line_names_the_real_port_then_apps_and_users_without_secrets() {
    let mut running = Running::start(&[]);
    assert!(running.url.starts_with("http://127.0.0.1:"));
    assert_ne!(running.url, "http://127.0.0.1:0");
    let lines = running.lines(6);
    assert_eq!(
        lines[0],
        "app wx5a4d1e0f0a000001 official (callback domain: any loopback host)"
    );
    assert_eq!(
        lines[1],
        "app wx5a4d1e0f0a000002 website (callback domain: any loopback host)"
    );
    assert_eq!(
        lines[2],
        "app wx5a4d1e0f0a000003 miniprogram (callback domain: any loopback host)"
    );
    assert_eq!(
        lines[3..],
        ["user alice", "user bob", "user guest (snapshot)"]
    );
    assert!(lines.iter().all(|l| !l.contains("secret")));
}

#[tokio::test]
async fn apps_and_users_come_from_the_command_line() {
    let mut running = Running::start(&[
        "--app",
        "wxcli00000000000001:cli-secret-1",
        "--app",
        "wxcli00000000000002:cli-secret-2:website:login.example.com:8443",
        "--user",
        "dora",
        "--user",
        "eve:snapshot",
        "--threads",
        "1",
    ]);
    let lines = running.lines(4);
    assert_eq!(
        lines[0],
        "app wxcli00000000000001 official (callback domain: any loopback host)"
    );
    assert_eq!(
        lines[1],
        "app wxcli00000000000002 website (callback domain: login.example.com:8443)"
    );
    assert_eq!(lines[2..], ["user dora", "user eve (snapshot)"]);
    assert!(lines.iter().all(|l| !l.contains("cli-secret")));

    let http = client();
    let ok = format!(
        "{}/connect/qrconnect?{}",
        running.url,
        authorize_query(
            "wxcli00000000000002",
            "https://login.example.com:8443/cb",
            "snsapi_login",
            "s"
        )
    );
    let response = http
        .get(&ok)
        .header("X-Sandbox-User", "eve")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let code = callback_params(response.headers()["location"].to_str().unwrap())
        .0
        .unwrap();
    let token: serde_json::Value = http
        .get(format!("{}/sns/oauth2/access_token", running.url))
        .query(&[
            ("appid", "wxcli00000000000002"),
            ("secret", "cli-secret-2"),
            ("code", &code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["scope"], "snsapi_login");
    let wrong_host = format!(
        "{}/connect/qrconnect?{}",
        running.url,
        authorize_query(
            "wxcli00000000000002",
            "http://127.0.0.1/cb",
            "snsapi_login",
            "s"
        )
    );
    let page = http
        .get(&wrong_host)
        .header("X-Sandbox-User", "eve")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("错误码：10003"));
}

#[test]
fn bad_arguments_exit_with_an_error_naming_the_problem() {
    for args in [
        &["--app", "only-an-appid"][..],
        &["--app", "wx1:s:spaceship"],
        &["--user", "zed:admin"],
        &["--threads", "0"],
        &["--listen", "not-an-address"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wechat-sandbox"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "{args:?} should fail");
        assert!(!stderr.is_empty(), "{args:?} should explain itself");
    }
}

/// `wechat-sandbox --help` lists the flags of `wechat_sandbox::cli::SandboxArgs`, the one
/// definition `wechat-oauth sandbox` flattens too (its own test checks that side).
#[test]
fn help_lists_the_shared_flags() {
    use clap::Args as _;
    let output = Command::new(env!("CARGO_BIN_EXE_wechat-sandbox"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let listed: std::collections::BTreeSet<String> = help
        .lines()
        .filter_map(|line| {
            // `  -h, --help` or `      --listen <ADDR>`
            let line = line.trim_start();
            let line = match line.as_bytes() {
                [b'-', short, b',', b' ', ..] if *short != b'-' => &line[4..],
                _ => line,
            };
            let name: String = line
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty() && name != "help" && name != "version").then_some(name)
        })
        .collect();
    let shared: std::collections::BTreeSet<String> =
        wechat_sandbox::cli::SandboxArgs::augment_args(clap::Command::new("wechat-sandbox"))
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(str::to_owned))
            .collect();
    assert_eq!(listed, shared, "{help}");
    assert!(
        shared.contains("listen") && shared.contains("app"),
        "{shared:?}"
    );
}
