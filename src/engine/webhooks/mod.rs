//! Signed notifications to partners (webhooks): the endpoints a partner sets, the
//! events written in the same store write as the change that causes them (the
//! outbox), and their delivery in the background (`deliver.rs`).
//!
//! An event is written only when one of the partner's endpoints takes its type; one
//! delivery per such endpoint is written with it, pending. The event's id comes from a
//! store counter and never changes, so a receiver drops a repeat by its id.

pub mod address;
pub mod deliver;

use crate::error::{Error, Result};
use crate::store::records::{Delivery, DeliveryState, Endpoint, Event, Order, Webhooks};
use crate::store::Tx;
use chrono::{DateTime, Utc};
use serde_json::json;

/// The event types an endpoint may take.
pub const EVENTS: &[&str] = &[
    "order.completed",
    "order.failed",
    "order.unknown",
    "domain.expiring",
    "domain.expired",
    "webhook.test",
];

/// Days before its expiry a domain's `domain.expiring` notices go out.
pub const EXPIRING_DAYS: [u32; 3] = [30, 7, 1];

/// A domain as a notice describes it.
pub fn domain_data(d: &crate::store::records::Domain, days_left: Option<i64>) -> serde_json::Value {
    let mut v = json!({
        "name": d.name,
        "client": d.client,
        "state": d.state.as_str(),
        "expires": d.expires.to_string(),
        "auto-renew": d.auto_renew,
    });
    if let Some(n) = days_left {
        v["days-left"] = json!(n);
    }
    json!({ "domain": v })
}

/// The notice due for a domain expiring on `expires`, seen on `today`: the smallest of
/// [`EXPIRING_DAYS`] it is within, unless that one (or a smaller one) was sent for
/// this expiry already.
pub fn expiring_due(
    expires: chrono::NaiveDate,
    today: chrono::NaiveDate,
    last: Option<(chrono::NaiveDate, u32)>,
) -> Option<u32> {
    let left = (expires - today).num_days();
    if left < 0 {
        return None;
    }
    let due = EXPIRING_DAYS
        .iter()
        .copied()
        .filter(|d| i64::from(*d) >= left)
        .min()?;
    match last {
        Some((e, sent)) if e == expires && sent <= due => None,
        _ => Some(due),
    }
}

impl crate::engine::Engine {
    /// Sends `domain.expiring` for an active domain when a notice is due (once per
    /// expiry and threshold, so running the day twice sends nothing twice).
    pub async fn notify_expiring(
        &self,
        login: &str,
        name: &str,
        today: chrono::NaiveDate,
    ) -> Result<bool> {
        let takes = self
            .store
            .webhooks(login)?
            .is_some_and(|h| h.endpoints.iter().any(|e| e.takes("domain.expiring")));
        if !takes {
            return Ok(false);
        }
        let (login, name) = (login.to_string(), name.to_string());
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let Some(mut d) = tx.domain(&login, &name)? else {
                    return Ok(false);
                };
                if d.state != crate::store::records::DomainState::Active {
                    return Ok(false);
                }
                let Some(due) = expiring_due(d.expires, today, d.expiring_notice) else {
                    return Ok(false);
                };
                d.expiring_notice = Some((d.expires, due));
                tx.put_domain(&login, &d)?;
                let left = (d.expires - today).num_days();
                emit(
                    tx,
                    &login,
                    "domain.expiring",
                    domain_data(&d, Some(left)),
                    now,
                    None,
                )?;
                Ok(true)
            })
            .await
    }
}

