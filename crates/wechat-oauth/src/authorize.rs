//! Authorize URLs: the page the user's WeChat opens to approve the login
//! (`connect/oauth2/authorize` for Official Accounts, `connect/qrconnect` for websites).
//!
//! WeChat matches these URLs with a strict regular expression: the parameters must come in
//! the order `appid, redirect_uri, response_type, scope, state`, lower-case, then the
//! optional extras, then `#wechat_redirect` (docs/protocol.md §2). Every value
//! is percent-encoded once, exactly like JavaScript's `encodeURIComponent` (which is what
//! the npm package's `querystring.stringify` does), so the URLs match the seed's byte for
//! byte. No URL built here ever contains the app secret.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// What `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encodes `value` the way `encodeURIComponent` does.
pub(crate) fn encode_uri_component(value: &str) -> impl fmt::Display + '_ {
    utf8_percent_encode(value, URI_COMPONENT)
}

/// The OAuth scope requested on the authorize page.
///
/// Parses from WeChat's names (`"snsapi_userinfo".parse()`); any other value, a
/// comma-separated list included, is kept as [`Scope::Other`] and sent as given, as the
/// npm package sends whatever string it is passed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scope {
    /// `snsapi_base`: silent, yields the openid only. The seed's default for
    /// `getAuthorizeURL`.
    #[default]
    Base,
    /// `snsapi_userinfo`: asks the user's consent, allows [`get_user`](crate::OAuthClient::get_user).
    UserInfo,
    /// `snsapi_login`: website QR login (open platform website apps).
    Login,
    /// Any other scope string (for instance `snsapi_base,snsapi_userinfo`), sent as given.
    Other(String),
}

impl Scope {
    /// WeChat's name for the scope (`snsapi_base`, `snsapi_userinfo`, `snsapi_login`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Base => "snsapi_base",
            Self::UserInfo => "snsapi_userinfo",
            Self::Login => "snsapi_login",
            Self::Other(other) => other,
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = crate::Error;

    /// WeChat's three names map to their variants; any other non-empty value is
    /// [`Scope::Other`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty value.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "" => {
                return Err(crate::Error::InvalidArgument("empty scope".into()));
            }
            "snsapi_base" => Self::Base,
            "snsapi_userinfo" => Self::UserInfo,
            "snsapi_login" => Self::Login,
            other => Self::Other(other.to_owned()),
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which authorize page a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    /// `connect/oauth2/authorize`: inside WeChat (Official Account web authorization).
    OfficialAccount,
    /// `connect/qrconnect`: a QR code on a desktop website (open platform website app).
    Website,
}

/// Builds an authorize URL step by step; get one from
/// [`OAuthClient::authorize`](crate::OAuthClient::authorize).
///
/// ```
/// # fn main() -> Result<(), wechat_oauth::Error> {
/// use wechat_oauth::{OAuthClient, Scope};
///
/// let client = OAuthClient::builder("wx5a4d1e0f0a000001", "app-secret").build()?;
/// let url = client
///     .authorize("https://example.com/callback")
///     .state("Xy12")
///     .scope(Scope::UserInfo)
///     .force_popup(true)
///     .build();
/// assert_eq!(
///     url,
///     "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx5a4d1e0f0a000001\
///      &redirect_uri=https%3A%2F%2Fexample.com%2Fcallback&response_type=code\
///      &scope=snsapi_userinfo&state=Xy12&forcePopup=true&connect_redirect=1#wechat_redirect"
/// );
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the URL"]
pub struct AuthorizeUrl<'a> {
    open_base: &'a Url,
    appid: &'a str,
    redirect_uri: &'a str,
    state: &'a str,
    scope: Option<Scope>,
    page: Page,
    force_popup: Option<bool>,
    /// The client's default for the Official Account page.
    default_connect_redirect: bool,
    /// Set per URL with [`AuthorizeUrl::connect_redirect`].
    connect_redirect: Option<bool>,
}

impl<'a> AuthorizeUrl<'a> {
    pub(crate) fn new(
        open_base: &'a Url,
        appid: &'a str,
        redirect_uri: &'a str,
        default_connect_redirect: bool,
    ) -> Self {
        Self {
            open_base,
            appid,
            redirect_uri,
            state: "",
            scope: None,
            page: Page::OfficialAccount,
            force_popup: None,
            default_connect_redirect,
            connect_redirect: None,
        }
    }

