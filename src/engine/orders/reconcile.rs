//! Settling open orders nobody is carrying out, and how long an order the upstream
//! gave no clear answer about is left alone.

use crate::engine::{Answer, Engine};
use crate::error::{Code, Error, Result};
use crate::store::records::OrderState;
use crate::upstream::{TroubleKind, UpstreamResult};
use std::time::Duration;

/// How many open orders the reconciler settles at once.
pub const RECONCILE_CONCURRENCY: usize = 16;

impl Engine {
    /// Settles open orders nobody is carrying out: asks the upstream what became of
    /// each, and submits (under the same key) those it has never seen, up to
    /// [`RECONCILE_CONCURRENCY`] orders at a time (each is its own upstream call and its
    /// own write). Returns how many orders are still open afterwards.
    pub async fn reconcile<A: Answer>(&self, alert_after: Duration) -> Result<usize> {
        self.reconcile_round::<A>(alert_after, None).await
    }

    /// [`Engine::reconcile`] as the background worker runs it every `interval`: an
    /// order the upstream gave no clear answer about is asked about again only after a
    /// wait that doubles with each unclear answer (see [`Backoffs`]).
    pub async fn reconcile_due<A: Answer>(
        &self,
        alert_after: Duration,
        interval: Duration,
    ) -> Result<usize> {
        self.reconcile_round::<A>(alert_after, Some(interval)).await
    }

    async fn reconcile_round<A: Answer>(
        &self,
        alert_after: Duration,
        interval: Option<Duration>,
    ) -> Result<usize> {
        use futures_util::StreamExt;
        let open: Vec<(u64, String)> = self.store.open_orders().collect::<Result<_>>()?;
        let now = std::time::Instant::now();
        self.backoffs
            .keep_only(&open.iter().map(|(id, _)| *id).collect());
        let (due, waiting): (Vec<_>, Vec<_>) = open
            .into_iter()
            .partition(|(id, _)| interval.is_none_or(|every| self.backoffs.due(*id, now, every)));
        tracing::debug!(
            due = due.len(),
            waiting = waiting.len(),
            "reconciling open orders: asking the upstream about those due, the others wait for their back-off"
        );
        let results: Vec<Result<bool>> = futures_util::stream::iter(due)
            .map(|(id, login)| self.reconcile_one::<A>(id, login, alert_after))
            .buffer_unordered(RECONCILE_CONCURRENCY)
            .collect()
            .await;
        let mut still_open = waiting.len();
        for r in results {
            still_open += usize::from(r?);
        }
        Ok(still_open)
    }

    /// Settles one open order; whether it is still open afterwards.
    async fn reconcile_one<A: Answer>(
        &self,
        id: u64,
        login: String,
        alert_after: Duration,
    ) -> Result<bool> {
        let read = || {
            self.store
                .order(&login, id)?
                .ok_or_else(|| Error::internal(format!("open order {id} has no record")))
        };
        let Some(_live) = self.claim_order(&login, &read()?.request_id) else {
            tracing::debug!(order = id, partner = %login, "order left to the request carrying it out");
            return Ok(true);
        };
        // Read again under the claim: the request that held it may have settled it.
        let order = read()?;
        if order.state.is_terminal() {
            self.backoffs.forget(id);
            return Ok(false);
        }
        tracing::debug!(order = id, partner = %login, state = order.state.as_str(), "asking the upstream what became of the order");
        let up = self.upstream_order(&login, &order)?;
        let (submitted, result) = match self.call(self.backend.lookup(&up)).await {
            UpstreamResult::NotFound => (
                Some(self.clock.now()),
                self.call(self.backend.submit(&up)).await,
            ),
            r => (None, r),
        };
        self.log_result(&login, id, &result);
        // The last unclear answer, for the operator's alert below.
        let cause = match &result {
            UpstreamResult::Unknown(t) => Some((t.phrase(), t.detail.clone())),
            _ => None,
        };
        let unclear = match &result {
            UpstreamResult::Unknown(t) => Some(t.kind == TroubleKind::NoLookup),
            _ => None,
        };
        let settled: A = self.record_result(&login, id, submitted, result).await?;
        let code = settled.code();
        if !code.is_success() || code == Code::Completed {
            self.backoffs.forget(id);
            tracing::info!(order = id, partner = %login, code = code.number(), "order reconciled");
            return Ok(false);
        }
        if let Some(cannot_ask) = unclear {
            self.backoffs
                .unclear(id, std::time::Instant::now(), cannot_ask);
        } else {
            self.backoffs.forget(id);
        }
        let age = self.clock.now() - order.updated;
        if order.state == OrderState::Unknown && age.to_std().unwrap_or_default() >= alert_after {
            let (reason, detail) = cause.unwrap_or_else(|| {
                (
                    "the upstream has not given a final answer".into(),
                    format!("it answered code {}", code.number()),
                )
            });
            tracing::error!(order = id, partner = %login, domain = %order.domain,
                since = %order.updated, cause = %reason, detail = %detail,
                "order outcome unknown since {}: {reason}. Check the order at the upstream, then settle it: `regway order settle {id} --completed` (or `--failed`, which refunds it) --note \"what was checked\"",
                order.updated);
        } else {
            tracing::debug!(order = id, partner = %login, code = code.number(), "order still open after asking the upstream");
        }
        Ok(true)
    }
}

