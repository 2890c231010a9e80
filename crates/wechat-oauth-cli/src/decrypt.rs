//! `decrypt`: Mini Program `encryptedData` to JSON (docs/protocol.md §4.2).

use wechat_oauth::miniprogram::{self, DecryptReason};

use crate::args::DecryptArgs;
use crate::failure::Failure;
use crate::output;

/// Decrypts and prints the payload. With an appid configured, the payload's
/// `watermark.appid` must match it: data encrypted for another Mini Program is refused.
///
/// On failure the precise reason is printed as a hint. The SDK keeps it out of the error
/// because a server must not reveal it (a padding oracle); the person at this terminal
/// holds the key already.
pub fn run(args: &DecryptArgs) -> Result<(), Failure> {
    let session_key = args.session_key.resolve("--session-key")?;
    let session_key = session_key.expose_secret();
    let appid = args.app.appid.as_deref();
    match miniprogram::decrypt(session_key, &args.data, &args.iv, appid) {
        Ok(payload) => output::print_json(&payload),
        Err(error) => {
            let failure = Failure::from(error);
            Err(
                match miniprogram::diagnose(session_key, &args.data, &args.iv, appid) {
                    Some(reason) => failure.with_hint(describe(reason)),
                    None => failure,
                },
            )
        }
    }
}

fn describe(reason: DecryptReason) -> String {
    match reason {
        DecryptReason::KeyNotBase64 => "the session key is not base64".into(),
        DecryptReason::KeyLength => {
            "the session key must be 24 base64 characters (16 bytes)".into()
        }
        DecryptReason::IvNotBase64 => "the iv is not base64".into(),
        DecryptReason::IvLength => "the iv must be 24 base64 characters (16 bytes)".into(),
        DecryptReason::DataNotBase64 => "the data is not base64".into(),
        DecryptReason::DataLength => "the data is not a whole number of 16-byte blocks".into(),
        DecryptReason::Padding => {
            "bad padding: a wrong or stale session key, or a damaged iv or data".into()
        }
        DecryptReason::NotJson | DecryptReason::NotObject => {
            "the plaintext is not a JSON object: a wrong session key or iv".into()
        }
        DecryptReason::NoWatermark => "the plaintext has no watermark".into(),
        DecryptReason::AppIdMismatch => {
            "the watermark names another appid: the data was encrypted for another Mini Program"
                .into()
        }
        other => format!("{other:?}"),
    }
}
