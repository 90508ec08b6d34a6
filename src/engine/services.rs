//! Counts of active services, kept in the same write as every change of a service's
//! state, so count programmes (C: active services in a category; E: clients with active
//! services) measure a partner by reading one record instead of all its domains.
//!
//! Per partner, [`ServiceCounts`]: active services per category and the number of its
//! clients (not deleted) holding one. Per live client with services, its active services
//! per category. Counts are by category, so they are rebuilt at start-up whenever the
//! mapping of zones and licence products to categories has changed.

use super::catalogue::Catalogue;
use super::licenses::Licenses;
use crate::error::{Error, Result};
use crate::store::records::{Client, Domain, DomainState, License, LicenseState, ServiceCounts};
use crate::store::{Expiry, Migration, Store, Tx};
use crate::types::client::ClientHandle;
use std::collections::{BTreeMap, HashMap};

/// Which category a domain or a licence belongs to.
#[derive(Debug, Clone, Default)]
pub struct Categories {
    zones: HashMap<String, String>,
    products: HashMap<String, String>,
}

impl Categories {
    pub fn new(catalogue: &Catalogue, licenses: &Licenses) -> Categories {
        Categories {
            zones: catalogue
                .zones()
                .map(|z| (z.name.clone(), z.category.clone()))
                .collect(),
            products: licenses
                .products()
                .map(|p| (p.id.clone(), p.category.clone()))
                .collect(),
        }
    }

    /// A registered name is directly under its zone; a zone no longer offered keeps
    /// counting as `domains`.
    pub fn of_domain(&self, name: &str) -> String {
        name.split_once('.')
            .and_then(|(_, zone)| self.zones.get(zone))
            .cloned()
            .unwrap_or_else(|| "domains".into())
    }

    pub fn of_license(&self, product: &str) -> String {
        self.products
            .get(product)
            .cloned()
            .unwrap_or_else(|| "licences".into())
    }

    /// Names the mapping, so counts kept under another one are rebuilt.
    pub fn fingerprint(&self) -> String {
        let zones: BTreeMap<_, _> = self.zones.iter().collect();
        let products: BTreeMap<_, _> = self.products.iter().collect();
        serde_json::json!({"zones": zones, "products": products}).to_string()
    }
}

/// One active service of `client` in `category` starts (`delta` 1) or stops (-1).
pub fn track(tx: &mut Tx<'_>, login: &str, client: &str, category: &str, delta: i64) -> Result<()> {
    let mut counts: ServiceCounts = tx.service_counts(login)?.unwrap_or_default();
    bump(&mut counts.services, category, delta)?;
    let number = ClientHandle::number_of(client)
        .ok_or_else(|| Error::internal("stored client handle is malformed"))?;
    let live = tx
        .client(login, number)?
        .is_some_and(|c| c.deleted.is_none());
    if live {
        let mut mine: BTreeMap<String, u64> =
            tx.client_services(login, number)?.unwrap_or_default();
        let had = !mine.is_empty();
        bump(&mut mine, category, delta)?;
        match (had, mine.is_empty()) {
            (false, false) => counts.clients += 1,
            (true, true) => counts.clients = counts.clients.saturating_sub(1),
            _ => {}
        }
        if mine.is_empty() {
            tx.remove_client_services(login, number);
        } else {
            tx.put_client_services(login, number, &mine)?;
        }
    }
    tx.put_service_counts(login, &counts)
}

/// An active service's place in the expiry index moves from `old` to `new` (`None`:
/// not active then).
pub fn reindex(
    tx: &mut Tx<'_>,
    login: &str,
    object: &str,
    old: Option<chrono::NaiveDate>,
    new: Option<chrono::NaiveDate>,
) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let at = |date| Expiry {
        date,
        login: login.to_string(),
        object: object.to_string(),
    };
    if let Some(d) = old {
        tx.remove_expiry(&at(d));
    }
    if let Some(d) = new {
        tx.put_expiry(&at(d))?;
    }
    Ok(())
}

/// A client is deleted: it no longer counts among the clients with active services
/// (its services still count as the partner's).
pub fn forget_client(tx: &mut Tx<'_>, login: &str, number: u64) -> Result<()> {
    if tx.client_services(login, number)?.is_some() {
        tx.remove_client_services(login, number);
        let mut counts: ServiceCounts = tx.service_counts(login)?.unwrap_or_default();
        counts.clients = counts.clients.saturating_sub(1);
        tx.put_service_counts(login, &counts)?;
    }
    Ok(())
}

