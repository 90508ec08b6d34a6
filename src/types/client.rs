//! Client handles (`1000/RW-P`): a number unique in the gateway, a slash, and the
//! configured suffix. Parsed once; a [`ClientHandle`] always has that shape.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientHandle {
    text: String,
    number: u64,
}

impl ClientHandle {
    /// The handle, when `v` has the shape `NUMBER/SUFFIX` (a number of 1 to 15 digits
    /// without a leading zero, a suffix of 1 to 12 of `A-Z -`).
    pub fn parse(v: &str) -> Option<ClientHandle> {
        let (n, suffix) = v.split_once('/')?;
        let shape = !n.is_empty()
            && n.len() <= 15
            && n.bytes().all(|b| b.is_ascii_digit())
            && !n.starts_with('0')
            && !suffix.is_empty()
            && suffix.len() <= 12
            && suffix.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
        let number = if shape { n.parse().ok()? } else { return None };
        Some(ClientHandle {
            text: v.to_string(),
            number,
        })
    }

    /// The number of a handle kept as text (a stored record's), when it has the shape.
    pub fn number_of(v: &str) -> Option<u64> {
        ClientHandle::parse(v).map(|h| h.number)
    }

    /// The handle a new client gets.
    pub fn new(number: u64, suffix: &str) -> ClientHandle {
        ClientHandle {
            text: format!("{number}/{suffix}"),
            number,
        }
    }

    /// The number part: the key of the client in the store.
    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::ops::Deref for ClientHandle {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A handle is written as its text, so fingerprints and stored records keep the form
/// they had as plain strings.
impl Serialize for ClientHandle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ClientHandle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ClientHandle, D::Error> {
        let s = String::deserialize(d)?;
        ClientHandle::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a client handle")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_have_one_shape() {
        let h = ClientHandle::parse("1000/RW-P").unwrap();
        assert_eq!((h.number(), h.as_str()), (1000, "1000/RW-P"));
        for bad in [
            "",
            "1000",
            "0100/RW",
            "1000/",
            "/RW",
            "10a0/RW",
            "1000/rw",
            "1/ABCDEFGHIJKLM",
        ] {
            assert!(ClientHandle::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&h).unwrap(), "\"1000/RW-P\"");
        let back: ClientHandle = serde_json::from_str("\"1000/RW-P\"").unwrap();
        assert_eq!(back, h);
    }
}