    /// The `state` WeChat hands back to the callback (default: empty, as in the seed).
    ///
    /// Use [`new_state`](crate::new_state) and check it on the callback with
    /// [`states_match`](crate::states_match): it is the only CSRF defence WeChat offers
    /// (docs/protocol.md §7). WeChat accepts `[A-Za-z0-9]`, at most 128 bytes.
    pub fn state(mut self, state: &'a str) -> Self {
        self.state = state;
        self
    }

    /// The scope (default: [`Scope::Base`] for the Official Account page,
    /// [`Scope::Login`] for the website page).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Point at the website QR-login page (`connect/qrconnect`) instead of the Official
    /// Account page.
    pub fn website(mut self) -> Self {
        self.page = Page::Website;
        self
    }

    /// Adds `forcePopup=true|false`: ask WeChat to show the consent popup even where it
    /// would authorize silently (it still may not, docs/protocol.md §8).
    pub fn force_popup(mut self, force: bool) -> Self {
        self.force_popup = Some(force);
        self
    }

    /// Whether to append `connect_redirect=1`, which stops the duplicate callbacks of
    /// WeChat's in-app browser (and the 40163 "code been used" they cause,
    /// docs/protocol.md §2.1). By default it is on for the Official Account page unless
    /// the client was built with `.connect_redirect(false)`, and off for the website page,
    /// which opens in a desktop browser and whose documented parameters do not include it.
    pub fn connect_redirect(mut self, on: bool) -> Self {
        self.connect_redirect = Some(on);
        self
    }

    /// The URL: `appid, redirect_uri, response_type, scope, state`, then `forcePopup` and
    /// `connect_redirect` when set, then `#wechat_redirect`.
    pub fn build(&self) -> String {
        let (path, default_scope) = match self.page {
            Page::OfficialAccount => ("connect/oauth2/authorize", Scope::Base),
            Page::Website => ("connect/qrconnect", Scope::Login),
        };
        let scope = self.scope.as_ref().unwrap_or(&default_scope);
        let mut url = format!(
            "{}{path}?appid={}&redirect_uri={}&response_type=code&scope={}&state={}",
            self.open_base,
            encode_uri_component(self.appid),
            encode_uri_component(self.redirect_uri),
            scope.as_str(),
            encode_uri_component(self.state),
        );
        if let Some(force) = self.force_popup {
            url.push_str(if force {
                "&forcePopup=true"
            } else {
                "&forcePopup=false"
            });
        }
        let connect_redirect = self
            .connect_redirect
            .unwrap_or(self.page == Page::OfficialAccount && self.default_connect_redirect);
        if connect_redirect {
            url.push_str("&connect_redirect=1");
        }
        url.push_str("#wechat_redirect");
        url
    }
}

impl fmt::Display for AuthorizeUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_encode_uri_component() {
        let enc = encode_uri_component("http://a.b/c?x=1&y=2#h !~*'()-_.中").to_string();
        assert_eq!(
            enc,
            "http%3A%2F%2Fa.b%2Fc%3Fx%3D1%26y%3D2%23h%20!~*'()-_.%E4%B8%AD"
        );
    }

    #[test]
    fn parameter_order_is_fixed_and_extras_follow_state() {
        let base = Url::parse("https://open.weixin.qq.com/").unwrap_or_else(|e| panic!("{e}"));
        let url = AuthorizeUrl::new(&base, "wxid", "https://e.com/cb?a=1&b=2", true)
            .website()
            .state("s1")
            .force_popup(false)
            .build();
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/qrconnect?appid=wxid\
             &redirect_uri=https%3A%2F%2Fe.com%2Fcb%3Fa%3D1%26b%3D2&response_type=code\
             &scope=snsapi_login&state=s1&forcePopup=false#wechat_redirect"
        );
        let url = AuthorizeUrl::new(&base, "wxid", "https://e.com/", true)
            .force_popup(true)
            .build();
        assert!(url.ends_with("&state=&forcePopup=true&connect_redirect=1#wechat_redirect"));
    }

    #[test]
    fn state_with_reserved_characters_cannot_break_the_url() {
        let base = Url::parse("https://open.weixin.qq.com/").unwrap_or_else(|e| panic!("{e}"));
        let url = AuthorizeUrl::new(&base, "wxid", "https://e.com/", false)
            .state("a&scope=snsapi_userinfo#x")
            .build();
        assert!(url.contains("&state=a%26scope%3Dsnsapi_userinfo%23x#wechat_redirect"));
        assert_eq!(url.matches('#').count(), 1);
    }
}