/// The longest the reconciler waits before asking again about an order the upstream
/// cannot be asked about.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The most a transient trouble (a timeout, a parent that is down) stretches the wait,
/// in reconcile intervals: such an order is asked about again soon after the upstream
/// is back.
pub const MAX_TRANSIENT_FACTOR: u32 = 8;

type BackoffMap = std::collections::HashMap<u64, (u32, std::time::Instant, bool)>;

/// How long the reconciler leaves alone each open order the upstream gave no clear
/// answer about: after `n` unclear answers in a row it waits `interval × 2^(n−1)`, at
/// most [`MAX_BACKOFF`] when the upstream cannot be asked about orders at all (they
/// wait for an operator) and at most [`MAX_TRANSIENT_FACTOR`] intervals otherwise.
/// Kept in memory only: after a restart every open order is asked about at once.
#[derive(Default)]
pub struct Backoffs {
    /// Order id → (unclear answers in a row, when the last one came, whether the
    /// upstream cannot be asked at all).
    inner: std::sync::Mutex<BackoffMap>,
}

impl Backoffs {
    fn map(&self) -> std::sync::MutexGuard<'_, BackoffMap> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The wait after `n` unclear answers in a row; `cannot_ask`: the upstream cannot
    /// be asked about orders at all.
    pub fn wait(n: u32, interval: Duration, cannot_ask: bool) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(20);
        let cap = if cannot_ask {
            MAX_BACKOFF
        } else {
            interval.saturating_mul(MAX_TRANSIENT_FACTOR)
        };
        interval.saturating_mul(factor).min(cap.max(interval))
    }

    /// Whether order `id` may be asked about at `now`.
    pub fn due(&self, id: u64, now: std::time::Instant, interval: Duration) -> bool {
        match self.map().get(&id) {
            None => true,
            Some(&(n, at, cannot_ask)) => {
                now.saturating_duration_since(at) >= Self::wait(n, interval, cannot_ask)
            }
        }
    }

    pub fn unclear(&self, id: u64, at: std::time::Instant, cannot_ask: bool) {
        let mut m = self.map();
        let e = m.entry(id).or_insert((0, at, cannot_ask));
        *e = (e.0.saturating_add(1), at, cannot_ask);
    }

    pub fn forget(&self, id: u64) {
        self.map().remove(&id);
    }

    /// Forgets every order not in `open` (settled some other way).
    pub(super) fn keep_only(&self, open: &std::collections::HashSet<u64>) {
        self.map().retain(|id, _| open.contains(id));
    }

    /// How many orders are waiting out a back-off.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
