//! Programme files: TOML, one programme each, checked against what they refer to
//! (zones, categories) and refused with the line and the reason.

use super::{Metric, Origin, Programme, Qualify, Tier};
use crate::types::money::{Currency, Money};
use crate::types::operation::PerOperation;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// A number in a programme file: written as a TOML integer, float or string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Num {
    fn decimal(&self) -> Option<Decimal> {
        match self {
            Num::Int(i) => Some(Decimal::from(*i)),
            // A float is taken as written (`2.5` → 2.5), never as its binary value.
            Num::Float(f) => f.to_string().parse().ok(),
            Num::Str(s) => s
                .parse()
                .ok()
                .filter(|_| s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !s.is_empty()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRaw {
    name: Spanned<String>,
    currency: Spanned<String>,
    #[serde(default)]
    partners: Vec<Spanned<String>>,
    #[serde(default = "yes")]
    exclusive: bool,
    #[serde(default)]
    metric: Option<Spanned<MetricRaw>>,
    #[serde(default)]
    tier: Vec<Spanned<TierRaw>>,
    /// Zone → price per year (programme A's special prices).
    #[serde(default)]
    prices: BTreeMap<String, Spanned<PriceRaw>>,
    #[serde(default)]
    qualify: Option<Spanned<QualifyRaw>>,
    #[serde(default)]
    postpay: Option<Spanned<PostpayRaw>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostpayRaw {
    /// Days after a month ends its statement must be paid in.
    due_days: u32,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
enum MetricRaw {
    Payments {
        window_days: u32,
    },
    PreviousMonthTurnover {
        minimum: Num,
        demote_after_months: u32,
    },
    ActiveServices {
        category: String,
    },
    ActiveClients {
        #[serde(default)]
        category: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierRaw {
    name: String,
    from: Spanned<Num>,
    #[serde(default)]
    to: Option<Spanned<Num>>,
    #[serde(default)]
    discount: BTreeMap<String, Spanned<Num>>,
    #[serde(default)]
    commission: BTreeMap<String, Spanned<Num>>,
}

/// Operation name (`register`, `renew`, …) → price per year.
type PriceRaw = BTreeMap<String, Spanned<String>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualifyRaw {
    /// First and last day (inclusive, UTC) of the promotion window.
    payments_from: toml::value::Datetime,
    payments_to: toml::value::Datetime,
    minimum: Spanned<Num>,
}

/// A refused programme file: where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.reason)
        }
    }
}

/// What a programme file may refer to outside itself.
pub struct Known<'a> {
    pub categories: &'a [String],
    /// Zone names of the catalogue.
    pub zones: &'a [String],
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses and checks one programme file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str, known: &Known<'_>) -> Result<Programme, FileError> {
    let err = |offset: usize, reason: String| FileError {
        file: file.to_string(),
        line: line_of(text, offset),
        reason,
    };
    let raw: FileRaw = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        err(at, e.message().to_string())
    })?;
    let currency = Currency::parse(raw.currency.get_ref())
        .map_err(|e| err(raw.currency.span().start, e.message))?;
    let name = raw.name.get_ref().clone();
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(err(
            raw.name.span().start,
            format!("name {name:?}: 1 to 64 letters, digits, '-' or '_'"),
        ));
    }
    let category = |c: &str, at: usize| {
        if known.categories.iter().any(|k| k == c) {
            Ok(())
        } else {
            Err(err(
                at,
                format!(
                    "unknown category {c:?} (configured: {})",
                    known.categories.join(", ")
                ),
            ))
        }
    };
    let metric = match &raw.metric {
        None => None,
        Some(m) => {
            let at = m.span().start;
            Some(match m.get_ref() {
                MetricRaw::Payments { window_days } => {
                    if *window_days == 0 || *window_days > 3660 {
                        return Err(err(at, "window_days must be 1 to 3660".into()));
                    }
                    Metric::Payments {
                        window_days: *window_days,
                    }
                }
                MetricRaw::PreviousMonthTurnover {
                    minimum,
                    demote_after_months,
                } => Metric::PreviousMonthTurnover {
                    minimum: amount(minimum, currency).map_err(|r| err(at, r))?,
                    demote_after_months: *demote_after_months,
                },
                MetricRaw::ActiveServices { category: c } => {
                    category(c, at)?;
                    Metric::ActiveServices {
                        category: c.clone(),
                    }
                }
                MetricRaw::ActiveClients { category: c } => {
                    if let Some(c) = c {
                        category(c, at)?;
                    }
                    Metric::ActiveClients {
                        category: c.clone(),
                    }
                }
            })
        }
    };
    let mut tiers: Vec<Tier> = Vec::new();
    for t in &raw.tier {
        let at = t.span().start;
        let t = t.get_ref();
        let Some(metric) = &metric else {
            return Err(err(at, "tiers need a metric".into()));
        };
        let bound = |n: &Spanned<Num>| -> Result<Decimal, FileError> {
            if metric.is_money() {
                amount(n.get_ref(), currency).map_err(|r| err(n.span().start, r))
            } else {
                count(n.get_ref()).map_err(|r| err(n.span().start, r))
            }
        };
        let from = bound(&t.from)?;
        let to = t.to.as_ref().map(bound).transpose()?;
        if let Some(to) = to {
            if to < from {
                return Err(err(
                    at,
                    format!("tier {:?}: `to` {to} is below `from` {from}", t.name),
                ));
            }
        }
        if let Some(prev) = tiers.last() {
            if from <= prev.from {
                return Err(err(
                    t.from.span().start,
                    format!(
                        "tier {:?} starts at {from}, not above tier {:?} ({}): tiers must be in increasing order",
                        t.name, prev.name, prev.from
                    ),
                ));
            }
            if prev.to.is_some_and(|pt| pt >= from) {
                return Err(err(
                    t.from.span().start,
                    format!(
                        "tier {:?} starting at {from} overlaps tier {:?}, which runs to {}",
                        t.name,
                        prev.name,
                        prev.to.unwrap_or_default()
                    ),
                ));
            }
        }
        if tiers.iter().any(|p| p.name == t.name) {
            return Err(err(at, format!("tier name {:?} is used twice", t.name)));
        }
        let percents = |m: &BTreeMap<String, Spanned<Num>>| {
            let mut out = BTreeMap::new();
            for (c, p) in m {
                let at = p.span().start;
                category(c, at)?;
                let v = p
                    .get_ref()
                    .decimal()
                    .filter(|v| *v >= Decimal::ZERO && *v <= Decimal::ONE_HUNDRED)
                    .ok_or_else(|| {
                        err(
                            at,
                            format!("{c}: a percentage must be a number from 0 to 100"),
                        )
                    })?;
                out.insert(c.clone(), v.normalize());
            }
            Ok::<_, FileError>(out)
        };
        tiers.push(Tier {
            name: t.name.clone(),
            from,
            to,
            discount: percents(&t.discount)?,
            commission: percents(&t.commission)?,
        });
    }
    let mut prices = BTreeMap::new();
    for (zone, p) in &raw.prices {
        let at = p.span().start;
        if !known.zones.iter().any(|z| z == zone) {
            return Err(err(at, format!("zone {zone:?} is not in the catalogue")));
        }
        let money = |s: &Spanned<String>| {
            Money::parse("price", s.get_ref(), currency, false).map_err(|e| {
                err(
                    s.span().start,
                    format!("{zone}: {} (prices are in {currency})", e.message),
                )
            })
        };
        let given = p
            .get_ref()
            .iter()
            .map(|(op, v)| Ok((op.as_str(), money(v)?)))
            .collect::<Result<Vec<_>, FileError>>()?;
        let table =
            PerOperation::named(given).map_err(|e| err(at, format!("prices.{zone}: {e}")))?;
        prices.insert(zone.clone(), table);
    }
    let qualify = match &raw.qualify {
        None => None,
        Some(q) => {
            let at = q.span().start;
            let q = q.get_ref();
            let day = |d: &toml::value::Datetime| {
                d.date
                    .filter(|_| d.time.is_none())
                    .and_then(|d| {
                        NaiveDate::from_ymd_opt(i32::from(d.year), d.month.into(), d.day.into())
                    })
                    .ok_or_else(|| err(at, format!("qualify: {d} is not a date (YYYY-MM-DD)")))
            };
            let (from, to) = (day(&q.payments_from)?, day(&q.payments_to)?);
            if to < from {
                return Err(err(
                    at,
                    "qualify: payments_to is before payments_from".into(),
                ));
            }
            Some(Qualify {
                from,
                to,
                minimum: amount(q.minimum.get_ref(), currency)
                    .map_err(|r| err(q.minimum.span().start, r))?,
            })
        }
    };
    let postpay_due_days = match &raw.postpay {
        None => None,
        Some(p) if p.get_ref().due_days > 366 => {
            return Err(err(
                p.span().start,
                "postpay: due_days must be 0 to 366".into(),
            ))
        }
        Some(p) => Some(p.get_ref().due_days),
    };
    if tiers.is_empty() && prices.is_empty() {
        return Err(err(0, "a programme needs tiers or prices".into()));
    }
    if metric.is_some() && tiers.is_empty() {
        return Err(err(0, "a metric without tiers gives nothing".into()));
    }
    let mut partners = Vec::new();
    let mut partner_lines = Vec::new();
    for p in &raw.partners {
        if partners.contains(p.get_ref()) {
            return Err(err(
                p.span().start,
                format!("partner {:?} is listed twice", p.get_ref()),
            ));
        }
        partners.push(p.get_ref().clone());
        partner_lines.push(line_of(text, p.span().start));
    }
    Ok(Programme {
        origin: Origin {
            file: file.to_string(),
            name_line: line_of(text, raw.name.span().start),
            partner_lines,
        },
        name,
        currency,
        partners,
        exclusive: raw.exclusive,
        metric,
        tiers,
        prices,
        qualify,
        postpay_due_days,
    })
}

/// An amount in `currency`: not negative, at most its minor digits.
fn amount(n: &Num, currency: Currency) -> Result<Decimal, String> {
    let d = n
        .decimal()
        .filter(|d| *d >= Decimal::ZERO)
        .ok_or_else(|| "an amount must be a number, not negative".to_string())?;
    if d.normalize().scale() > currency.minor_digits() {
        return Err(format!(
            "{d} has more decimal digits than {currency} allows ({}): currency mismatch?",
            currency.minor_digits()
        ));
    }
    Ok(d)
}

fn count(n: &Num) -> Result<Decimal, String> {
    match n {
        Num::Int(i) if *i >= 0 => Ok(Decimal::from(*i)),
        _ => Err("a count threshold must be a whole number, not negative".into()),
    }
}

/// Reads and parses a programme file.
pub fn load(path: &Path, known: &Known<'_>) -> Result<Programme, FileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        file: file.clone(),
        line: 0,
        reason: format!(
            "cannot read the programme file: {}; fix the path in `programmes` (relative \
             paths are taken from the configuration file's directory)",
            crate::config::io_reason(&e)
        ),
    })?;
    parse(&file, &text, known)
}
