//! `wechat-oauth sandbox`: the sandbox as a separate process, driven over HTTP.

use tokio::process::Command;

use crate::support::{Server, approve, bare_command, query, run};

/// `wechat-oauth sandbox --listen 127.0.0.1:0 FLAGS…`
fn sandbox(flags: &[&str]) -> Command {
    let mut command = bare_command();
    command
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .args(flags);
    command
}

#[tokio::test]
async fn the_sandbox_subcommand_serves_a_login_that_user_by_code_completes() {
    let command = sandbox(&[
        "--app",
        "wx00000000000000aa:custom-secret",
        "--user",
        "carol",
        "--threads",
        "1",
    ]);
    let server = Server::spawn(command, "listening on ").await;
    let authorize = format!(
        "{}/connect/oauth2/authorize?appid=wx00000000000000aa\
         &redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcb&response_type=code\
         &scope=snsapi_userinfo&state=s#wechat_redirect",
        server.url
    );
    let code = query(&approve(&authorize, "carol").await, "code").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut user_by_code = bare_command();
    user_by_code
        .env("WECHAT_APPID", "wx00000000000000aa")
        .env("WECHAT_SECRET", "custom-secret")
        .env("WECHAT_API_BASE", &server.url)
        .env(
            "WECHAT_STORE",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .args(["user-by-code", "--code", &code]);

    let user = run(user_by_code).await.json();

    assert!(
        user["openid"].as_str().is_some_and(|o| !o.is_empty()),
        "{user}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_a_malformed_app() {
    run(sandbox(&["--app", "no-secret-here"]))
        .await
        .assert_failed_with(2);
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_an_unknown_user_flag() {
    let out = run(sandbox(&["--user", "dave:admin"])).await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("snapshot"), "{out:#?}");
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_zero_threads() {
    let out = run(sandbox(&["--threads", "0"])).await;

    assert_eq!(out.code, 2, "{out:#?}");
}

/// The long flags a `--help` page lists (`--help` and `--version` left out).
fn help_flags(help: &str) -> std::collections::BTreeSet<String> {
    help.lines()
        .filter_map(|line| {
            // `  -h, --help` or `      --listen <ADDR>`
            let line = line.trim_start();
            let line = match line.as_bytes() {
                [b'-', short, b',', b' ', ..] if *short != b'-' => &line[4..],
                _ => line,
            };
            let flag = line.strip_prefix("--")?;
            let name: String = flag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .filter(|name| name != "help" && name != "version")
        .collect()
}

/// The long flags of the one definition both binaries use.
fn shared_sandbox_flags() -> std::collections::BTreeSet<String> {
    use clap::Args as _;
    wechat_sandbox::cli::SandboxArgs::augment_args(clap::Command::new("sandbox"))
        .get_arguments()
        .filter_map(|arg| arg.get_long().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sandbox_help_lists_exactly_the_shared_sandbox_flags_and_no_oauth_flag() {
    let mut command = bare_command();
    command.args(["sandbox", "--help"]);
    let out = run(command).await;
    assert_eq!(out.code, 0, "{out:#?}");

    let listed = help_flags(&out.stdout);

    assert_eq!(listed, shared_sandbox_flags(), "{}", out.stdout);
    for oauth_flag in [
        "appid",
        "secret",
        "api-base",
        "open-base",
        "store",
        "timeout",
        "show-secrets",
    ] {
        assert!(
            !listed.contains(oauth_flag),
            "--{oauth_flag} in: {}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn each_subcommand_lists_only_the_flags_it_uses() {
    let cases: [(&[&str], &[&str], &[&str]); 5] = [
        (
            &["authorize-url"],
            &["appid", "open-base", "scope"],
            &["secret", "store", "api-base", "timeout"],
        ),
        (
            &["exchange"],
            &[
                "appid",
                "secret",
                "api-base",
                "store",
                "code",
                "show-secrets",
            ],
            &["open-base", "listen"],
        ),
        (
            &["user"],
            &["appid", "secret", "store", "openid"],
            &["show-secrets", "open-base"],
        ),
        (
            &["token", "get"],
            &["store", "openid", "show-secrets"],
            &["appid", "secret", "api-base"],
        ),
        (
            &["decrypt"],
            &["session-key", "appid"],
            &["secret", "store", "api-base"],
        ),
    ];
    for (subcommand, present, absent) in cases {
        let mut command = bare_command();
        command.args(subcommand).arg("--help");
        let out = run(command).await;
        assert_eq!(out.code, 0, "{out:#?}");
        let listed = help_flags(&out.stdout);
        for flag in present {
            assert!(
                listed.contains(*flag),
                "{subcommand:?} lacks --{flag}: {listed:?}"
            );
        }
        for flag in absent {
            assert!(
                !listed.contains(*flag),
                "{subcommand:?} lists --{flag}: {listed:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_sandbox_subcommand_applies_the_shared_answer_shape_flags() {
    let server = Server::spawn(sandbox(&["--errmsg", "bare"]), "listening on ").await;

    let answer: serde_json::Value = reqwest::get(format!(
        "{}/sns/oauth2/access_token?appid=wx5a4d1e0f0a000001&secret=sandbox-official-secret\
         &code=bogus&grant_type=authorization_code",
        server.url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();

    assert_eq!(answer["errcode"], 40029, "{answer}");
    let errmsg = answer["errmsg"].as_str().unwrap();
    assert!(
        !errmsg.contains("rid"),
        "--errmsg bare still has a rid: {errmsg}"
    );
    server.stop().await;
}
