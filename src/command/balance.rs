//! `balance.get`: the partner's balance, credit limit and what it can still spend.

use super::params::Params;
use crate::engine::Ctx;
use crate::error::Result;
use crate::outcome::{Data, Outcome};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BalanceGet {}

impl BalanceGet {
    pub fn parse(_p: &mut Params) -> Result<BalanceGet> {
        Ok(BalanceGet {})
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        // The record as read to authenticate this request: read after the request
        // came, so a charge answered before it was sent is in it (a charge landing
        // while it runs may or may not be, as with any two requests at once).
        let p = &ctx.partner;
        Ok(Outcome::ok(Data::Balance {
            currency: p.currency,
            balance: p.balance,
            credit_limit: p.credit_limit,
            available: p.balance + p.credit_limit,
        }))
    }
}
