//! WeChat's official test vectors, end to end through the public API.

use wechat_oauth_message::crypto::{self, encrypt_with_random};
use wechat_oauth_message::{
    EncodingAesKey, Event, MessageError, MessageKind, MessageServer, Mode, PushQuery, Text,
};

const VECTOR_E_BODY: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt></xml>";
const VECTOR_E_QUERY: &str = "signature=cc0c594499c1634947d5b502f158ee518947db27&timestamp=1715943329&nonce=1590219412&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=6c12a4205838198b8fa631b3220723bb07f1015c";

fn vector_e_server(mode: Mode) -> MessageServer {
    MessageServer::builder("AAAAA", "wx134c8103faa5a59e")
        .mode(mode)
        .encoding_aes_key(&"A".repeat(43))
        .timestamp_window(None)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn server_url_verification_official_example() {
    let server = MessageServer::builder("AAAAA", "wx1")
        .timestamp_window(None)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let query = PushQuery::parse(
        "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492",
    );
    assert_eq!(
        server.verify_url(&query).as_deref(),
        Ok("4375120948345356249")
    );
    let tampered = PushQuery::parse(
        "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711493",
    );
    assert_eq!(
        server.verify_url(&tampered),
        Err(MessageError::BadSignature)
    );
}

#[test]
fn official_vector_e_decrypts_in_safe_mode() {
    let server = vector_e_server(Mode::Safe);
    let inbound = server
        .open(&PushQuery::parse(VECTOR_E_QUERY), VECTOR_E_BODY.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(inbound.encrypted);
    let message = &inbound.message;
    assert_eq!(message.to_user_name, "gh_97417a04a28d");
    assert_eq!(message.from_user_name, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    assert_eq!(message.create_time, 1_715_943_329);
    assert!(matches!(message.event(), Some(Event::Other { event }) if event == "debug_demo"));
    assert_eq!(message.field("debug_str"), Some("hello world"));
}

#[test]
fn official_vector_e_reply_encrypts_byte_for_byte() {
    let key = EncodingAesKey::new(&"A".repeat(43)).unwrap_or_else(|e| panic!("{e}"));
    let random: [u8; 16] = *b"999951349e8ee746";
    let encrypt = encrypt_with_random(
        &key,
        "wx134c8103faa5a59e",
        "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
        random,
    );
    assert_eq!(
        encrypt,
        "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
    );
    assert_eq!(
        wechat_oauth_message::signature::sign(&["AAAAA", "1713424427", "415670741", &encrypt]),
        "03e0812039325c2712ef5f0f980fd14c70d6e307"
    );
}

#[test]
fn official_java_sample_a1_encrypts_byte_for_byte() {
    // Pad 7: a 57-byte plaintext in a 64-byte ciphertext.
    let key = EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
        .unwrap_or_else(|e| panic!("{e}"));
    let encrypt = encrypt_with_random(
        &key,
        "wxb11529c136998cb6",
        "我是中文abcd123",
        *b"aaaabbbbccccdddd",
    );
    assert_eq!(
        encrypt,
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    );
    assert_eq!(
        crypto::decrypt(&key, "wxb11529c136998cb6", &encrypt).map(|m| m.to_string()),
        Ok("我是中文abcd123".to_owned())
    );
}

const VECTOR_C_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

#[test]
fn official_python_sample_c_decrypts_in_compatible_mode() {
    let server = MessageServer::builder("spamtest", "wx2c2769f8efd9abc2")
        .mode(Mode::Compatible)
        .encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
        .timestamp_window(None)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let body = format!(
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>\
         <CreateTime>1409735669</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content>\
         <MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[{VECTOR_C_ENCRYPT}]]></Encrypt></xml>"
    );
    let query = PushQuery::parse(
        "signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132\
         &encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    );
    let inbound = server
        .open(&query, body.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(inbound.encrypted);
    assert_eq!(inbound.message.kind, MessageKind::Text(text("abcdteT")));
    assert_eq!(inbound.message.msg_id, Some(6_054_768_590_064_713_728));
}

fn text(content: &str) -> Text {
    match wechat_oauth_message::Message::from_fields(wechat_oauth_message::Fields::from_pairs([
        ("ToUserName", "a"),
        ("FromUserName", "b"),
        ("CreateTime", "1"),
        ("MsgType", "text"),
        ("Content", content),
    ]))
    .map(|m| m.kind)
    {
        Ok(MessageKind::Text(t)) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn decrypting_with_the_wrong_appid_is_a_typed_error() {
    let server = MessageServer::builder("AAAAA", "wx0000000000000000")
        .mode(Mode::Safe)
        .encoding_aes_key(&"A".repeat(43))
        .timestamp_window(None)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = server
        .open(&PushQuery::parse(VECTOR_E_QUERY), VECTOR_E_BODY.as_bytes())
        .map(|_| ());
    assert_eq!(err, Err(MessageError::AppIdMismatch));
    assert_eq!(MessageError::AppIdMismatch.code(), Some(-40005));
    assert_eq!(MessageError::AppIdMismatch.status(), 403);
}

#[test]
fn a_tampered_msg_signature_is_refused_before_decryption() {
    let server = vector_e_server(Mode::Safe);
    let query = VECTOR_E_QUERY.replace("msg_signature=6c12", "msg_signature=6c13");
    let err = server
        .open(&PushQuery::parse(&query), VECTOR_E_BODY.as_bytes())
        .map(|_| ());
    assert_eq!(err, Err(MessageError::BadMsgSignature));
}

#[test]
fn a_wrong_key_fails_as_bad_padding_or_buffer_never_a_panic() {
    let server = MessageServer::builder("AAAAA", "wx134c8103faa5a59e")
        .mode(Mode::Safe)
        .encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
        .timestamp_window(None)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = server
        .open(&PushQuery::parse(VECTOR_E_QUERY), VECTOR_E_BODY.as_bytes())
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_decryption(), "{err:?}");
}

#[test]
fn short_and_non_base64_ciphertexts_are_typed_errors() {
    let key = EncodingAesKey::new(&"A".repeat(43)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        crypto::decrypt(&key, "wx1", "YWJj").map(|_| ()),
        Err(MessageError::CiphertextLength)
    );
    assert_eq!(
        crypto::decrypt(&key, "wx1", "not base64!").map(|_| ()),
        Err(MessageError::Base64)
    );
}