fn bump(map: &mut BTreeMap<String, u64>, category: &str, delta: i64) -> Result<()> {
    let n = map.get(category).copied().unwrap_or(0);
    let n = n
        .checked_add_signed(delta)
        .ok_or_else(|| Error::internal(format!("active {category} services below zero")))?;
    if n == 0 {
        map.remove(category);
    } else {
        map.insert(category.to_string(), n);
    }
    Ok(())
}

/// Each live client's active services per category, by client number.
pub type PerClient = BTreeMap<u64, BTreeMap<String, u64>>;

/// What a partner's counts should be, from its domains, licences and clients.
pub fn count(
    domains: impl Iterator<Item = Result<Domain>>,
    licenses: impl Iterator<Item = Result<License>>,
    client: impl Fn(u64) -> Result<Option<Client>>,
    cats: &Categories,
) -> Result<(ServiceCounts, PerClient)> {
    let mut counts = ServiceCounts::default();
    let mut per_client = PerClient::new();
    let mut gone: HashMap<u64, bool> = HashMap::new();
    let mut add = |handle: &str, category: String| -> Result<()> {
        bump(&mut counts.services, &category, 1)?;
        let number = ClientHandle::number_of(handle)
            .ok_or_else(|| Error::internal("stored client handle is malformed"))?;
        let deleted = match gone.get(&number) {
            Some(g) => *g,
            None => {
                let g = client(number)?.is_none_or(|c| c.deleted.is_some());
                gone.insert(number, g);
                g
            }
        };
        if !deleted {
            bump(per_client.entry(number).or_default(), &category, 1)?;
        }
        Ok(())
    };
    for d in domains {
        let d = d?;
        if d.state == DomainState::Active {
            add(&d.client, cats.of_domain(&d.name))?;
        }
    }
    for l in licenses {
        let l = l?;
        if l.state == LicenseState::Active {
            add(&l.client, cats.of_license(&l.product))?;
        }
    }
    counts.clients = per_client.len() as u64;
    Ok((counts, per_client))
}

/// What the expiry index should hold for one partner: each active domain and licence
/// by its expiry date.
pub fn expiry_keys(
    login: &str,
    domains: impl Iterator<Item = Result<Domain>>,
    licenses: impl Iterator<Item = Result<License>>,
) -> Result<std::collections::BTreeSet<Expiry>> {
    let mut out = std::collections::BTreeSet::new();
    for d in domains {
        let d = d?;
        if d.state == DomainState::Active {
            out.insert(Expiry {
                date: d.expires,
                login: login.to_string(),
                object: d.name,
            });
        }
    }
    for l in licenses {
        let l = l?;
        if l.state == LicenseState::Active {
            out.insert(Expiry {
                date: l.expires,
                login: login.to_string(),
                object: crate::store::records::license_object(l.id),
            });
        }
    }
    Ok(out)
}

/// Builds the expiry index once, for a store written before it was kept. Runs at
/// start-up, before any other write.
pub fn build_expiry_index(store: &Store) -> Result<()> {
    if store.migrated(Migration::ExpiryIndex)?.is_some() {
        return Ok(());
    }
    let mut rows = store.rows();
    for p in store.partners() {
        let p = p?;
        let login = &p.login;
        for e in expiry_keys(
            login,
            store.domains(login, None),
            store.licenses(login, None),
        )? {
            rows.put_expiry(&e)?;
        }
    }
    tracing::info!(entries = rows.len(), "built the expiry index");
    rows.set_migrated(Migration::ExpiryIndex, Some(""))?;
    store.migrate(rows)
}

/// Rebuilds every partner's counts when they were kept under another mapping of
/// categories (or not at all). Runs at start-up, before any other write.
pub fn rebuild_if_needed(store: &Store, cats: &Categories) -> Result<()> {
    let fingerprint = cats.fingerprint();
    if store.migrated(Migration::ServiceCounts)?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    let mut rows = store.rows();
    let mut partners = 0;
    for p in store.partners() {
        let p = p?;
        let login = &p.login;
        partners += 1;
        for (number, _) in store
            .all_client_services(login)
            .collect::<Result<Vec<_>>>()?
        {
            rows.remove_client_services(login, number);
        }
        let (counts, per_client) = count(
            store.domains(login, None),
            store.licenses(login, None),
            |n| store.client(login, n),
            cats,
        )?;
        for (number, mine) in per_client {
            rows.put_client_services(login, number, &mine)?;
        }
        rows.put_service_counts(login, &counts)?;
    }
    tracing::info!(partners, "built the counts of active services");
    rows.set_migrated(Migration::ServiceCounts, Some(&fingerprint))?;
    store.migrate(rows)
}
