//! `statement.list` and `statement.info`: the monthly statements of a partner on
//! postpay terms, and what one month's statement is made of.

use super::params::Params;
use crate::engine::statement::Statement;
use crate::engine::Ctx;
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{EntryKind, LedgerEntry, Partner};
use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct StatementList {}

impl StatementList {
    pub fn parse(_p: &mut Params) -> Result<StatementList> {
        Ok(StatementList {})
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let partner = fresh(ctx)?;
        let mut rows = statements(ctx, &partner)?;
        rows.reverse();
        Ok(Outcome::ok(Data::Statements {
            currency: partner.currency,
            rows,
            entries: Vec::new(),
        }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementInfo {
    /// `YYYY-MM`.
    pub month: String,
}

impl StatementInfo {
    pub fn parse(p: &mut Params) -> Result<StatementInfo> {
        let month = p.req("month")?;
        if NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_err()
            || month.len() != 7
        {
            return Err(Error::value("month", format!("{month:?} is not YYYY-MM")));
        }
        Ok(StatementInfo { month })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let partner = fresh(ctx)?;
        let st = statements(ctx, &partner)?
            .into_iter()
            .find(|s| s.month == self.month)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no statement for {} (only complete months since the partner joined)",
                    self.month
                ))
                .about(Object::Statement)
            })?;
        // What the month's statement is made of: its charges and refunds.
        let prefix = format!("{}-", self.month);
        let mut entries: Vec<LedgerEntry> = ctx
            .eng
            .store
            .ledger(&partner.login, None, false)
            .filter(|r| {
                r.as_ref().map_or(true, |e| {
                    matches!(e.kind, EntryKind::Charge | EntryKind::Refund)
                        && e.time.date_naive().to_string().starts_with(&prefix)
                })
            })
            .collect::<Result<_>>()?;
        entries.sort_by_key(|e| e.id);
        Ok(Outcome::ok(Data::Statements {
            currency: partner.currency,
            rows: vec![st],
            entries,
        }))
    }
}

fn statements(ctx: &Ctx<'_>, partner: &Partner) -> Result<Vec<Statement>> {
    ctx.eng.statements(partner)?.ok_or_else(|| {
        Error::prohibited(format!(
            "{} is not on postpay terms: it has no statements",
            partner.login
        ))
        .about(Object::Account)
    })
}

fn fresh(ctx: &Ctx<'_>) -> Result<Partner> {
    ctx.eng
        .store
        .partner(&ctx.partner.login)?
        .ok_or_else(|| Error::internal("partner vanished"))
}
