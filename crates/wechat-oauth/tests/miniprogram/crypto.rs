//! Strict decryption: every malformed, tampered or foreign input gets its typed error, and
//! nothing panics (docs/protocol.md §4.2).

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use std::time::Duration;

use wechat_oauth::SessionKey;
use wechat_oauth::miniprogram::{
    DecryptError, DecryptReason, MiniProgramClient, Session, decrypt, diagnose,
};

use crate::vectors::{DEMO_APPID, DEMO_ENCRYPTED_DATA, DEMO_IV, DEMO_SESSION_KEY};

const KEY: [u8; 16] = *b"0123456789abcdef";
const IV: [u8; 16] = *b"fedcba9876543210";
const APPID: &str = "wx5a4d1e0f0a000003";

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Encrypts `plaintext` the way WeChat does (AES-128-CBC, PKCS#7).
pub fn encrypt(key: &[u8; 16], iv: &[u8; 16], plaintext: &[u8]) -> String {
    let encryptor = cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into());
    b64(&encryptor.encrypt_padded_vec::<Pkcs7>(plaintext))
}

/// Encrypts already-padded bytes as they are, to craft invalid paddings.
fn encrypt_unpadded(plaintext: &[u8]) -> String {
    assert_eq!(plaintext.len() % 16, 0);
    let encryptor = cbc::Encryptor::<aes::Aes128>::new(&KEY.into(), &IV.into());
    b64(&encryptor.encrypt_padded_vec::<NoPadding>(plaintext))
}

fn payload(appid: &str) -> String {
    format!(
        r#"{{"openId":"oAlice","nickName":"Alice","gender":0,"watermark":{{"timestamp":1700000000,"appid":"{appid}"}}}}"#
    )
}

fn decrypt_ours(data: &str) -> Result<serde_json::Value, DecryptError> {
    decrypt(&b64(&KEY), data, &b64(&IV), Some(APPID))
}

fn flip_bit(base64: &str, bit: usize) -> String {
    let mut bytes = STANDARD.decode(base64).unwrap();
    bytes[bit / 8] ^= 1 << (bit % 8);
    b64(&bytes)
}

#[test]
fn crafted_payload_round_trips() {
    let data = encrypt(&KEY, &IV, payload(APPID).as_bytes());
    let json = decrypt_ours(&data).unwrap();
    assert_eq!(json["nickName"], "Alice");
    assert_eq!(json["watermark"]["appid"], APPID);
}

#[test]
fn every_flipped_ciphertext_bit_is_an_illegal_buffer() {
    let bits = STANDARD.decode(DEMO_ENCRYPTED_DATA).unwrap().len() * 8;
    for bit in 0..bits {
        let tampered = flip_bit(DEMO_ENCRYPTED_DATA, bit);
        assert_eq!(
            decrypt(DEMO_SESSION_KEY, &tampered, DEMO_IV, Some(DEMO_APPID)),
            Err(DecryptError::IllegalBuffer),
            "bit {bit}"
        );
    }
}

fn demo_client() -> MiniProgramClient {
    MiniProgramClient::builder(DEMO_APPID, "unused-secret")
        .build()
        .unwrap()
}

fn demo_session() -> Session {
    Session::new("oGZUI0egBJY1zhBYw2KhdUfwVJJE", None, DEMO_SESSION_KEY, 0)
}

#[test]
fn every_flipped_iv_bit_is_refused_for_the_session_user() {
    let (client, session) = (demo_client(), demo_session());
    let original = client.decrypt_user_info(&session, DEMO_ENCRYPTED_DATA, DEMO_IV);
    assert_eq!(
        original.map(|u| u.nick_name),
        Ok("Band".to_owned()),
        "control case"
    );
    for bit in 0..128 {
        let tampered = flip_bit(DEMO_IV, bit);
        assert_eq!(
            client
                .decrypt_user_info(&session, DEMO_ENCRYPTED_DATA, &tampered)
                .map(|u| u.nick_name),
            Err(DecryptError::IllegalBuffer),
            "iv bit {bit}"
        );
    }
}

