//! WeChat's side of the message interface (消息接口), written independently of any server
//! under test: the load generator uses it to sign, and in safe mode (安全模式) encrypt, the
//! text messages it pushes, and to check every passive reply.
//!
//! The algorithms, from WeChat's documentation
//! (<https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html>,
//! <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html>):
//!
//! - `signature = hex(sha1(sort([token, timestamp, nonce]).join("")))`, on every request;
//! - `AESKey = base64_decode(EncodingAESKey + "=")` (32 bytes), AES-256-CBC with
//!   `IV = AESKey[..16]`, over `random(16) ‖ msg_len (4 bytes, big-endian) ‖ msg ‖ appid`,
//!   padded PKCS#7-style to a multiple of **32** bytes; the body carries it base64-encoded
//!   in `<Encrypt>`;
//! - `msg_signature = hex(sha1(sort([token, timestamp, nonce, Encrypt]).join("")))`.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};

/// The padding block of WeChat's message encryption (not AES's 16).
const PAD_BLOCK: usize = 32;

/// The Official Account as the message interface knows it.
#[derive(Clone)]
pub struct Account {
    /// The server-URL token (令牌) both sides sign with.
    pub token: String,
    /// The account's appid, the last field of every encrypted message.
    pub appid: String,
    key: [u8; 32],
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and the AES key are the account's secrets.
        f.debug_struct("Account")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// The account every message benchmark uses (its values mean nothing outside this run).
pub mod bench_account {
    /// Token.
    pub const TOKEN: &str = "benchToken2026";
    /// EncodingAESKey: 43 characters of `[A-Za-z0-9]`.
    pub const ENCODING_AES_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ";
    /// Appid.
    pub const APPID: &str = "wx5bench0000000001";
    /// The account's own id (`ToUserName` of every push).
    pub const ORIGINAL_ID: &str = "gh_bench00000001";
}

impl Account {
    /// The account with `token`, `encoding_aes_key` (43 characters) and `appid`.
    ///
    /// # Errors
    /// When the key is not 43 characters of base64 decoding to 32 bytes.
    pub fn new(token: &str, encoding_aes_key: &str, appid: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            encoding_aes_key.len() == 43,
            "an EncodingAESKey has 43 characters"
        );
        // WeChat generates keys whose last character may carry non-zero trailing bits
        // (the official Java sample's does), which a strict decoder refuses.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let key = lenient
            .decode(format!("{encoding_aes_key}="))
            .context("EncodingAESKey is not base64")?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| anyhow::anyhow!("EncodingAESKey does not decode to 32 bytes"))?;
        Ok(Self {
            token: token.to_owned(),
            appid: appid.to_owned(),
            key,
        })
    }

    /// The benchmark's account ([`bench_account`]).
    pub fn bench() -> Self {
        Self::new(
            bench_account::TOKEN,
            bench_account::ENCODING_AES_KEY,
            bench_account::APPID,
        )
        .unwrap_or_else(|e| unreachable!("the built-in account is valid: {e}"))
    }

    /// `signature` of a request.
    pub fn signature(&self, timestamp: &str, nonce: &str) -> String {
        sorted_sha1(&mut [&self.token, timestamp, nonce])
    }

    /// `msg_signature` over an `Encrypt` value.
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sorted_sha1(&mut [&self.token, timestamp, nonce, encrypt])
    }

    /// `msg` encrypted for this account with a fresh random prefix, base64-encoded.
    pub fn encrypt(&self, msg: &[u8]) -> String {
        self.encrypt_with_random(rand::random(), msg)
    }

    /// `msg` encrypted with the given 16-byte random prefix (the official vectors fix it).
    pub fn encrypt_with_random(&self, random: [u8; 16], msg: &[u8]) -> String {
        let mut plain = Vec::with_capacity(20 + msg.len() + self.appid.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK; // 1..=32: a full block when aligned
        plain.resize(plain.len() + pad, pad as u8);
        let cipher = cbc::Encryptor::<aes::Aes256>::new(&self.key.into(), &self.iv().into());
        BASE64.encode(cipher.encrypt_padded_vec::<NoPadding>(&plain))
    }

    /// Decrypts an `Encrypt` value: the message, after checking the padding, the length
    /// field and that the trailing appid is this account's.
    ///
    /// # Errors
    /// On bad base64, a length that is not whole AES blocks, bad padding, an impossible
    /// length field or another appid.
    pub fn decrypt(&self, encrypt: &str) -> anyhow::Result<Vec<u8>> {
        let data = BASE64.decode(encrypt).context("Encrypt is not base64")?;
        let cipher = cbc::Decryptor::<aes::Aes256>::new(&self.key.into(), &self.iv().into());
        let plain = cipher
            .decrypt_padded_vec::<NoPadding>(&data)
            .map_err(|_| anyhow::anyhow!("ciphertext is not whole AES blocks"))?;
        let pad = usize::from(*plain.last().context("empty ciphertext")?);
        anyhow::ensure!(
            (1..=PAD_BLOCK).contains(&pad)
                && plain.len() >= 20 + pad
                && plain[plain.len() - pad..]
                    .iter()
                    .all(|&b| usize::from(b) == pad),
            "bad padding"
        );
        let body = &plain[16..plain.len() - pad];
        let len = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
        anyhow::ensure!(4 + len <= body.len(), "message length past the end");
        let (msg, appid) = body[4..].split_at(len);
        anyhow::ensure!(
            appid == self.appid.as_bytes(),
            "encrypted for another appid"
        );
        Ok(msg.to_vec())
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

fn sorted_sha1(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut sha = Sha1::new();
    for p in parts.iter() {
        sha.update(p.as_bytes());
    }
    hex::encode(sha.finalize())
}

/// Plain (明文) or safe (安全) mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plaintext XML, `signature` only.
    Plain,
    /// `encrypt_type=aes`, `msg_signature`, the message inside `<Encrypt>`.
    Encrypted,
}

impl Mode {
    /// `plain` or `encrypted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Encrypted => "encrypted",
        }
    }
}

