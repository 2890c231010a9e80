//! WeChat's XML, both ways: a hardened reader that flattens a push into [`Fields`], and the
//! CDATA writer the replies use.
//!
//! The reader is quick-xml's pull parser with every dangerous feature refused rather than
//! configured away: a `<!DOCTYPE` (the door to XXE and "billion laughs") is an error, as is
//! any entity reference beyond the five XML built-ins and character references. Depth and
//! field counts are bounded, so a hostile body costs at most its (already bounded) size.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::XmlError;

/// How much XML the reader accepts. The defaults are far above anything WeChat sends
/// (a few hundred bytes, nesting of 4 for the menu events' `SendPicsInfo/PicList/item/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Maximum element nesting, the root `<xml>` counting as 1. Default 8.
    pub max_depth: usize,
    /// Maximum number of leaf fields. Default 256.
    pub max_fields: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 8,
            max_fields: 256,
        }
    }
}

/// The leaf elements of one `<xml>` document, in document order, each named by its path
/// below the root (`Content`, `ScanCodeInfo/ScanType`, `SendPicsInfo/PicList/item/PicMd5Sum`).
///
/// CDATA and plain text read alike; values are kept byte for byte (never trimmed). An
/// element that has child elements is not itself a field; its whitespace between children
/// is formatting and dropped. Repeated paths (list items) are all kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

/// Shows the field names only: values may be a decrypted user's message.
impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Fields {
    /// The first value at `path`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }

    /// Every value at `path`, in document order (for repeated list items).
    pub fn get_all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }

    /// Every `(path, value)` pair in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds fields from pairs (for tests and for handlers that synthesize messages).
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

struct Open {
    /// Path of this element below the root (empty for the root itself).
    path: String,
    text: String,
    has_children: bool,
}

/// Parses one `<xml>…</xml>` document into its leaf fields.
///
/// # Errors
/// [`XmlError`] for anything but a single well-formed `<xml>` root within `limits`, and
/// for any DOCTYPE or non-built-in entity.
pub fn parse(body: &[u8], limits: XmlLimits) -> Result<Fields, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = true;

    let mut fields = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut seen_root = false;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|_| XmlError::Malformed { position })?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) => {
                let name = start.name().into_inner().to_owned();
                let depth = stack.len();
                match stack.last_mut() {
                    None => {
                        if seen_root {
                            return Err(XmlError::NotOneRoot);
                        }
                        if name != "xml" {
                            return Err(XmlError::WrongRoot);
                        }
                        seen_root = true;
                        stack.push(Open {
                            path: String::new(),
                            text: String::new(),
                            has_children: false,
                        });
                    }
                    Some(parent) => {
                        if depth >= limits.max_depth {
                            return Err(XmlError::TooDeep {
                                limit: limits.max_depth,
                            });
                        }
                        parent.has_children = true;
                        let path = if parent.path.is_empty() {
                            name
                        } else {
                            format!("{}/{name}", parent.path)
                        };
                        stack.push(Open {
                            path,
                            text: String::new(),
                            has_children: false,
                        });
                    }
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(XmlError::Malformed { position });
                };
                if !stack.is_empty() && !done.has_children {
                    if fields.len() >= limits.max_fields {
                        return Err(XmlError::TooManyFields {
                            limit: limits.max_fields,
                        });
                    }
                    fields.push((done.path, done.text));
                }
            }
            Event::Text(t) => match stack.last_mut() {
                Some(open) => open.text.push_str(&t.xml10_content()),
                None if t.trim().is_empty() => {}
                None => return Err(XmlError::NotOneRoot),
            },
            Event::CData(c) => match stack.last_mut() {
                Some(open) => {
                    let raw = c.into_inner();
                    open.text.push_str(&raw);
                }
                None => return Err(XmlError::NotOneRoot),
            },
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .ok()
                        .flatten()
                        .ok_or(XmlError::Entity)?
                } else {
                    match &*r.into_inner() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(XmlError::Entity),
                    }
                };
                match stack.last_mut() {
                    Some(open) => open.text.push(resolved),
                    None => return Err(XmlError::NotOneRoot),
                }
            }
            Event::Empty(_) => {
                // expand_empty_elements turns `<a/>` into Start + End; never reached.
                return Err(XmlError::Malformed { position });
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !seen_root || !stack.is_empty() {
        return Err(XmlError::NotOneRoot);
    }
    Ok(Fields(fields))
}

