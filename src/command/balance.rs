//! `balance.get`: the partner's balance, credit limit and what it can still spend.

use super::params::Params;
use crate::engine::Ctx;
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BalanceGet {}

impl BalanceGet {
    pub fn parse(_p: &mut Params) -> Result<BalanceGet> {
        Ok(BalanceGet {})
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        // Read afresh (the engine compares the stored bytes with its decoded copy): the
        // authenticated copy may predate a charge that just landed.
        let p = ctx
            .eng
            .partner(&ctx.partner.login)?
            .ok_or_else(|| Error::internal("partner vanished"))?;
        Ok(Outcome::ok(Data::Balance {
            currency: p.currency,
            balance: p.balance,
            credit_limit: p.credit_limit,
            available: p.balance + p.credit_limit,
        }))
    }
}
