//! Secret flags (`--code`, `--secret`, `--session-key`, `--ticket`) need not be arguments,
//! which every local user can read in the process list: each takes `-` (standard input) or
//! an environment variable instead.

use wechat_sandbox::defaults::OFFICIAL_SECRET;

use crate::support::{World, run, run_with_stdin};

#[tokio::test]
async fn exchange_reads_the_code_from_standard_input() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_userinfo");

    let out = run_with_stdin(
        world.command(&["exchange", "--code", "-"]),
        &format!("{code}\n"),
    )
    .await;

    assert_eq!(out.json()["openid"], world.openid("alice"));
    assert_eq!(
        world.last_param("/sns/oauth2/access_token", "code"),
        Some(code)
    );
}

#[tokio::test]
async fn exchange_and_user_by_code_read_the_code_from_wechat_oauth_code() {
    let world = World::new().await;
    for (subcommand, user) in [("exchange", "alice"), ("user-by-code", "bob")] {
        let code = world.code(user, "snsapi_userinfo");
        let mut command = world.command(&[subcommand]);
        command.env("WECHAT_OAUTH_CODE", &code);

        let out = run(command).await;

        assert_eq!(out.json()["openid"], world.openid(user), "{subcommand}");
        assert_eq!(
            world.last_param("/sns/oauth2/access_token", "code"),
            Some(code)
        );
    }
}

#[tokio::test]
async fn the_app_secret_can_come_from_standard_input() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_base");
    let mut command = world.command(&["exchange", "--secret", "-"]);
    command
        .env_remove("WECHAT_SECRET")
        .env("WECHAT_OAUTH_CODE", &code);

    let out = run_with_stdin(command, OFFICIAL_SECRET).await;

    assert_eq!(out.json()["openid"], world.openid("alice"));
    assert_eq!(
        world
            .last_param("/sns/oauth2/access_token", "secret")
            .as_deref(),
        Some(OFFICIAL_SECRET)
    );
}

#[tokio::test]
async fn two_flags_cannot_both_read_standard_input() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_base");

    let out = run_with_stdin(
        world.command(&["exchange", "--code", "-", "--secret", "-"]),
        &code,
    )
    .await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("only one flag"), "{out:#?}");
    assert_eq!(world.hits("/sns/oauth2/access_token"), 0);
}

#[tokio::test]
async fn an_empty_standard_input_is_a_usage_error_that_calls_nobody() {
    let world = World::new().await;

    let out = run_with_stdin(world.command(&["exchange", "--code", "-"]), "\n").await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("--code"), "{out:#?}");
    assert_eq!(world.hits("/sns/oauth2/access_token"), 0);
}

#[tokio::test]
async fn a_code_refused_by_wechat_is_not_echoed_whichever_way_it_came() {
    let world = World::new().await;
    let code = "a-code-that-never-existed";

    let from_stdin = run_with_stdin(world.command(&["exchange", "--code", "-"]), code).await;
    let mut from_env = world.command(&["exchange"]);
    from_env.env("WECHAT_OAUTH_CODE", code);
    let from_env = run(from_env).await;

    for out in [from_stdin, from_env] {
        out.assert_failed_with(3);
        assert!(!out.mentions(code), "{out:#?}");
    }
    assert_eq!(world.hits("/sns/oauth2/access_token"), 2);
}
