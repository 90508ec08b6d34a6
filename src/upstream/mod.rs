//! Upstream backends: where an accepted order is carried out (a registry, a parent
//! registrar, a licensing service). The engine only sees this trait; the in-process
//! sandbox is the default backend.
//!
//! Every order reaches the backend with a key unique to it (`login:request-id`), so a
//! backend can tell a second delivery of the same order from a new one, and `lookup`
//! can say what became of an order whose answer was lost.

pub mod sandbox;

use crate::engine::names::Name;
use crate::error::{Code, Result};
use crate::store::records::OrderKind;
use async_trait::async_trait;
use chrono::NaiveDate;

#[derive(Debug, Clone)]
pub struct UpstreamOrder {
    pub key: String,
    pub domain: String,
    pub kind: OrderKind,
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
