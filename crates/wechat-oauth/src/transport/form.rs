//! Request URLs: `base + path + ?query`, the query `application/x-www-form-urlencoded`.

#[cfg(test)]
use url::Url;

/// `base + path + ?query`, the query form-encoded in the given order exactly as
/// `Url::query_pairs_mut` would, without parsing the base again on every call.
#[cfg(test)]
pub(crate) fn request_url(base: &Url, path: &str, query: &[(&str, &str)]) -> String {
    let origin = &base.as_str()[..base.as_str().len() - base.path().len()];
    format!("{origin}{}", request_path(base.path(), path, query))
}

/// The path and query of [`request_url`]: `base_path + path + ?query`, where `base_path`
/// is the API base's path (ending in `/`).
pub(crate) fn request_path(base: &str, path: &str, query: &[(&str, &str)]) -> String {
    let path = path.trim_start_matches('/');
    let wanted = query
        .iter()
        .map(|(k, v)| k.len() + v.len() + 2)
        .sum::<usize>();
    let mut url = String::with_capacity(base.len() + path.len() + wanted);
    url.push_str(base);
    url.push_str(path);
    for (i, (key, value)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        push_form_encoded(&mut url, key);
        url.push('=');
        push_form_encoded(&mut url, value);
    }
    url
}

/// Whether `application/x-www-form-urlencoded` leaves `b` as it is: ASCII letters and
/// digits, `*`, `-`, `.` and `_`. Branch-free, so that a loop over a token vectorizes.
#[inline]
const fn encodes_as_itself(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'*') | (b == b'-') | (b == b'.') | (b == b'_')
}

/// Appends `text` `application/x-www-form-urlencoded`. Tokens, openids and codes are
/// nearly always made of bytes that encode as themselves, so those are copied as they are.
fn push_form_encoded(out: &mut String, text: &str) {
    if text.bytes().fold(true, |all, b| all & encodes_as_itself(b)) {
        out.push_str(text);
    } else {
        out.extend(form_urlencoded::byte_serialize(text.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the transport used to send: `Url::join` + `query_pairs_mut`.
    fn url_crate_reference(base: &str, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = Url::parse(base).unwrap().join(path).unwrap();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.to_string()
    }

    #[test]
    fn the_bytes_left_as_they_are_are_those_of_the_form_encoding() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
            assert_eq!(encodes_as_itself(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn request_urls_are_encoded_as_the_url_crate_encodes_them() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        for query in [
            &[][..],
            &[
                ("access_token", "86_AbC-x.y_z*"),
                ("openid", "oABC"),
                ("lang", "zh_CN"),
            ][..],
            &[
                ("state", "a b+c&d=e/f?g#h%"),
                ("名", "微信 ✓"),
                ("", "~'!()"),
            ][..],
        ] {
            assert_eq!(
                request_url(&base, "sns/userinfo", query),
                url_crate_reference("http://127.0.0.1:9/prefix/", "sns/userinfo", query)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_query_is_encoded_as_the_url_crate_encodes_it(
            key in ".{0,12}", value in ".{0,40}", token in "[A-Za-z0-9_*.-]{0,40}"
        ) {
            let base = Url::parse("https://api.weixin.qq.com/").unwrap();
            let query = [("access_token", token.as_str()), (key.as_str(), value.as_str())];
            proptest::prop_assert_eq!(
                request_url(&base, "/sns/auth", &query),
                url_crate_reference("https://api.weixin.qq.com/", "sns/auth", &query)
            );
        }
    }
}
