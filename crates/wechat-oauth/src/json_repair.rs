//! Repairing the JSON WeChat sends: nicknames may hold invalid UTF-8 and raw control
//! characters inside strings (docs/protocol.md §6).

/// Parses JSON, tolerating what WeChat is known to send in nicknames: invalid UTF-8
/// (replaced with U+FFFD) and raw control characters inside strings (escaped), the way
/// wechatpy's `json.loads(strict=False)` after a lossy decode does (docs/protocol.md §6).
pub(crate) fn parse_lenient_json(body: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(first) if first.is_syntax() || first.is_data() => {
            let text = String::from_utf8_lossy(body);
            let mut cleaned = String::with_capacity(text.len());
            let (mut in_string, mut escaped) = (false, false);
            for c in text.chars() {
                if in_string && !escaped && c.is_control() {
                    cleaned.push_str(&format!("\\u{:04x}", u32::from(c)));
                    continue;
                }
                match c {
                    '\\' if in_string => escaped = !escaped,
                    '"' if !escaped => {
                        in_string = !in_string;
                    }
                    _ => escaped = false,
                }
                if c != '\\' {
                    escaped = false;
                }
                cleaned.push(c);
            }
            serde_json::from_str(&cleaned).map_err(|_| first)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_control_characters_in_strings_are_tolerated() {
        let v = parse_lenient_json(b"{\"nickname\":\"a\x01b\tc\",\"x\":1}").ok();
        assert_eq!(
            v.and_then(|v| v["nickname"].as_str().map(str::to_owned))
                .as_deref(),
            Some("a\u{1}b\tc")
        );
        let v = parse_lenient_json(b"{\"nickname\":\"\xff\\\"q\"}").ok();
        assert_eq!(
            v.and_then(|v| v["nickname"].as_str().map(str::to_owned))
                .as_deref(),
            Some("\u{fffd}\"q")
        );
    }
}
