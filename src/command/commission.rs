//! `commission.list` and `commission.transfer`: the commission account, kept apart from
//! the prepaid balance. Orders for the partner's clients earn commission when they
//! complete (programmes C and E); the partner spends it by moving it into its prepaid
//! balance, and the operator pays it out (`regway partner withdraw --commission`).

use super::params::Params;
use crate::engine::ledger::{append, append_commission, entry};
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{CommissionEntry, CommissionKind, EntryKind, Partner};
use crate::types::money::{parse_amount, Money, MAX_MINOR_DIGITS};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CommissionList {
    pub limit: usize,
    pub cursor: Option<u64>,
}

impl CommissionList {
    pub fn parse(p: &mut Params) -> Result<CommissionList> {
        let (limit, cursor) = p.page_by_id()?;
        Ok(CommissionList { limit, cursor })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let partner: Partner = ctx
            .eng
            .store
            .partner(login)?
            .ok_or_else(|| Error::internal("partner vanished"))?;
        let rows = ctx.eng.store.commissions(login, self.cursor, true);
        let (rows, next_cursor) =
            super::page(rows, self.limit, |e: &CommissionEntry| e.id.to_string())?;
        Ok(Outcome::ok(Data::Commissions {
            currency: partner.currency,
            earned: partner.commission_earned,
            withdrawable: partner.commission,
            rows,
            next_cursor,
        }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CommissionTransfer {
    /// Normalised (`10.5`), so `10.50` and `10.5` are the same request.
    pub amount: Decimal,
    /// Decimal digits as sent: checked against the partner's currency when it is known.
    #[serde(skip)]
    pub digits: u32,
}

impl CommissionTransfer {
    pub fn parse(p: &mut Params) -> Result<CommissionTransfer> {
        let v = p.req("amount")?;
        // The partner's currency is not known yet: no currency has more minor digits
        // than the widest, and `apply` checks the partner's own.
        let amount = parse_amount("amount", &v, MAX_MINOR_DIGITS, false)?;
        if amount <= Decimal::ZERO {
            return Err(Error::range("amount", "must be more than zero"));
        }
        Ok(CommissionTransfer {
            amount: amount.normalize(),
            digits: amount.scale(),
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let currency = ctx.partner.currency;
        if self.digits > currency.minor_digits() {
            return Err(Error::value(
                "amount",
                format!(
                    "{} decimal digits given, {currency} amounts have at most {}",
                    self.digits,
                    currency.minor_digits()
                ),
            ));
        }
        let amount = Money {
            amount: self.amount,
            currency,
        };
        let now = ctx.eng.clock.now();
        let by = ctx.by();
        ctx.eng
            .write_once(ctx, "commission.transfer", move |tx, partner: &Partner| {
                let mut p = partner.clone();
                if amount.amount > p.commission {
                    return Err(Error::billing(format!(
                        "not enough commission: {amount} asked, {} withdrawable",
                        Money {
                            amount: p.commission,
                            currency: p.currency
                        }
                    )));
                }
                let mut e = entry(EntryKind::Commission, amount.amount, None, now);
                e.by = by;
                let ledger = append(tx, &mut p, e)?;
                let spent = append_commission(
                    tx,
                    &mut p,
                    CommissionEntry {
                        ledger: Some(ledger),
                        ..CommissionEntry::new(CommissionKind::Spent, -amount.amount, now)
                    },
                )?;
                tx.put_partner(&p)?;
                Ok(Outcome::ok(Data::CommissionTransfer {
                    currency: p.currency,
                    entry: Box::new(spent),
                    balance: p.balance,
                    withdrawable: p.commission,
                }))
            })
            .await
    }
}
