//! The Mini Program commands: `mp-login` keeps the session in the store set named by
//! `--store`; `decrypt --openid` and `check-session` use the session stored there.

use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET};

use crate::support::{Run, World, run, run_with_stdin};

/// A command configured for the Mini Program app against the sandbox.
fn mp_command(world: &World, args: &[&str]) -> tokio::process::Command {
    let mut command = world.command(args);
    command
        .env("WECHAT_APPID", MINIPROGRAM_APPID)
        .env("WECHAT_SECRET", MINIPROGRAM_SECRET);
    command
}

async fn mp_run(world: &World, args: &[&str]) -> Run {
    run(mp_command(world, args)).await
}

#[tokio::test]
async fn mp_login_prints_the_openid_and_unionid_but_never_the_session_key() {
    let world = World::new().await;
    let js_code = world.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let mut command = mp_command(&world, &["mp-login"]);
    command.env("WECHAT_JS_CODE", &js_code);

    let out = run(command).await;

    let login = out.json();
    assert_eq!(
        login["openid"],
        world.sandbox.openid(MINIPROGRAM_APPID, "alice")
    );
    assert_eq!(login["unionid"], world.sandbox.unionid("alice"));
    assert!(login.get("session_key").is_none(), "{login}");
    let key = world
        .sandbox
        .session_key(MINIPROGRAM_APPID, "alice")
        .unwrap();
    assert!(!out.mentions(&key), "the session key was printed: {out:#?}");
    assert_eq!(
        world.last_param("/sns/jscode2session", "js_code"),
        Some(js_code)
    );
}

#[tokio::test]
async fn mp_login_reads_the_js_code_from_standard_input() {
    let world = World::new().await;
    let js_code = world.sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();

    let out = run_with_stdin(
        mp_command(&world, &["mp-login", "--js-code", "-"]),
        &format!("{js_code}\n"),
    )
    .await;

    assert_eq!(
        out.json()["openid"],
        world.sandbox.openid(MINIPROGRAM_APPID, "bob")
    );
}

#[tokio::test]
async fn a_used_js_code_exits_with_the_wechat_status() {
    let world = World::new().await;
    let js_code = world.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    mp_run(&world, &["mp-login", "--js-code", &js_code])
        .await
        .json();

    let out = mp_run(&world, &["mp-login", "--js-code", &js_code]).await;

    out.assert_failed_with(3);
    assert!(out.stderr.contains("40163"), "{out:#?}");
}

#[tokio::test]
async fn without_a_stored_session_decrypt_and_check_session_exit_4() {
    let world = World::new().await;

    let decrypt = mp_run(
        &world,
        &[
            "decrypt", "--openid", "o-nobody", "--iv", "AAAA", "--data", "AAAA",
        ],
    )
    .await;
    let check = mp_run(&world, &["check-session", "--openid", "o-nobody"]).await;

    for out in [decrypt, check] {
        out.assert_failed_with(4);
        assert!(out.stderr.contains("mp-login"), "{out:#?}");
    }
}

#[tokio::test]
async fn decrypt_takes_a_session_key_or_an_openid_not_both() {
    let world = World::new().await;

    let both = mp_run(
        &world,
        &[
            "decrypt",
            "--openid",
            "o1",
            "--session-key",
            "tiihtNczf5v6AKRyjwEUhQ==",
            "--iv",
            "AAAA",
            "--data",
            "AAAA",
        ],
    )
    .await;
    let neither = mp_run(&world, &["decrypt", "--iv", "AAAA", "--data", "AAAA"]).await;

    both.assert_failed_with(2);
    neither.assert_failed_with(2);
}
