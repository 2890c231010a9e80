//! A parsed request as the handlers see it.

use std::borrow::Cow;

use hyper::{HeaderMap, Method};

use crate::model::Directory;
use crate::state::State;

pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    /// The raw query string (without `?`), exactly as sent.
    pub query: &'a str,
    /// Percent-decoded query pairs in wire order.
    pub params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl<'a> Req<'a> {
    /// The first value of `name`; an empty value counts as missing, as WeChat treats it.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a handler works with: the fixed directory, the locked state and the sandbox time.
pub(crate) struct Ctx<'a> {
    pub dir: &'a Directory,
    pub st: &'a mut State,
    pub now_ms: i64,
}
