//! `ledger.list`: the partner's operations journal, newest first. The ledger is
//! append-only; the balance is the sum of its entries.

use super::params::Params;
use crate::engine::Ctx;
use crate::error::Result;
use crate::outcome::{Data, Outcome};
use crate::store::records::LedgerEntry;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct LedgerList {
    pub limit: usize,
    pub cursor: Option<u64>,
}

impl LedgerList {
    pub fn parse(p: &mut Params) -> Result<LedgerList> {
        let (limit, cursor) = p.page_by_id()?;
        Ok(LedgerList { limit, cursor })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let rows = ctx.eng.store.ledger(login, self.cursor, true);
        let (rows, next_cursor) =
            super::page(rows, self.limit, |e: &LedgerEntry| e.id.to_string())?;
        Ok(Outcome::ok(Data::Ledger {
            currency: ctx.partner.currency,
            rows,
            next_cursor,
        }))
    }
}
