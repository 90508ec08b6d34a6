//! `ledger.list`: the partner's operations journal, newest first. The ledger is
//! append-only; the balance is the sum of its entries.

use super::params::{Dates, Params};
use crate::engine::Ctx;
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::LedgerEntry;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct LedgerList {
    /// Entries made on these days.
    pub dates: Dates,
    /// The answer as CSV (`format=csv`) instead of XML.
    pub csv: bool,
    pub limit: usize,
    pub cursor: Option<u64>,
}

impl LedgerList {
    pub fn parse(p: &mut Params) -> Result<LedgerList> {
        let dates = p.dates()?;
        let csv = match p.opt("format")?.as_deref() {
            None | Some("xml") => false,
            Some("csv") => true,
            Some(f) => return Err(Error::value("format", format!("{f:?}: xml or csv"))),
        };
        let (limit, cursor) = p.page_by_id()?;
        Ok(LedgerList {
            dates,
            csv,
            limit,
            cursor,
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let rows = ctx
            .eng
            .store
            .ledger(login, self.cursor, true)
            .filter(|r| r.as_ref().map_or(true, |e| self.dates.holds(e.time)));
        let (rows, next_cursor) =
            super::page(rows, self.limit, |e: &LedgerEntry| e.id.to_string())?;
        Ok(Outcome::ok(Data::Ledger {
            currency: ctx.partner.currency,
            rows,
            next_cursor,
            csv: self.csv,
        }))
    }
}
