//! Follow-to-login in real headless Chromium: the page shows the QR code (a real PNG from
//! the sandbox), the sandbox's user scans it, the page signs in by itself; a second browser
//! showing its own code is not signed in by that scan, and its code expires and is
//! refused, then a fresh code signs it in. Screenshots land in `target/browser-artifacts/`.

#[path = "it/follow_site.rs"]
#[allow(dead_code)]
mod follow_site;

use std::time::Duration;

use fantoccini::Client;
use follow_site::{FollowSite, ticket_of};
use wechat_oauth::store::Stores;
use wechat_oauth_axum::Key;
use wechat_oauth_test_support::browser::{ChromeDriver, Screenshots, element, eventually};
use wechat_sandbox::{PushOptions, Sandbox, ScanTarget, defaults};

/// The QR image's ticket once the page has loaded the image (another than `previous`).
async fn shown_ticket(browser: &Client, previous: Option<&str>) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let loaded = browser
            .execute(
                "const img = document.getElementById('wechat-follow-qr'); \
                 return img && !img.hidden && img.complete && img.naturalWidth > 0 ? img.src : '';",
                vec![],
            )
            .await
            .unwrap();
        let src = loaded.as_str().unwrap_or_default();
        if !src.is_empty() {
            let ticket = ticket_of(src);
            if previous != Some(ticket.as_str()) {
                return ticket;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the QR code did not load"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scan(sandbox: &Sandbox, user: &str, ticket: &str) {
    let record = sandbox
        .scan(
            defaults::OFFICIAL_APPID,
            user,
            ScanTarget::Ticket(ticket.to_owned()),
            PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(record.reply.verdict, "message", "{:?}", record.reply);
}

async fn status_text(browser: &Client) -> String {
    element(browser, "wechat-follow-status")
        .await
        .text()
        .await
        .unwrap()
}

async fn body(browser: &Client) -> String {
    browser
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_qr_the_scan_signs_it_in_and_no_other_browser() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let site = FollowSite::start(&sandbox, Stores::memory(), Key::generate(), true).await;
    let page = format!("{}{}", site.url, site.follow.page_url("/profile"));
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = driver.session(dir_a.path()).await;
    let second = driver.session(dir_b.path()).await;
    let mut shots = Screenshots::new("follow");

    first.goto(&page).await.unwrap();
    let ticket = shown_ticket(&first, None).await;
    shots.take(&first, "qr-shown").await;
    second.goto(&page).await.unwrap();
    let other_ticket = shown_ticket(&second, None).await;
    assert_ne!(ticket, other_ticket, "each browser has its own code");

    // Alice scans the first browser's code: that page signs in by itself.
    scan(&sandbox, "alice", &ticket).await;
    eventually("the first browser to sign in", || {
        let first = first.clone();
        async move {
            first
                .current_url()
                .await
                .is_ok_and(|u| u.path() == "/profile")
        }
    })
    .await;
    shots.take(&first, "signed-in").await;
    let profile = body(&first).await;
    assert!(
        profile.contains(&sandbox.openid(defaults::OFFICIAL_APPID, "alice")),
        "{profile}"
    );

    // The second browser still waits on its own code.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        second.current_url().await.unwrap().path(),
        "/auth/wechat/follow"
    );
    assert!(status_text(&second).await.contains("Scan with WeChat"));

    // Its code expires: the page says so and offers a new one.
    site.login.advance_clock_for_tests(Duration::from_secs(301));
    eventually("the expiry to show", || {
        let second = second.clone();
        async move { status_text(&second).await.contains("expired") }
    })
    .await;
    shots.take(&second, "expired").await;
    element(&second, "wechat-follow-retry")
        .await
        .click()
        .await
        .unwrap();
    let fresh = shown_ticket(&second, Some(&other_ticket)).await;
    scan(&sandbox, "bob", &fresh).await;
    eventually("the second browser to sign in", || {
        let second = second.clone();
        async move {
            second
                .current_url()
                .await
                .is_ok_and(|u| u.path() == "/profile")
        }
    })
    .await;
    shots.take(&second, "second-signed-in").await;
    assert!(
        body(&second)
            .await
            .contains(&sandbox.openid(defaults::OFFICIAL_APPID, "bob"))
    );

    first.close().await.unwrap();
    second.close().await.unwrap();
}
