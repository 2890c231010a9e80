//! [`MessageError`]: everything that can be wrong with a push from WeChat.

/// Why a push (or a verification request) was refused.
///
/// Errors are data: branch on the variant or on the predicates, never on the text. No
/// variant carries the token, the key, a ciphertext or a decrypted body; the `Display`
/// text names the problem and nothing the request contained.
///
/// [`status`](Self::status) is the HTTP status the axum integration answers with (a 4xx),
/// [`code`](Self::code) the matching code of WeChat's official `WXBizMsgCrypt` samples
/// (SDK-local codes -40001..-40011; WeChat itself never sends them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A required query parameter (`signature`, `timestamp`, `nonce`, `echostr`,
    /// `msg_signature`) is missing or empty.
    #[error("missing query parameter `{0}`")]
    MissingParam(&'static str),
    /// `timestamp` is not a decimal number of seconds.
    #[error("`timestamp` is not a unix time in seconds")]
    InvalidTimestamp,
    /// `timestamp` is further from now than the configured window allows (a replay, or a
    /// badly wrong clock).
    #[error("stale timestamp: {skew_seconds} s from now, more than the {window_seconds} s allowed")]
    StaleTimestamp {
        /// How far the request's timestamp is from now, seconds (absolute).
        skew_seconds: u64,
        /// The configured window, seconds.
        window_seconds: u64,
    },
    /// `signature` is not `sha1(sort(token, timestamp, nonce))`: the request does not come
    /// from WeChat, or the configured token is wrong.
    #[error("signature does not match the configured token")]
    BadSignature,
    /// `msg_signature` is not `sha1(sort(token, timestamp, nonce, Encrypt))` (-40001).
    #[error("msg_signature does not match the encrypted body (-40001)")]
    BadMsgSignature,
    /// `encrypt_type` is neither absent, `raw` nor `aes`.
    #[error("unsupported encrypt_type (expected raw or aes)")]
    UnsupportedEncryptType,
    /// The account is in safe mode (安全模式) and a plaintext push arrived: refusing it keeps
    /// an attacker from downgrading the channel.
    #[error("this account only accepts encrypted pushes (safe mode)")]
    EncryptionRequired,
    /// An encrypted push arrived but no EncodingAESKey is configured (plaintext mode).
    #[error("encrypted push, but no EncodingAESKey is configured")]
    EncryptionNotConfigured,
    /// The body is larger than the configured limit.
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The configured limit, bytes.
        limit: usize,
    },
    /// The body (or the decrypted message) is not acceptable XML (-40002).
    #[error("unacceptable XML (-40002): {0}")]
    Xml(#[from] XmlError),
    /// A field every message needs (`ToUserName`, `FromUserName`, `CreateTime`, `MsgType`,
    /// `Encrypt`) is missing or malformed.
    #[error("missing or malformed field `{0}`")]
    MissingField(&'static str),
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]` decoding to 32 bytes (-40004).
    #[error("illegal EncodingAESKey: it must be 43 characters of [A-Za-z0-9] (-40004)")]
    IllegalAesKey,
    /// The decrypted message names another appid than the configured one (-40005).
    #[error("the encrypted message is for another appid (-40005)")]
    AppIdMismatch,
    /// `Encrypt` is not standard base64 (-40010).
    #[error("Encrypt is not base64 (-40010)")]
    Base64,
    /// The ciphertext is empty or not a whole number of 32-byte blocks (-40007).
    #[error("ciphertext length is not a multiple of 32 bytes (-40007)")]
    CiphertextLength,
    /// The decrypted bytes do not end in valid 32-byte-block PKCS#7 padding: a wrong key,
    /// or a tampered ciphertext (-40007).
    #[error("bad padding after decryption (-40007)")]
    BadPadding,
    /// The decrypted layout is inconsistent: too short, or a message length beyond the
    /// buffer, or a message that is not UTF-8 (-40008).
    #[error("illegal buffer after decryption (-40008)")]
    IllegalBuffer,
}

impl MessageError {
    /// The HTTP status to answer with: 413 for an oversized body, 401 for signature and
    /// timestamp failures, 403 for a message meant for another app, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::BodyTooLarge { .. } => 413,
            Self::BadSignature | Self::BadMsgSignature | Self::StaleTimestamp { .. } => 401,
            Self::AppIdMismatch => 403,
            _ => 400,
        }
    }

    /// The official `WXBizMsgCrypt` sample's code for this failure, when it has one.
    pub fn code(&self) -> Option<i32> {
        Some(match self {
            Self::BadMsgSignature => -40001,
            Self::Xml(_) | Self::MissingField(_) => -40002,
            Self::IllegalAesKey => -40004,
            Self::AppIdMismatch => -40005,
            Self::CiphertextLength | Self::BadPadding => -40007,
            Self::IllegalBuffer => -40008,
            Self::Base64 => -40010,
            _ => return None,
        })
    }

    /// Whether a signature (`signature` or `msg_signature`) did not match.
    pub fn is_bad_signature(&self) -> bool {
        matches!(self, Self::BadSignature | Self::BadMsgSignature)
    }

    /// Whether the request's timestamp was outside the window, or not a number.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::StaleTimestamp { .. } | Self::InvalidTimestamp)
    }

    /// Whether decryption failed (base64, length, padding, layout, appid).
    pub fn is_decryption(&self) -> bool {
        matches!(
            self,
            Self::Base64
                | Self::CiphertextLength
                | Self::BadPadding
                | Self::IllegalBuffer
                | Self::AppIdMismatch
        )
    }

    /// Whether the XML was refused (malformed, DOCTYPE, entities, too deep or too many fields).
    pub fn is_xml(&self) -> bool {
        matches!(self, Self::Xml(_))
    }
}

/// Why an XML body was refused. Carries positions and limits, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The bytes are not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// A `<!DOCTYPE …>` declaration: refused outright, since DTDs are how XXE and entity
    /// expansion attacks start, and WeChat never sends one.
    #[error("DOCTYPE declarations are refused")]
    Doctype,
    /// A reference to an entity other than the five predefined ones or a character reference.
    #[error("entity references other than the XML built-ins are refused")]
    Entity,
    /// The document is not well-formed XML.
    #[error("malformed XML near byte {position}")]
    Malformed {
        /// Byte offset where the parser gave up.
        position: u64,
    },
    /// The root element is not `<xml>`.
    #[error("the root element must be <xml>")]
    WrongRoot,
    /// Elements nest deeper than the limit.
    #[error("elements nest deeper than {limit}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// More leaf fields than the limit.
    #[error("more than {limit} fields")]
    TooManyFields {
        /// The configured limit.
        limit: usize,
    },
    /// Nothing but whitespace, or content after the root element.
    #[error("the document must hold exactly one <xml> element")]
    NotOneRoot,
}
