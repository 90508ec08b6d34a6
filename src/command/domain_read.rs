//! `domain.info` and `domain.list`: the partner's domains as the gateway holds them.

use super::params::Params;
use crate::engine::Ctx;
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Domain, DomainState};
use crate::store::Read;
use crate::types::client::ClientHandle;
use crate::types::names::{parse_name, Name};
use serde::Serialize;

/// The partner's own domain: 2303 when nobody has it here, 2201 when another partner does.
pub fn owned_domain(r: &(impl Read + ?Sized), login: &str, name: &str) -> Result<Domain> {
    match r.domain_owner(name)? {
        None => {
            Err(Error::not_found(format!("{name} is not registered here")).about(Object::Domain))
        }
        Some(owner) if owner != login => Err(Error::forbidden(format!(
            "{name} belongs to another partner"
        ))
        .about(Object::Domain)),
        Some(_) => r
            .domain(login, name)?
            .ok_or_else(|| Error::internal(format!("{name} has an owner but no record"))),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DomainInfo {
    pub domain: Name,
}

impl DomainInfo {
    pub fn parse(p: &mut Params) -> Result<DomainInfo> {
        Ok(DomainInfo {
            domain: p.name("domain")?,
        })
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let d = owned_domain(
            ctx.eng.store.reader(),
            &ctx.partner.login,
            self.domain.ascii(),
        )?;
        Ok(Outcome::ok(Data::Domain(Box::new(d))))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DomainList {
    pub matching: Option<String>,
    pub client: Option<ClientHandle>,
    pub state: Option<DomainState>,
    pub auto_renew: Option<bool>,
    /// Domains whose nameservers the registry has (`true`) or not (`false`).
    pub delegated: Option<bool>,
    pub limit: usize,
    pub cursor: Option<String>,
    /// Matching rows to skip (after the cursor, if any): page numbers for dialects
    /// whose clients page by number.
    pub offset: usize,
    /// Count every matching row and answer the count. It walks all the partner's
    /// domains (or the client's), so it is asked for, never implied.
    pub total: bool,
}

impl DomainList {
    pub fn parse(p: &mut Params) -> Result<DomainList> {
        let matching = p.text_opt("match")?.map(|m| m.to_lowercase());
        let client = p
            .opt("client")?
            .map(|c| super::client::parse_handle(&c))
            .transpose()?;
        let state = match p.opt("state")?.as_deref() {
            None => None,
            Some("active") => Some(DomainState::Active),
            Some("expired") => Some(DomainState::Expired),
            Some(s) => return Err(Error::value("state", format!("{s:?}: active or expired"))),
        };
        let auto_renew = p.bool_opt("auto-renew")?;
        let delegated = p.bool_opt("delegated")?;
        let (limit, cursor) = p.page()?;
        // The cursor is the ASCII name of the last row of the page before: anything
        // else is not a cursor this server gave, as for every other list.
        if let Some(c) = &cursor {
            if !parse_name("cursor", c).is_ok_and(|n| n.ascii() == c) {
                return Err(Error::value("cursor", "not a cursor this server gave"));
            }
        }
        let offset = p.u32_in("offset", Some(0), 0, 1_000_000)? as usize;
        let total = p.bool_opt("total")?.unwrap_or(false);
        Ok(DomainList {
            matching,
            client,
            state,
            auto_renew,
            delegated,
            limit,
            cursor,
            offset,
            total,
        })
    }

    fn keep(&self, d: &Domain) -> bool {
        self.state.is_none_or(|s| d.state == s)
            && self.auto_renew.is_none_or(|a| d.auto_renew == a)
            && self.delegated.is_none_or(|x| d.delegated == x)
            && self.matching.as_deref().is_none_or(|m| {
                d.name.contains(m)
                    || Name::unicode_of(&d.name).is_some_and(|u| u.to_lowercase().contains(m))
            })
            && self.client.as_ref().is_none_or(|c| d.client == c.as_str())
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let store = &ctx.eng.store;
        let login = &ctx.partner.login;
        let rows: Box<dyn Iterator<Item = Result<Domain>>> = match &self.client {
            // One client's domains: walk that client's index only.
            Some(handle) => {
                let number = handle.number();
                Box::new(
                    store
                        .client_domains(login, number, self.cursor.as_deref())
                        .map(move |r| {
                            let name = r?;
                            store.domain(login, &name)?.ok_or_else(|| {
                                Error::internal("client index names a missing domain")
                            })
                        }),
                )
            }
            None => store.domains(login, self.cursor.as_deref()),
        };
        let mut rows = rows.filter(|r| r.as_ref().map_or(true, |d| self.keep(d)));
        let mut skipped = 0u64;
        while skipped < self.offset as u64 {
            match rows.next() {
                Some(r) => {
                    r?;
                    skipped += 1;
                }
                None => break,
            }
        }
        let (page, next_cursor) = super::page(&mut rows, self.limit, |d: &Domain| d.name.clone())?;
        let total = if self.total {
            // `page` read one row past the page when it set a cursor.
            let mut n = skipped + page.len() as u64 + u64::from(next_cursor.is_some());
            if next_cursor.is_some() {
                for r in rows {
                    r?;
                    n += 1;
                }
            }
            Some(n)
        } else {
            None
        };
        Ok(Outcome::ok(Data::Domains {
            rows: page,
            next_cursor,
            total,
        }))
    }
}
