//! `ledger.list`: the partner's operations journal, newest first. The ledger is
//! append-only; the balance is the sum of its entries.

use super::params::Params;
use crate::engine::Ctx;
use crate::error::Result;
use crate::outcome::{Data, Outcome};
use crate::store::keys;
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
        let after = self.cursor.map(|id| keys::ledger_entry(login, id));
        let rows = ctx
            .eng
            .store
            .scan::<LedgerEntry>(&keys::ledger(login), after.as_deref(), true)
            .map(|r| r.map(|(_, e)| e));
        let (rows, next_cursor) =
            super::page(rows, self.limit, |e: &LedgerEntry| e.id.to_string())?;
        Ok(Outcome::ok(Data::Ledger {
            currency: ctx.partner.currency,
            rows,
            next_cursor,
        }))
    }
}
