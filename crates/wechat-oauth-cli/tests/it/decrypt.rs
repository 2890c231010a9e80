//! `decrypt` with WeChat's official vector (docs/protocol.md §4.2).

use crate::support::{bare_command, run, run_with_stdin};

const APPID: &str = "wx4f4bc4dec97d474b";
const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

async fn decrypt(
    session_key: &str,
    iv: &str,
    data: &str,
    appid: Option<&str>,
) -> crate::support::Run {
    let mut command = bare_command();
    command.args([
        "decrypt",
        "--session-key",
        session_key,
        "--iv",
        iv,
        "--data",
        data,
    ]);
    if let Some(appid) = appid {
        command.env("WECHAT_APPID", appid);
    }
    run(command).await
}

#[tokio::test]
async fn decrypt_prints_the_official_vector_when_the_watermark_matches() {
    let payload = decrypt(SESSION_KEY, IV, DATA, Some(APPID)).await.json();

    assert_eq!(payload["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(payload["nickName"], "Band");
    assert_eq!(payload["unionId"], "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
    assert_eq!(payload["watermark"]["appid"], APPID);
    assert_eq!(payload["watermark"]["timestamp"], 1_477_314_187);
}

#[tokio::test]
async fn decrypt_takes_the_appid_flag() {
    let mut command = bare_command();
    command.args([
        "decrypt",
        "--session-key",
        SESSION_KEY,
        "--iv",
        IV,
        "--data",
        DATA,
        "--appid",
        APPID,
    ]);

    let payload = run(command).await.json();

    assert_eq!(payload["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
}

#[tokio::test]
async fn decrypt_without_an_appid_skips_the_watermark_check() {
    let payload = decrypt(SESSION_KEY, IV, DATA, None).await.json();

    assert_eq!(payload["watermark"]["appid"], APPID);
}

#[tokio::test]
async fn decrypt_refuses_data_watermarked_for_another_app() {
    let out = decrypt(SESSION_KEY, IV, DATA, Some("wx5a4d1e0f0a000003")).await;

    out.assert_failed_with(7);
    assert!(
        !out.mentions("oGZUI0egBJY1zhBYw2KhdUfwVJJE"),
        "decrypted data leaked: {out:#?}"
    );
}

#[tokio::test]
async fn decrypt_refuses_a_malformed_session_key() {
    decrypt("not-a-key", IV, DATA, Some(APPID))
        .await
        .assert_failed_with(7);
}

#[tokio::test]
async fn decrypt_refuses_a_malformed_iv() {
    decrypt(SESSION_KEY, "short", DATA, Some(APPID))
        .await
        .assert_failed_with(7);
}

#[tokio::test]
async fn decrypt_refuses_data_under_the_wrong_key() {
    let out = decrypt("AAAAAAAAAAAAAAAAAAAAAA==", IV, DATA, None).await;

    out.assert_failed_with(7);
    assert!(!out.mentions("AAAAAAAAAAAAAAAAAAAAAA=="), "{out:#?}");
}

#[tokio::test]
async fn decrypt_refuses_data_that_is_not_base64() {
    decrypt(SESSION_KEY, IV, "%%% not base64 %%%", None)
        .await
        .assert_failed_with(7);
}

#[tokio::test]
async fn decrypt_reads_the_session_key_from_the_environment() {
    let mut command = bare_command();
    command
        .env("WECHAT_SESSION_KEY", SESSION_KEY)
        .args(["decrypt", "--iv", IV, "--data", DATA]);

    let payload = run(command).await.json();

    assert_eq!(payload["nickName"], "Band");
}

#[tokio::test]
async fn the_session_key_can_come_from_standard_input() {
    let mut command = bare_command();
    command.env("WECHAT_APPID", APPID).args([
        "decrypt",
        "--session-key",
        "-",
        "--iv",
        IV,
        "--data",
        DATA,
    ]);

    let payload = run_with_stdin(command, &format!("{SESSION_KEY}\n"))
        .await
        .json();

    assert_eq!(payload["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
}
