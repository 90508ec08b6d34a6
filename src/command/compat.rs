//! Actions of the compatible dialects that are one native command with work before it:
//! a renewal from the expiry held now (Namecheap `domains.renew`, MasterName
//! `prolong_domain` without `cur-exp-date`), MasterName's `client` that must be the
//! domain's holder, and a Namecheap registration with its contacts (`domains.create`).
//! Namecheap's `domains.getContacts` is one read-only command too.
//! Each is one command: one authentication, one limiter check, and the request record
//! of the native command it places, so a native retry, `request.status` and a retry in
//! the dialect all see the same record.
//!
//! The native command's parameters come as fields and are parsed here, after the
//! gateway has authenticated the caller, as they would be had it come natively.

use super::params::Params;
use super::Command;
use crate::engine::{Ctx, Fresh};
use crate::error::Code;
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::Client;
use crate::store::records::{OrderKind, RequestRecord};
use crate::store::requests;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

pub type Fields = Vec<(String, String)>;

/// A MasterName `client` the domain must be held by (402 otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    pub domain: String,
    pub client: String,
}

/// A native command sent with a check before it.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The native command's name (`domain.renew`, `domain.set-ns`).
    pub name: &'static str,
    pub fields: Fields,
    pub holder: Option<Holder>,
}

/// Renews `domain` by `period` years from the expiry the store holds now, for dialects
/// whose renew does not name the current expiry.
///
/// The native renew names the current expiry so that a repeat cannot add a second year.
/// Here the request-id carries that guarantee instead: a request-id seen before gets
/// the stored answer of its renew when it was a renewal of the same domain for the same
/// period, and 2308 otherwise — never a second read and renew. A new request-id is
/// refused (2105) while another renewal of the domain is younger than the duplicate
/// window (`dialect_renew_window_minutes`), since a panel's retry after a lost answer
/// comes with a new request-id. Between the read and the renew another renew may land;
/// the renew then refuses this one (2105 or 2304), so nothing is renewed twice.
#[derive(Debug, Clone, Serialize)]
pub struct RenewCurrent {
    pub domain: String,
    /// As sent; 1 when not given.
    pub period: Option<String>,
    pub holder: Option<Holder>,
}

/// A domain registered for a registrant made from contact details (Namecheap
/// `domains.create`). Each contact is a client of the partner: the one made before from
/// the same details, or a new one (`client.create` under a request-id derived from the
/// details, so a retry never makes two). The Registrant's client names the clients of
/// the other roles that differ from it.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterWithContacts {
    /// Contacts other than the Registrant: (role, the Registrant's field that names its
    /// client, `client.create` fields).
    pub others: Vec<(String, String, Fields)>,
    /// The Registrant's `client.create` fields.
    pub registrant: Fields,
    pub domain: String,
    /// `domain.register` fields besides `domain` and `client` (period, ns).
    pub rest: Fields,
}

/// Deleted clients with one contact's fields that are stepped over before giving up.
const GENERATIONS: u32 = 100;

impl RegisterWithContacts {
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let mut registrant = self.registrant.clone();
        for (role, link, fields) in &self.others {
            let c = contact_client(ctx, role, fields).await?;
            registrant.push((link.clone(), c.id));
        }
        let client = contact_client(ctx, "Registrant", &registrant).await?;
        let mut fields = vec![field("domain", &self.domain), field("client", &client.id)];
        fields.extend(self.rest.iter().cloned());
        let rid = ctx.request_id.clone();
        run_native(ctx, "domain.register", fields, rid).await
    }
}

