//! Official and derived test vectors (docs/protocol.md §4.2–§4.4).

use wechat_oauth::miniprogram::{decrypt, session_key_signature, verify_signature};

pub const DEMO_APPID: &str = "wx4f4bc4dec97d474b";
pub const DEMO_SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
pub const DEMO_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
pub const DEMO_ENCRYPTED_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
const DEMO_PLAINTEXT: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

#[test]
fn official_demo_vector_decrypts_to_the_documented_json() {
    let expected: serde_json::Value = serde_json::from_str(DEMO_PLAINTEXT).unwrap();
    let decrypted = decrypt(
        DEMO_SESSION_KEY,
        DEMO_ENCRYPTED_DATA,
        DEMO_IV,
        Some(DEMO_APPID),
    );
    assert_eq!(decrypted, Ok(expected));
}

#[test]
fn official_raw_data_signature_vector_matches() {
    let raw = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
    let key = "HyVFkGl5F5OQWJZZaNzBBg==";
    let signature = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
    assert!(verify_signature(raw, signature, key));
    // Upper case, truncated, another key, altered data: all refused.
    assert!(!verify_signature(raw, &signature.to_uppercase(), key));
    assert!(!verify_signature(raw, &signature[..39], key));
    assert!(!verify_signature(raw, "", key));
    assert!(!verify_signature(raw, signature, DEMO_SESSION_KEY));
    assert!(!verify_signature(
        &raw.replace("Band", "Bond"),
        signature,
        key
    ));
}

#[test]
fn checksession_signature_vectors_match() {
    for (key, expected) in [
        (
            "HyVFkGl5F5OQWJZZaNzBBg==",
            "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058",
        ),
        (
            "tiihtNczf5v6AKRyjwEUhQ==",
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735",
        ),
        (
            "o0q0otL8aEzpcZL/FT9WsQ==",
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128",
        ),
    ] {
        assert_eq!(session_key_signature(key), expected, "{key}");
    }
}
