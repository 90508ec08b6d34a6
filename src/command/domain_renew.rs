//! `domain.renew`: more years for a domain. The partner names the current expiry date,
//! so a repeated renew (a retry with a new request-id) can never add a second year.

use super::domain_read::owned_domain;
use super::params::Params;
use crate::engine::catalogue::Operation;
use crate::engine::orders::NewOrder;
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::store::records::OrderKind;
use crate::types::clock::add_years;
use crate::types::date::parse_date;
use crate::types::names::Name;
use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DomainRenew {
    pub domain: Name,
    pub period: u32,
    pub expires: NaiveDate,
}

impl DomainRenew {
    pub fn parse(p: &mut Params) -> Result<DomainRenew> {
        let domain = p.name("domain")?;
        let period = p.u32_in("period", Some(1), 1, 10)?;
        let expires = parse_date("expires", &p.req("expires")?)?;
        Ok(DomainRenew {
            domain,
            period,
            expires,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let eng = ctx.eng;
        let (zone, priced) =
            eng.quote(&ctx.partner, &self.domain, Operation::Renew, self.period)?;
        let horizon = add_years(eng.clock.today(), zone.horizon_years)
            .ok_or_else(|| Error::internal("date overflow"))?;
        let new_expiry = add_years(self.expires, self.period)
            .ok_or_else(|| Error::range("period", "date out of range"))?;
        let (name, expires, horizon_years) = (
            self.domain.ascii().to_string(),
            self.expires,
            zone.horizon_years,
        );
        let order = NewOrder {
            domain: name.clone(),
            kind: OrderKind::Renew {
                period: self.period,
                expires: self.expires,
            },
            amount: priced.net,
            priced: Some(priced),
        };
        eng.place_order(ctx, order, move |tx, partner| {
            let d = owned_domain(tx, &partner.login, &name)?;
            if d.expires != expires {
                return Err(Error::not_renewable(format!(
                    "{name} expires on {}, not on {expires}: renew names the current expiry date",
                    d.expires
                )));
            }
            if new_expiry > horizon {
                return Err(Error::not_renewable(format!(
                    "too early: {name} would expire on {new_expiry}, more than {horizon_years} years ahead"
                )));
            }
            Ok(())
        })
        .await
    }
}
