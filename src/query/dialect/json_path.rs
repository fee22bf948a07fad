//! A fast path for `json_extract_scalar`: walks the JSON text to the path without building a
//! document. Values off the path are skipped (`IgnoredAny` checks their syntax but keeps
//! nothing), and only the scalar at the path is kept. The answers are those of the full parse
//! (`trino::extract_scalar`), which the tests compare on hostile inputs.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::trino::Step;

/// Trino's `json_extract_scalar` of `json` at `steps`: the string (unescaped), number or boolean
/// there as text; None for null, an object or an array, a path that does not match, or text that
/// is not JSON.
pub fn scalar_at(json: &str, steps: &[Step]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let found = Nav { steps }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

struct Nav<'s> {
    steps: &'s [Step],
}

impl<'de> DeserializeSeed<'de> for Nav<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.steps.split_first() {
            None => d.deserialize_any(Scalar),
            Some((step, rest)) => d.deserialize_any(StepVisitor { step, rest }),
        }
    }
}

/// The value at the end of the path, as Trino's text.
struct Scalar;

impl<'de> Visitor<'de> for Scalar {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Written as serde_json writes a parsed number.
        Ok(serde_json::Number::from_f64(v).map(|n| n.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

struct StepVisitor<'s> {
    step: &'s Step,
    rest: &'s [Step],
}

impl<'de> Visitor<'de> for StepVisitor<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(match self.step {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        }))? {
            if is_key {
                // A repeated key: the last one counts, as in a full parse.
                found = map.next_value_seed(Nav { steps: self.rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0usize;
        loop {
            let here = matches!(self.step, Step::Index(n) if *n == i) && found.is_none();
            if here {
                match seq.next_element_seed(Nav { steps: self.rest })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    // A scalar where the path goes on: no match.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Deserializes an object key to "is it the wanted key", without keeping it.
struct KeyIs<'s>(Option<&'s str>);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(self.0 == Some(v))
    }
}