/// The request-id of the client made from a contact: derived from its fields, so the
/// same contact gives the same client and a retry never makes two. `generation` counts
/// the clients with these fields that the partner has deleted: a deleted client is
/// never used again, the next generation makes a new one.
fn client_request_id(fields: &[(String, String)], generation: u32) -> String {
    let mut h = Sha256::new();
    for (k, v) in fields {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let hex: String = d[..20].iter().map(|b| format!("{b:02x}")).collect();
    match generation {
        0 => format!("nc-client-{hex}"),
        g => format!("nc-client-{hex}-{g}"),
    }
}

/// The live client made from a contact's fields: the one made before, or a new one
/// when there is none or the partner deleted it. Errors of making it name the role.
async fn contact_client(ctx: &Ctx<'_>, role: &str, fields: &Fields) -> Result<Client> {
    let of_role = |e: Error| Error {
        message: format!("{role} contact: {}", e.message),
        ..e
    };
    for generation in 0..GENERATIONS {
        let rid = client_request_id(fields, generation);
        let made = run_native(ctx, "client.create", fields.clone(), Some(rid))
            .await
            .map_err(of_role)?;
        let (outcome, replayed) = match made {
            Fresh::Done(o) => (o, false),
            Fresh::Replay(rec) => match rec.outcome {
                Some(o) => (o, true),
                None => return Err(Error::internal("client.create recorded without an answer")),
            },
        };
        if !outcome.code.is_success() {
            return Err(of_role(Error::new(outcome.code, outcome.message)));
        }
        let Data::Client(client) = outcome.data else {
            return Err(Error::internal("client.create answered without a client"));
        };
        if !replayed {
            return Ok(*client);
        }
        // A stored answer shows the client as it was made: ask how it is now.
        let mut p = Params::new(vec![field("client", &client.id)]);
        let info = super::client::ClientInfo::parse(&mut p)?;
        p.finish()?;
        match info.apply(ctx)?.data {
            Data::Client(now) if now.deleted.is_none() => return Ok(*now),
            Data::Client(_) => continue,
            _ => return Err(Error::internal("client.info answered without a client")),
        }
    }
    Err(Error::new(
        Code::StatusProhibits,
        format!("{role} contact: {GENERATIONS} clients with these details were deleted"),
    ))
}

/// A domain and its contacts: the registrant's client, and for each of `links` the
/// client the registrant's field of that name names (the registrant when it has none).
#[derive(Debug, Clone, Serialize)]
pub struct Contacts {
    pub domain: String,
    pub links: Vec<String>,
}

impl Contacts {
    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let Data::Domain(d) = read_domain(ctx, &self.domain)?.data else {
            return Err(Error::internal("domain.info answered without a domain"));
        };
        let registrant = read_client(ctx, &d.client)?;
        let mut clients = vec![registrant.clone()];
        for link in &self.links {
            clients.push(match registrant.extra.get(link) {
                Some(handle) => read_client(ctx, handle)?,
                None => registrant.clone(),
            });
        }
        Ok(Outcome::ok(Data::Contacts { domain: d, clients }))
    }
}

/// The partner's client as `client.info` answers it, or its error.
fn read_client(ctx: &Ctx<'_>, handle: &str) -> Result<Client> {
    let mut p = Params::new(vec![field("client", handle)]);
    let info = super::client::ClientInfo::parse(&mut p)?;
    p.finish()?;
    match info.apply(ctx)?.data {
        Data::Client(c) => Ok(*c),
        _ => Err(Error::internal("client.info answered without a client")),
    }
}

impl Checked {
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        if let Some(h) = &self.holder {
            check_holder(ctx, h)?;
        }
        let rid = ctx.request_id.clone();
        run_native(ctx, self.name, self.fields.clone(), rid).await
    }
}

