//! `verify`: exit 3 means WeChat said the token is invalid, and nothing else does. A script
//! that signs users out on 3 must not sign them out because WeChat was busy, slow or down.

use std::time::Duration;

use wechat_sandbox::Fault;

use crate::support::{Run, World};

/// `fault` on the first try and on both retries the SDK makes of an idempotent call.
fn thrice(fault: Fault) -> [Fault; 3] {
    [fault.clone(), fault.clone(), fault]
}

/// A logged-in alice, and `verify` run for her after `faults` were queued on `sns/auth`.
async fn verify_after(faults: &[Fault], extra: &[&str]) -> (World, Run) {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;
    for fault in faults {
        world.sandbox.inject_fault("/sns/auth", fault.clone());
    }
    let mut args = vec!["verify", "--openid", &openid];
    args.extend_from_slice(extra);
    let out = world.run(&args).await;
    (world, out)
}

#[tokio::test]
async fn each_errcode_that_means_an_invalid_token_exits_3_with_the_errcode() {
    for errcode in [40001, 40003, 40014, 42001] {
        let (_world, out) = verify_after(&[Fault::ErrCode(errcode)], &[]).await;

        assert_eq!(out.code, 3, "{errcode}: {out:#?}");
        let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(status["valid"], false, "{errcode}");
        assert_eq!(status["errcode"], errcode);
    }
}

#[tokio::test]
async fn a_busy_wechat_exits_5_not_3() {
    let (world, out) = verify_after(&thrice(Fault::ErrCode(-1)), &[]).await;

    out.assert_failed_with(5);
    assert!(out.stderr.contains("-1"), "{out:#?}");
    assert!(out.stderr.contains("did not say"), "{out:#?}");
    assert_eq!(world.hits("/sns/auth"), 3);
}

#[tokio::test]
async fn an_errcode_that_says_nothing_about_the_token_exits_5() {
    // 41009 "missing openid" and 45011 "rate limited" (retried, so queued three times).
    let missing_openid = [Fault::ErrCode(41009)];
    let rate_limited = thrice(Fault::ErrCode(45011));
    for faults in [&missing_openid[..], &rate_limited[..]] {
        let (_world, out) = verify_after(faults, &[]).await;

        out.assert_failed_with(5);
    }
}

#[tokio::test]
async fn an_html_error_page_exits_5() {
    let (_world, out) = verify_after(&thrice(Fault::Html502), &[]).await;

    out.assert_failed_with(5);
}

#[tokio::test]
async fn a_timeout_exits_5() {
    let slow = thrice(Fault::Delay(Duration::from_secs(5)));
    let (_world, out) = verify_after(&slow, &["--timeout", "1"]).await;

    out.assert_failed_with(5);
    assert!(out.stderr.contains("timed out"), "{out:#?}");
}

#[tokio::test]
async fn an_unreachable_wechat_exits_5() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");

    let out = world
        .run_with(
            "WECHAT_API_BASE",
            Some(&base),
            &["verify", "--openid", &openid],
        )
        .await;

    out.assert_failed_with(5);
}
