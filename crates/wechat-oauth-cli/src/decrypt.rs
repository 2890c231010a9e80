//! `decrypt`: Mini Program `encryptedData` to JSON (`wechat-protocol.md` §4.2).

use crate::args::{Config, DecryptArgs};
use crate::failure::Failure;
use crate::output;

/// Decrypts and prints the payload. With an appid configured, the payload's
/// `watermark.appid` must match it: data encrypted for another Mini Program is refused.
pub fn run(config: &Config, args: &DecryptArgs) -> Result<(), Failure> {
    let payload = wechat_oauth::miniprogram::decrypt(
        args.session_key.expose_secret(),
        &args.data,
        &args.iv,
        config.appid.as_deref(),
    )?;
    output::print_json(&payload)
}
