//! [`HttpOptions`]: how a client reaches WeChat. Shared by the OAuth and Mini Program clients.

use std::time::Duration;

use url::Url;

use std::sync::Arc;

use crate::Error;
use crate::transport::{
    Client, DEFAULT_MAX_BODY_BYTES, HttpClient, HyperClient, RetryPolicy, Transport,
};

/// Production base URL of WeChat's JSON APIs.
pub const API_BASE: &str = "https://api.weixin.qq.com/";
/// Production base URL of WeChat's authorization pages.
pub const OPEN_BASE: &str = "https://open.weixin.qq.com/";

/// Connection settings shared by every client: base URLs, timeouts, response size limit,
/// retries, a cap on connections and an optional caller-supplied [`HttpClient`]. Per
/// app; there are no globals.
///
/// Without a `client`, requests go through the built-in [`HyperClient`] (hyper over
/// rustls, the platform's certificate verifier). With the `reqwest` feature on, when the
/// environment sets a proxy for the API base (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
/// lower case too, minus `NO_PROXY`), a `reqwest::Client`, which goes through that proxy,
/// is built instead. With the feature off, those variables are not followed: requests go
/// straight to the API base, and building the client logs a warning saying so.
#[derive(Clone)]
pub struct HttpOptions {
    /// Base URL of the JSON APIs (`sns/*`, `cgi-bin/*`, `wxa/*`).
    pub api_base: Url,
    /// Base URL of the authorization pages (`connect/oauth2/authorize`, `connect/qrconnect`).
    pub open_base: Url,
    /// Time allowed to establish a connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, answer included (default 10 s).
    pub timeout: Duration,
    /// Largest response body accepted (default 1 MiB).
    pub max_body_bytes: usize,
    /// How many times an idempotent call is retried on a transport error or WeChat's -1 (default 2).
    pub max_retries: u32,
    /// First backoff delay between retries; doubles each time, with jitter (default 100 ms).
    pub retry_backoff: Duration,
    /// Most requests in flight to WeChat at once (default 64). Each in-flight request holds
    /// one pooled connection, so this bounds the sockets and buffers a burst can open; calls
    /// beyond it wait for a free slot (within `timeout`). Applies to a caller's `client` too.
    pub max_connections: usize,
    /// A caller-supplied client (a `reqwest::Client` for a proxy or custom TLS, a closure
    /// in tests). `timeout` still bounds each exchange; `connect_timeout` is then the
    /// client's business.
    pub client: Option<Arc<dyn HttpClient>>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("api_base", &self.api_base.as_str())
            .field("open_base", &self.open_base.as_str())
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("max_connections", &self.max_connections)
            .field("custom_client", &self.client.is_some())
            .finish()
    }
}

/// The connection setters every client builder shares; each builder keeps its
/// [`HttpOptions`] in a field named `http`.
macro_rules! http_option_setters {
    () => {
        /// Time allowed for a whole request, answer included (default 10 s).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.http.timeout = timeout;
            self
        }

        /// Time allowed to connect (default 5 s).
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.http.connect_timeout = timeout;
            self
        }

        /// Most requests in flight to WeChat at once, and so most connections open (default
        /// [`DEFAULT_MAX_CONNECTIONS`](crate::DEFAULT_MAX_CONNECTIONS)); further calls
        /// queue for a free slot within [`timeout`](Self::timeout).
        pub fn max_connections(mut self, limit: usize) -> Self {
            self.http.max_connections = limit;
            self
        }

        /// Send requests through this [`HttpClient`](crate::transport::HttpClient)
        /// instead of the built-in one: a `reqwest::Client` (feature `reqwest`) for a
        /// proxy or custom TLS roots, or an async closure standing in for WeChat in a
        /// test. [`timeout`](Self::timeout) still bounds each exchange;
        /// [`connect_timeout`](Self::connect_timeout) is then the client's business.
        pub fn http_client<C: crate::transport::HttpClient + 'static>(mut self, client: C) -> Self {
            self.http.client = Some(std::sync::Arc::new(client));
            self
        }

        /// How many times an idempotent call is retried on a transport error or WeChat's
        /// -1 (default 2). Code exchanges are never retried.
        pub fn max_retries(mut self, retries: u32) -> Self {
            self.http.max_retries = retries;
            self
        }

        /// First delay between retries; doubles each time, with jitter (default 100 ms).
        pub fn retry_backoff(mut self, backoff: Duration) -> Self {
            self.http.retry_backoff = backoff;
            self
        }

        /// Largest response body accepted (default 1 MiB).
        pub fn max_body_bytes(mut self, limit: usize) -> Self {
            self.http.max_body_bytes = limit;
            self
        }
    };
}
pub(crate) use http_option_setters;

