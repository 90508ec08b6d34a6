//! `domain.set-ns` (an order the registry carries out) and `domain.set-autorenew`
//! (the gateway's own flag).

use super::domain_read::owned_domain;
use super::params::Params;
use crate::engine::orders::NewOrder;
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::OrderKind;
use crate::types::money::Money;
use crate::types::names::{check_nameservers, Name, Nameserver};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SetNs {
    pub domain: Name,
    pub ns: Vec<String>,
}

impl SetNs {
    pub fn parse(p: &mut Params) -> Result<SetNs> {
        let domain = p.name("domain")?;
        let raw = p.many("ns");
        if raw.is_empty() {
            return Err(Error::missing("ns"));
        }
        let ns = raw
            .iter()
            .map(|n| Nameserver::parse(n))
            .collect::<Result<Vec<_>>>()?;
        check_nameservers(&domain, &ns, 2)?;
        Ok(SetNs {
            domain,
            ns: ns.iter().map(Nameserver::wire).collect(),
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let name = self.domain.ascii().to_string();
        let order = NewOrder {
            domain: name.clone(),
            kind: OrderKind::SetNs {
                ns: self.ns.clone(),
            },
            amount: Money::zero(ctx.partner.currency),
            priced: None,
        };
        ctx.eng
            .place_order(ctx, order, move |tx, partner| {
                owned_domain(tx, &partner.login, &name).map(|_| ())
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SetAutorenew {
    pub domain: Name,
    pub auto_renew: bool,
}

impl SetAutorenew {
    pub fn parse(p: &mut Params) -> Result<SetAutorenew> {
        let domain = p.name("domain")?;
        let auto_renew = p
            .bool_opt("auto-renew")?
            .ok_or_else(|| Error::missing("auto-renew"))?;
        Ok(SetAutorenew { domain, auto_renew })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let name = self.domain.ascii().to_string();
        let on = self.auto_renew;
        ctx.eng
            .write_once(ctx, "domain.set-autorenew", move |tx, partner| {
                let mut d = owned_domain(tx, &partner.login, &name)?;
                d.auto_renew = on;
                tx.put_domain(&partner.login, &d)?;
                Ok(Outcome::ok(Data::Domain(Box::new(d))))
            })
            .await
    }
}
