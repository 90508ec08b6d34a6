//! Calendar dates as the protocols write them: `YYYY-MM-DD`, nothing else.

use crate::error::{Error, Result};
use chrono::NaiveDate;

/// `YYYY-MM-DD`, nothing else.
pub fn parse_date(field: &str, v: &str) -> Result<NaiveDate> {
    let shape = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let d = shape
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten();
    d.ok_or_else(|| Error::value(field, format!("{v:?} is not a date (YYYY-MM-DD)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_shape_is_a_date() {
        assert!(parse_date("expires", "2027-01-15").is_ok());
        for bad in [
            "2027-1-15",
            "2027-01-15T00:00",
            "2027-02-30",
            "+2027-01-1",
            "",
        ] {
            assert!(parse_date("expires", bad).is_err(), "{bad}");
        }
    }
}
