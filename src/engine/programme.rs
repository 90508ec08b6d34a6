//! Partner programmes: special price groups and discount tiers driven by a metric
//! (payments over a rolling window, last calendar month's turnover, counts of active
//! services or of clients with active services).
//!
//! Everything here is a pure function of the configuration, the partner's facts and
//! `now`, given as a parameter: the wall clock is never read, so a test can walk a
//! partner through any calendar.
//!
//! A programme file (TOML), one programme per file:
//!
//! ```text
//! name = "b-turnover"
//! currency = "RUB"
//! partners = ["alpha", "beta"]
//! exclusive = true                      # its discount excludes special prices
//! metric = { kind = "payments", window_days = 31 }
//!
//! [[tier]]
//! name = "Starter"
//! from = "500.00"
//! to = "2999.99"                        # optional; checked against the next tier
//! discount = { vps = 3, dedicated = 1, ssl = 1 }
//! ```

use crate::store::records::Commission;
use crate::types::clock::month_start;
use crate::types::money::{Currency, Money};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceRaw {
    register: Spanned<String>,
    renew: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualifyRaw {
    /// First and last day (inclusive, UTC) of the promotion window.
    payments_from: toml::value::Datetime,
    payments_to: toml::value::Datetime,
    minimum: Spanned<Num>,
}

/// What a programme's tiers are measured by.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// Sum of top-ups dated from `window_days` days before today up to now.
    Payments { window_days: u32 },
    /// Charges less refunds in the previous calendar month; status is lost after
    /// `demote_after_months` months in a row below `minimum`.
    PreviousMonthTurnover {
        minimum: Decimal,
        demote_after_months: u32,
    },
    /// The partner's active services in one category.
    ActiveServices { category: String },
    /// The partner's clients holding at least one active service (in `category`, if set).
    ActiveClients { category: Option<String> },
}

