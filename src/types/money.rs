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

    /// Parses a wire amount strictly ([`parse_amount`]) with at most the currency's
    /// minor digits. `allow_negative` for adjustments only.
    pub fn parse(field: &str, s: &str, currency: Currency, allow_negative: bool) -> Result<Money> {
        let amount = parse_amount(field, s, currency.minor_digits(), allow_negative)?;
        Ok(Money { amount, currency })
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

/// The most minor digits of any currency regway keeps: an amount with more is wrong
/// whatever the partner's currency.
pub const MAX_MINOR_DIGITS: u32 = 2;

/// Parses a wire amount with at most `minor` decimal digits, exactly as written: a bad
/// one is refused (2005), never rounded or trimmed. A plain amount is ASCII digits
/// without a leading zero (`0` and `0.50` are fine, `01` is not: some readers take it
/// for octal), then optionally `.` and 1 to `minor` digits; no sign (with
/// `allow_negative`, a leading `-`), exponent, separator or space; at most [`MAX_ABS`].
///
/// ```text
/// accepted (RUB): 12.50  12.5  12  0  0.05
/// refused:        1.000  0.50000000000000000000000000001  1e3  +5  1,000.00  1 000  01  .5  5.
/// ```
pub fn parse_amount(field: &str, s: &str, minor: u32, allow_negative: bool) -> Result<Decimal> {
    // The value is quoted in the message, cut short: it may be anything a client sent.
    let shown = || {
        let mut t: String = s.chars().take(40).collect();
        if s.chars().nth(40).is_some() {
            t.push('…');
        }
        t
    };
    let digits = s.strip_prefix('-').filter(|_| allow_negative).unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let plain = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !plain(int) || !frac.is_none_or(plain) {
        return Err(Error::value(
            field,
            format!(
                "{:?} is not a plain decimal amount (digits, optionally '.' and the minor digits)",
                shown()
            ),
        ));
    }
    if int.len() > 1 && int.starts_with('0') {
        return Err(Error::value(
            field,
            format!("{:?}: an amount has no leading zero", shown()),
        ));
    }
    if let Some(f) = frac.filter(|f| f.len() as u32 > minor) {
        let allowed = if minor == 0 {
            "none are allowed".to_string()
        } else {
            format!("at most {minor}")
        };
        return Err(Error::value(
            field,
            format!("{:?} has {} decimal digits, {allowed}", shown(), f.len()),
        ));
    }
    let too_large = || {
        Error::value(
            field,
            format!("{:?} is more than {MAX_ABS}, the largest amount", shown()),
        )
    };
    // Past 13 integer digits it is over the bound anyway; `Decimal` never sees a string
    // it would have to round (28 significant digits).
    if int.len() > 13 {
        return Err(too_large());
    }
    let amount: Decimal = s
        .parse()
        .map_err(|_| Error::value(field, format!("{:?} is not a decimal amount", shown())))?;
    if amount.abs() > Decimal::from(MAX_ABS) {
        return Err(too_large());
    }
    Ok(amount)
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
        assert_eq!(
            rub("1000000000000").unwrap().amount_str(),
            "1000000000000.00"
        );
        assert_eq!(rub("0.05").unwrap().amount_str(), "0.05");
    }

    #[test]
    fn no_currency_has_more_minor_digits_than_the_widest() {
        assert_eq!(KNOWN.iter().map(|(_, m)| *m).max(), Some(MAX_MINOR_DIGITS));
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
            "1.000",
            "0.50000000000000000000000000001",
            "01",
            "00.50",
            "1000000000000.01",
            "-0",
        ] {
            let e = rub(bad).unwrap_err();
            assert_eq!(e.code, crate::error::Code::ValueSyntax, "{bad:?} gave {e}");
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
