//! The fields of one request as a dialect decoded them, handed to commands by name.
//!
//! A command takes what it knows; `finish` then refuses anything left over, so an
//! unknown or misspelt field is an error, never silently ignored.

use crate::error::{Error, Result};
use crate::types::date::parse_date;
use crate::types::names::{parse_name, Name};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct Params {
    fields: Vec<(String, String)>,
    used: Vec<bool>,
}

impl Params {
    pub fn new(fields: Vec<(String, String)>) -> Params {
        let used = vec![false; fields.len()];
        Params { fields, used }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// A single-valued field; present twice is a syntax error.
    pub fn opt(&mut self, key: &str) -> Result<Option<String>> {
        let mut found: Option<usize> = None;
        for (i, (k, _)) in self.fields.iter().enumerate() {
            if k == key {
                if found.is_some() {
                    return Err(Error::syntax(format!("{key}: given more than once")));
                }
                found = Some(i);
            }
        }
        Ok(found.map(|i| {
            self.used[i] = true;
            self.fields[i].1.clone()
        }))
    }

    pub fn req(&mut self, key: &str) -> Result<String> {
        self.opt(key)?.ok_or_else(|| Error::missing(key))
    }

    /// A repeated field, in the order given.
    pub fn many(&mut self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if k == key {
                self.used[i] = true;
                out.push(v.clone());
            }
        }
        out
    }

    /// Fields whose names start with `prefix` (the optional `x-…` client fields).
    pub fn with_prefix(&mut self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if k.starts_with(prefix) {
                self.used[i] = true;
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    /// The fields nobody has taken yet, in order.
    pub fn into_unused(self) -> Vec<(String, String)> {
        self.fields
            .into_iter()
            .zip(self.used)
            .filter(|(_, u)| !u)
            .map(|(f, _)| f)
            .collect()
    }

    pub fn finish(self) -> Result<()> {
        match self.fields.iter().zip(&self.used).find(|(_, u)| !**u) {
            Some(((k, _), _)) => Err(Error::syntax(format!("unknown field {k:?}"))),
            None => Ok(()),
        }
    }

    pub fn name(&mut self, key: &str) -> Result<Name> {
        parse_name(key, &self.req(key)?)
    }

    pub fn u32_in(&mut self, key: &str, default: Option<u32>, lo: u32, hi: u32) -> Result<u32> {
        let v = match (self.opt(key)?, default) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d),
            (None, None) => return Err(Error::missing(key)),
        };
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::value(key, format!("{v:?} is not a whole number")));
        }
        let Ok(n) = v.parse::<u32>() else {
            return Err(Error::range(key, format!("{v} is outside {lo}..{hi}")));
        };
        if n < lo || n > hi {
            return Err(Error::range(key, format!("{n} is outside {lo}..{hi}")));
        }
        Ok(n)
    }

    pub fn bool_opt(&mut self, key: &str) -> Result<Option<bool>> {
        match self.opt(key)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(Error::value(key, format!("{v:?}: true or false"))),
        }
    }

    /// `limit` (1–1000, default 100) and `cursor` of a listing.
    pub fn page(&mut self) -> Result<(usize, Option<String>)> {
        let limit = self.u32_in("limit", Some(100), 1, 1000)? as usize;
        let cursor = self.opt("cursor")?;
        if let Some(c) = &cursor {
            if c.is_empty() || c.len() > 300 {
                return Err(Error::value("cursor", "not a cursor this server gave"));
            }
        }
        Ok((limit, cursor))
    }

    /// `limit` and a numeric `cursor` (an id this server gave).
    pub fn page_by_id(&mut self) -> Result<(usize, Option<u64>)> {
        let (limit, cursor) = self.page()?;
        let cursor = cursor
            .map(|c| {
                c.parse::<u64>()
                    .map_err(|_| Error::value("cursor", "not a cursor this server gave"))
            })
            .transpose()?;
        Ok((limit, cursor))
    }

    /// `from` and `to`, optional calendar dates (`YYYY-MM-DD`, both days included) a
    /// listing keeps the rows of; `from` after `to` is refused.
    pub fn dates(&mut self) -> Result<Dates> {
        let from = self
            .opt("from")?
            .map(|v| parse_date("from", &v))
            .transpose()?;
        let to = self.opt("to")?.map(|v| parse_date("to", &v)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(Error::range("from", format!("{f} is after to ({t})")));
            }
        }
        Ok(Dates { from, to })
    }

    /// An optional free-text filter: at most 255 characters, no control characters.
    pub fn text_opt(&mut self, key: &str) -> Result<Option<String>> {
        match self.opt(key)? {
            Some(v) => Ok(Some(text(key, v, 255)?)),
            None => Ok(None),
        }
    }
}

/// A span of calendar days (UTC), either end open.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Dates {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Dates {
    /// Whether the moment `t` falls on a day of the span.
    pub fn holds(&self, t: DateTime<Utc>) -> bool {
        let day = t.date_naive();
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|to| day <= to)
    }
}

/// Free text: not empty, at most `max` characters, no control characters.
pub fn text(key: &str, v: String, max: usize) -> Result<String> {
    if v.trim().is_empty() {
        return Err(Error::value(key, "empty"));
    }
    if v.chars().count() > max {
        return Err(Error::range(key, format!("longer than {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::value(key, "control characters are not allowed"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(f: &[(&str, &str)]) -> Params {
        Params::new(
            f.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn duplicates_unknowns_and_ranges() {
        let mut x = p(&[("domain", "a.ru"), ("domain", "b.ru")]);
        assert_eq!(
            x.opt("domain").unwrap_err().code,
            crate::error::Code::Syntax
        );
        let mut x = p(&[("ns", "a"), ("ns", "b"), ("zzz", "1")]);
        assert_eq!(x.many("ns").len(), 2);
        assert_eq!(x.finish().unwrap_err().code, crate::error::Code::Syntax);
        let mut x = p(&[("period", "11")]);
        assert_eq!(
            x.u32_in("period", Some(1), 1, 10).unwrap_err().code,
            crate::error::Code::Range
        );
        let mut x = p(&[("period", "1.5")]);
        assert_eq!(
            x.u32_in("period", Some(1), 1, 10).unwrap_err().code,
            crate::error::Code::ValueSyntax
        );
    }
}
