//! The order lifecycle: accept (money taken, durable) → submitted → completed | failed
//! (money returned in the same write) | unknown (money held until reconciled).
//!
//! No store write is held across the upstream call: accepting is one write
//! ([`accept`]), recording the upstream's answer is another ([`settle`]). Between the
//! two the order is in the open-order queue and its object is locked, so a crash in
//! between leaves an order the reconciler ([`reconcile`]) finds and settles, and no
//! second order for the object can start. Money moves through [`super::ledger`] only.

mod accept;
mod reconcile;
mod settle;

pub use reconcile::{Backoffs, MAX_BACKOFF, MAX_TRANSIENT_FACTOR, RECONCILE_CONCURRENCY};
pub(super) use settle::settle;

use super::Engine;
use crate::error::Error;
use crate::error::Result;
use crate::store::records::{Effect, Order, OrderKind};
use crate::types::client::ClientHandle;
use crate::upstream::{Trouble, TroubleKind, UpstreamOrder, UpstreamResult};

pub struct NewOrder {
    pub domain: String,
    pub kind: OrderKind,
    /// What the order costs; zero when it moves no money.
    pub amount: crate::types::money::Money,
    /// How `amount` was priced, recorded with the charge.
    pub priced: Option<crate::engine::programme::Priced>,
}

impl Engine {
    /// Logs what the operator must know of an upstream's answer: the detail of an
    /// unclear one, a refusal of the gateway itself, and every failed order with its
    /// id and reason.
    fn log_result(&self, login: &str, order: u64, result: &UpstreamResult) {
        match result {
            UpstreamResult::Failed { code, reason } => {
                tracing::info!(order, partner = %login, code = code.number(), reason = %reason, "order failed: the upstream refused it; the charge is refunded")
            }
            UpstreamResult::Unknown(t) => {
                tracing::warn!(order, partner = %login, reason = %t.phrase(), detail = %t.detail, "upstream answer unclear; the order stays open and the reconciler asks again")
            }
            UpstreamResult::Rejected { code, detail } => {
                tracing::error!(order, partner = %login, upstream_code = code, detail = %detail, "order failed: the upstream refused the gateway itself (the charge is refunded): check the gateway's credentials and account there")
            }
            _ => {}
        }
    }

    /// An upstream call bounded by the configured timeout.
    async fn call(&self, f: impl std::future::Future<Output = UpstreamResult>) -> UpstreamResult {
        match tokio::time::timeout(self.upstream_timeout, f).await {
            Ok(r) => r,
            Err(_) => UpstreamResult::Unknown(Trouble::new(
                TroubleKind::Timeout,
                format!(
                    "no answer within upstream_timeout_ms ({} ms)",
                    self.upstream_timeout.as_millis()
                ),
            )),
        }
    }
}

/// How an order's object is named to a partner: the domain, or `licence N`.
fn object_name(object: &str) -> String {
    match object.strip_prefix("license/") {
        Some(id) => format!("licence {id}"),
        None => object.to_string(),
    }
}

impl Engine {
    /// The order as the upstream gets it, with the registrant of a new domain.
    pub fn upstream_order(&self, login: &str, order: &Order) -> Result<UpstreamOrder> {
        let contact = match order.kind.spec().effect {
            Effect::NewDomain { client, .. } => {
                let number = ClientHandle::number_of(client)
                    .ok_or_else(|| Error::internal("stored client handle is malformed"))?;
                Some(
                    self.store
                        .client(login, number)?
                        .ok_or_else(|| Error::internal(format!("client {client} is missing")))?,
                )
            }
            _ => None,
        };
        let service = match order.kind.license() {
            Some(id) => self.store.license(login, id)?.and_then(|l| l.service),
            None => None,
        };
        Ok(UpstreamOrder {
            key: format!("{login}:{}", order.request_id),
            domain: order.domain.clone(),
            kind: order.kind.clone(),
            contact,
            service,
            upstream: order.upstream.clone(),
        })
    }
}
