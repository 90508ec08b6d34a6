//! Moving domains to another upstream: the operator's explicit step after a zone's
//! upstream changes (`regway domain move`). A domain keeps the upstream it was
//! registered with, so its renewals and changes keep going where it is registered;
//! once it has been transferred at the registries, this says so here.

use super::Engine;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which domains move, and where.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveDomains {
    /// The upstream they are at now (a domain registered before upstreams were kept
    /// with domains is at its zone's).
    pub from: String,
    /// The upstream they go to; a configured one.
    pub to: String,
    /// Only the domains of this zone (`ru`, `xn--p1ai`).
    #[serde(default)]
    pub zone: Option<String>,
    /// Only this domain.
    #[serde(default)]
    pub domain: Option<String>,
}

/// What a move did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MoveReport {
    /// The domains moved.
    pub moved: Vec<String>,
    /// Domains left where they are because an order for them is open: move them again
    /// once it has settled.
    pub busy: Vec<String>,
}

impl Engine {
    /// Moves the domains at upstream `from` (of one zone, or one domain) to `to`.
    /// A domain with an open order stays (reported as busy); running it again moves
    /// only what is left.
    pub async fn move_domains(&self, m: MoveDomains) -> Result<MoveReport> {
        if !self.backend.knows_upstream(&m.to) {
            return Err(Error::not_found(format!(
                "no upstream named {:?} is configured ([upstreams.{}], or \"sandbox\")",
                m.to, m.to
            )));
        }
        let zone = m.zone.as_deref().map(|z| z.trim_start_matches('.'));
        let mut candidates = Vec::new();
        for p in self.store.partners() {
            let p = p?;
            for d in self.store.domains(&p.login, None) {
                let d = d?;
                if m.domain.as_deref().is_some_and(|n| n != d.name)
                    || zone.is_some_and(|z| !d.name.ends_with(&format!(".{z}")))
                {
                    continue;
                }
                let at = d
                    .upstream
                    .clone()
                    .or_else(|| self.backend.upstream_for(&d.name));
                if at.as_deref() == Some(m.from.as_str()) {
                    candidates.push((p.login.clone(), d.name));
                }
            }
        }
        let mut report = MoveReport::default();
        for (login, name) in candidates {
            let to = m.to.clone();
            let n = name.clone();
            let moved = self
                .store
                .write(move |tx| {
                    if tx.in_flight(&n)?.is_some() {
                        return Ok(false);
                    }
                    let Some(mut d) = tx.domain(&login, &n)? else {
                        return Ok(false);
                    };
                    d.upstream = Some(to);
                    tx.put_domain(&login, &d)?;
                    Ok(true)
                })
                .await?;
            if moved {
                tracing::info!(domain = %name, from = %m.from, to = %m.to, "domain moved to another upstream");
                report.moved.push(name);
            } else {
                report.busy.push(name);
            }
        }
        Ok(report)
    }
}
