//! `license.order`, `license.renew`, `license.set-ip`, `license.info`, `license.list`:
//! software licences (ISPmanager 6, built-in catalogue in `engine::licenses`), each bound
//! to one IP address. Ordering, renewing and moving a licence are orders, like domain
//! registrations: paid at once, carried out by the licensing service, settled the same way.

use super::client::live_client;
use super::params::{Dates, Params};
use crate::engine::licenses::parse_ip;
use crate::engine::orders::NewOrder;
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{license_object, License, LicensePeriod, LicenseState, OrderKind};
use crate::store::Read;
use crate::types::client::ClientHandle;
use crate::types::date::parse_date;
use crate::types::money::Money;
use chrono::NaiveDate;
use serde::Serialize;
use std::net::IpAddr;

fn period(p: &mut Params) -> Result<LicensePeriod> {
    match p.req("period")?.as_str() {
        "month" => Ok(LicensePeriod::Month),
        "year" => Ok(LicensePeriod::Year),
        v => Err(Error::value("period", format!("{v:?}: month or year"))),
    }
}

/// The address, in the form it is kept (`engine::licenses::parse_ip`); whether a
/// licence may be bound to it is checked when the command runs.
fn ip(p: &mut Params) -> Result<IpAddr> {
    parse_ip("ip", &p.req("ip")?)
}

fn license_id(p: &mut Params) -> Result<u64> {
    let v = p.req("license")?;
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::value(
            "license",
            format!("{v:?} is not a licence id"),
        ));
    }
    v.parse()
        .map_err(|_| Error::value("license", "not a licence id"))
}

