//! Parametric QR codes (生成带参数的二维码): `POST cgi-bin/qrcode/create` and the image at
//! `https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=`
//! ([doc](https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html)).
//!
//! A user who scans a temporary code with a scene and does not follow the account yet
//! follows it, and the account's server gets a `subscribe` event with
//! `EventKey = qrscene_<scene>`; one who already follows gets a `SCAN` event with
//! `EventKey = <scene>`. This is how follow-to-login (扫码关注登录) knows who scanned which
//! code. Temporary codes live `expire_seconds` (at most 30 days); a string scene is 1 to 64
//! characters.

use serde::Deserialize;

use crate::{Error, OfficialAccountClient};

/// Where WeChat serves QR-code images.
pub const SHOWQRCODE_BASE: &str = "https://mp.weixin.qq.com";

/// Longest string scene WeChat accepts (`scene_str`, 1 to 64 characters).
pub const MAX_SCENE_STR_LEN: usize = 64;

/// Longest lifetime of a temporary code: 30 days.
pub const MAX_EXPIRE_SECONDS: u64 = 2_592_000;

/// A created QR code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct QrCode {
    /// `ticket`: shows the image ([`image_url`](Self::image_url)); base64, so it must be
    /// URL-encoded in the image URL.
    pub ticket: String,
    /// `expire_seconds`: the code's lifetime (temporary codes only).
    #[serde(default, deserialize_with = "crate::lenient::opt_i64")]
    pub expire_seconds: Option<i64>,
    /// `url`: what the code encodes, to draw the code yourself.
    pub url: String,
}

impl QrCode {
    /// The image on WeChat's server ([`SHOWQRCODE_BASE`]).
    pub fn image_url(&self) -> String {
        self.image_url_on(SHOWQRCODE_BASE)
    }

    /// The image at `base` + `/cgi-bin/showqrcode?ticket=…` (a sandbox or a mirror), with
    /// the ticket URL-encoded.
    pub fn image_url_on(&self, base: &str) -> String {
        Self::image_url_for_ticket(base, &self.ticket)
    }

    /// The image of the code with this `ticket` at `base` (a ticket kept from an earlier
    /// [`create_temporary_qrcode`](OfficialAccountClient::create_temporary_qrcode)).
    pub fn image_url_for_ticket(base: &str, ticket: &str) -> String {
        format!(
            "{}/cgi-bin/showqrcode?ticket={}",
            base.trim_end_matches('/'),
            percent_encoding::utf8_percent_encode(ticket, percent_encoding::NON_ALPHANUMERIC)
        )
    }
}

impl OfficialAccountClient {
    /// `POST cgi-bin/qrcode/create` with `action_name = QR_STR_SCENE`: a temporary code for
    /// the string scene `scene` living `expire_seconds` (capped at 30 days). Refreshes the
    /// server token once if WeChat rejects it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a scene that is empty or longer than 64 characters or
    /// a zero lifetime; WeChat's errors (40053 invalid action info), transport and response
    /// errors.
    pub async fn create_temporary_qrcode(
        &self,
        scene: &str,
        expire_seconds: u64,
    ) -> Result<QrCode, Error> {
        if scene.is_empty() || scene.chars().count() > MAX_SCENE_STR_LEN {
            return Err(Error::InvalidArgument(
                "a QR scene must be 1 to 64 characters".into(),
            ));
        }
        if expire_seconds == 0 {
            return Err(Error::InvalidArgument(
                "a temporary QR code must live at least 1 second".into(),
            ));
        }
        let body = serde_json::json!({
            "expire_seconds": expire_seconds.min(MAX_EXPIRE_SECONDS),
            "action_name": "QR_STR_SCENE",
            "action_info": { "scene": { "scene_str": scene } },
        });
        let transport = &self.transport;
        let body = &body;
        self.tokens
            .call_with_token(|token| async move {
                transport
                    .post_json(
                        "cgi-bin/qrcode/create",
                        &[("access_token", token.expose_secret())],
                        body,
                    )
                    .await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticket_is_url_encoded_in_the_image_url() {
        let code = QrCode {
            ticket: "gQH47joAAAAAAAAAASxodHRw+/=".into(),
            expire_seconds: Some(60),
            url: "http://weixin.qq.com/q/x".into(),
        };
        assert_eq!(
            code.image_url(),
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH47joAAAAAAAAAASxodHRw%2B%2F%3D"
        );
        assert_eq!(
            code.image_url_on("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/cgi-bin/showqrcode?ticket=gQH47joAAAAAAAAAASxodHRw%2B%2F%3D"
        );
    }
}
