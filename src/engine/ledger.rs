//! The prepaid balance's ledger and the commission account: the only place that moves
//! a partner's balance or commission, each movement with its entry, in the write that
//! stores the partner.

use crate::error::{Error, Result};
use crate::store::records::{
    CommissionEntry, CommissionKind, DayTotals, EntryKind, LedgerEntry, Partner,
};
use crate::store::Tx;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// A ledger entry of `kind` and signed `amount`, with nothing else said about it yet;
/// its id and balance-after are set when it is appended.
pub fn entry(
    kind: EntryKind,
    amount: Decimal,
    order: Option<u64>,
    time: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        time,
        kind,
        amount,
        balance_after: Decimal::ZERO,
        order,
        note: String::new(),
        list_price: None,
        rule: None,
        tier: None,
        discount: None,
        by: None,
    }
}

/// Appends a ledger entry and moves the partner's balance with it (the caller stores
/// the partner).
pub fn append_entry(
    tx: &mut Tx<'_>,
    partner: &mut Partner,
    kind: EntryKind,
    amount: Decimal,
    order: Option<u64>,
    now: DateTime<Utc>,
) -> Result<u64> {
    append(tx, partner, entry(kind, amount, order, now))
}

/// Appends `e` (its kind, amount, time and what else it says) to the partner's ledger
/// and moves the balance and the day's totals with it; returns its id. The caller
/// stores the partner.
pub fn append(tx: &mut Tx<'_>, partner: &mut Partner, mut e: LedgerEntry) -> Result<u64> {
    let id = tx.next_id("ledger")?;
    partner.balance = partner
        .balance
        .checked_add(e.amount)
        .ok_or_else(|| Error::internal("balance overflow"))?;
    // A balance stays within what an amount may be, so it can always be written,
    // read back and compared as one.
    if partner.balance.abs() > Decimal::from(crate::types::money::MAX_ABS) {
        return Err(Error::range(
            "amount",
            "the balance would pass the largest amount the gateway keeps",
        ));
    }
    let moved = DayTotals::of(e.kind, e.amount);
    let date = e.time.date_naive();
    let day = if moved.is_zero() {
        None
    } else {
        let mut day = tx.day_totals(&partner.login, date)?.unwrap_or_default();
        day.add(moved);
        Some(day)
    };
    e.id = id;
    e.balance_after = partner.balance;
    tx.append_ledger(&partner.login, &e, day.as_ref().map(|d| (date, d)))?;
    Ok(id)
}

/// Sets the note of an entry appended in the same write.
pub fn annotate(tx: &mut Tx<'_>, login: &str, id: u64, note: String) -> Result<()> {
    let mut e = tx
        .ledger_entry(login, id)?
        .ok_or_else(|| Error::internal("ledger entry just written is missing"))?;
    e.note = note;
    tx.append_ledger(login, &e, None)
}

/// Appends a line to the partner's commission account and moves what it can withdraw
/// (and, for earnings, what it earned in all) with it; the caller stores the partner.
/// The account never goes below zero.
pub fn append_commission(
    tx: &mut Tx<'_>,
    partner: &mut Partner,
    mut e: CommissionEntry,
) -> Result<CommissionEntry> {
    let after = partner
        .commission
        .checked_add(e.amount)
        .filter(|a| *a >= Decimal::ZERO)
        .ok_or_else(|| Error::internal("the commission account would go below zero"))?;
    partner.commission = after;
    if e.kind == CommissionKind::Earned {
        partner.commission_earned += e.amount;
    }
    e.id = tx.next_id("commission")?;
    e.balance_after = after;
    tx.append_commission(&partner.login, &e)?;
    Ok(e)
}
