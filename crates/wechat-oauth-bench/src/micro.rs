//! The micro benchmark cases, shared by `benches/micro.rs` (criterion) and the smoke
//! test, plus the same Mini Program decrypt in node's `crypto` for reference.

use std::hint::black_box;
use std::path::Path;

use criterion::Criterion;

use serde_json::json;
use wechat_oauth::{AccessToken, OAuthClient, Scope};

/// WeChat's official `encryptedData` demo vector (docs/protocol.md §4.2).
pub mod vector {
    /// The Mini Program appid the watermark names.
    pub const APPID: &str = "wx4f4bc4dec97d474b";
    /// session_key for the encrypted data.
    pub const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    /// The IV.
    pub const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    /// The ciphertext (400 bytes of user JSON once decrypted).
    pub const ENCRYPTED_DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    /// `rawData` of the official signature vector (§4.3).
    pub const RAW_DATA: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
    /// The session_key of the signature vector.
    pub const SIGNATURE_SESSION_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
    /// `hex(sha1(rawData + session_key))`.
    pub const SIGNATURE: &str = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
}

/// A token response as the sandbox sends it.
pub const TOKEN_RESPONSE: &[u8] = br#"{"access_token":"ACCESS_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdef","expires_in":7200,"refresh_token":"REFRESH_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz0123456789abc","openid":"oLVPpjqs9BhvzwPj5A-vTYAX3GLc","scope":"snsapi_userinfo","unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL","is_snapshotuser":0,"create_at":1700000000000}"#;

/// The client the URL-building case uses (no request is ever sent).
pub fn client() -> Result<OAuthClient, wechat_oauth::Error> {
    OAuthClient::builder(crate::sandbox::APPID, crate::sandbox::SECRET).build()
}

/// Builds an `snsapi_userinfo` authorize URL with a redirect that needs encoding.
pub fn authorize_url(client: &OAuthClient) -> String {
    client.authorize_url(
        "https://app.example.com/wechat/callback?next=/account&x=1",
        "b7f3c1d2e4a5",
        Scope::UserInfo,
    )
}

/// Decodes a token response into an [`AccessToken`].
pub fn parse_token(body: &[u8]) -> Option<AccessToken> {
    serde_json::from_slice(body).ok()
}

/// Decrypts the official vector (checking its watermark) and checks the official
/// `rawData` signature: what a Mini Program login does with `wx.getUserInfo` output.
pub fn decrypt_and_verify() -> bool {
    let decrypted = wechat_oauth::miniprogram::decrypt(
        vector::SESSION_KEY,
        vector::ENCRYPTED_DATA,
        vector::IV,
        Some(vector::APPID),
    );
    let signed = wechat_oauth::miniprogram::verify_signature(
        vector::RAW_DATA,
        vector::SIGNATURE,
        vector::SIGNATURE_SESSION_KEY,
    );
    decrypted.is_ok() && signed
}

/// Writes the vector as JSON for `node bench.js decrypt --vector FILE`.
pub fn write_node_vector(path: &Path) -> std::io::Result<()> {
    let v = json!({
        "appid": vector::APPID, "session_key": vector::SESSION_KEY, "iv": vector::IV,
        "encrypted_data": vector::ENCRYPTED_DATA, "raw_data": vector::RAW_DATA,
        "signature_session_key": vector::SIGNATURE_SESSION_KEY, "signature": vector::SIGNATURE,
    });
    std::fs::write(path, v.to_string())
}

/// Registers the micro benchmarks (`benches/micro.rs` and `wechat-oauth-bench micro`).
pub fn benches(c: &mut Criterion) {
    let client = match client() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("cannot build the benchmark client: {e}");
            return;
        }
    };
    c.bench_function(BENCHES[0].0, |b| {
        b.iter(|| authorize_url(black_box(&client)))
    });
    c.bench_function(BENCHES[1].0, |b| {
        b.iter(|| parse_token(black_box(TOKEN_RESPONSE)))
    });
    c.bench_function(BENCHES[2].0, |b| b.iter(decrypt_and_verify));
}

/// Criterion ids of [`benches`] and what each measures.
pub const BENCHES: [(&str, &str); 3] = [
    (
        "authorize_url",
        "authorize URL building (`authorize_url`, snsapi_userinfo)",
    ),
    (
        "parse_token",
        "token response parsing (`AccessToken` from JSON bytes)",
    ),
    (
        "mp_decrypt_verify",
        "Mini Program decrypt (AES-128-CBC, watermark) + rawData signature check",
    ),
];