/// One push, ready to send: the query string and body, and what the reply must say.
#[derive(Debug, Clone)]
pub struct Push {
    /// `signature=…&timestamp=…&nonce=…&openid=…[&encrypt_type=aes&msg_signature=…]`.
    pub query: String,
    /// The XML body.
    pub body: bytes::Bytes,
    /// The follower who sent it (the reply's `ToUserName`).
    pub from: String,
    /// What the text reply's `Content` must be.
    pub expected_reply: String,
}

/// The reply every server under test gives: the text sent, echoed with a prefix, so the
/// check proves that this reply answers this message.
pub fn echo(content: &str) -> String {
    format!("echo: {content}")
}

/// A text message from follower `n`, with `MsgId` `msg_id`, as WeChat pushes it.
pub fn text_push(account: &Account, mode: Mode, n: u64, msg_id: u64, timestamp: u64) -> Push {
    let from = format!("oBench{n:022}");
    let content = format!("hello {msg_id}");
    let xml = format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName>\n\
         <FromUserName><![CDATA[{from}]]></FromUserName>\n\
         <CreateTime>{timestamp}</CreateTime>\n\
         <MsgType><![CDATA[text]]></MsgType>\n\
         <Content><![CDATA[{content}]]></Content>\n\
         <MsgId>{msg_id}</MsgId>\n\
         </xml>",
        to = bench_account::ORIGINAL_ID,
    );
    let timestamp = timestamp.to_string();
    let nonce = (rand::random::<u32>() % 1_000_000_000).to_string();
    let signature = account.signature(&timestamp, &nonce);
    let (query, body) = match mode {
        Mode::Plain => (
            format!("signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={from}"),
            xml,
        ),
        Mode::Encrypted => {
            let encrypt = account.encrypt(xml.as_bytes());
            let msg_signature = account.msg_signature(&timestamp, &nonce, &encrypt);
            (
                format!(
                    "signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={from}\
                     &encrypt_type=aes&msg_signature={msg_signature}"
                ),
                format!(
                    "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
                    bench_account::ORIGINAL_ID
                ),
            )
        }
    };
    Push {
        query,
        body: body.into(),
        from,
        expected_reply: echo(&content),
    }
}

/// The text of the first `<tag>` element: CDATA or plain text.
pub fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = xml[start..end].trim();
    Some(
        inner
            .strip_prefix("<![CDATA[")
            .and_then(|s| s.strip_suffix("]]>"))
            .unwrap_or(inner),
    )
}

