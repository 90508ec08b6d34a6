//! Upstream backends: where an accepted order is carried out (a registry, a parent
//! registrar, a licensing service). The engine only sees this trait; the in-process
//! sandbox is the default backend.
//!
//! Every order reaches the backend with a key unique to it (`login:request-id`), so a
//! backend can tell a second delivery of the same order from a new one, and `lookup`
//! can say what became of an order whose answer was lost.

pub mod ispsystem;
pub mod regway;
pub mod sandbox;

use crate::engine::names::Name;
use crate::error::{Code, Result};
use crate::store::records::{Client, OrderKind};
use async_trait::async_trait;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct UpstreamOrder {
    pub key: String,
    pub domain: String,
    pub kind: OrderKind,
    /// The registrant of a registration, for upstreams that keep their own contacts.
    pub contact: Option<Client>,
    /// The upstream's own id of the licence a licence order is about, when it gave one.
    pub service: Option<String>,
}

/// What the upstream did with an order.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamResult {
    /// Carried out.
    Done(Done),
    /// Taken, carried out later: ask again with `lookup`.
    Pending,
    /// Refused; nothing was done. The code is the one the partner gets.
    Failed { code: Code, reason: String },
    /// The answer is not clear (timeout, garbage): the order may or may not have been
    /// carried out. Never sent again blindly; reconciled with `lookup`.
    Unknown(String),
    /// (`lookup` only) the upstream has never seen this order.
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Done {
    /// The expiry date the registry now holds for the domain.
    pub expires: Option<NaiveDate>,
    pub delegated: Option<bool>,
    /// The upstream's own id of a licence it created (an ISPsystem service id).
    pub service: Option<String>,
}

#[async_trait]
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;

    /// For each name, whether the registry would register it now.
    async fn check(&self, names: &[Name]) -> Result<Vec<bool>>;

    /// Carries out an order. Delivering the same key twice does it once.
    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult;

    /// What became of an order submitted earlier (or not at all).
    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult;
}

/// A backend that counts its calls, errors and latency into the metrics. A call
/// dropped unfinished (the engine's timeout) counts as an error.
pub struct Measured {
    pub inner: std::sync::Arc<dyn Backend>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

struct CallGuard<'a> {
    metrics: &'a crate::metrics::Metrics,
    op: &'static str,
    started: std::time::Instant,
    ok: Option<bool>,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .upstream(self.op, self.ok.unwrap_or(false), self.started.elapsed());
    }
}

impl Measured {
    fn guard(&self, op: &'static str) -> CallGuard<'_> {
        CallGuard {
            metrics: &self.metrics,
            op,
            started: std::time::Instant::now(),
            ok: None,
        }
    }
}

fn clear(r: &UpstreamResult) -> bool {
    !matches!(r, UpstreamResult::Unknown(_))
}

#[async_trait]
impl Backend for Measured {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn check(&self, names: &[Name]) -> Result<Vec<bool>> {
        let mut g = self.guard("check");
        let r = self.inner.check(names).await;
        g.ok = Some(r.is_ok());
        r
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        let mut g = self.guard("submit");
        let r = self.inner.submit(order).await;
        g.ok = Some(clear(&r));
        r
    }

    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult {
        let mut g = self.guard("lookup");
        let r = self.inner.lookup(order).await;
        g.ok = Some(clear(&r));
        r
    }
}

/// Chooses the backend of each order by the zone of its domain: the zone's own, else
/// the default one.
pub struct Router {
    default: Arc<dyn Backend>,
    /// Zone (ASCII, without the leading dot) → backend.
    zones: BTreeMap<String, Arc<dyn Backend>>,
    /// Where licence orders go.
    licenses: Arc<dyn Backend>,
}

impl Router {
    pub fn new(
        default: Arc<dyn Backend>,
        zones: BTreeMap<String, Arc<dyn Backend>>,
        licenses: Arc<dyn Backend>,
    ) -> Router {
        Router {
            default,
            zones,
            licenses,
        }
    }

    fn route_order(&self, order: &UpstreamOrder) -> &Arc<dyn Backend> {
        match order.kind.license() {
            Some(_) => &self.licenses,
            None => self.route(&order.domain),
        }
    }

    /// The backend of a domain name: the longest configured zone it ends in.
    pub fn route(&self, domain: &str) -> &Arc<dyn Backend> {
        let mut rest = domain;
        while let Some((_, tail)) = rest.split_once('.') {
            if let Some(b) = self.zones.get(tail) {
                return b;
            }
            rest = tail;
        }
        &self.default
    }
}

#[async_trait]
impl Backend for Router {
    /// `sandbox` only when every zone and the licences go to the sandbox (the demo
    /// partner, with its free money, is created only then).
    fn name(&self) -> &'static str {
        let name = self.default.name();
        let mut all = self.zones.values().chain(std::iter::once(&self.licenses));
        if all.all(|b| b.name() == name) {
            name
        } else {
            "mixed"
        }
    }

    async fn check(&self, names: &[Name]) -> Result<Vec<bool>> {
        // One call per backend, with that backend's names; answers go back in order.
        let mut groups: Vec<(&Arc<dyn Backend>, Vec<usize>)> = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let b = self.route(n.ascii());
            match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, b)) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((b, vec![i])),
            }
        }
        let mut out = vec![false; names.len()];
        for (b, idx) in groups {
            let these: Vec<Name> = idx.iter().map(|&i| names[i].clone()).collect();
            for (i, free) in idx.into_iter().zip(b.check(&these).await?) {
                out[i] = free;
            }
        }
        Ok(out)
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        self.route_order(order).submit(order).await
    }

    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult {
        self.route_order(order).lookup(order).await
    }
}
