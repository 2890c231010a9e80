//! Property tests: round trips hold for any content, and no input panics.

use proptest::prelude::*;
use wechat_oauth_message::{EncodingAesKey, Reply, XmlLimits, crypto, xml};

fn key() -> EncodingAesKey {
    EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
        .unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #[test]
    fn encryption_round_trips(msg in any::<String>(), appid in "[a-z0-9]{1,20}") {
        let key = key();
        let encrypt = crypto::encrypt(&key, &appid, &msg);
        let back = crypto::decrypt(&key, &appid, &encrypt).map(|m| m.to_string());
        prop_assert_eq!(back, Ok(msg));
    }

    #[test]
    fn a_text_reply_reads_back_exactly(content in any::<String>().prop_filter("XML chars", |s| {
        s.chars().all(|c| c == '\t' || c == '\n' || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}'))
            && !s.contains('\r')
    })) {
        let xml_text = Reply::text(content.clone()).to_xml_for("oUser", "gh_1", 1).unwrap_or_default();
        let fields = xml::parse(xml_text.as_bytes(), XmlLimits::default());
        prop_assert_eq!(fields.ok().and_then(|f| f.get("Content").map(str::to_owned)), Some(content));
    }

    #[test]
    fn decryption_never_panics(encrypt in any::<String>()) {
        let _ = crypto::decrypt(&key(), "wx1", &encrypt);
    }

    #[test]
    fn decryption_of_random_blocks_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine as _;
        let encrypt = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = crypto::decrypt(&key(), "wx1", &encrypt);
    }

    #[test]
    fn the_xml_reader_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = xml::parse(&body, XmlLimits::default());
    }

    #[test]
    fn the_xml_reader_never_panics_on_xml_like_text(body in "(<[a-z/!?]{0,3}|[a-z]{0,3}>|&[a-z#0-9]{0,4};?|<!\\[CDATA\\[|\\]\\]>|x){0,40}") {
        let _ = xml::parse(body.as_bytes(), XmlLimits::default());
    }
}
