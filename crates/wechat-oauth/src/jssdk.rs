//! The JS-SDK: the `jsapi_ticket` and the `wx.config` signature
//! ([JS-SDK, appendix 1](https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html)).
//!
//! `signature = sha1("jsapi_ticket=…&noncestr=…&timestamp=…&url=…")`: the four keys in
//! that (ASCII) order, values raw (no URL escaping), and `url` the page's URL without its
//! `#fragment`. The page then calls `wx.config({appId, timestamp, nonceStr, signature,
//! jsApiList})` with exactly the signed `timestamp` and `nonceStr`.
//!
//! The ticket (`GET cgi-bin/ticket/getticket?type=jsapi`) lives 7200 s and its calls are
//! rate-limited, so WeChat asks for one global cache. [`OfficialAccountClient::jsapi_ticket`]
//! keeps it as an app credential, like the server access token: in
//! [`Stores::credentials`](crate::store::Stores::credentials) under `jsapi_ticket:<appid>`,
//! shared by every process using the same stores, fetched once per expiry (single flight in
//! a process, the lease `jsapi_ticket:<appid>` across processes), refreshed five minutes
//! before it expires. A server token that WeChat rejects (40001) while fetching it is
//! refreshed once and the fetch retried once.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha1::Digest;

use crate::server_token::shared::Fetched;
use crate::{Error, OfficialAccountClient, Secret};

/// The `wx.config` signature over the ticket, nonce, timestamp and page URL; a
/// `#fragment` on `url` is removed first, as WeChat signs the URL without it.
///
/// ```
/// use wechat_oauth::jssdk::signature;
///
/// // WeChat's example (JS-SDK appendix 1).
/// let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
/// assert_eq!(
///     signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value"),
///     "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
/// );
/// ```
pub fn signature(jsapi_ticket: &str, noncestr: &str, timestamp: u64, url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let string1 =
        format!("jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(sha1::Sha1::digest(string1.as_bytes()))
}

/// What a page passes to `wx.config` (add `jsApiList` yourself). Serializes with the
/// JavaScript names: `appId`, `timestamp`, `nonceStr`, `signature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JsSdkConfig {
    /// The Official Account's appid.
    pub app_id: String,
    /// Unix seconds, as signed.
    pub timestamp: u64,
    /// The nonce, as signed.
    pub nonce_str: String,
    /// [`signature`] over the above and the page URL.
    pub signature: String,
}

#[derive(Deserialize)]
struct TicketResponse {
    ticket: Secret,
    #[serde(deserialize_with = "crate::lenient::u64")]
    expires_in: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl OfficialAccountClient {
    /// The current `jsapi_ticket`: this process's copy, else the shared store's, else
    /// fetched from WeChat once per expiry for every process sharing the stores (see the
    /// [module docs](self)). A rejected server token is refreshed once and the fetch
    /// retried once (40001).
    ///
    /// # Errors
    /// WeChat's errors (45009 when the daily quota is spent), transport and response
    /// errors, [`Error::Store`] when the shared store fails.
    pub async fn jsapi_ticket(&self) -> Result<Secret, Error> {
        self.tickets.get(|| self.fetch_jsapi_ticket()).await
    }

    /// Stops using `ticket` (say, pages report that WeChat refused signatures made with
    /// it): the next [`jsapi_ticket`](Self::jsapi_ticket) takes a newer one from the store
    /// or fetches one, once for all callers.
    pub fn invalidate_jsapi_ticket(&self, ticket: &Secret) {
        self.tickets.invalidate(ticket);
    }

    async fn fetch_jsapi_ticket(&self) -> Result<Fetched, Error> {
        let transport = &self.transport;
        let response: TicketResponse = self
            .tokens
            .call_with_token(|token| async move {
                transport
                    .get_idempotent(
                        "cgi-bin/ticket/getticket",
                        &[("access_token", token.expose_secret()), ("type", "jsapi")],
                    )
                    .await
            })
            .await?;
        Ok(Fetched {
            value: response.ticket,
            expires_in: response.expires_in,
        })
    }

    /// The `wx.config` parameters for the page at `url` (its fragment is ignored), with a
    /// fresh nonce and the current time.
    ///
    /// Sign the URL the page is really at (`location.href.split('#')[0]`), and check its
    /// host against your own domains before signing a URL a client sent you.
    ///
    /// # Errors
    /// As [`jsapi_ticket`](Self::jsapi_ticket).
    pub async fn js_sdk_config(&self, url: &str) -> Result<JsSdkConfig, Error> {
        let ticket = self.jsapi_ticket().await?;
        let timestamp = unix_now();
        let nonce_str = crate::state::random_alphanumeric(16);
        Ok(JsSdkConfig {
            app_id: self.appid.clone(),
            timestamp,
            signature: signature(ticket.expose_secret(), &nonce_str, timestamp, url),
            nonce_str,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKET: &str =
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";

    #[test]
    fn the_official_vector_and_its_older_variant() {
        assert_eq!(
            signature(
                TICKET,
                "Wm3WZYTPz0wzccnW",
                1_414_587_457,
                "http://mp.weixin.qq.com?params=value"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
        assert_eq!(
            signature(
                TICKET,
                "Wm3WZYTPz0wzccnW",
                1_414_587_457,
                "http://mp.weixin.qq.com"
            ),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
    }

    #[test]
    fn the_fragment_is_not_signed_but_the_raw_url_is() {
        let plain = signature(
            TICKET,
            "Wm3WZYTPz0wzccnW",
            1_414_587_457,
            "http://mp.weixin.qq.com?params=value",
        );
        assert_eq!(
            signature(
                TICKET,
                "Wm3WZYTPz0wzccnW",
                1_414_587_457,
                "http://mp.weixin.qq.com?params=value#wechat_redirect"
            ),
            plain
        );
        // A percent-encoded URL is a different string: WeChat rejects its signature.
        assert_eq!(
            signature(
                TICKET,
                "Wm3WZYTPz0wzccnW",
                1_414_587_457,
                "http%3A%2F%2Fmp.weixin.qq.com%3Fparams%3Dvalue"
            ),
            "fc555b5603f3cd82d454a79af8ad7fabb2609276"
        );
    }

    #[test]
    fn config_serializes_with_the_javascript_names() {
        let config = JsSdkConfig {
            app_id: "wx1".into(),
            timestamp: 1,
            nonce_str: "n".into(),
            signature: "s".into(),
        };
        assert_eq!(
            serde_json::to_string(&config).unwrap_or_default(),
            r#"{"appId":"wx1","timestamp":1,"nonceStr":"n","signature":"s"}"#
        );
    }
}
