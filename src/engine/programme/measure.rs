//! What a partner has done, measured by a programme's metric at one moment, and the
//! tier that measure reaches. Pure functions of the facts and `now`.

use super::{Metric, Programme, Tier};
use crate::types::clock::month_start;
use chrono::{DateTime, Datelike, Duration, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

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