#[test]
fn bare_decrypt_cannot_authenticate_the_first_block() {
    // Why `decrypt_user_info` checks the openid: CBC has no integrity, so an iv edit
    // rewrites the first plaintext block (`{"openId":"oGZUI`) undetected by `decrypt`.
    let tampered = flip_bit(DEMO_IV, 88); // first byte of the openid value: 'o' -> 'n'
    let json = decrypt(
        DEMO_SESSION_KEY,
        DEMO_ENCRYPTED_DATA,
        &tampered,
        Some(DEMO_APPID),
    );
    assert_eq!(
        json.map(|j| j["openId"].as_str().map(str::to_owned)),
        Ok(Some("nGZUI0egBJY1zhBYw2KhdUfwVJJE".to_owned()))
    );
    let (client, session) = (demo_client(), demo_session());
    assert_eq!(
        client
            .decrypt_user_info(&session, DEMO_ENCRYPTED_DATA, &tampered)
            .err(),
        Some(DecryptError::IllegalBuffer)
    );
}

#[test]
fn user_info_of_another_user_or_without_openid_is_refused() {
    let client = MiniProgramClient::builder(APPID, "unused-secret")
        .build()
        .unwrap();
    let session = Session::new("oBob", None, b64(&KEY), 0);
    let alice = encrypt(&KEY, &IV, payload(APPID).as_bytes());
    assert_eq!(
        client.decrypt_user_info(&session, &alice, &b64(&IV)).err(),
        Some(DecryptError::IllegalBuffer)
    );
    let anonymous = encrypt(
        &KEY,
        &IV,
        format!(r#"{{"nickName":"x","watermark":{{"appid":"{APPID}","timestamp":1}}}}"#).as_bytes(),
    );
    assert_eq!(
        client
            .decrypt_user_info(&session, &anonymous, &b64(&IV))
            .err(),
        Some(DecryptError::IllegalBuffer)
    );
    let alice_session = Session::new("oAlice", None, b64(&KEY), 0);
    let user = client.decrypt_user_info(&alice_session, &alice, &b64(&IV));
    assert_eq!(user.map(|u| u.nick_name), Ok("Alice".to_owned()));
}

#[test]
fn stale_watermarks_are_refused_when_an_age_limit_is_set() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let with_timestamp = |ts: u64| {
        let json = format!(r#"{{"watermark":{{"appid":"{APPID}","timestamp":{ts}}}}}"#);
        encrypt(&KEY, &IV, json.as_bytes())
    };
    let client = MiniProgramClient::builder(APPID, "unused-secret")
        .max_watermark_age(Duration::from_secs(600))
        .build()
        .unwrap();
    let key = SessionKey::new(b64(&KEY));
    assert!(
        client
            .decrypt(&key, &with_timestamp(now - 60), &b64(&IV))
            .is_ok()
    );
    assert!(
        client
            .decrypt(&key, &with_timestamp(now + 60), &b64(&IV))
            .is_ok(),
        "clock skew"
    );
    assert_eq!(
        client
            .decrypt(&key, &with_timestamp(now - 3600), &b64(&IV))
            .err(),
        Some(DecryptError::IllegalBuffer)
    );
    // Without a limit, the official 2016 vector is fine.
    let key = SessionKey::new(DEMO_SESSION_KEY);
    assert!(
        demo_client()
            .decrypt(&key, DEMO_ENCRYPTED_DATA, DEMO_IV)
            .is_ok()
    );
}

#[test]
fn data_for_another_app_is_an_illegal_buffer() {
    let data = encrypt(&KEY, &IV, payload("wx0000000000000000").as_bytes());
    assert_eq!(decrypt_ours(&data), Err(DecryptError::IllegalBuffer));
    assert_eq!(
        diagnose(&b64(&KEY), &data, &b64(&IV), Some(APPID)),
        Some(DecryptReason::AppIdMismatch)
    );
    // Without an expected appid the watermark is not checked.
    assert!(decrypt(&b64(&KEY), &data, &b64(&IV), None).is_ok());
    // A payload without a watermark cannot prove which app it is for.
    let data = encrypt(&KEY, &IV, br#"{"nickName":"Alice"}"#);
    assert_eq!(
        diagnose(&b64(&KEY), &data, &b64(&IV), Some(APPID)),
        Some(DecryptReason::NoWatermark)
    );
}

#[test]
fn the_official_vector_is_refused_for_another_appid() {
    assert_eq!(
        decrypt(DEMO_SESSION_KEY, DEMO_ENCRYPTED_DATA, DEMO_IV, Some(APPID)),
        Err(DecryptError::IllegalBuffer)
    );
}

#[test]
fn keys_of_the_wrong_length_or_alphabet_are_illegal_aes_keys() {
    let data = encrypt(&KEY, &IV, payload(APPID).as_bytes());
    let iv = b64(&IV);
    let key = b64(&KEY);
    for bad in [
        &key[..23],                 // 23 characters
        &format!("{key}A"),         // 25 characters
        "",                         // empty
        "AAAAAAAAAAAAAAAAAAAAAAAA", // 24 characters, but 18 bytes
        "tiihtNczf5v6AKRyjwEUhQ=!", // not base64
        "tiihtNczf5v6AKRyjwEUhR==", // non-canonical trailing bits
        &b64(&[0u8; 24])[..24],     // 24 characters of a longer key
    ] {
        let err = decrypt(bad, &data, &iv, Some(APPID));
        assert_eq!(err, Err(DecryptError::IllegalAesKey), "{bad:?}");
        assert_eq!(err.map_err(DecryptError::code), Err(-41001));
    }
}

#[test]
fn ivs_of_the_wrong_length_or_alphabet_are_illegal_ivs() {
    let data = encrypt(&KEY, &IV, payload(APPID).as_bytes());
    let key = b64(&KEY);
    let iv = b64(&IV);
    for bad in [
        &iv[..23],
        &format!("{iv}=="),
        "",
        "r7BXXKkLb8qrSNn05n0qiA=\u{e9}",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let err = decrypt(&key, &data, bad, Some(APPID));
        assert_eq!(err, Err(DecryptError::IllegalIv), "{bad:?}");
        assert_eq!(err.map_err(DecryptError::code), Err(-41002));
    }
}

#[test]
fn bad_padding_is_an_illegal_buffer() {
    let body = br#"{"watermark":{"appid":"wx5a4d1e0f0a000003","timestamp":1}}"#;
    let padded = |pad: &[u8]| {
        let mut p = body.to_vec();
        p.extend_from_slice(pad);
        assert_eq!(p.len() % 16, 0, "test padding must fill the block");
        p
    };
    let fill = 16 - body.len() % 16;
    let good = padded(&vec![fill as u8; fill]);
    assert!(
        decrypt_ours(&encrypt_unpadded(&good)).is_ok(),
        "control case"
    );

    let mut zero = vec![fill as u8; fill];
    *zero.last_mut().unwrap() = 0;
    let mut seventeen = vec![fill as u8; fill];
    *seventeen.last_mut().unwrap() = 17;
    let mut inconsistent = vec![fill as u8; fill];
    inconsistent[0] ^= 1;
    for (name, pad) in [
        ("0", zero),
        ("17", seventeen),
        ("inconsistent", inconsistent),
    ] {
        let data = encrypt_unpadded(&padded(&pad));
        assert_eq!(
            decrypt_ours(&data),
            Err(DecryptError::IllegalBuffer),
            "pad {name}"
        );
        assert_eq!(
            diagnose(&b64(&KEY), &data, &b64(&IV), Some(APPID)),
            Some(DecryptReason::Padding),
            "pad {name}"
        );
    }
    // A whole block of 32s: wechatpy's 32-byte PKCS#7 would accept it, 16-byte PKCS#7 not.
    let mut p = body.to_vec();
    p.resize(body.len() + fill, b' ');
    p.extend_from_slice(&[32; 16]);
    assert_eq!(
        decrypt_ours(&encrypt_unpadded(&p)),
        Err(DecryptError::IllegalBuffer)
    );
}

#[test]
fn non_json_plaintexts_are_illegal_buffers() {
    for (plaintext, reason) in [
        (&b"hello, not json"[..], DecryptReason::NotJson),
        (b"", DecryptReason::NotJson),
        (b"{\"nickName\":\"a\xffb\"}", DecryptReason::NotJson),
        (b"{\"watermark\":", DecryptReason::NotJson),
        (b"[1,2,3]", DecryptReason::NotObject),
        (b"\"wx5a4d1e0f0a000003\"", DecryptReason::NotObject),
    ] {
        let data = encrypt(&KEY, &IV, plaintext);
        assert_eq!(decrypt_ours(&data), Err(DecryptError::IllegalBuffer));
        assert_eq!(
            diagnose(&b64(&KEY), &data, &b64(&IV), Some(APPID)),
            Some(reason),
            "{:?}",
            String::from_utf8_lossy(plaintext)
        );
    }
}

#[test]
fn malformed_encrypted_data_is_an_illegal_buffer() {
    let key = b64(&KEY);
    let iv = b64(&IV);
    let whole = encrypt(&KEY, &IV, payload(APPID).as_bytes());
    for (data, reason) in [
        ("", DecryptReason::DataLength),
        ("AAAA", DecryptReason::DataLength),
        ("not base64 at all", DecryptReason::DataNotBase64),
        (&whole[..whole.len() - 4], DecryptReason::DataLength),
        (&whole.replace('+', " "), DecryptReason::DataNotBase64),
    ] {
        if data == whole {
            continue; // the replacement found no '+'
        }
        assert_eq!(
            decrypt(&key, data, &iv, None),
            Err(DecryptError::IllegalBuffer)
        );
        assert_eq!(diagnose(&key, data, &iv, None), Some(reason), "{data:?}");
    }
}

#[test]
fn errors_never_show_key_data_or_plaintext() {
    let data = encrypt(&KEY, &IV, payload("wx0000000000000000").as_bytes());
    let err = decrypt_ours(&data).unwrap_err();
    let shown = format!("{err} {err:?} {}", wechat_oauth::Error::from(err));
    for secret in [
        "Alice",
        "oAlice",
        &b64(&KEY),
        &data[..20],
        "wx0000000000000000",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decrypt_never_panics_on_arbitrary_strings(
        key in ".{0,40}",
        data in ".{0,200}",
        iv in ".{0,40}",
        appid in proptest::option::of(".{0,24}"),
    ) {
        let _ = decrypt(&key, &data, &iv, appid.as_deref());
    }

    #[test]
    fn decrypt_never_panics_on_well_formed_key_iv_and_random_ciphertext(
        key in proptest::array::uniform16(any::<u8>()),
        iv in proptest::array::uniform16(any::<u8>()),
        ciphertext in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let result = decrypt(&b64(&key), &b64(&ciphertext), &b64(&iv), Some(APPID));
        // Random bytes are never this app's data.
        prop_assert_eq!(result, Err(DecryptError::IllegalBuffer));
    }

    #[test]
    fn any_json_object_with_our_watermark_round_trips(
        key in proptest::array::uniform16(any::<u8>()),
        iv in proptest::array::uniform16(any::<u8>()),
        nick in "\\PC{0,40}",
    ) {
        let plaintext = serde_json::json!({"nickName": nick, "watermark": {"appid": APPID, "timestamp": 1}});
        let data = encrypt(&key, &iv, plaintext.to_string().as_bytes());
        prop_assert_eq!(decrypt(&b64(&key), &data, &b64(&iv), Some(APPID)), Ok(plaintext));
    }
}

#[test]
fn old_flow_phone_payloads_decode_with_a_numeric_or_string_country_code() {
    let client = MiniProgramClient::builder(APPID, "unused-secret")
        .build()
        .unwrap();
    let key = SessionKey::new(b64(&KEY));
    for country_code in ["86", "\"86\""] {
        let json = format!(
            r#"{{"phoneNumber":"+8613800138000","purePhoneNumber":"13800138000","countryCode":{country_code},"watermark":{{"appid":"{APPID}","timestamp":1}}}}"#
        );
        let data = encrypt(&KEY, &IV, json.as_bytes());
        let decrypted = client.decrypt(&key, &data, &b64(&IV)).unwrap();
        let phone = decrypted.phone_info().unwrap();
        assert_eq!(phone.pure_phone_number, "13800138000");
        assert_eq!(phone.country_code, "86");
        assert!(!format!("{decrypted:?} {phone:?}").contains("13800138000"));
        // Raw JSON stays available.
        assert_eq!(decrypted.json()["phoneNumber"], "+8613800138000");
    }
    // A payload of the wrong shape is the same opaque error.
    let data = encrypt(
        &KEY,
        &IV,
        format!(r#"{{"purePhoneNumber":[1],"watermark":{{"appid":"{APPID}","timestamp":1}}}}"#)
            .as_bytes(),
    );
    let decrypted = client.decrypt(&key, &data, &b64(&IV)).unwrap();
    assert_eq!(
        decrypted.phone_info().err(),
        Some(DecryptError::IllegalBuffer)
    );
}

#[test]
fn clients_refuse_bad_configuration() {
    let build = |appid: &str, secret: &str, base: &str| {
        MiniProgramClient::builder(appid, secret)
            .api_base(base)
            .build()
    };
    for (appid, secret, base) in [
        ("", "s", "https://api.weixin.qq.com"),
        (APPID, "", "https://api.weixin.qq.com"),
        (APPID, "s", "not a url"),
        (APPID, "s", "http://api.example.com"), // the secret would travel in clear text
    ] {
        assert!(
            matches!(
                build(appid, secret, base),
                Err(wechat_oauth::Error::Config(_))
            ),
            "{base}"
        );
    }
    assert!(build(APPID, "s", "http://127.0.0.1:9").is_ok());
    assert!(build(APPID, "s", "http://localhost:9").is_ok());

    // The server-token manager is the app's own: no way to pair it with another app's.
    let client = build(APPID, "s", "http://127.0.0.1:9").unwrap();
    assert_eq!(client.server_token().appid(), APPID);
}

#[tokio::test]
async fn stored_sessions_refuse_payloads_naming_another_user() {
    use wechat_oauth::miniprogram::{MemorySessionStore, SessionStore};
    let store = std::sync::Arc::new(MemorySessionStore::new());
    store
        .save_session(&Session::new("oBob", None, b64(&KEY), 1))
        .await
        .unwrap();
    let client = MiniProgramClient::builder(APPID, "unused-secret")
        .session_store(std::sync::Arc::clone(&store))
        .build()
        .unwrap();
    let alice = encrypt(&KEY, &IV, payload(APPID).as_bytes());
    for result in [
        client
            .decrypt_for("oBob", &alice, &b64(&IV))
            .await
            .map(|_| ()),
        client
            .decrypt_user_info_for("oBob", &alice, &b64(&IV))
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(wechat_oauth::Error::Decrypt(DecryptError::IllegalBuffer))
            ),
            "{result:?}"
        );
    }
    // A payload without ids (phone) is fine through decrypt_for.
    let phone = encrypt(
        &KEY,
        &IV,
        format!(
            r#"{{"purePhoneNumber":"13800138000","watermark":{{"appid":"{APPID}","timestamp":1}}}}"#
        )
        .as_bytes(),
    );
    let decrypted = client.decrypt_for("oBob", &phone, &b64(&IV)).await.unwrap();
    assert_eq!(
        decrypted.phone_info().unwrap().pure_phone_number,
        "13800138000"
    );
}