/// Checks a passive reply to `push` as WeChat would: in safe mode the `MsgSignature`
/// over `Encrypt`, then the decrypted reply; in both, a text reply to the sender from the
/// account saying [`Push::expected_reply`].
///
/// # Errors
/// Naming the first thing that is wrong.
pub fn check_reply(account: &Account, mode: Mode, push: &Push, reply: &[u8]) -> anyhow::Result<()> {
    let reply = std::str::from_utf8(reply).context("reply is not UTF-8")?;
    let decrypted;
    let xml = match mode {
        Mode::Plain => reply,
        Mode::Encrypted => {
            let encrypt = element(reply, "Encrypt").context("no Encrypt in the reply")?;
            let signature = element(reply, "MsgSignature").context("no MsgSignature")?;
            let timestamp = element(reply, "TimeStamp").context("no TimeStamp")?;
            let nonce = element(reply, "Nonce").context("no Nonce")?;
            anyhow::ensure!(
                account.msg_signature(timestamp, nonce, encrypt) == signature,
                "the reply's MsgSignature does not match"
            );
            decrypted = String::from_utf8(account.decrypt(encrypt)?)
                .context("decrypted reply is not UTF-8")?;
            &decrypted
        }
    };
    anyhow::ensure!(
        element(xml, "MsgType") == Some("text"),
        "not a text reply: {xml:.200}"
    );
    anyhow::ensure!(
        element(xml, "ToUserName") == Some(push.from.as_str()),
        "the reply is not to the sender"
    );
    anyhow::ensure!(
        element(xml, "FromUserName") == Some(bench_account::ORIGINAL_ID),
        "the reply is not from the account"
    );
    anyhow::ensure!(
        element(xml, "Content") == Some(push.expected_reply.as_str()),
        "the reply says {:?}, not {:?}",
        element(xml, "Content"),
        push.expected_reply
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // WeChat's official vectors, each recomputed independently before being written here.

    #[test]
    fn server_url_signature_matches_the_official_vector() {
        let account = Account::new("AAAAA", &"A".repeat(43), "wx134c8103faa5a59e").unwrap();
        assert_eq!(
            account.signature("1714036504", "1514711492"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_ne!(
            account.signature("1714036504", "1514711493"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
    }

    #[test]
    fn encryption_matches_the_official_java_sample() {
        let account = Account::new(
            "pamtest",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "wxb11529c136998cb6",
        )
        .unwrap();
        let encrypt =
            account.encrypt_with_random(*b"aaaabbbbccccdddd", "我是中文abcd123".as_bytes());
        assert_eq!(
            encrypt,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(
            account.decrypt(&encrypt).unwrap(),
            "我是中文abcd123".as_bytes()
        );
    }

    #[test]
    fn third_party_push_vector_decrypts_and_its_reply_signs() {
        let account = Account::new("AAAAA", &"A".repeat(43), "wx134c8103faa5a59e").unwrap();
        let encrypt = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
        assert_eq!(
            account.msg_signature("1715943329", "1590219412", encrypt),
            "6c12a4205838198b8fa631b3220723bb07f1015c"
        );
        let msg = String::from_utf8(account.decrypt(encrypt).unwrap()).unwrap();
        assert_eq!(msg.len(), 292);
        assert_eq!(element(&msg, "Event"), Some("debug_demo"));
        assert_eq!(element(&msg, "debug_str"), Some("hello world"));

        let reply = account.encrypt_with_random(
            *b"999951349e8ee746",
            b"<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
        );
        assert_eq!(
            reply,
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        );
        assert_eq!(
            account.msg_signature("1713424427", "415670741", &reply),
            "03e0812039325c2712ef5f0f980fd14c70d6e307"
        );
    }

    #[test]
    fn another_appid_or_a_flipped_byte_is_refused() {
        let ours = Account::bench();
        let other = Account::new(
            bench_account::TOKEN,
            bench_account::ENCODING_AES_KEY,
            "wx0000000000000000",
        )
        .unwrap();
        let encrypt = other.encrypt(b"<xml/>");
        assert!(ours.decrypt(&encrypt).is_err());
        let mut bytes = BASE64.decode(ours.encrypt(b"<xml/>")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(ours.decrypt(&BASE64.encode(bytes)).is_err());
    }

    #[test]
    fn a_reply_is_checked_against_its_push() {
        let account = Account::bench();
        let push = text_push(&account, Mode::Plain, 7, 42, 1_700_000_000);
        let reply = format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName>\
             <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[echo: hello 42]]></Content></xml>",
            push.from,
            bench_account::ORIGINAL_ID
        );
        check_reply(&account, Mode::Plain, &push, reply.as_bytes()).unwrap();
        let wrong = reply.replace("hello 42", "hello 43");
        assert!(check_reply(&account, Mode::Plain, &push, wrong.as_bytes()).is_err());

        let push = text_push(&account, Mode::Encrypted, 7, 42, 1_700_000_000);
        let encrypt = account.encrypt(reply.as_bytes());
        let sig = account.msg_signature("123", "456", &encrypt);
        let wrapped = format!(
            "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>\
             <TimeStamp>123</TimeStamp><Nonce><![CDATA[456]]></Nonce></xml>"
        );
        check_reply(&account, Mode::Encrypted, &push, wrapped.as_bytes()).unwrap();
        let forged = wrapped.replace(&sig, &"0".repeat(40));
        assert!(check_reply(&account, Mode::Encrypted, &push, forged.as_bytes()).is_err());
    }
}
