//! Whether each upstream answers and accepts the gateway, for `GET /healthz`: one
//! cheap call per upstream ([`Backend::probe`]), each bounded by a timeout, the results
//! kept for [`HEALTH_TTL`] so that health checks, however frequent, never flood an
//! upstream. One probe round runs at a time; a check that comes during it waits for it
//! and reads its results.

use super::Backend;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one round of probes is reused.
pub const HEALTH_TTL: Duration = Duration::from_secs(5);

/// One upstream's health: its configured name, and what is wrong when something is
/// (a fixed phrase: no URL, no credential, no transport error).
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub name: String,
    pub problem: Option<String>,
    /// The gateway's balance there, when the upstream tells (a parent regway).
    pub balance: Option<super::Balance>,
}

/// The upstreams the gateway sends orders to, by name, and their last probe round.
pub struct Probes {
    named: Vec<(String, Arc<dyn Backend>)>,
    timeout: Duration,
    /// Where each probe is counted (`regway_upstream_calls_total{op="probe"}`).
    metrics: Arc<crate::metrics::Metrics>,
    last: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Health>>)>>,
}

impl Probes {
    /// `named`: every upstream in use, under its configured name; `timeout`: the most
    /// one probe may take.
    pub fn new(
        named: Vec<(String, Arc<dyn Backend>)>,
        timeout: Duration,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Probes {
        Probes {
            named,
            timeout,
            metrics,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last round's results, if there was one and no round is running now.
    pub fn last(&self) -> Option<Arc<Vec<Health>>> {
        self.last.try_lock().ok()?.as_ref().map(|(_, h)| h.clone())
    }

    /// Each upstream's health, probed at most once per [`HEALTH_TTL`].
    pub async fn health(&self) -> Arc<Vec<Health>> {
        let mut last = self.last.lock().await;
        if let Some((at, h)) = last.as_ref() {
            if at.elapsed() < HEALTH_TTL {
                return h.clone();
            }
        }
        let rounds = self.named.iter().map(|(name, b)| async move {
            let started = Instant::now();
            let (problem, balance) = match tokio::time::timeout(self.timeout, b.probe()).await {
                Ok(Ok(balance)) => (None, balance),
                Ok(Err(p)) => (Some(p), None),
                Err(_) => (
                    Some(format!("no answer within {} ms", self.timeout.as_millis())),
                    None,
                ),
            };
            self.metrics
                .upstream("probe", problem.is_none(), started.elapsed());
            if let Some(p) = &problem {
                tracing::warn!(upstream = %name, problem = %p, "upstream health probe failed");
            }
            Health {
                name: name.clone(),
                problem,
                balance,
            }
        });
        let h = Arc::new(futures_util::future::join_all(rounds).await);
        *last = Some((Instant::now(), h.clone()));
        h
    }
}
