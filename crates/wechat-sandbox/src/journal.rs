//! The request journal: what clients sent, in wire order, for tests to assert on.

use serde::Serialize;

/// One request the sandbox received on a WeChat route (`/connect/*`, `/sns/*`, `/cgi-bin/*`,
/// `/wxa/*`; control-plane requests under `/__sandbox/` are not journaled).
///
/// The journal is a test fixture: it holds secrets, codes and tokens exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JournalEntry {
    /// HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// Path without the query string (`/sns/oauth2/access_token`).
    pub path: String,
    /// Query parameters, percent-decoded, in the order they were on the wire (duplicates kept).
    pub params: Vec<(String, String)>,
    /// The request body as UTF-8 (lossy), or `None` when it was empty.
    pub body: Option<String>,
    /// The request's `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Sandbox-clock time of arrival, unix milliseconds.
    pub at_ms: i64,
}

impl JournalEntry {
    /// The first value of query parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter names in wire order (`["appid", "secret", "code", "grant_type"]`).
    pub fn param_names(&self) -> Vec<&str> {
        self.params.iter().map(|(k, _)| k.as_str()).collect()
    }
}
