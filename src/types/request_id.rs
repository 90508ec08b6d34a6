//! Request-ids: a partner's key for executing a mutating request at most once. Checked
//! once, where a request comes in; past that edge a [`RequestId`] is known to be valid.
//!
//! ```text
//! 1 to 64 characters of  A-Z a-z 0-9 . _ : -
//! ```

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

/// The protocol's shape of a request-id.
fn well_formed(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl RequestId {
    /// A request-id as a partner sent it: 2005 (naming `request-id`) when malformed.
    pub fn parse(v: &str) -> Result<RequestId> {
        if well_formed(v) {
            Ok(RequestId(v.to_string()))
        } else {
            Err(Error::value(
                "request-id",
                format!("{v:?}: 1 to 64 characters of A-Z a-z 0-9 . _ : -"),
            ))
        }
    }

    /// A request-id as a partner sent it, when well formed (a malformed one is never
    /// echoed back).
    pub fn valid(v: &str) -> Option<RequestId> {
        well_formed(v).then(|| RequestId(v.to_string()))
    }

    /// A request-id derived from `raw` (an order key, a background job's name): `raw`
    /// itself when the protocol allows it, else `h-` and a SHA-256 prefix of it. A raw
    /// id always has a `:` and a hashed one never does, so the two cannot collide.
    pub fn derived(raw: &str) -> RequestId {
        if well_formed(raw) {
            return RequestId(raw.to_string());
        }
        let hex: String = <sha2::Sha256 as sha2::Digest>::digest(raw.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        RequestId(format!("h-{}", &hex[..62]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<RequestId> for String {
    fn from(r: RequestId) -> String {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_shape_is_checked() {
        assert!(RequestId::parse("R1:a.b_c-d").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("a b").is_err());
        assert!(RequestId::parse(&"a".repeat(65)).is_err());
        assert_eq!(RequestId::valid("a b"), None);
    }

    #[test]
    fn derived_ids_are_raw_when_allowed_and_hashed_otherwise() {
        assert_eq!(RequestId::derived("shop:R-1.a_b").as_str(), "shop:R-1.a_b");
        let long = format!("shop:{}", "x".repeat(64));
        let h = RequestId::derived(&long);
        assert!(h.starts_with("h-") && h.len() == 64 && !h.contains(':'));
        assert_ne!(h, RequestId::derived(&format!("shop:{}", "y".repeat(64))));
        assert!(RequestId::derived("client:1000/RW-P").starts_with("h-"));
    }
}