/// Default for [`HttpOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            api_base: parse_base(API_BASE),
            open_base: parse_base(OPEN_BASE),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_retries: 2,
            retry_backoff: Duration::from_millis(100),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            client: None,
        }
    }
}

fn parse_base(s: &str) -> Url {
    // Both constants are valid absolute URLs; `Url::parse` cannot fail on them.
    Url::parse(s).unwrap_or_else(|_| unreachable!("constant base URL is valid"))
}

/// Parses a base URL and makes it end in `/`, so that joining `sns/userinfo` keeps its path.
///
/// # Errors
/// [`Error::Config`] if `base` is not an absolute http(s) URL.
pub fn normalize_base(base: &str) -> Result<Url, Error> {
    let mut url = Url::parse(base).map_err(|e| Error::Config(format!("invalid base URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config("base URL must be http or https".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(
            "base URL must not have a query or fragment".into(),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl HttpOptions {
    /// Builds the transport these options describe.
    pub(crate) fn transport(&self) -> Result<Transport, Error> {
        let retry = RetryPolicy {
            max_retries: self.max_retries,
            backoff: self.retry_backoff,
        };
        let client = match &self.client {
            Some(client) => Client::Custom(Arc::clone(client)),
            None => match self.environment_proxy_client()? {
                Some(client) => Client::Custom(client),
                None => Client::Builtin(Box::new(HyperClient::new(
                    self.connect_timeout,
                    self.max_connections,
                    self.max_body_bytes,
                )?)),
            },
        };
        Ok(Transport::new(
            client,
            self.api_base.clone(),
            self.max_connections,
            self.max_body_bytes,
            retry,
            Some(self.timeout),
        ))
    }

    /// A reqwest client that goes through the environment's proxy, when it sets one for
    /// the API base.
    #[cfg(feature = "reqwest")]
    fn environment_proxy_client(&self) -> Result<Option<Arc<dyn HttpClient>>, Error> {
        if !proxied_by_environment(&self.api_base) {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            // No `.timeout()`: the transport's total deadline is the one timer per request.
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(self.max_connections)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(crate::transport::USER_AGENT)
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {}", e.without_url())))?;
        Ok(Some(Arc::new(client)))
    }

    /// Without the `reqwest` feature there is no proxy support: say so once per client.
    #[cfg(not(feature = "reqwest"))]
    #[allow(clippy::unnecessary_wraps)]
    fn environment_proxy_client(&self) -> Result<Option<Arc<dyn HttpClient>>, Error> {
        if proxied_by_environment(&self.api_base) {
            tracing::warn!(
                target: "wechat_oauth::http",
                "a proxy variable (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) covers the WeChat API \
                 host, but wechat-oauth was built without its `reqwest` feature: connecting \
                 directly"
            );
        }
        Ok(None)
    }
}

/// Whether the environment routes requests to `base` through a proxy (the rules reqwest
/// and curl follow, `NO_PROXY` included).
fn proxied_by_environment(base: &Url) -> bool {
    base.as_str().parse::<http::Uri>().is_ok_and(|uri| {
        hyper_util::client::proxy::matcher::Matcher::from_env()
            .intercept(&uri)
            .is_some()
    })
}

/// Refuses a plain-http base URL off loopback unless explicitly allowed: every client sends
/// the app secret (docs/protocol.md §7). Loopback stays allowed for the sandbox.
pub(crate) fn check_scheme(base: &Url, allow_insecure_http: bool) -> Result<(), Error> {
    if base.scheme() == "https" || allow_insecure_http {
        return Ok(());
    }
    let loopback = match base.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "refusing plain-http base URL on {}: the app secret would travel unencrypted \
             (use https, or allow_insecure_http(true) for a test server)",
            base.host_str().unwrap_or("?")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_gain_a_trailing_slash() {
        let url = normalize_base("http://127.0.0.1:8080/wechat").ok();
        assert_eq!(
            url.map(|u| u.to_string()).as_deref(),
            Some("http://127.0.0.1:8080/wechat/")
        );
        assert!(normalize_base("ftp://x").is_err());
        assert!(normalize_base("not a url").is_err());
    }
}
