//! Building pushes the way WeChat signs and encrypts them.

use std::time::{SystemTime, UNIX_EPOCH};

use wechat_oauth_message::crypto;
use wechat_oauth_message::signature::sign;
use wechat_oauth_message::{EncodingAesKey, MessageServer, Mode};

pub const TOKEN: &str = "test-token";
pub const APPID: &str = "wx5a4d1e0f0a000001";
pub const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

pub fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string()
}

pub fn server(mode: Mode) -> wechat_oauth_message::MessageServerBuilder {
    let builder = MessageServer::builder(TOKEN, APPID).mode(mode);
    if mode == Mode::Plain {
        builder
    } else {
        builder.encoding_aes_key(KEY)
    }
}

pub fn text_xml(from: &str, content: &str, msg_id: u64, create_time: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

/// The query string and body of a plaintext push.
pub fn plain_push(xml: &str, timestamp: &str) -> (String, String) {
    let nonce = "12345";
    let signature = sign(&[TOKEN, timestamp, nonce]);
    (
        format!("signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o1"),
        xml.to_owned(),
    )
}

/// The query string and body of a safe-mode push.
pub fn safe_push(xml: &str, timestamp: &str) -> (String, String) {
    let nonce = "67890";
    let key = EncodingAesKey::new(KEY).unwrap_or_else(|e| panic!("{e}"));
    let encrypt = crypto::encrypt(&key, APPID, xml);
    let signature = sign(&[TOKEN, timestamp, nonce]);
    let msg_signature = sign(&[TOKEN, timestamp, nonce, &encrypt]);
    (
        format!(
            "signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o1&encrypt_type=aes&msg_signature={msg_signature}"
        ),
        format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        ),
    )
}
