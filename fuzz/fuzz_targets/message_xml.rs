//! Fuzzes the message interface's XML reader on what arrives at the server URL: the
//! hardened parser (no DOCTYPE, no entities, depth and field limits), the typed message
//! built from its fields, and a passive reply to whatever parsed. Properties: nothing
//! panics; a parsed message can always be answered, and the answer parses back with the
//! sender and recipient swapped.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none message_xml`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_oauth_message::xml::{XmlLimits, parse};
use wechat_oauth_message::{Message, Reply};

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = parse(data, XmlLimits::default()) else {
        return;
    };
    assert!(fields.len() <= XmlLimits::default().max_fields);
    let Ok(message) = Message::from_fields(fields) else {
        return;
    };
    let _ = (message.event(), message.dedupe_key());
    if let Some(xml) = Reply::text("收到").to_xml(&message, 1_700_000_000) {
        let reply = parse(xml.as_bytes(), XmlLimits::default()).expect("our reply parses");
        assert_eq!(reply.get("ToUserName"), message.field("FromUserName"));
        assert_eq!(reply.get("FromUserName"), message.field("ToUserName"));
        assert_eq!(reply.get("Content"), Some("收到"));
    }
});
