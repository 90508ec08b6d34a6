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
    "webhook.test",
];

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
        )));
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
