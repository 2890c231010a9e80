//! `wechat-oauth demo`: starts with no flags beyond a free port, and serves its home page.

use crate::support::{Server, bare_command};

#[tokio::test]
async fn the_demo_starts_with_defaults_and_serves_its_home_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bare_command();
    command
        .current_dir(dir.path())
        .args(["demo", "--listen", "127.0.0.1:0"]);
    let server = Server::spawn(command, "demo running at ").await;

    let response = reqwest::get(&server.url).await.unwrap();

    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.to_lowercase().contains("<html"), "{page}");
    assert!(
        page.contains("login") || page.contains("Login") || page.contains("登录"),
        "{page}"
    );
    server.stop().await;
}
