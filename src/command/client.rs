//! `client.create`, `client.info`, `client.list`: the partner's clients (domain
//! registrants). Handles look like `1000/RW-P`: a number unique in the gateway, a
//! slash, and the configured suffix.

use super::params::{text, Params};
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Client, ClientKind, Partner};
use crate::store::Read;
use crate::types::client::ClientHandle;
use serde::Serialize;
use std::collections::BTreeMap;

/// Checks the shape of a handle (`NUMBER/SUFFIX`).
pub fn parse_handle(v: &str) -> Result<ClientHandle> {
    ClientHandle::parse(v).ok_or_else(|| {
        Error::value(
            "client",
            format!("{v:?} is not a client handle (like 1000/RW-P)"),
        )
    })
}

/// The partner's own client: 2303 when no such client exists, 2201 when it belongs to
/// another partner.
pub fn owned_client(
    r: &(impl Read + ?Sized),
    login: &str,
    handle: &ClientHandle,
) -> Result<Client> {
    let number = handle.number();
    let missing = || Error::not_found(format!("no client {handle}")).about(Object::Client);
    match r.client_owner(number)? {
        None => Err(missing()),
        Some(owner) if owner != login => Err(Error::forbidden(format!(
            "client {handle} belongs to another partner"
        ))
        .about(Object::Client)),
        Some(_) => {
            let c: Client = r.client(login, number)?.ok_or_else(missing)?;
            if c.id != handle.as_str() {
                return Err(missing());
            }
            Ok(c)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientCreate {
    pub kind: ClientKind,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub country: String,
    pub address: String,
    pub extra: BTreeMap<String, String>,
}

fn email(v: String) -> Result<String> {
    let v = text("email", v, 254)?;
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    } && !v.chars().any(char::is_whitespace);
    if !ok {
        return Err(Error::value(
            "email",
            format!("{v:?} is not an e-mail address"),
        ));
    }
    Ok(v)
}

fn phone(v: String) -> Result<String> {
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let ok = v.starts_with('+')
        && (5..=20).contains(&digits)
        && v[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'.' | b'-' | b'(' | b')'));
    if !ok {
        return Err(Error::value(
            "phone",
            format!("{v:?}: international form, like +7.4951234567 or +7 495 123-45-67"),
        ));
    }
    Ok(v)
}

fn country(v: String) -> Result<String> {
    if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::value(
            "country",
            format!("{v:?}: a two-letter ISO 3166 code in upper case, like RU"),
        ));
    }
    Ok(v)
}

/// The optional `x-…` fields: at most 30, names of x- and 1 to 40 of a-z 0-9 -.
fn extra_fields(p: &mut Params) -> Result<BTreeMap<String, String>> {
    let mut extra = BTreeMap::new();
    let given = p.with_prefix("x-");
    if given.len() > 30 {
        return Err(Error::range("x-", "at most 30 optional fields"));
    }
    for (k, v) in given {
        let ok = k.len() <= 42
            && k.len() > 2
            && k[2..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Error::syntax(format!(
                "{k:?}: optional fields are x- and 1 to 40 of a-z 0-9 -"
            )));
        }
        if extra.contains_key(&k) {
            return Err(Error::syntax(format!("{k}: given more than once")));
        }
        let v = if v.is_empty() { v } else { text(&k, v, 255)? };
        extra.insert(k, v);
    }
    Ok(extra)
}

