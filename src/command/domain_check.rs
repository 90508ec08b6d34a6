//! `domain.check`: whether names can be registered now, and at what price.

use super::params::Params;
use crate::engine::catalogue::Operation;
use crate::engine::Ctx;
use crate::error::{Error, Result};
use crate::outcome::{CheckRow, Data, Outcome};
use crate::types::names::{parse_name, Name};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DomainCheck {
    pub domains: Vec<Name>,
}

impl DomainCheck {
    pub fn parse(p: &mut Params) -> Result<DomainCheck> {
        let raw = p.many("domain");
        if raw.is_empty() {
            return Err(Error::missing("domain"));
        }
        if raw.len() > 50 {
            return Err(Error::range(
                "domain",
                format!("{} names given, at most 50", raw.len()),
            ));
        }
        let domains = raw
            .iter()
            .map(|d| parse_name("domain", d))
            .collect::<Result<Vec<_>>>()?;
        Ok(DomainCheck { domains })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let eng = ctx.eng;
        let currency = ctx.partner.currency;
        let mut rows: Vec<CheckRow> = Vec::with_capacity(self.domains.len());
        let mut ask: Vec<(usize, Name)> = Vec::new();
        let terms = eng.terms(&ctx.partner)?;
        for d in &self.domains {
            let mut row = CheckRow {
                name: d.ascii().to_string(),
                available: false,
                price: None,
                reason: None,
            };
            let zone = eng.catalogue.zone_of(d);
            let priced = zone
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|z| terms.price(z, Operation::Register, z.min_period))
                .map(|p| p.net);
            // The zone's script policy: the name is priced like any other in the zone.
            let policy = zone.and_then(|z| z.check_registrable(d));
            match priced {
                Err(e) => {
                    let why = e.message.strip_prefix("domain: ").unwrap_or(&e.message);
                    row.reason = Some(why.to_string())
                }
                Ok(price) => {
                    row.price = Some(price.amount);
                    if let Err(e) = policy {
                        let why = e.message.strip_prefix("domain: ").unwrap_or(&e.message);
                        row.reason = Some(why.to_string());
                    } else if eng.store.domain_owner(d.ascii())?.is_some() {
                        row.reason = Some("registered".into());
                    } else if eng.store.in_flight(d.ascii())?.is_some() {
                        row.reason = Some("an order for this name is in progress".into());
                    } else {
                        ask.push((rows.len(), d.clone()));
                    }
                }
            }
            rows.push(row);
        }
        if !ask.is_empty() {
            let names: Vec<Name> = ask.iter().map(|(_, n)| n.clone()).collect();
            let free = tokio::time::timeout(eng.upstream_timeout, eng.backend.check(&names))
                .await
                .map_err(|_| {
                    Error::upstream_timeout("the registry did not answer the check in time")
                })??;
            for ((i, _), free) in ask.iter().zip(free) {
                rows[*i].available = free;
                if !free {
                    rows[*i].reason = Some("registered".into());
                }
            }
        }
        Ok(Outcome::ok(Data::Check { currency, rows }))
    }
}
