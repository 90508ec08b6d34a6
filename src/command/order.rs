//! `order.info` and `order.list`: the partner's orders and where each stands.

use super::params::{Dates, Params};
use crate::engine::Ctx;
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Order, OrderKind, OrderState};
use crate::store::{Read, Requests};
use crate::types::client::ClientHandle;
use crate::types::names::parse_name;
use crate::types::request_id::RequestId;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub enum OrderRef {
    Id(u64),
    RequestId(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderInfo {
    pub by: OrderRef,
}

fn order_id(field: &str, v: &str) -> Result<u64> {
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::value(field, format!("{v:?} is not an order id")));
    }
    v.parse()
        .map_err(|_| Error::value(field, "not an order id"))
}

impl OrderInfo {
    pub fn parse(p: &mut Params, request_id: Option<Result<RequestId>>) -> Result<OrderInfo> {
        let by = match (p.opt("order")?, request_id) {
            (Some(_), Some(_)) => {
                return Err(Error::syntax("give either order or request-id, not both"))
            }
            (Some(o), None) => OrderRef::Id(order_id("order", &o)?),
            (None, Some(r)) => OrderRef::RequestId(r?.into_string()),
            (None, None) => return Err(Error::missing("order")),
        };
        Ok(OrderInfo { by })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let store = &ctx.eng.store;
        let login = &ctx.partner.login;
        let id = match &self.by {
            OrderRef::Id(id) => match store.order_owner(*id)? {
                None => return Err(Error::not_found(format!("no order {id}")).about(Object::Order)),
                Some(owner) if &owner != login => {
                    return Err(
                        Error::forbidden(format!("order {id} belongs to another partner"))
                            .about(Object::Order),
                    )
                }
                Some(_) => *id,
            },
            OrderRef::RequestId(rid) => store
                .request::<Outcome>(login, rid)?
                .and_then(|r| r.order)
                .ok_or_else(|| {
                    Error::not_found(format!("no order was placed with request-id {rid}"))
                        .about(Object::Request)
                })?,
        };
        let order: Order = store
            .order(login, id)?
            .ok_or_else(|| Error::internal(format!("order {id} has an owner but no record")))?;
        Ok(Outcome::ok(Data::Order(Box::new(order))))
    }
}

/// The client an order concerns: the one it names (registration, transfer, licence
/// order), or the holder of the domain or licence it is about.
fn order_client(store: &(impl Read + ?Sized), login: &str, o: &Order) -> Result<Option<String>> {
    Ok(match &o.kind {
        OrderKind::Register { client, .. }
        | OrderKind::Transfer { client, .. }
        | OrderKind::LicenseOrder { client, .. } => Some(client.clone()),
        OrderKind::Renew { .. } | OrderKind::SetNs { .. } => {
            store.domain(login, &o.domain)?.map(|d| d.client)
        }
        OrderKind::LicenseRenew { license, .. } | OrderKind::LicenseSetIp { license, .. } => {
            store.license(login, *license)?.map(|l| l.client)
        }
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderList {
    pub state: Option<OrderState>,
    pub kind: Option<String>,
    /// Orders for this client's contact: placed for it (registration, transfer,
    /// licence) or about a domain or licence that is now its.
    pub client: Option<ClientHandle>,
    /// Orders about this domain (ASCII form).
    pub domain: Option<String>,
    /// Orders created on these days.
    pub dates: Dates,
    pub limit: usize,
    pub cursor: Option<u64>,
}

impl OrderList {
    pub fn parse(p: &mut Params) -> Result<OrderList> {
        let state = p
            .opt("state")?
            .map(|s| {
                OrderState::parse(&s).ok_or_else(|| {
                    Error::value(
                        "state",
                        format!("{s:?}: accepted, submitted, completed, failed or unknown"),
                    )
                })
            })
            .transpose()?;
        let kind = p.opt("type")?;
        if let Some(k) = &kind {
            if !OrderKind::TYPES.contains(&k.as_str()) {
                return Err(Error::value(
                    "type",
                    format!("{k:?}: one of {}", OrderKind::TYPES.join(", ")),
                ));
            }
        }
        let client = p
            .opt("client")?
            .map(|c| super::client::parse_handle(&c))
            .transpose()?;
        let domain = p
            .opt("domain")?
            .map(|d| parse_name("domain", &d).map(|n| n.ascii().to_string()))
            .transpose()?;
        let dates = p.dates()?;
        let (limit, cursor) = p.page()?;
        let cursor = cursor.map(|c| order_id("cursor", &c)).transpose()?;
        Ok(OrderList {
            state,
            kind,
            client,
            domain,
            dates,
            limit,
            cursor,
        })
    }

    fn keep(&self, store: &(impl Read + ?Sized), login: &str, o: &Order) -> Result<bool> {
        let plain = self.state.is_none_or(|s| o.state == s)
            && self.kind.as_deref().is_none_or(|k| o.kind.command() == k)
            && self.domain.as_deref().is_none_or(|d| o.domain == d)
            && self.dates.holds(o.created);
        let Some(want) = self.client.as_ref().filter(|_| plain) else {
            return Ok(plain);
        };
        Ok(order_client(store, login, o)?.as_deref() == Some(want.as_str()))
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let store = ctx.eng.store.reader();
        let rows = ctx
            .eng
            .store
            .orders(login, self.cursor, true)
            .filter_map(|r| match r {
                Ok(o) => self
                    .keep(store, login, &o)
                    .map(|k| k.then_some(o))
                    .transpose(),
                Err(e) => Some(Err(e)),
            });
        let (rows, next_cursor) = super::page(rows, self.limit, |o: &Order| o.id.to_string())?;
        Ok(Outcome::ok(Data::Orders { rows, next_cursor }))
    }
}
