//! `decrypt`: Mini Program `encryptedData` to JSON (docs/protocol.md §4.2).

use wechat_oauth::miniprogram::{self, DecryptReason};

use wechat_oauth::Secret;

use crate::args::DecryptArgs;
use crate::failure::Failure;
use crate::{output, store};

/// Decrypts and prints the payload. With an appid configured, the payload's
/// `watermark.appid` must match it: data encrypted for another Mini Program is refused.
///
/// On failure the precise reason is printed as a hint. The SDK keeps it out of the error
/// because a server must not reveal it (a padding oracle); the person at this terminal
/// holds the key already.
pub async fn run(args: &DecryptArgs) -> Result<(), Failure> {
    let session_key = session_key(args).await?;
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

/// The key given by `--session-key`, or the one `mp-login` stored for `--openid`.
async fn session_key(args: &DecryptArgs) -> Result<Secret, Failure> {
    match (&args.session_key, &args.openid) {
        (Some(_), Some(_)) => Err(Failure::usage(
            "give --session-key (or WECHAT_SESSION_KEY) or --openid, not both",
        )),
        (Some(key), None) => key.resolve("--session-key"),
        (None, Some(openid)) => {
            let stores = store::open(&args.store).await?;
            let session = stores.sessions.get_session(openid).await?.ok_or_else(|| {
                Failure::from(wechat_oauth::Error::NoSession {
                    openid: openid.clone(),
                })
            })?;
            Ok(Secret::new(session.session_key.expose_secret()))
        }
        (None, None) => Err(Failure::usage(
            "missing session key: pass --session-key (or set WECHAT_SESSION_KEY), or --openid \
             for the session `mp-login` stored",
        )),
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
