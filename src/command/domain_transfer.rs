//! `domain.transfer`: a domain held at another registrar brought to this gateway for one
//! of the partner's clients, with the code the losing registrar gave its holder. Paid
//! from the balance (or credit line) at once, like a registration: one year at the
//! zone's transfer price (its renew price where it has none).

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

/// The longest transfer code taken.
const AUTHCODE_MAX: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct DomainTransfer {
    pub domain: Name,
    pub client: ClientHandle,
    pub authcode: String,
    pub ns: Vec<String>,
    pub auto_renew: bool,
}

impl DomainTransfer {
    pub fn parse(p: &mut Params) -> Result<DomainTransfer> {
        let domain = p.name("domain")?;
        let client = super::client::parse_handle(&p.req("client")?)?;
        let authcode = p.req("authcode")?;
        if !authcode.chars().all(|c| c.is_ascii_graphic()) || authcode.is_empty() {
            return Err(Error::value(
                "authcode",
                "printable ASCII characters without spaces",
            ));
        }
        if authcode.len() > AUTHCODE_MAX {
            return Err(Error::range(
                "authcode",
                format!("longer than {AUTHCODE_MAX} characters"),
            ));
        }
        let ns = p
            .many("ns")
            .iter()
            .map(|n| Nameserver::parse(n))
            .collect::<Result<Vec<_>>>()?;
        check_nameservers(&domain, &ns, 0)?;
        let auto_renew = p.bool_opt("auto-renew")?.unwrap_or(false);
        Ok(DomainTransfer {
            domain,
            client,
            authcode,
            ns: ns.iter().map(Nameserver::wire).collect(),
            auto_renew,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let eng = ctx.eng;
        let (_, priced) = eng.quote(&ctx.partner, &self.domain, Operation::Transfer, 1)?;
        let name = self.domain.ascii().to_string();
        let client = self.client.clone();
        let order = NewOrder {
            domain: name.clone(),
            kind: OrderKind::Transfer {
                client: self.client.to_string(),
                authcode: self.authcode.clone(),
                ns: self.ns.clone(),
                auto_renew: self.auto_renew,
            },
            amount: priced.net,
            priced: Some(priced),
        };
        eng.place_order(ctx, order, move |tx, partner| {
            live_client(tx, &partner.login, &client)?;
            if tx.domain_owner(&name)?.is_some() {
                return Err(Error::exists(format!("{name} is already registered here")));
            }
            Ok(())
        })
        .await
    }
}