impl Metric {
    pub fn kind(&self) -> &'static str {
        match self {
            Metric::Payments { .. } => "payments",
            Metric::PreviousMonthTurnover { .. } => "previous_month_turnover",
            Metric::ActiveServices { .. } => "active_services",
            Metric::ActiveClients { .. } => "active_clients",
        }
    }

    /// Money metrics are amounts in the programme's currency; the others are counts.
    pub fn is_money(&self) -> bool {
        matches!(
            self,
            Metric::Payments { .. } | Metric::PreviousMonthTurnover { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub from: Decimal,
    pub to: Option<Decimal>,
    /// Category → percent off the list price.
    pub discount: BTreeMap<String, Decimal>,
    /// Category → percent of the orders for the partner's clients, earned on completion.
    pub commission: BTreeMap<String, Decimal>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Qualify {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub minimum: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Programme {
    pub name: String,
    pub currency: Currency,
    pub partners: Vec<String>,
    pub exclusive: bool,
    pub metric: Option<Metric>,
    /// Ordered by `from`, strictly increasing.
    pub tiers: Vec<Tier>,
    /// Zone → (register, renew) per year.
    pub prices: BTreeMap<String, (Money, Money)>,
    pub qualify: Option<Qualify>,
    /// Postpay terms: days after a month ends its statement must be paid in.
    pub postpay_due_days: Option<u32>,
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
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
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
        prices.insert(
            zone.clone(),
            (money(&p.get_ref().register)?, money(&p.get_ref().renew)?),
        );
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
    for p in &raw.partners {
        if partners.contains(p.get_ref()) {
            return Err(err(
                p.span().start,
                format!("partner {:?} is listed twice", p.get_ref()),
            ));
        }
        partners.push(p.get_ref().clone());
    }
    Ok(Programme {
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
        reason: format!("cannot read it: {e}"),
    })?;
    parse(&file, &text, known)
}

/// Every configured programme, and which partner is in which.
#[derive(Debug, Clone, Default)]
pub struct Programmes {
    list: Vec<Programme>,
    /// Partner → its programme with tiers.
    discount: HashMap<String, usize>,
    /// Partner → its programme with special prices.
    prices: HashMap<String, usize>,
}

impl Programmes {
    /// Puts programmes together; a partner may be in one programme with tiers and one
    /// with prices, and programme names are unique.
    pub fn new(list: Vec<Programme>) -> Result<Programmes, String> {
        let mut discount = HashMap::new();
        let mut prices = HashMap::new();
        let mut names = BTreeSet::new();
        for (i, p) in list.iter().enumerate() {
            if !names.insert(p.name.clone()) {
                return Err(format!("two programmes are named {:?}", p.name));
            }
            for login in &p.partners {
                for (has, map, what) in [
                    (!p.tiers.is_empty(), &mut discount, "tiers"),
                    (!p.prices.is_empty(), &mut prices, "prices"),
                ] {
                    if has {
                        if let Some(j) = map.insert(login.clone(), i) {
                            return Err(format!(
                                "partner {login:?} is in two programmes with {what}: {:?} and {:?}",
                                list[j].name, p.name
                            ));
                        }
                    }
                }
            }
        }
        Ok(Programmes {
            list,
            discount,
            prices,
        })
    }

    pub fn all(&self) -> &[Programme] {
        &self.list
    }

    pub fn discount_for(&self, login: &str) -> Option<&Programme> {
        self.discount.get(login).map(|i| &self.list[*i])
    }

    pub fn prices_for(&self, login: &str) -> Option<&Programme> {
        self.prices.get(login).map(|i| &self.list[*i])
    }

    /// The partner's postpay terms (days to pay a month's statement), from either of
    /// its programmes.
    pub fn postpay_for(&self, login: &str) -> Option<u32> {
        [self.discount_for(login), self.prices_for(login)]
            .into_iter()
            .flatten()
            .find_map(|p| p.postpay_due_days)
    }
}

/// What a partner has done that programmes measure. Amounts are in its currency.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub created: Option<DateTime<Utc>>,
    /// Top-ups: time and amount.
    pub payments: Vec<(DateTime<Utc>, Decimal)>,
    /// Charges (positive) and refunds (negative): time and amount.
    pub turnover: Vec<(DateTime<Utc>, Decimal)>,
    /// Active services per category.
    pub services: BTreeMap<String, u64>,
    /// Clients (not deleted) with an active service: in all, and
    pub clients: u64,
    /// in one category, for a metric that names it.
    pub clients_in: BTreeMap<String, u64>,
}

/// A metric's value at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub value: Decimal,
    /// Previous month's turnover only: the current calendar month's turnover so far. A
    /// tier is reached as soon as this month passes its `from`, without waiting for the
    /// month to end; it is kept while each month ends at or above it.
    pub month_to_date: Option<Decimal>,
    /// Months in a row, up to the last complete one, below the minimum.
    pub months_below: u32,
    /// The status is lost: no tier applies.
    pub lost: bool,
}

impl Measure {
    /// The value tiers are reached by: the metric, or this month's turnover when that
    /// is more.
    pub fn reach(&self) -> Decimal {
        self.month_to_date.map_or(self.value, |m| m.max(self.value))
    }
}

fn prev_month(y: i32, m: u32) -> (i32, u32) {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

fn sum_between(
    rows: &[(DateTime<Utc>, Decimal)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Decimal {
    rows.iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, a)| *a)
        .sum()
}

/// The first moment a rolling payments window at `now` counts: midnight UTC
/// `window_days` days before today (so on 21 January, 31 days reach back to 21 December).
pub fn window_start(now: DateTime<Utc>, window_days: u32) -> DateTime<Utc> {
    (now.date_naive() - Duration::days(i64::from(window_days)))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

/// The first moment of the calendar month before `now`'s.
pub fn previous_month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = prev_month(now.year(), now.month());
    month_start(y, m)
}

/// How far back [`measure`] looks into the ledger.
pub fn history_start(metric: &Metric, now: DateTime<Utc>) -> DateTime<Utc> {
    match metric {
        Metric::Payments { window_days } => window_start(now, *window_days),
        Metric::PreviousMonthTurnover {
            demote_after_months,
            ..
        } => {
            let (mut y, mut m) = (now.year(), now.month());
            for _ in 0..=(*demote_after_months).max(1) {
                (y, m) = prev_month(y, m);
            }
            month_start(y, m)
        }
        _ => now,
    }
}

pub fn measure(metric: &Metric, facts: &Facts, now: DateTime<Utc>) -> Measure {
    let plain = |value: Decimal| Measure {
        value,
        month_to_date: None,
        months_below: 0,
        lost: false,
    };
    match metric {
        Metric::Payments { window_days } => {
            let from = window_start(now, *window_days);
            plain(
                facts
                    .payments
                    .iter()
                    .filter(|(t, _)| *t >= from && *t <= now)
                    .map(|(_, a)| *a)
                    .sum(),
            )
        }
        Metric::PreviousMonthTurnover {
            minimum,
            demote_after_months,
        } => {
            let (y, m) = prev_month(now.year(), now.month());
            let value = sum_between(
                &facts.turnover,
                month_start(y, m),
                month_start(now.year(), now.month()),
            );
            // Count back month by month while below the minimum, never before the
            // month the partner joined.
            let joined = facts.created.map(|c| month_start(c.year(), c.month()));
            let mut below = 0;
            let (mut cy, mut cm) = (now.year(), now.month());
            loop {
                let (py, pm) = prev_month(cy, cm);
                let start = month_start(py, pm);
                if joined.is_some_and(|j| start < j) || below > *demote_after_months {
                    break;
                }
                if sum_between(&facts.turnover, start, month_start(cy, cm)) >= *minimum {
                    break;
                }
                below += 1;
                (cy, cm) = (py, pm);
            }
            // This month so far: a tier is reached the moment it is passed.
            let month_to_date = facts
                .turnover
                .iter()
                .filter(|(t, _)| *t >= month_start(now.year(), now.month()) && *t <= now)
                .map(|(_, a)| *a)
                .sum();
            Measure {
                value,
                month_to_date: Some(month_to_date),
                months_below: below,
                lost: *demote_after_months > 0 && below >= *demote_after_months,
            }
        }
        Metric::ActiveServices { category } => plain(Decimal::from(
            facts.services.get(category).copied().unwrap_or(0),
        )),
        Metric::ActiveClients { category: None } => plain(Decimal::from(facts.clients)),
        Metric::ActiveClients { category: Some(k) } => {
            plain(Decimal::from(facts.clients_in.get(k).copied().unwrap_or(0)))
        }
    }
}

impl Programme {
    /// The tier `m` reaches: the last one whose `from` it reaches, none when the
    /// status is lost.
    pub fn tier_for(&self, m: &Measure) -> Option<&Tier> {
        if m.lost {
            return None;
        }
        let reach = m.reach();
        self.tiers.iter().rev().find(|t| reach >= t.from)
    }

    /// The first tier above `m`, and what is missing to reach it: for a turnover month,
    /// what this month's turnover still lacks.
    pub fn next_tier(&self, m: &Measure) -> Option<(&Tier, Decimal)> {
        let reach = m.reach();
        let counted = m.month_to_date.unwrap_or(m.value);
        self.tiers
            .iter()
            .find(|t| t.from > reach)
            .map(|t| (t, t.from - counted))
    }

    /// Whether a partner qualifies for the special prices: when the programme has a
    /// promotion window, enough payments dated inside it.
    pub fn qualifies(&self, facts: &Facts) -> bool {
        match (&self.qualify, self.promotion_paid(facts)) {
            (Some(q), Some(paid)) => paid >= q.minimum,
            _ => true,
        }
    }

    /// What the partner paid inside the promotion window, when there is one.
    pub fn promotion_paid(&self, facts: &Facts) -> Option<Decimal> {
        self.qualify.as_ref().map(|q| {
            facts
                .payments
                .iter()
                .filter(|(t, _)| t.date_naive() >= q.from && t.date_naive() <= q.to)
                .map(|(_, a)| *a)
                .sum()
        })
    }
}

/// How one charge was priced: kept with the ledger entry, so the partner can audit it
/// and a later change of the programme does not rewrite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priced {
    pub list: Money,
    pub net: Money,
    /// `catalogue`, `partner-price`, or the name of the programme applied.
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Percent off `list`, when a tier applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Decimal>,
    /// The commission the order earns when it completes, when the tier pays one for
    /// the product's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Commission>,
}

/// `list` less `percent`, rounded once, half-up, to the currency's minor unit.
pub fn discounted(list: Money, percent: Decimal) -> Option<Money> {
    let off = list.amount.checked_mul(percent)? / Decimal::ONE_HUNDRED;
    let net = list.amount.checked_sub(off)?.round_dp_with_strategy(
        list.currency.minor_digits(),
        RoundingStrategy::MidpointAwayFromZero,
    );
    Some(Money {
        amount: net,
        currency: list.currency,
    })
}

/// Prices one charge. `list` is the catalogue price; `special` a special price and the
/// rule it comes from (a programme's price group or a per-partner price); `tier` the
/// discount programme's tier, if any. An exclusive programme's discount, when it gives
/// one for `category`, replaces every special price; otherwise the discount applies to
/// the special price.
pub fn price(
    list: Money,
    special: Option<(Money, String)>,
    tier: Option<(&Programme, &Tier)>,
    category: &str,
) -> Option<Priced> {
    let pct = tier.and_then(|(p, t)| t.discount.get(category).map(|d| (p, t, *d)));
    let commission = tier.and_then(|(p, t)| {
        t.commission
            .get(category)
            .filter(|c| **c > Decimal::ZERO)
            .map(|c| Commission {
                percent: *c,
                category: category.to_string(),
                rule: p.name.clone(),
                tier: t.name.clone(),
            })
    });
    match (pct, special) {
        (Some((p, t, d)), special) if d > Decimal::ZERO => {
            let base = match special {
                Some((s, _)) if !p.exclusive => s,
                _ => list,
            };
            Some(Priced {
                list: base,
                net: discounted(base, d)?,
                rule: p.name.clone(),
                tier: Some(t.name.clone()),
                discount: Some(d),
                commission,
            })
        }
        (_, Some((s, rule))) => Some(Priced {
            list,
            net: s,
            rule,
            tier: None,
            discount: None,
            commission,
        }),
        (pct, None) => Some(Priced {
            list,
            net: list,
            rule: pct
                .map(|(p, _, _)| p.name.clone())
                .unwrap_or_else(|| "catalogue".into()),
            tier: pct.map(|(_, t, _)| t.name.clone()),
            discount: pct.map(|(_, _, d)| d),
            commission,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories() -> Vec<String> {
        crate::config::catalogue::DEFAULT_CATEGORIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn zones() -> Vec<String> {
        ["ru", "su", "xn--p1ai", "com"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn example(file: &str) -> Programme {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/programmes")
            .join(file);
        let (c, z) = (categories(), zones());
        load(
            &path,
            &Known {
                categories: &c,
                zones: &z,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(text: &str) -> Result<Programme, FileError> {
        let (c, z) = (categories(), zones());
        parse(
            "p.toml",
            text,
            &Known {
                categories: &c,
                zones: &z,
            },
        )
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn percents(p: &Programme, facts: &Facts, now: &str) -> (String, Decimal, Decimal) {
        let m = measure(p.metric.as_ref().unwrap(), facts, at(now));
        let t = p.tier_for(&m).expect("a tier");
        (t.name.clone(), t.discount["vps"], t.discount["ssl"])
    }

    #[test]
    fn programme_b_worked_example() {
        let b = example("b-turnover.toml");
        // 52,000 paid within 20 Dec – 20 Jan: 19% on VPS, 3% on SSL.
        let mut facts = Facts {
            payments: vec![(at("2025-12-28T09:00:00Z"), d("52000.00"))],
            ..Facts::default()
        };
        assert_eq!(
            percents(&b, &facts, "2026-01-20T12:00:00Z"),
            ("Partner #8".into(), d("19"), d("3"))
        );
        // Next day, an advance payment of 50,000: 102,000 → 21% / 5%.
        facts
            .payments
            .push((at("2026-01-21T08:00:00Z"), d("50000.00")));
        assert_eq!(
            percents(&b, &facts, "2026-01-21T12:00:00Z"),
            ("Partner #9".into(), d("21"), d("5"))
        );
        // Or no payment, and 3,000 of it paid on 20 Dec leaves the window: 49,000 → 17% / 3%.
        let facts = Facts {
            payments: vec![
                (at("2025-12-20T10:00:00Z"), d("3000.00")),
                (at("2026-01-05T10:00:00Z"), d("49000.00")),
            ],
            ..Facts::default()
        };
        assert_eq!(
            percents(&b, &facts, "2026-01-20T23:59:59Z"),
            ("Partner #8".into(), d("19"), d("3"))
        );
        assert_eq!(
            percents(&b, &facts, "2026-01-21T00:00:00Z"),
            ("Partner #7".into(), d("17"), d("3"))
        );
        // A payment dated after `now` is not counted yet.
        let m = measure(
            b.metric.as_ref().unwrap(),
            &facts,
            at("2025-12-20T09:59:59Z"),
        );
        assert_eq!(m.value, Decimal::ZERO);
        assert!(b.tier_for(&m).is_none());
    }

    #[test]
    fn programme_b_every_boundary() {
        let b = example("b-turnover.toml");
        let table: [(&str, &str, u32, u32, u32); 17] = [
            ("Starter", "500", 3, 1, 1),
            ("Partner #1", "3000", 5, 1, 1),
            ("Partner #2", "5000", 7, 1, 1),
            ("Partner #3", "10000", 9, 2, 1),
            ("Partner #4", "15000", 11, 3, 3),
            ("Partner #5", "20000", 13, 4, 3),
            ("Partner #6", "30000", 15, 5, 3),
            ("Partner #7", "40000", 17, 6, 3),
            ("Partner #8", "50000", 19, 7, 3),
            ("Partner #9", "100000", 21, 8, 5),
            ("Partner #10", "150000", 23, 9, 5),
            ("Partner #11", "200000", 25, 10, 5),
            ("Partner #12", "300000", 27, 11, 5),
            ("Partner #13", "400000", 29, 12, 5),
            ("Partner #14", "500000", 31, 13, 10),
            ("Partner #15", "700000", 33, 14, 10),
            ("Partner #16", "1000000", 35, 15, 10),
        ];
        assert_eq!(b.tiers.len(), 17);
        let now = "2026-01-20T12:00:00Z";
        let tier_at = |amount: Decimal| {
            let facts = Facts {
                payments: vec![(at("2026-01-10T00:00:00Z"), amount)],
                ..Facts::default()
            };
            let m = measure(b.metric.as_ref().unwrap(), &facts, at(now));
            b.tier_for(&m).cloned()
        };
        assert!(tier_at(d("499.99")).is_none());
        for (i, (name, from, vps, dedic, ssl)) in table.iter().enumerate() {
            let from = d(from);
            let t = tier_at(from).unwrap();
            assert_eq!(&t.name, name, "at {from}");
            assert_eq!(t.discount["vps"], Decimal::from(*vps), "{name}");
            assert_eq!(t.discount["dedicated"], Decimal::from(*dedic), "{name}");
            assert_eq!(t.discount["ssl"], Decimal::from(*ssl), "{name}");
            let below = from - d("0.01");
            let under = tier_at(below);
            if i == 0 {
                assert!(under.is_none());
            } else {
                assert_eq!(under.unwrap().name, table[i - 1].0, "at {below}");
            }
        }
        assert_eq!(tier_at(d("5000000.00")).unwrap().name, "Partner #16");
    }

    #[test]
    fn programme_e_levels_by_active_clients() {
        let e = example("e-clients.toml");
        let level = |clients: usize| {
            let facts = Facts {
                // Two services for each client: clients are counted once.
                services: [("domains".to_string(), 2 * clients as u64)].into(),
                clients: clients as u64,
                ..Facts::default()
            };
            let m = measure(
                e.metric.as_ref().unwrap(),
                &facts,
                at("2026-01-15T00:00:00Z"),
            );
            e.tier_for(&m).map(|t| t.name.clone())
        };
        for (n, want) in [
            (2, None),
            (3, Some("Bronze")),
            (5, Some("Bronze")),
            (6, Some("Silver")),
            (10, Some("Silver")),
            (11, Some("Gold")),
            (20, Some("Gold")),
            (21, Some("Platinum")),
        ] {
            assert_eq!(level(n).as_deref(), want, "{n} active clients");
        }
        let gold = &e.tiers[2];
        assert_eq!(gold.commission["hosting"], d("20"));
        assert_eq!(gold.commission["dedicated"], d("10"));
    }

    #[test]
    fn programme_d_previous_month_and_demotion() {
        let dp = example("d-licences.toml");
        let metric = dp.metric.as_ref().unwrap();
        // Joined in June 2025, 150 EUR of turnover in June, nothing after.
        let facts = Facts {
            created: Some(at("2025-06-01T00:00:00Z")),
            turnover: vec![
                (at("2025-06-10T00:00:00Z"), d("180.00")),
                (at("2025-06-11T00:00:00Z"), d("-30.00")),
            ],
            ..Facts::default()
        };
        // July: June's 150 counts.
        let m = measure(metric, &facts, at("2025-07-03T00:00:00Z"));
        assert_eq!((m.value, m.months_below, m.lost), (d("150.00"), 0, false));
        assert!(dp.tier_for(&m).is_some());
        // Five months below (Jul – Nov): still a reseller, at no tier's turnover.
        let m = measure(metric, &facts, at("2025-12-31T23:59:59Z"));
        assert_eq!((m.months_below, m.lost), (5, false));
        // The sixth month below (December) ends: status lost.
        let m = measure(metric, &facts, at("2026-01-01T00:00:00Z"));
        assert_eq!((m.value, m.months_below, m.lost), (d("0"), 6, true));
        assert!(dp.tier_for(&m).is_none());
        // A month back at the minimum restores it.
        let mut back = facts.clone();
        back.turnover
            .push((at("2026-01-20T00:00:00Z"), d("100.00")));
        let m = measure(metric, &back, at("2026-02-01T00:00:00Z"));
        assert_eq!((m.value, m.months_below, m.lost), (d("100.00"), 0, false));
        // A partner that joined recently is never counted below before it joined.
        let new = Facts {
            created: Some(at("2025-12-05T00:00:00Z")),
            ..Facts::default()
        };
        let m = measure(metric, &new, at("2026-01-15T00:00:00Z"));
        assert_eq!((m.months_below, m.lost), (1, false));
    }

    #[test]
    fn programme_d_rises_within_the_month_and_falls_when_a_month_ends_below() {
        let dp = example("d-licences.toml");
        let metric = dp.metric.as_ref().unwrap();
        let tier = |facts: &Facts, now: &str| {
            let m = measure(metric, facts, at(now));
            dp.tier_for(&m).map(|t| t.name.clone())
        };
        let mut facts = Facts {
            created: Some(at("2025-11-01T00:00:00Z")),
            turnover: vec![(at("2025-11-20T00:00:00Z"), d("300.00"))],
            ..Facts::default()
        };
        // December: November's 300 is "Reseller"; December so far 0.
        assert_eq!(
            tier(&facts, "2025-12-01T00:00:00Z").as_deref(),
            Some("Reseller")
        );
        // December's turnover passes Silver's 500 on the 10th: Silver at once.
        facts
            .turnover
            .push((at("2025-12-05T00:00:00Z"), d("450.00")));
        assert_eq!(
            tier(&facts, "2025-12-09T23:59:59Z").as_deref(),
            Some("Reseller")
        );
        facts
            .turnover
            .push((at("2025-12-10T00:00:00Z"), d("50.00")));
        assert_eq!(
            tier(&facts, "2025-12-10T12:00:00Z").as_deref(),
            Some("Silver")
        );
        let m = measure(metric, &facts, at("2025-12-10T12:00:00Z"));
        assert_eq!((m.value, m.month_to_date), (d("300.00"), Some(d("500.00"))));
        // Gold next: 2000 − 500 of this month.
        let (next, missing) = dp.next_tier(&m).unwrap();
        assert_eq!((next.name.as_str(), missing), ("Gold", d("1500.00")));
        // A refund that takes the month back below 500 takes the tier back too.
        let mut refunded = facts.clone();
        refunded
            .turnover
            .push((at("2025-12-11T00:00:00Z"), d("-100.00")));
        assert_eq!(
            tier(&refunded, "2025-12-11T12:00:00Z").as_deref(),
            Some("Reseller")
        );
        // December ended at 500: Silver stays in January, with nothing yet in January.
        assert_eq!(
            tier(&facts, "2026-01-01T00:00:00Z").as_deref(),
            Some("Silver")
        );
        assert_eq!(
            tier(&facts, "2026-01-31T23:59:59Z").as_deref(),
            Some("Silver")
        );
        // January ends below Silver's 500 (200): February falls to Reseller.
        facts
            .turnover
            .push((at("2026-01-15T00:00:00Z"), d("200.00")));
        assert_eq!(
            tier(&facts, "2026-02-01T00:00:00Z").as_deref(),
            Some("Reseller")
        );
        // Passing Gold's 2000 during February reaches Gold directly.
        facts
            .turnover
            .push((at("2026-02-03T00:00:00Z"), d("2000.00")));
        assert_eq!(
            tier(&facts, "2026-02-03T00:00:00Z").as_deref(),
            Some("Gold")
        );
        // A turnover dated later than now does not count yet.
        assert_eq!(
            tier(&facts, "2026-02-02T23:59:59Z").as_deref(),
            Some("Reseller")
        );
    }

    #[test]
    fn programme_a_special_prices_after_prepaying() {
        let a = example("a-special-prices.toml");
        let q = a.qualify.as_ref().unwrap();
        let pay = |t: &str, amount: &str| Facts {
            payments: vec![(at(t), d(amount))],
            ..Facts::default()
        };
        assert!(a.qualifies(&pay("2026-01-10T00:00:00Z", "2800.00")));
        assert!(!a.qualifies(&pay("2026-01-10T00:00:00Z", "2799.99")));
        assert!(!a.qualifies(&pay(
            &format!("{}T00:00:00Z", q.to + Duration::days(1)),
            "5000.00"
        )));
        let (reg, ren) = a.prices["ru"];
        assert_eq!(
            (reg.amount_str(), ren.amount_str()),
            ("480.00".into(), "420.00".into())
        );
    }

    #[test]
    fn rounding_is_half_up_once_per_charge() {
        let m = |s: &str| Money::parse("a", s, Currency::RUB, false).unwrap();
        // 590.00 less 3% = 572.30; 14.50 less 19% = 11.745 → 11.75; 0.05 less 50% = 0.025 → 0.03.
        assert_eq!(
            discounted(m("590.00"), d("3")).unwrap().amount_str(),
            "572.30"
        );
        assert_eq!(
            discounted(m("14.50"), d("19")).unwrap().amount_str(),
            "11.75"
        );
        assert_eq!(discounted(m("0.05"), d("50")).unwrap().amount_str(), "0.03");
        assert_eq!(
            discounted(m("3.00"), d("100")).unwrap().amount_str(),
            "0.00"
        );
        // Ten years at once are discounted as one charge, not year by year.
        assert_eq!(
            discounted(m("14.50").checked_mul(10).unwrap(), d("19"))
                .unwrap()
                .amount_str(),
            "117.45"
        );
        let jpy = Currency::parse("JPY").unwrap();
        let yen = Money::parse("a", "105", jpy, false).unwrap();
        assert_eq!(discounted(yen, d("10")).unwrap().amount_str(), "95");
    }

    #[test]
    fn exclusive_discount_replaces_special_prices() {
        let mut b = example("b-turnover.toml");
        let list = Money::parse("a", "1000.00", Currency::RUB, false).unwrap();
        let special = Money::parse("a", "800.00", Currency::RUB, false).unwrap();
        let t = b.tiers[8].clone();
        let p = price(list, Some((special, "a".into())), Some((&b, &t)), "vps").unwrap();
        assert_eq!(
            (p.net.amount_str(), p.rule.as_str()),
            ("810.00".into(), "b-turnover")
        );
        // No discount for the category: the special price stands.
        let p = price(list, Some((special, "a".into())), Some((&b, &t)), "domains").unwrap();
        assert_eq!(
            (p.net.amount_str(), p.rule.as_str()),
            ("800.00".into(), "a")
        );
        b.exclusive = false;
        let p = price(list, Some((special, "a".into())), Some((&b, &t)), "vps").unwrap();
        assert_eq!(p.net.amount_str(), "648.00");
        let p = price(list, None, None, "vps").unwrap();
        assert_eq!((p.net, p.rule.as_str()), (list, "catalogue"));
    }

    #[test]
    fn bad_files_are_refused_with_line_and_reason() {
        let head = "name = \"x\"\ncurrency = \"RUB\"\nmetric = { kind = \"payments\", window_days = 31 }\n";
        let cases = [
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\n[[tier]]\nname = \"b\"\nfrom = \"400\"\n",
                9,
                "increasing order",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\nto = \"3000\"\n[[tier]]\nname = \"b\"\nfrom = \"3000\"\n",
                10,
                "overlaps",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { vps = 101 }\n",
                7,
                "0 to 100",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { vps = -1 }\n",
                7,
                "0 to 100",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { boats = 5 }\n",
                7,
                "unknown category \"boats\"",
            ),
            (
                "[[tier]]\nname = \"a\"\nfrom = \"500.001\"\n",
                6,
                "currency mismatch",
            ),
            ("[[tier]]\nname = \"a\"\nform = \"500\"\n", 6, "unknown field"),
        ];
        for (tail, line, why) in cases {
            let e = check(&format!("{head}{tail}")).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.reason.contains(why), "{e}");
            assert!(e.to_string().starts_with(&format!("p.toml:{line}: ")));
        }
        let e = check(
            "name = \"x\"\ncurrency = \"RUB\"\n[prices.ru]\nregister = \"8.001\"\nrenew = \"7\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        let e = check("name = \"x\"\ncurrency = \"XXX\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = check(
            "name = \"x\"\ncurrency = \"RUB\"\n[prices.io]\nregister = \"8\"\nrenew = \"7\"\n",
        )
        .unwrap_err();
        assert!(e.reason.contains("not in the catalogue"), "{e}");
    }

    #[test]
    fn a_partner_is_in_one_discount_programme() {
        let mut b = example("b-turnover.toml");
        b.partners = vec!["p".into()];
        let mut e = example("e-clients.toml");
        e.partners = vec!["p".into()];
        e.tiers.iter_mut().for_each(|t| t.discount.clear());
        assert!(Programmes::new(vec![b.clone(), e]).is_err());
        let mut a = example("a-special-prices.toml");
        a.partners = vec!["p".into()];
        let set = Programmes::new(vec![b, a]).unwrap();
        assert_eq!(set.discount_for("p").unwrap().name, "b-turnover");
        assert_eq!(set.prices_for("p").unwrap().name, "a-special-prices");
    }
}