impl ClientCreate {
    pub fn parse(p: &mut Params) -> Result<ClientCreate> {
        let kind = match p.req("type")?.as_str() {
            "person" => ClientKind::Person,
            "org" => ClientKind::Org,
            other => return Err(Error::value("type", format!("{other:?}: person or org"))),
        };
        let name = text("name", p.req("name")?, 255)?;
        let email = email(p.req("email")?)?;
        let phone = phone(p.req("phone")?)?;
        let country = country(p.req("country")?)?;
        let address = text("address", p.req("address")?, 500)?;
        let extra = extra_fields(p)?;
        Ok(ClientCreate {
            kind,
            name,
            email,
            phone,
            country,
            address,
            extra,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let c = self.clone();
        let suffix = ctx.eng.client_suffix.clone();
        let now = ctx.eng.clock.now();
        ctx.eng
            .write_once(ctx, "client.create", move |tx, partner: &Partner| {
                let number = tx.next_id("client")? + 999;
                let client = Client {
                    id: format!("{number}/{suffix}"),
                    number,
                    kind: c.kind,
                    name: c.name,
                    email: c.email,
                    phone: c.phone,
                    country: c.country,
                    address: c.address,
                    extra: c.extra,
                    created: now,
                    deleted: None,
                };
                let mut p = partner.clone();
                p.clients += 1;
                tx.put_partner(&p)?;
                tx.add_client(&p.login, &client)?;
                Ok(Outcome::ok(Data::Client(Box::new(client))))
            })
            .await
    }
}

/// `client.update`: new contact details of one of the partner's clients. Only the
/// fields given change; an `x-…` field given empty is removed. The change is the
/// gateway's own record: nothing is sent upstream, so the registrant data a registry
/// holds for domains already registered stays as it was.
#[derive(Debug, Clone, Serialize)]
pub struct ClientUpdate {
    pub client: ClientHandle,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub address: Option<String>,
    pub extra: BTreeMap<String, String>,
}

impl ClientUpdate {
    pub fn parse(p: &mut Params) -> Result<ClientUpdate> {
        let client = parse_handle(&p.req("client")?)?;
        let name = p.opt("name")?.map(|v| text("name", v, 255)).transpose()?;
        let email = p.opt("email")?.map(email).transpose()?;
        let phone = p.opt("phone")?.map(phone).transpose()?;
        let country = p.opt("country")?.map(country).transpose()?;
        let address = p
            .opt("address")?
            .map(|v| text("address", v, 500))
            .transpose()?;
        let extra = extra_fields(p)?;
        if name.is_none()
            && email.is_none()
            && phone.is_none()
            && country.is_none()
            && address.is_none()
            && extra.is_empty()
        {
            return Err(Error::new(
                crate::error::Code::Missing,
                "nothing to change: give name, email, phone, country, address or an x- field",
            ));
        }
        Ok(ClientUpdate {
            client,
            name,
            email,
            phone,
            country,
            address,
            extra,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let u = self.clone();
        ctx.eng
            .write_once(ctx, "client.update", move |tx, partner: &Partner| {
                let mut c = owned_client(tx, &partner.login, &u.client)?;
                if c.deleted.is_some() {
                    return Err(Error::prohibited(format!(
                        "client {} was deleted: it cannot be changed",
                        u.client
                    ))
                    .about(Object::Client));
                }
                let set = |field: &mut String, v: &Option<String>| {
                    if let Some(v) = v {
                        field.clone_from(v);
                    }
                };
                set(&mut c.name, &u.name);
                set(&mut c.email, &u.email);
                set(&mut c.phone, &u.phone);
                set(&mut c.country, &u.country);
                set(&mut c.address, &u.address);
                for (k, v) in &u.extra {
                    if v.is_empty() {
                        c.extra.remove(k);
                    } else {
                        c.extra.insert(k.clone(), v.clone());
                    }
                }
                if c.extra.len() > 30 {
                    return Err(Error::range("x-", "at most 30 optional fields"));
                }
                tx.put_client(&partner.login, &c)?;
                Ok(Outcome::ok(Data::Client(Box::new(c))))
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub client: ClientHandle,
}

impl ClientInfo {
    pub fn parse(p: &mut Params) -> Result<ClientInfo> {
        Ok(ClientInfo {
            client: parse_handle(&p.req("client")?)?,
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let c = owned_client(ctx.eng.store.reader(), &ctx.partner.login, &self.client)?;
        Ok(Outcome::ok(Data::Client(Box::new(c))))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientList {
    pub matching: Option<String>,
    pub limit: usize,
    pub cursor: Option<u64>,
}

impl ClientList {
    pub fn parse(p: &mut Params) -> Result<ClientList> {
        let matching = p.text_opt("match")?.map(|m| m.to_lowercase());
        let (limit, cursor) = p.page_by_id()?;
        Ok(ClientList {
            matching,
            limit,
            cursor,
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let rows = ctx.eng.store.clients(login, self.cursor).filter(|r| {
            r.as_ref().map_or(true, |c| {
                self.matching.as_deref().is_none_or(|m| {
                    c.id.to_lowercase().contains(m)
                        || c.name.to_lowercase().contains(m)
                        || c.email.to_lowercase().contains(m)
                })
            })
        });
        let (rows, next_cursor) = super::page(rows, self.limit, |c: &Client| c.number.to_string())?;
        Ok(Outcome::ok(Data::Clients { rows, next_cursor }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientDelete {
    pub client: ClientHandle,
}

impl ClientDelete {
    pub fn parse(p: &mut Params) -> Result<ClientDelete> {
        Ok(ClientDelete {
            client: parse_handle(&p.req("client")?)?,
        })
    }

    /// Marks the client deleted. Its domains and licences stay the partner's (they can
    /// be renewed), but no new order names it, and it earns no more commission.
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let handle = self.client.clone();
        let now = ctx.eng.clock.now();
        ctx.eng
            .write_once(ctx, "client.delete", move |tx, partner: &Partner| {
                let mut c = owned_client(tx, &partner.login, &handle)?;
                if let Some(at) = c.deleted {
                    return Err(Error::prohibited(format!(
                        "client {handle} was deleted at {}",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ))
                    .about(Object::Client));
                }
                c.deleted = Some(now);
                tx.put_client(&partner.login, &c)?;
                crate::engine::services::forget_client(tx, &partner.login, c.number)?;
                Ok(Outcome::ok(Data::Client(Box::new(c))))
            })
            .await
    }
}

/// A client new orders may name: the partner's own, not deleted (2304).
pub fn live_client(r: &(impl Read + ?Sized), login: &str, handle: &ClientHandle) -> Result<Client> {
    let c = owned_client(r, login, handle)?;
    if c.deleted.is_some() {
        return Err(Error::prohibited(format!(
            "client {handle} was deleted: new orders cannot name it"
        ))
        .about(Object::Client));
    }
    Ok(c)
}
