//! How long request records are kept. The protocol keeps a request-id's stored answer
//! at least [`REQUEST_DAYS`] days (`protocol/native.md`, "Idempotency"); after that the
//! daily work removes the record of every finished request, so the store does not grow
//! with every request ever made. Orders, the ledger and everything else stay.
//!
//! A Namecheap call without an idempotency key (`protocol/namecheap.md`) cannot be
//! repeated, so it keeps no record: its order needs one only while it is open, and it
//! goes when the order settles (here, at the latest, in the next daily run).

use super::Engine;
use crate::error::Result;
use crate::store::records::Order;
use crate::store::{RequestHead, Requests};
use chrono::{DateTime, Duration, Utc};

/// Days a finished request's record is kept.
pub const REQUEST_DAYS: i64 = 30;

/// The request-id the gateway gives a Namecheap call that brings no key of its own.
pub const KEYLESS_PREFIX: &str = "nc-once-";

/// Whether `request_id` is one the gateway made for a call without a key.
pub fn is_keyless(request_id: &str) -> bool {
    request_id.starts_with(KEYLESS_PREFIX)
}

/// Records removed by one write.
const BATCH: usize = 1000;

/// Whether a request record may be removed now: its request is finished (its answer
/// stored, or its order settled) and it is older than the retention or keyless.
fn prunable(h: &RequestHead, settled: impl Fn(u64) -> bool, cutoff: DateTime<Utc>) -> bool {
    let finished = h.answered || h.order.is_some_and(&settled);
    finished && (h.created < cutoff || is_keyless(&h.request_id))
}

impl Engine {
    /// Removes the records of finished requests older than [`REQUEST_DAYS`] days, and
    /// those of keyless Namecheap calls once their order settled. Returns how many.
    pub async fn prune_requests(&self) -> Result<u64> {
        let cutoff = self.clock.now() - Duration::days(REQUEST_DAYS);
        let settled = |login: &str, id: u64| {
            self.store
                .order(login, id)
                .ok()
                .flatten()
                .is_some_and(|o| o.state.is_terminal())
        };
        let mut doomed: Vec<(String, String)> = Vec::new();
        let mut removed = 0u64;
        let mut after: Option<(String, String)> = None;
        loop {
            doomed.clear();
            let mut last = None;
            for row in self
                .store
                .request_heads(after.as_ref().map(|(l, r)| (l.as_str(), r.as_str())))
                .take(BATCH * 10)
            {
                let h = row?;
                if prunable(&h, |id| settled(&h.login, id), cutoff) {
                    doomed.push((h.login.clone(), h.request_id.clone()));
                }
                last = Some((h.login, h.request_id));
                if doomed.len() >= BATCH {
                    break;
                }
            }
            let Some(last) = last else {
                break;
            };
            after = Some(last);
            if doomed.is_empty() {
                continue;
            }
            let batch = std::mem::take(&mut doomed);
            removed += self
                .store
                .write(move |tx| {
                    // Checked again inside the write: nothing revived or reopened it.
                    let mut n = 0;
                    for (login, rid) in batch {
                        let Some(rec) = tx.request::<serde::de::IgnoredAny>(&login, &rid)? else {
                            continue;
                        };
                        let h = RequestHead {
                            login: login.clone(),
                            request_id: rec.request_id,
                            created: rec.created,
                            order: rec.order,
                            answered: rec.outcome.is_some(),
                        };
                        let gone = {
                            let settled = |id: u64| {
                                tx.order(&login, id)
                                    .ok()
                                    .flatten()
                                    .is_some_and(|o| o.state.is_terminal())
                            };
                            prunable(&h, settled, cutoff)
                        };
                        if gone {
                            tx.remove_request(&login, &rid);
                            n += 1;
                        }
                    }
                    Ok(n)
                })
                .await?;
        }
        if removed > 0 {
            tracing::info!(removed, days = REQUEST_DAYS, "pruned old request records");
        }
        Ok(removed)
    }
}

/// Whether verify may find an order without its request record: a settled order whose
/// record was pruned (older than the retention, or keyless).
pub fn record_may_be_gone(o: &Order, now: DateTime<Utc>) -> bool {
    o.state.is_terminal()
        && (is_keyless(&o.request_id) || o.created < now - Duration::days(REQUEST_DAYS))
}
