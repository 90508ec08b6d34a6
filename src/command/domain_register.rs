//! `domain.register`: a new domain for one of the partner's clients, paid from its
//! balance (or credit line) at once.

use super::client::live_client;
use super::params::Params;
use crate::engine::catalogue::Operation;
use crate::engine::orders::NewOrder;
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::store::records::OrderKind;
use crate::types::client::ClientHandle;
use crate::types::names::{check_nameservers, Name, Nameserver};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DomainRegister {
    pub domain: Name,
    pub period: u32,
    pub client: ClientHandle,
    pub ns: Vec<String>,
    pub auto_renew: bool,
}

impl DomainRegister {
    pub fn parse(p: &mut Params) -> Result<DomainRegister> {
        let domain = p.name("domain")?;
        let period = p.u32_in("period", Some(1), 1, 10)?;
        let client = super::client::parse_handle(&p.req("client")?)?;
        let ns = p
            .many("ns")
            .iter()
            .map(|n| Nameserver::parse(n))
            .collect::<Result<Vec<_>>>()?;
        check_nameservers(&domain, &ns, 0)?;
        let auto_renew = p.bool_opt("auto-renew")?.unwrap_or(false);
        Ok(DomainRegister {
            domain,
            period,
            client,
            ns: ns.iter().map(Nameserver::wire).collect(),
            auto_renew,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let eng = ctx.eng;
        let (_, priced) =
            eng.quote(&ctx.partner, &self.domain, Operation::Register, self.period)?;
        let name = self.domain.ascii().to_string();
        let client = self.client.clone();
        let order = NewOrder {
            domain: name.clone(),
            kind: OrderKind::Register {
                period: self.period,
                client: self.client.to_string(),
                ns: self.ns.clone(),
                auto_renew: self.auto_renew,
            },
            amount: priced.net,
            priced: Some(priced),
        };
        eng.place_order(ctx, order, move |tx, partner| {
            live_client(tx, &partner.login, &client)?;
            if tx.domain_owner(&name)?.is_some() {
                return Err(Error::exists(format!("{name} is already registered")));
            }
            Ok(())
        })
        .await
    }
}