impl RenewCurrent {
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        if let Some(h) = &self.holder {
            check_holder(ctx, h)?;
        }
        let rid = ctx
            .request_id
            .clone()
            .ok_or_else(|| Error::internal("renewal without request-id"))?;
        let login = &ctx.partner.login;
        if let Some(rec) = requests::replay(&ctx.eng.store, login, &rid)? {
            return if self.renewed_by(ctx, &rec)? {
                Ok(Fresh::Replay(Box::new(rec)))
            } else {
                Err(Error::reused(&rid))
            };
        }
        let info = read_domain(ctx, &self.domain)?;
        let Data::Domain(d) = info.data else {
            return Err(Error::internal("domain.info answered without a domain"));
        };
        ctx.eng.check_renew_window(login, &d.name)?;
        let mut fields = vec![field("domain", &self.domain), field("expires", d.expires)];
        if let Some(p) = &self.period {
            fields.push(field("period", p));
        }
        run_native(ctx, "domain.renew", fields, Some(rid)).await
    }

    /// Whether the stored request was a renewal of this domain for this period (the
    /// whole request: the command, the domain and the period).
    fn renewed_by(&self, ctx: &Ctx<'_>, rec: &RequestRecord<Outcome>) -> Result<bool> {
        if rec.command != "domain.renew" {
            return Ok(false);
        }
        let wanted_name = crate::types::names::parse_name("domain", &self.domain).ok();
        let wanted_period = match self.period.as_deref() {
            None => Some(1),
            Some(p) => p.parse::<u32>().ok(),
        };
        let order = match &rec.outcome {
            Some(o) => match &o.data {
                Data::DomainOrder { order, .. } | Data::Order(order) => Some((**order).clone()),
                _ => None,
            },
            None => requests::order_of(&ctx.eng.store, &ctx.partner.login, rec)?,
        };
        Ok(order.is_some_and(|order| match order.kind {
            OrderKind::Renew { period, .. } => {
                Some(order.domain.as_str()) == wanted_name.as_ref().map(|n| n.ascii())
                    && Some(period) == wanted_period
            }
            _ => false,
        }))
    }
}

fn field(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// The partner's domain as `domain.info` answers it, or its error.
fn read_domain(ctx: &Ctx<'_>, domain: &str) -> Result<Outcome> {
    let mut p = Params::new(vec![field("domain", domain)]);
    let info = super::domain_read::DomainInfo::parse(&mut p)?;
    p.finish()?;
    info.apply(ctx)
}

/// Refuses (402) a `client` that is not the holder of the domain. The domain must be
/// the partner's own (404, 403 otherwise, as every domain action).
fn check_holder(ctx: &Ctx<'_>, h: &Holder) -> Result<()> {
    let d = match read_domain(ctx, &h.domain) {
        Ok(Outcome {
            data: Data::Domain(d),
            ..
        }) => d,
        Ok(_) => return Err(Error::internal("domain.info answered without a domain")),
        Err(e) => return Err(Error::new(e.code, e.message)),
    };
    if d.client == h.client {
        Ok(())
    } else {
        Err(Error::value(
            "client",
            format!("{} is not the holder of {}", h.client, d.name),
        ))
    }
}

/// Parses and runs the native command `name` under `request_id`, with its own
/// fingerprint: a repeat is told from a reuse as the native command would be.
fn run_native<'a>(
    ctx: &'a Ctx<'a>,
    name: &'static str,
    fields: Fields,
    request_id: Option<String>,
) -> Pin<Box<dyn Future<Output = Result<Fresh<Outcome>>> + Send + 'a>> {
    Box::pin(async move {
        let mut p = Params::new(fields);
        let command = Command::parse(name, &mut p, None)?;
        p.finish()?;
        let inner = Ctx {
            eng: ctx.eng,
            partner: ctx.partner.clone(),
            request_id,
            fingerprint: command.fingerprint(),
            user: ctx.user.clone(),
        };
        // A retry is answered from its record before the command looks at the state
        // it changed, as the gateway does for a native one.
        if let Some(rid) = inner.request_id.as_deref() {
            if let Some(rec) = requests::replay(&ctx.eng.store, &ctx.partner.login, rid)? {
                if rec.params != inner.fingerprint {
                    return Err(Error::reused(&rec.request_id));
                }
                return Ok(Fresh::Replay(Box::new(rec)));
            }
        }
        match command.apply(&inner).await? {
            Fresh::Replay(rec) if rec.params != inner.fingerprint => {
                Err(Error::reused(&rec.request_id))
            }
            done => Ok(done),
        }
    })
}
