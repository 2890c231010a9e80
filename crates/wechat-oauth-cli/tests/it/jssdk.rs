//! `jssdk-sign` with the JS-SDK documentation's own example (appendix 1 of
//! <https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html>).

use crate::support::{bare_command, run, run_with_stdin};

const TICKET: &str =
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
const NONCESTR: &str = "Wm3WZYTPz0wzccnW";
const TIMESTAMP: &str = "1414587457";
const URL: &str = "http://mp.weixin.qq.com?params=value";
const SIGNATURE: &str = "0f9de62fce790f9a083d5c99e95740ceb90c27ed";

fn sign(url: &str, ticket: &str) -> tokio::process::Command {
    let mut command = bare_command();
    command.args([
        "jssdk-sign",
        "--ticket",
        ticket,
        "--url",
        url,
        "--noncestr",
        NONCESTR,
        "--timestamp",
        TIMESTAMP,
    ]);
    command
}

#[tokio::test]
async fn the_documented_example_signs_as_documented_and_never_prints_the_ticket() {
    let out = run(sign(URL, TICKET)).await;
    let signed = out.json();

    assert_eq!(signed["signature"], SIGNATURE);
    assert_eq!(signed["nonceStr"], NONCESTR);
    assert_eq!(signed["timestamp"], 1_414_587_457);
    assert!(!out.mentions(TICKET), "{out:#?}");
}

#[tokio::test]
async fn the_fragment_is_left_out_of_the_signature() {
    let signed = run(sign(&format!("{URL}#/cart?item=1"), TICKET))
        .await
        .json();

    assert_eq!(signed["signature"], SIGNATURE);
    assert_eq!(signed["url"], URL);
}

#[tokio::test]
async fn the_ticket_can_come_from_standard_input_or_the_environment() {
    let from_stdin = run_with_stdin(sign(URL, "-"), &format!("{TICKET}\n"))
        .await
        .json();
    let mut from_env = bare_command();
    from_env.env("WECHAT_JSAPI_TICKET", TICKET).args([
        "jssdk-sign",
        "--url",
        URL,
        "--noncestr",
        NONCESTR,
        "--timestamp",
        TIMESTAMP,
    ]);
    let from_env = run(from_env).await.json();

    assert_eq!(from_stdin["signature"], SIGNATURE);
    assert_eq!(from_env["signature"], SIGNATURE);
}

#[tokio::test]
async fn without_nonce_and_timestamp_fresh_ones_are_signed() {
    let first = run(bare_command_sign_fresh()).await.json();
    let second = run(bare_command_sign_fresh()).await.json();

    assert_ne!(first["nonceStr"], second["nonceStr"]);
    assert!(
        first["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000),
        "{first}"
    );
    assert_eq!(
        first["signature"].as_str().map(str::len),
        Some(40),
        "{first}"
    );
    assert_ne!(first["signature"], second["signature"]);
}

fn bare_command_sign_fresh() -> tokio::process::Command {
    let mut command = bare_command();
    command.args(["jssdk-sign", "--ticket", TICKET, "--url", URL]);
    command
}
