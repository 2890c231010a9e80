//! `jssdk-sign`: the JS-SDK `wx.config` signature of a page URL.
//!
//! WeChat's JS-SDK documentation, appendix 1 (签名算法,
//! <https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html>): the
//! fields `jsapi_ticket`, `noncestr`, `timestamp` and `url` (the page's URL without `#` and
//! what follows) sorted by name, joined as `name=value` with `&`, values not escaped;
//! the signature is the lower-case hex SHA-1 of that string.

use serde_json::json;
use sha1::{Digest as _, Sha1};

use crate::args::JssdkSignArgs;
use crate::failure::Failure;
use crate::output;

/// Signs `url` and prints what `wx.config` needs: `nonceStr`, `timestamp` and `signature`
/// (with the URL actually signed, so a caller can see the fragment was dropped).
pub fn run(args: &JssdkSignArgs) -> Result<(), Failure> {
    let ticket = args.ticket.resolve("--ticket")?;
    let noncestr = args
        .noncestr
        .clone()
        .unwrap_or_else(wechat_oauth::new_state);
    let timestamp = match args.timestamp {
        Some(timestamp) => timestamp,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Failure::new(crate::failure::Status::Unexpected, e))?
            .as_secs(),
    };
    let url = page_url(&args.url);
    let signature = signature(ticket.expose_secret(), &noncestr, timestamp, url);
    output::print_json(&json!({
        "nonceStr": noncestr,
        "timestamp": timestamp,
        "url": url,
        "signature": signature,
    }))
}

/// The URL WeChat signs: everything before the first `#`.
fn page_url(url: &str) -> &str {
    url.split_once('#').map_or(url, |(page, _)| page)
}

/// `sha1("jsapi_ticket=…&noncestr=…&timestamp=…&url=…")` as lower-case hex.
fn signature(ticket: &str, noncestr: &str, timestamp: u64, url: &str) -> String {
    let string1 =
        format!("jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(string1.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JS-SDK documentation's own example (appendix 1).
    #[test]
    fn the_documented_example_signs_as_documented() {
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        assert_eq!(
            signature(
                ticket,
                "Wm3WZYTPz0wzccnW",
                1_414_587_457,
                "http://mp.weixin.qq.com?params=value"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn the_fragment_is_not_signed() {
        assert_eq!(
            page_url("https://a.example/p?x=1#/route"),
            "https://a.example/p?x=1"
        );
        assert_eq!(page_url("https://a.example/p"), "https://a.example/p");
    }
}
