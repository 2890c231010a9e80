//! `jssdk-sign`: the JS-SDK `wx.config` signature of a page URL, by the SDK's
//! [`wechat_oauth::jssdk::signature`] (JS-SDK documentation, appendix 1,
//! <https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html>).

use serde_json::json;
use wechat_oauth::jssdk::signature;

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
    // The SDK removes the fragment itself; the output shows the URL as signed.
    let signature = signature(ticket.expose_secret(), &noncestr, timestamp, &args.url);
    output::print_json(&json!({
        "nonceStr": noncestr,
        "timestamp": timestamp,
        "url": page_url(&args.url),
        "signature": signature,
    }))
}

/// The URL WeChat signs: everything before the first `#` (for display).
fn page_url(url: &str) -> &str {
    url.split_once('#').map_or(url, |(page, _)| page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fragment_is_not_shown_as_signed() {
        assert_eq!(
            page_url("https://a.example/p?x=1#/route"),
            "https://a.example/p?x=1"
        );
        assert_eq!(page_url("https://a.example/p"), "https://a.example/p");
    }
}
