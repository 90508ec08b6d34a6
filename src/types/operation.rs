//! The priced operations on a domain, and prices kept per operation.
//!
//! Every price of a zone (the catalogue's, a partner's own, a programme's special price)
//! is a [`PerOperation`] table: an operation that has a `fallback` may be left out of
//! it and is then priced as its fallback; one without a fallback must be given. The
//! configuration reads such a table from the operations' names (`register = "590.00"`,
//! `renew = "590.00"`), so a new operation is a line in [`Operation`] and nowhere else.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Register,
    Renew,
    /// A domain brought in from another registrar (one year).
    Transfer,
}

impl Operation {
    /// Every priced domain operation, in the order `price.list` lists them.
    pub const ALL: [Operation; 3] = [Operation::Register, Operation::Renew, Operation::Transfer];

    /// The operation's name: its key in a price table, and in `price.list`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Register => "register",
            Operation::Renew => "renew",
            Operation::Transfer => "transfer",
        }
    }

    /// The operation whose price applies where a table gives none for this one; `None`
    /// when every table must price it.
    pub fn fallback(self) -> Option<Operation> {
        match self {
            Operation::Register | Operation::Renew => None,
            // A transfer adds a year, as a renewal does.
            Operation::Transfer => Some(Operation::Renew),
        }
    }

    /// The years an order of this operation is for, when the operation fixes them;
    /// `None` when the order chooses them within the zone's periods.
    pub fn years(self) -> Option<u32> {
        match self {
            Operation::Register | Operation::Renew => None,
            Operation::Transfer => Some(1),
        }
    }

    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.name() == name)
    }

    /// The names of every operation, for messages: `register, renew`.
    pub fn names() -> String {
        Operation::ALL.map(Operation::name).join(", ")
    }
}

/// A price (or anything priced) per operation. Built only through [`PerOperation::new`],
/// so every operation without a fallback is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerOperation<T> {
    own: BTreeMap<Operation, T>,
}

impl<T> PerOperation<T> {
    /// The table of `entries`, or why it is not one: an operation named twice, or one
    /// without a fallback missing.
    pub fn new(entries: impl IntoIterator<Item = (Operation, T)>) -> Result<Self, String> {
        let mut own = BTreeMap::new();
        for (op, v) in entries {
            if own.insert(op, v).is_some() {
                return Err(format!("{} is given twice", op.name()));
            }
        }
        if let Some(op) = Operation::ALL
            .into_iter()
            .find(|op| op.fallback().is_none() && !own.contains_key(op))
        {
            return Err(format!("missing the {} price", op.name()));
        }
        Ok(PerOperation { own })
    }

    /// The table of named entries (`register`, `renew`, …): an unknown name is refused.
    pub fn named<K: AsRef<str>>(entries: impl IntoIterator<Item = (K, T)>) -> Result<Self, String> {
        let entries = entries
            .into_iter()
            .map(|(k, v)| match Operation::parse(k.as_ref()) {
                Some(op) => Ok((op, v)),
                None => Err(format!(
                    "unknown operation {:?}: prices are given for {}",
                    k.as_ref(),
                    Operation::names()
                )),
            })
            .collect::<Result<Vec<_>, String>>()?;
        PerOperation::new(entries)
    }

    /// What `op` is priced at: its own entry, else its fallback's.
    pub fn get(&self, op: Operation) -> &T {
        let mut at = op;
        loop {
            if let Some(v) = self.own.get(&at) {
                return v;
            }
            at = at
                .fallback()
                .expect("a table holds every operation without a fallback");
        }
    }

    /// Whether the table prices `op` itself (not through its fallback).
    pub fn prices_itself(&self, op: Operation) -> bool {
        self.own.contains_key(&op)
    }

    /// The entries the table was given, in [`Operation::ALL`] order.
    pub fn own(&self) -> impl Iterator<Item = (Operation, &T)> {
        self.own.iter().map(|(k, v)| (*k, v))
    }

    /// The same table with each entry mapped, or the first error.
    pub fn try_map<U, E>(
        &self,
        mut f: impl FnMut(Operation, &T) -> Result<U, E>,
    ) -> Result<PerOperation<U>, E> {
        let own = self
            .own
            .iter()
            .map(|(k, v)| f(*k, v).map(|u| (*k, u)))
            .collect::<Result<BTreeMap<_, _>, E>>()?;
        Ok(PerOperation { own })
    }
}

/// Written as it is read: a table of the operation names it was given.
impl<T: serde::Serialize> serde::Serialize for PerOperation<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.own.len()))?;
        for (op, v) in &self.own {
            m.serialize_entry(op.name(), v)?;
        }
        m.end()
    }
}

/// Read from a table of operation names: `{ register = "590.00", renew = "590.00" }`.
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for PerOperation<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, T>::deserialize(d)?;
        PerOperation::named(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<PerOperation<String>, String> {
        toml::from_str::<BTreeMap<String, PerOperation<String>>>(&format!("t = {{ {text} }}"))
            .map(|mut m| m.remove("t").expect("read"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_table_is_read_from_operation_names() {
        let t = read(r#"register = "590.00", renew = "490.00""#).unwrap();
        assert_eq!(t.get(Operation::Register), "590.00");
        assert_eq!(t.get(Operation::Renew), "490.00");
        assert!(t.prices_itself(Operation::Renew));
        let e = read(r#"register = "590.00""#).unwrap_err();
        assert!(e.contains("missing the renew price"), "{e}");
        let e = read(r#"register = "1", renew = "1", restore = "1""#).unwrap_err();
        assert!(e.contains("unknown operation \"restore\""), "{e}");
        assert!(e.contains("register, renew, transfer"), "{e}");
    }

    #[test]
    fn a_transfer_is_priced_as_a_renewal_unless_given() {
        let t = read(r#"register = "590.00", renew = "490.00""#).unwrap();
        assert_eq!(t.get(Operation::Transfer), "490.00");
        assert!(!t.prices_itself(Operation::Transfer));
        let t = read(r#"register = "590.00", renew = "490.00", transfer = "390.00""#).unwrap();
        assert_eq!(t.get(Operation::Transfer), "390.00");
        assert!(t.prices_itself(Operation::Transfer));
    }

    #[test]
    fn every_operation_is_priced_by_itself_or_its_fallback() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.name()), Some(op));
            // A fallback chain ends at an operation every table must price.
            let mut at = op;
            for _ in 0..Operation::ALL.len() {
                match at.fallback() {
                    Some(next) => at = next,
                    None => break,
                }
            }
            assert_eq!(at.fallback(), None, "{op:?} falls back in a circle");
        }
    }
}
