//! Money: `rust_decimal::Decimal` with a currency, checked arithmetic, strict wire form.
//!
//! On the wire an amount is a plain decimal string with exactly the currency's minor
//! digits (`12.50`): no exponent, no sign unless negative, no thousands separators.

use crate::error::{Error, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// ISO 4217 code of a currency this gateway can keep accounts in, with its minor digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    minor: u32,
}

/// The currencies regway knows the minor digits of. Others are refused rather than guessed.
const KNOWN: &[(&str, u32)] = &[
    ("RUB", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("UAH", 2),
    ("KZT", 2),
    ("BYN", 2),
    ("CNY", 2),
    ("JPY", 0),
];

impl Currency {
    pub const RUB: Currency = Currency {
        code: *b"RUB",
        minor: 2,
    };

    pub fn parse(s: &str) -> Result<Currency> {
        KNOWN
            .iter()
            .find(|(c, _)| *c == s)
            .map(|(c, m)| Currency {
                code: c.as_bytes().try_into().expect("three letters"),
                minor: *m,
            })
            .ok_or_else(|| Error::value("currency", format!("{s:?} is not a supported currency")))
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("ascii")
    }

    pub fn minor_digits(&self) -> u32 {
        self.minor
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;
    fn try_from(s: String) -> Result<Currency> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

/// The largest absolute amount regway accepts or keeps: far beyond any real balance,
/// far below where `Decimal` could overflow when amounts are added up.
pub const MAX_ABS: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn zero(currency: Currency) -> Money {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    /// Parses a wire amount strictly: digits, optionally a dot and at most the
    /// currency's minor digits. `allow_negative` for adjustments only.
    pub fn parse(field: &str, s: &str, currency: Currency, allow_negative: bool) -> Result<Money> {
        let digits = s.strip_prefix('-').filter(|_| allow_negative).unwrap_or(s);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let ok_int = !int.is_empty() && int.len() <= 13 && int.bytes().all(|b| b.is_ascii_digit());
        let ok_frac = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
        if !ok_int || !ok_frac {
            return Err(Error::value(
                field,
                format!("{s:?} is not a plain decimal amount (digits, optionally '.' and the minor digits)"),
            ));
        }
        if frac.is_some_and(|f| f.len() as u32 > currency.minor_digits()) {
            return Err(Error::value(
                field,
                format!(
                    "{s:?} has more than {} decimal digits for {currency}",
                    currency.minor_digits()
                ),
            ));
        }
        let amount: Decimal = s
            .parse()
            .map_err(|_| Error::value(field, format!("{s:?} is not a decimal amount")))?;
        let m = Money { amount, currency };
        m.check_bounds(field)?;
        Ok(m)
    }

    fn check_bounds(&self, field: &str) -> Result<()> {
        if self.amount.abs() > Decimal::from(MAX_ABS) {
            return Err(Error::range(field, "amount is too large"));
        }
        Ok(())
    }

    pub fn checked_add(self, other: Money) -> Result<Money> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| Error::internal("money overflow"))?;
        Ok(Money { amount, ..self })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or_else(|| Error::internal("money overflow"))?;
        Ok(Money { amount, ..self })
    }

    pub fn checked_mul(self, n: u32) -> Result<Money> {
        let amount = self
            .amount
            .checked_mul(Decimal::from(n))
            .ok_or_else(|| Error::internal("money overflow"))?;
        Ok(Money { amount, ..self })
    }

    pub fn negated(self) -> Money {
        Money {
            amount: -self.amount,
            ..self
        }
    }

    pub fn is_positive(&self) -> bool {
        self.amount > Decimal::ZERO
    }

    fn same_currency(&self, other: &Money) -> Result<()> {
        if self.currency != other.currency {
            return Err(Error::internal(format!(
                "currency mismatch: {} and {}",
                self.currency, other.currency
            )));
        }
        Ok(())
    }

    /// The amount alone, with exactly the currency's minor digits.
    pub fn amount_str(&self) -> String {
        let mut a = self.amount;
        a.rescale(self.currency.minor_digits());
        // `-0.00` never goes out.
        if a.is_zero() {
            a.set_sign_positive(true);
        }
        a.to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_str(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rub(s: &str) -> Result<Money> {
        Money::parse("amount", s, Currency::RUB, false)
    }

    #[test]
    fn accepts_plain_amounts_and_prints_minor_digits() {
        assert_eq!(rub("12.5").unwrap().amount_str(), "12.50");
        assert_eq!(rub("0").unwrap().amount_str(), "0.00");
        assert_eq!(rub("1000").unwrap().amount_str(), "1000.00");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            Money::parse("a", "150", jpy, false).unwrap().amount_str(),
            "150"
        );
        assert!(Money::parse("a", "1.5", jpy, false).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_plain_amount() {
        for bad in [
            "1e3",
            "1E3",
            "1,000.00",
            "1 000",
            "+5",
            "-5",
            ".5",
            "5.",
            "12.345",
            "0x10",
            "",
            "NaN",
            "inf",
            "1.0.0",
            "１２",
            "99999999999999",
        ] {
            let e = rub(bad).unwrap_err();
            assert!(
                matches!(
                    e.code,
                    crate::error::Code::ValueSyntax | crate::error::Code::Range
                ),
                "{bad:?} gave {e}"
            );
        }
        assert_eq!(
            Money::parse("a", "-5.00", Currency::RUB, true)
                .unwrap()
                .amount_str(),
            "-5.00"
        );
    }

    #[test]
    fn arithmetic_is_checked_and_same_currency() {
        let a = rub("10.00").unwrap();
        let usd = Money::parse("a", "1", Currency::parse("USD").unwrap(), false).unwrap();
        assert!(a.checked_add(usd).is_err());
        assert_eq!(
            a.checked_sub(rub("10.00").unwrap()).unwrap().amount_str(),
            "0.00"
        );
        assert_eq!(a.negated().amount_str(), "-10.00");
    }
}
