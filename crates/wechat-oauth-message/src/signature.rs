//! The two signatures WeChat puts on a push: `signature` over (token, timestamp, nonce)
//! and, in the encrypted modes, `msg_signature` over (token, timestamp, nonce, Encrypt).
//!
//! Both are `sha1` of the strings sorted byte-wise and joined without separator, in
//! lower-case hex ([接入概述](https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html),
//! [消息加解密说明](https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html)).
//! Comparisons are constant-time.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// `sha1(sort(parts).join(""))` as 40 lower-case hex digits. The sort is byte-wise, which is
/// what the official PHP sample's `sort($a, SORT_STRING)` does for ASCII.
///
/// ```
/// use wechat_oauth_message::signature::sign;
///
/// // The official server-verification example: token AAAAA.
/// assert_eq!(
///     sign(&["AAAAA", "1714036504", "1514711492"]),
///     "f464b24fc39322e44b38aa78f5edd27bd1441696"
/// );
/// ```
pub fn sign(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Whether `given` equals [`sign`]`(parts)`, in constant time. Upper-case hex does not match:
/// WeChat always sends lower case.
pub fn verify(parts: &[&str], given: &str) -> bool {
    sign(parts).as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_server_signature_vectors() {
        // Vectors S1–S4 of the official docs and samples (docs/message-interface.md).
        let cases = [
            (
                "AAAAA",
                "1714036504",
                "1514711492",
                "f464b24fc39322e44b38aa78f5edd27bd1441696",
            ),
            (
                "AAAAA",
                "1714037059",
                "486452656",
                "899cf89e464efb63f54ddac96b0a0a235f53aa78",
            ),
            (
                "AAAAA",
                "1715943329",
                "1590219412",
                "cc0c594499c1634947d5b502f158ee518947db27",
            ),
            (
                "spamtest",
                "1409735669",
                "1320562132",
                "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
            ),
        ];
        for (token, timestamp, nonce, expected) in cases {
            assert!(verify(&[token, timestamp, nonce], expected), "{expected}");
        }
        // One digit off in the nonce must fail.
        assert!(!verify(
            &["AAAAA", "1714036504", "1514711493"],
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        ));
    }

    #[test]
    fn four_field_msg_signature_vector() {
        // node-webot/wechat-crypto's test vector, and the official Python sample's.
        assert_eq!(
            sign(&["RMNlACHlV5ThzfRlVS4D4", "timestamp", "nonce", "encrypt"]),
            "8edac0945683c119ee71c9f6256d76c48aa08a96"
        );
    }

    #[test]
    fn upper_case_hex_is_not_accepted() {
        assert!(!verify(
            &["AAAAA", "1714036504", "1514711492"],
            "F464B24FC39322E44B38AA78F5EDD27BD1441696"
        ));
    }
}