/// Writes an event for the partner's endpoints that take `kind` (only `endpoint`, when
/// given), with a pending delivery to each; its id, or `None` when no endpoint takes it.
pub fn emit(
    tx: &mut Tx<'_>,
    login: &str,
    kind: &str,
    data: serde_json::Value,
    now: DateTime<Utc>,
    endpoint: Option<u64>,
) -> Result<Option<u64>> {
    let Some(hooks) = tx.webhooks(login)? else {
        return Ok(None);
    };
    let to: Vec<u64> = hooks
        .endpoints
        .iter()
        .filter(|e| match endpoint {
            Some(only) => e.id == only && e.disabled.is_none(),
            None => e.takes(kind),
        })
        .map(|e| e.id)
        .collect();
    if to.is_empty() {
        return Ok(None);
    }
    let id = tx.next_id("event")?;
    tx.put_event(
        login,
        &Event {
            id,
            kind: kind.to_string(),
            created: now,
            data,
        },
    )?;
    for ep in to {
        tx.put_delivery(
            login,
            &Delivery {
                event: id,
                endpoint: ep,
                kind: kind.to_string(),
                state: DeliveryState::Pending,
                created: now,
                next_at: now,
                attempts: Vec::new(),
            },
        )?;
    }
    Ok(Some(id))
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An order as `order.info` describes it.
pub fn order_data(o: &Order) -> serde_json::Value {
    let mut amount = o.amount;
    amount.rescale(o.currency.minor_digits());
    let mut v = json!({
        "id": o.id,
        "command": o.kind.command(),
        "state": o.state.as_str(),
        "amount": amount.to_string(),
        "currency": o.currency.to_string(),
        "request-id": o.request_id,
        "created": ts(&o.created),
        "updated": ts(&o.updated),
    });
    match o.kind.license() {
        Some(l) => v["license"] = json!(l),
        None => v["domain"] = json!(o.domain),
    }
    if let Some(r) = &o.reason {
        v["reason"] = json!(r);
    }
    json!({ "order": v })
}

/// The event an order's new state gives, if any: written by settling, in its write.
pub fn order_event(
    tx: &mut Tx<'_>,
    login: &str,
    o: &Order,
    now: DateTime<Utc>,
) -> Result<Option<u64>> {
    use crate::store::records::OrderState;
    let kind = match o.state {
        OrderState::Completed => "order.completed",
        OrderState::Failed => "order.failed",
        OrderState::Unknown => "order.unknown",
        _ => return Ok(None),
    };
    emit(tx, login, kind, order_data(o), now, None)
}

/// The partner's endpoints after `webhook.set`: the one with the same URL is replaced
/// (and enabled again), else a new one is added (at most five).
pub fn set_endpoint(
    hooks: &mut Webhooks,
    url: String,
    secret: String,
    events: Vec<String>,
    now: DateTime<Utc>,
) -> Result<Endpoint> {
    if let Some(e) = hooks.endpoints.iter_mut().find(|e| e.url == url) {
        e.secret = secret;
        e.events = events;
        e.disabled = None;
        e.failing_since = None;
        return Ok(e.clone());
    }
    if hooks.endpoints.len() >= Webhooks::MAX_ENDPOINTS {
        return Err(Error::prohibited(format!(
            "at most {} endpoints; delete one first (webhook.delete)",
            Webhooks::MAX_ENDPOINTS
        ))
        .about(crate::error::Object::Endpoint));
    }
    hooks.next_id += 1;
    let e = Endpoint {
        id: hooks.next_id,
        url,
        secret,
        events,
        created: now,
        disabled: None,
        failing_since: None,
    };
    hooks.endpoints.push(e.clone());
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn expiring_notices_at_30_7_and_1_days_once_each() {
        let exp = day("2026-03-31");
        assert_eq!(expiring_due(exp, day("2026-02-28"), None), None);
        assert_eq!(expiring_due(exp, day("2026-03-01"), None), Some(30));
        assert_eq!(expiring_due(exp, day("2026-03-02"), Some((exp, 30))), None);
        assert_eq!(
            expiring_due(exp, day("2026-03-24"), Some((exp, 30))),
            Some(7)
        );
        assert_eq!(expiring_due(exp, day("2026-03-25"), Some((exp, 7))), None);
        // A day missed (the gateway was down): the next threshold still comes, once.
        assert_eq!(
            expiring_due(exp, day("2026-03-31"), Some((exp, 30))),
            Some(1)
        );
        assert_eq!(expiring_due(exp, day("2026-03-30"), Some((exp, 1))), None);
        assert_eq!(expiring_due(exp, day("2026-04-01"), None), None);
        // Renewed: a new expiry starts again.
        let renewed = day("2027-03-31");
        assert_eq!(
            expiring_due(renewed, day("2027-03-01"), Some((exp, 1))),
            Some(30)
        );
    }
}
