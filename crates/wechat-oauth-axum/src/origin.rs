//! Refusing cross-site requests to the logout routes.
//!
//! A logout is a state-changing `POST`; another site's page must not be able to sign the
//! user out (or out everywhere). Browsers say where a request comes from in two headers that
//! a page cannot set or forge: `Sec-Fetch-Site` (Fetch Metadata, every current browser) and
//! `Origin` (every `POST` from a current browser). These are not claims a client makes about
//! itself in the sense of a user agent: a non-browser client can send anything, but it also
//! holds its own cookies only, so it can sign out no one but itself.
//!
//! A request without either header (an old browser, a script with the user's own cookie)
//! is let through: the session cookie is `SameSite=Lax`, which such browsers already keep
//! off cross-site `POST`s.

use axum::http::{HeaderMap, header};

/// Why a request was judged cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrossSite {
    /// `Sec-Fetch-Site` was `cross-site` or `same-site` (a sibling subdomain may belong to
    /// someone else).
    FetchMetadata,
    /// `Origin` named another origin (or `null`).
    Origin,
}

/// `Ok` unless the browser says the request comes from somewhere other than `site_origin`
/// (`scheme://host[:port]`, lower case).
pub(crate) fn check_same_origin(headers: &HeaderMap, site_origin: &str) -> Result<(), CrossSite> {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: the user typed or bookmarked it; `same-origin`: this site's own page.
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(CrossSite::FetchMetadata);
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin
            .to_str()
            .is_ok_and(|o| o.eq_ignore_ascii_case(site_origin));
        if !same {
            return Err(CrossSite::Origin);
        }
    }
    Ok(())
}

/// The origin of an absolute URL already checked by the builder.
pub(crate) fn origin_of(uri: &axum::http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map_or("", |a| a.as_str());
    let default_port = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    // Browsers leave a default port out of `Origin`.
    let authority = match (uri.port_u16(), default_port) {
        (Some(port), Some(default)) if port == default => uri.host().unwrap_or(authority),
        _ => authority,
    };
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_passes_and_cross_site_fails() {
        let site = "https://example.com";
        assert_eq!(check_same_origin(&headers(&[]), site), Ok(()));
        assert_eq!(
            check_same_origin(
                &headers(&[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://example.com")
                ]),
                site
            ),
            Ok(())
        );
        for bad in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")],
            &[("origin", "https://evil.com")],
            &[("origin", "null")],
            &[("origin", "https://example.com.evil.com")],
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://example.com"),
            ],
        ] {
            assert!(check_same_origin(&headers(bad), site).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins_drop_default_ports() {
        let origin = |u: &str| origin_of(&u.parse().unwrap());
        assert_eq!(origin("https://Example.com:443/cb"), "https://example.com");
        assert_eq!(origin("http://127.0.0.1:3000/cb"), "http://127.0.0.1:3000");
        assert_eq!(origin("http://localhost/cb"), "http://localhost");
    }
}