/// Appends `<name><![CDATA[value]]></name>`. A `]]>` inside `value` would end the section
/// early, so it is split across two sections (`]]` + `>`), which readers join back.
pub(crate) fn push_cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str("><![CDATA[");
    out.push_str(&cdata_safe(value));
    out.push_str("]]></");
    out.push_str(name);
    out.push('>');
}

/// Appends `<name>value</name>` for numbers (WeChat writes `CreateTime` bare).
pub(crate) fn push_number(out: &mut String, name: &str, value: impl std::fmt::Display) {
    use std::fmt::Write as _;
    let _ = write!(out, "<{name}>{value}</{name}>");
}

fn cdata_safe(value: &str) -> Cow<'_, str> {
    if value.contains("]]>") {
        Cow::Owned(value.replace("]]>", "]]]]><![CDATA[>"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(xml: &str) -> Result<Fields, XmlError> {
        parse(xml.as_bytes(), XmlLimits::default())
    }

    #[test]
    fn cdata_and_text_read_alike_and_are_not_trimmed() {
        let f = fields(
            "<xml><A><![CDATA[ x ]]></A>\n<B> y </B><C>1 &lt; 2 &#x4e2d;</C><D></D><E/></xml>",
        )
        .unwrap_or_default();
        assert_eq!(f.get("A"), Some(" x "));
        assert_eq!(f.get("B"), Some(" y "));
        assert_eq!(f.get("C"), Some("1 < 2 中"));
        assert_eq!(f.get("D"), Some(""));
        assert_eq!(f.get("E"), Some(""));
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn nested_elements_become_paths() {
        let f = fields(
            "<xml><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[a]]></PicMd5Sum></item>\
             <item><PicMd5Sum><![CDATA[b]]></PicMd5Sum></item></PicList></SendPicsInfo></xml>",
        )
        .unwrap_or_default();
        assert_eq!(f.get("SendPicsInfo/Count"), Some("2"));
        let sums: Vec<_> = f.get_all("SendPicsInfo/PicList/item/PicMd5Sum").collect();
        assert_eq!(sums, ["a", "b"]);
    }

    #[test]
    fn xxe_doctype_is_refused() {
        let evil = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><A>&xxe;</A></xml>"#;
        assert_eq!(fields(evil), Err(XmlError::Doctype));
    }

    #[test]
    fn undeclared_entities_are_refused() {
        assert_eq!(fields("<xml><A>&xxe;</A></xml>"), Err(XmlError::Entity));
    }

    #[test]
    fn depth_and_field_limits_hold() {
        let deep = format!("<xml>{}x{}</xml>", "<a>".repeat(20), "</a>".repeat(20));
        assert_eq!(fields(&deep), Err(XmlError::TooDeep { limit: 8 }));
        let many = format!("<xml>{}</xml>", "<a>1</a>".repeat(300));
        assert_eq!(fields(&many), Err(XmlError::TooManyFields { limit: 256 }));
    }

    #[test]
    fn malformed_and_wrong_roots_are_errors() {
        assert!(matches!(
            fields("<xml><A>x</B></xml>"),
            Err(XmlError::Malformed { .. })
        ));
        assert_eq!(fields("<root><A>x</A></root>"), Err(XmlError::WrongRoot));
        assert_eq!(fields("<xml></xml><xml></xml>"), Err(XmlError::NotOneRoot));
        assert_eq!(fields("   "), Err(XmlError::NotOneRoot));
        assert_eq!(fields("<xml><A>x</A>"), Err(XmlError::NotOneRoot));
        assert_eq!(
            parse(b"<xml>\xff</xml>", XmlLimits::default()),
            Err(XmlError::NotUtf8)
        );
    }

    #[test]
    fn cdata_writer_splits_the_terminator() {
        let mut out = String::new();
        push_cdata(&mut out, "Content", "a]]>b");
        let back = fields(&format!("<xml>{out}</xml>")).unwrap_or_default();
        assert_eq!(back.get("Content"), Some("a]]>b"));
    }
}