/// The partner's own licence: 2303 when there is none, 2201 when it is another's.
pub fn owned_license(r: &(impl Read + ?Sized), login: &str, id: u64) -> Result<License> {
    let missing = || Error::not_found(format!("no licence {id}")).about(Object::License);
    match r.license_owner(id)? {
        None => Err(missing()),
        Some(owner) if owner != login => Err(Error::forbidden(format!(
            "licence {id} belongs to another partner"
        ))
        .about(Object::License)),
        Some(_) => r.license(login, id)?.ok_or_else(missing),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseOrder {
    pub product: String,
    pub period: LicensePeriod,
    pub ip: IpAddr,
    pub client: ClientHandle,
    pub auto_renew: bool,
}

impl LicenseOrder {
    pub fn parse(p: &mut Params) -> Result<LicenseOrder> {
        Ok(LicenseOrder {
            product: p.req("product")?,
            period: period(p)?,
            ip: ip(p)?,
            client: super::client::parse_handle(&p.req("client")?)?,
            auto_renew: p.bool_opt("auto-renew")?.unwrap_or(false),
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let eng = ctx.eng;
        eng.licenses.ip_rules.check(self.ip)?;
        let priced = eng.quote_license(&ctx.partner, &self.product, self.period)?;
        // The licence number is taken before the order is accepted, so the order can
        // lock it; a refused order leaves a gap.
        let id = eng.store.write(|tx| tx.next_id("license")).await?;
        let client = self.client.clone();
        let order = NewOrder {
            domain: license_object(id),
            kind: OrderKind::LicenseOrder {
                license: id,
                product: self.product.clone(),
                period: self.period,
                ip: self.ip.to_string(),
                client: self.client.to_string(),
                auto_renew: self.auto_renew,
            },
            amount: priced.net,
            priced: Some(priced),
        };
        eng.place_order(ctx, order, move |tx, partner| {
            live_client(tx, &partner.login, &client).map(|_| ())
        })
        .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseRenew {
    pub license: u64,
    pub period: LicensePeriod,
    pub expires: NaiveDate,
}

impl LicenseRenew {
    pub fn parse(p: &mut Params) -> Result<LicenseRenew> {
        Ok(LicenseRenew {
            license: license_id(p)?,
            period: period(p)?,
            expires: parse_date("expires", &p.req("expires")?)?,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let eng = ctx.eng;
        let l = owned_license(eng.store.reader(), &ctx.partner.login, self.license)?;
        let priced = eng.quote_license(&ctx.partner, &l.product, self.period)?;
        let (id, expires) = (self.license, self.expires);
        let order = NewOrder {
            domain: license_object(id),
            kind: OrderKind::LicenseRenew {
                license: id,
                period: self.period,
                expires,
            },
            amount: priced.net,
            priced: Some(priced),
        };
        eng.place_order(ctx, order, move |tx, partner| {
            let l = owned_license(tx, &partner.login, id)?;
            if l.expires != expires {
                return Err(Error::not_renewable(format!(
                    "licence {id} expires on {}, not on {expires}: renew names the current expiry date",
                    l.expires
                )));
            }
            if l.state == LicenseState::Suspended {
                return Err(Error::prohibited(format!("licence {id} is suspended")).about(Object::License));
            }
            Ok(())
        })
        .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseSetIp {
    pub license: u64,
    pub ip: IpAddr,
}

impl LicenseSetIp {
    pub fn parse(p: &mut Params) -> Result<LicenseSetIp> {
        Ok(LicenseSetIp {
            license: license_id(p)?,
            ip: ip(p)?,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        ctx.eng.licenses.ip_rules.check(self.ip)?;
        let id = self.license;
        let order = NewOrder {
            domain: license_object(id),
            kind: OrderKind::LicenseSetIp {
                license: id,
                ip: self.ip.to_string(),
            },
            amount: Money::zero(ctx.partner.currency),
            priced: None,
        };
        ctx.eng
            .place_order(ctx, order, move |tx, partner| {
                let l = owned_license(tx, &partner.login, id)?;
                if l.state != LicenseState::Active {
                    return Err(
                        Error::prohibited(format!("licence {id} is {}", l.state.as_str()))
                            .about(Object::License),
                    );
                }
                Ok(())
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseInfo {
    pub license: u64,
}

impl LicenseInfo {
    pub fn parse(p: &mut Params) -> Result<LicenseInfo> {
        Ok(LicenseInfo {
            license: license_id(p)?,
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let l = owned_license(ctx.eng.store.reader(), &ctx.partner.login, self.license)?;
        Ok(Outcome::ok(Data::License(Box::new(l))))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseList {
    pub state: Option<LicenseState>,
    /// Licences of this client.
    pub client: Option<ClientHandle>,
    /// Licences ordered on these days.
    pub dates: Dates,
    pub limit: usize,
    pub cursor: Option<u64>,
}

impl LicenseList {
    pub fn parse(p: &mut Params) -> Result<LicenseList> {
        let state = p
            .opt("state")?
            .map(|s| {
                LicenseState::parse(&s).ok_or_else(|| {
                    Error::value("state", format!("{s:?}: active, suspended or expired"))
                })
            })
            .transpose()?;
        let client = p
            .opt("client")?
            .map(|c| super::client::parse_handle(&c))
            .transpose()?;
        let dates = p.dates()?;
        let (limit, cursor) = p.page()?;
        let cursor = cursor
            .map(|c| {
                c.parse::<u64>()
                    .map_err(|_| Error::value("cursor", format!("{c:?} is not a cursor")))
            })
            .transpose()?;
        Ok(LicenseList {
            state,
            client,
            dates,
            limit,
            cursor,
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let login = &ctx.partner.login;
        let rows = ctx.eng.store.licenses(login, self.cursor).filter(|r| {
            r.as_ref().map_or(true, |l| {
                self.state.is_none_or(|s| l.state == s)
                    && self.client.as_ref().is_none_or(|c| l.client == c.as_str())
                    && self.dates.holds(l.created)
            })
        });
        let (rows, next_cursor) = super::page(rows, self.limit, |l: &License| l.id.to_string())?;
        Ok(Outcome::ok(Data::Licenses { rows, next_cursor }))
    }
}
