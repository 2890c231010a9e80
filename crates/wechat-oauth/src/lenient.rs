//! Deserializers for WeChat's loosely typed numbers.
//!
//! WeChat sends `expires_in`, `errcode`, `sex` and friends as JSON numbers, but SDKs and
//! stores in the wild hold them as strings (the seed's MySQL table keeps `expires_in` and
//! `create_at` as `varchar`, its Mongo schema `create_at` as `String`), and some fixtures
//! show `"sex":"1"`. See docs/protocol.md §1. These accept a number,
//! a numeric string, or a float (truncated), and reject anything else with a clear error.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, or a string holding one")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.is_finite() && v.abs() < 9.0e18 {
            // Truncation is intended: the seed's own test stores `expires_in: 0.1`.
            #[allow(clippy::cast_possible_truncation)]
            Ok(v.trunc() as i64)
        } else {
            Err(E::custom("number out of range"))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(n);
        }
        match t.parse::<f64>() {
            Ok(f) => self.visit_f64(f),
            Err(_) => Err(E::custom("expected a numeric string")),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<i64, E> {
        Ok(i64::from(v))
    }
}

/// An `i64` from a number or a numeric string.
pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(IntVisitor)
}

/// A non-negative `u64` from a number or a numeric string.
pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = d.deserialize_any(IntVisitor)?;
    u64::try_from(v).map_err(|_| de::Error::custom("expected a non-negative number"))
}

/// An optional `i64`: absent or `null` is `None`.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct OptVisitor;
    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an optional integer")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            i64(d).map(Some)
        }
    }
    d.deserialize_option(OptVisitor)
}

/// A flag sent as `1`/`0`, `"1"`/`"0"`, `true`/`false` or `null`.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_i64(d)?.unwrap_or(0) != 0)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::i64")]
        n: i64,
        #[serde(default, deserialize_with = "super::flag")]
        f: bool,
    }

    fn n(json: &str) -> Option<(i64, bool)> {
        serde_json::from_str::<T>(json).ok().map(|t| (t.n, t.f))
    }

    #[test]
    fn accepts_numbers_strings_and_floats() {
        assert_eq!(n(r#"{"n":7200}"#), Some((7200, false)));
        assert_eq!(n(r#"{"n":"7200","f":1}"#), Some((7200, true)));
        assert_eq!(
            n(r#"{"n":" 1540000000000 ","f":"1"}"#),
            Some((1_540_000_000_000, true))
        );
        assert_eq!(n(r#"{"n":0.1,"f":null}"#), Some((0, false)));
    }

    #[test]
    fn rejects_non_numbers() {
        assert_eq!(n(r#"{"n":"soon"}"#), None);
        assert_eq!(n(r#"{"n":[1]}"#), None);
        assert_eq!(n(r#"{"n":1e300}"#), None);
    }
}
