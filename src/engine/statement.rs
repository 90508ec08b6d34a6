//! Postpay statements: for a partner on postpay terms, one statement per calendar month
//! of what it activated, what it paid, and what it owed when the month ended. A
//! statement not paid by its due date blocks new orders and renewals until it is paid.
//!
//! A pure function of the partner's ledger and `now`. Payments settle the oldest debt
//! first: the statement of a month is paid once the top-ups made after that month reach
//! what was owed at its end (minus the balance going below zero, so a credit line used in
//! the month is what is owed).

use crate::types::clock::month_start;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One ledger line as statements see it.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub time: DateTime<Utc>,
    /// Top-up (a payment) or not.
    pub payment: bool,
    /// Charges and refunds count as activity; adjustments only move the balance.
    pub activity: bool,
    /// Signed, as in the ledger.
    pub amount: Decimal,
    pub balance_after: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Nothing was owed when the month ended.
    Settled,
    /// Owed, and paid since.
    Paid,
    /// Owed, not paid, not due yet.
    Open,
    /// Owed, not paid, past its due date: orders are blocked.
    Overdue,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Settled => "settled",
            State::Paid => "paid",
            State::Open => "open",
            State::Overdue => "overdue",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// `YYYY-MM`.
    pub month: String,
    /// Charges less refunds in the month.
    pub activated: Decimal,
    /// Top-ups in the month.
    pub paid_in_month: Decimal,
    /// The balance when the month ended.
    pub closing: Decimal,
    /// What was owed when the month ended: the closing balance below zero.
    pub owed: Decimal,
    /// The last day to pay it.
    pub due: NaiveDate,
    /// When the payments after the month reached `owed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    pub state: State,
}

fn next_month(y: i32, m: u32) -> (i32, u32) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

/// The statements of every complete month from the one the partner joined, oldest
/// first. `lines` are the partner's ledger in order; a statement is due `due_days`
/// days after its month ends.
pub fn statements(
    lines: &[Line],
    joined: DateTime<Utc>,
    now: DateTime<Utc>,
    due_days: u32,
) -> Vec<Statement> {
    let mut out = Vec::new();
    let (mut y, mut m) = (joined.year(), joined.month());
    loop {
        let start = month_start(y, m);
        let (ny, nm) = next_month(y, m);
        let end = month_start(ny, nm);
        if end > now {
            break;
        }
        let in_month = lines.iter().filter(|l| l.time >= start && l.time < end);
        let activated: Decimal = in_month
            .clone()
            .filter(|l| l.activity)
            .map(|l| -l.amount)
            .sum();
        let paid_in_month: Decimal = in_month.filter(|l| l.payment).map(|l| l.amount).sum();
        let closing = lines
            .iter()
            .rev()
            .find(|l| l.time < end)
            .map(|l| l.balance_after)
            .unwrap_or_default();
        let owed = if closing < Decimal::ZERO {
            -closing
        } else {
            Decimal::ZERO
        };
        let due = (end - Duration::days(1)).date_naive() + Duration::days(i64::from(due_days));
        let mut paid_at = None;
        if owed > Decimal::ZERO {
            let mut sum = Decimal::ZERO;
            for l in lines
                .iter()
                .filter(|l| l.payment && l.time >= end && l.time <= now)
            {
                sum += l.amount;
                if sum >= owed {
                    paid_at = Some(l.time);
                    break;
                }
            }
        }
        let state = if owed.is_zero() {
            State::Settled
        } else if paid_at.is_some() {
            State::Paid
        } else if now.date_naive() > due {
            State::Overdue
        } else {
            State::Open
        };
        out.push(Statement {
            month: format!("{y:04}-{m:02}"),
            activated,
            paid_in_month,
            closing,
            owed,
            due,
            paid_at,
            state,
        });
        (y, m) = (ny, nm);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// A ledger from (time, kind, amount), with running balances.
    fn ledger(rows: &[(&str, &str, &str)]) -> Vec<Line> {
        let mut balance = Decimal::ZERO;
        rows.iter()
            .map(|(t, kind, a)| {
                balance += d(a);
                Line {
                    time: at(t),
                    payment: *kind == "topup",
                    activity: *kind == "charge" || *kind == "refund",
                    amount: d(a),
                    balance_after: balance,
                }
            })
            .collect()
    }

    #[test]
    fn a_statement_blocks_after_its_due_date_and_is_released_when_paid() {
        // Joined in November; licences for 120.00 in December, on credit.
        let lines = ledger(&[
            ("2025-12-03T10:00:00Z", "charge", "-100.00"),
            ("2025-12-20T10:00:00Z", "charge", "-30.00"),
            ("2025-12-21T10:00:00Z", "refund", "10.00"),
        ]);
        let joined = at("2025-11-15T00:00:00Z");
        let st = statements(&lines, joined, at("2025-12-31T23:59:59Z"), 10);
        assert_eq!(st.len(), 1, "only November is complete");
        assert_eq!(st[0].state, State::Settled);
        let st = statements(&lines, joined, at("2026-01-10T23:59:59Z"), 10);
        let dec = &st[1];
        assert_eq!(
            (
                dec.month.as_str(),
                dec.activated,
                dec.owed,
                dec.due,
                &dec.state
            ),
            (
                "2025-12",
                d("120.00"),
                d("120.00"),
                NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
                &State::Open
            )
        );
        // The day after the due date: overdue.
        let st = statements(&lines, joined, at("2026-01-11T00:00:00Z"), 10);
        assert_eq!(st[1].state, State::Overdue);
        // A part payment does not release it; the payment that completes it does, at once.
        let mut paid = lines.clone();
        let push = |paid: &mut Vec<Line>, t: &str, a: &str| {
            let b = paid.last().unwrap().balance_after + d(a);
            paid.push(Line {
                time: at(t),
                payment: true,
                activity: false,
                amount: d(a),
                balance_after: b,
            });
        };
        push(&mut paid, "2026-01-12T09:00:00Z", "100.00");
        let st = statements(&paid, joined, at("2026-01-12T09:00:00Z"), 10);
        assert_eq!(st[1].state, State::Overdue);
        push(&mut paid, "2026-01-12T09:30:00Z", "20.00");
        let st = statements(&paid, joined, at("2026-01-12T09:30:00Z"), 10);
        assert_eq!(
            (&st[1].state, st[1].paid_at),
            (&State::Paid, Some(at("2026-01-12T09:30:00Z")))
        );
    }

    #[test]
    fn money_paid_in_the_month_reduces_what_is_owed() {
        let lines = ledger(&[
            ("2026-01-05T10:00:00Z", "topup", "50.00"),
            ("2026-01-06T10:00:00Z", "charge", "-80.00"),
            ("2026-02-03T10:00:00Z", "charge", "-10.00"),
        ]);
        let st = statements(
            &lines,
            at("2026-01-01T00:00:00Z"),
            at("2026-03-15T00:00:00Z"),
            10,
        );
        assert_eq!(
            (st[0].activated, st[0].paid_in_month, st[0].owed),
            (d("80.00"), d("50.00"), d("30.00"))
        );
        assert_eq!(st[0].state, State::Overdue);
        // February's statement owes what January left unpaid plus February's own.
        assert_eq!((st[1].owed, &st[1].state), (d("40.00"), &State::Overdue));
    }
}
