//! `webhook.set`, `webhook.list`, `webhook.delete`, `webhook.test`,
//! `webhook.deliveries`: the URLs a partner's events are posted to, signed, and what
//! became of each delivery (README, "Notifications").

use super::params::Params;
use crate::engine::webhooks::{self, EVENTS};
use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Element, Outcome};
use crate::store::records::{Delivery, Endpoint, Partner, Webhooks};
use serde::Serialize;

fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `<endpoint>`: never its secret.
fn endpoint(e: &Endpoint) -> Element {
    Element::new("endpoint")
        .attr("id", e.id)
        .attr("url", &e.url)
        .attr("events", e.events.join(","))
        .attr(
            "state",
            if e.disabled.is_some() {
                "disabled"
            } else {
                "enabled"
            },
        )
        .attr("created", ts(&e.created))
        .attr_opt("failing-since", e.failing_since.as_ref().map(ts))
        .attr_opt("disabled", e.disabled.as_ref().map(ts))
}

fn endpoint_id(p: &mut Params) -> Result<u64> {
    p_id(p, "endpoint")?.ok_or_else(|| Error::missing("endpoint"))
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSet {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
}

impl WebhookSet {
    pub fn parse(p: &mut Params) -> Result<WebhookSet> {
        let url = p.req("url")?;
        let secret = p.req("secret")?;
        let len = secret.chars().count();
        if !(16..=128).contains(&len) {
            return Err(Error::range("secret", "16 to 128 characters"));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::value(
                "secret",
                "printable ASCII characters, no spaces",
            ));
        }
        let mut events = Vec::new();
        for e in p.req("events")?.split(',').map(str::trim) {
            if e != "*" && !EVENTS.contains(&e) {
                return Err(Error::value(
                    "events",
                    format!("{e:?}: one of {} or *", EVENTS.join(", ")),
                ));
            }
            if !events.iter().any(|x| x == e) {
                events.push(e.to_string());
            }
        }
        Ok(WebhookSet {
            url,
            secret,
            events,
        })
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let target = ctx.eng.webhooks.policy.check_url(&self.url)?;
        let url = target.url.to_string();
        let (secret, events) = (self.secret.clone(), self.events.clone());
        let now = ctx.eng.clock.now();
        ctx.eng
            .write_once(ctx, "webhook.set", move |tx, partner: &Partner| {
                let mut hooks = tx.webhooks(&partner.login)?.unwrap_or_default();
                let e = webhooks::set_endpoint(&mut hooks, url, secret, events, now)?;
                tx.put_webhooks(&partner.login, &hooks)?;
                Ok(Outcome::ok(Data::Elements {
                    elements: vec![endpoint(&e)],
                }))
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookList {}

impl WebhookList {
    pub fn parse(_p: &mut Params) -> Result<WebhookList> {
        Ok(WebhookList {})
    }

    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let hooks: Webhooks = ctx
            .eng
            .store
            .webhooks(&ctx.partner.login)?
            .unwrap_or_default();
        let elements: Vec<Element> = hooks.endpoints.iter().map(endpoint).collect();
        Ok(Outcome::ok(Data::Elements { elements }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookDelete {
    pub endpoint: u64,
}

impl WebhookDelete {
    pub fn parse(p: &mut Params) -> Result<WebhookDelete> {
        Ok(WebhookDelete {
            endpoint: endpoint_id(p)?,
        })
    }

    /// Its pending deliveries become `failed` at their next turn.
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let id = self.endpoint;
        ctx.eng
            .write_once(ctx, "webhook.delete", move |tx, partner: &Partner| {
                let mut hooks = tx.webhooks(&partner.login)?.unwrap_or_default();
                let Some(i) = hooks.endpoints.iter().position(|e| e.id == id) else {
                    return Err(
                        Error::not_found(format!("no endpoint {id}")).about(Object::Endpoint)
                    );
                };
                let e = hooks.endpoints.remove(i);
                tx.put_webhooks(&partner.login, &hooks)?;
                Ok(Outcome::ok(Data::Elements {
                    elements: vec![Element::new("endpoint")
                        .attr("id", e.id)
                        .attr("url", &e.url)
                        .attr("state", "deleted")],
                }))
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookTest {
    pub endpoint: u64,
}

impl WebhookTest {
    pub fn parse(p: &mut Params) -> Result<WebhookTest> {
        Ok(WebhookTest {
            endpoint: endpoint_id(p)?,
        })
    }

    /// Writes a `webhook.test` event for one endpoint; it is delivered in the
    /// background like any other (`webhook.deliveries` shows how it went).
    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let id = self.endpoint;
        let now = ctx.eng.clock.now();
        ctx.eng
            .write_once(ctx, "webhook.test", move |tx, partner: &Partner| {
                let hooks = tx.webhooks(&partner.login)?.unwrap_or_default();
                match hooks.endpoints.iter().find(|e| e.id == id) {
                    None => {
                        return Err(
                            Error::not_found(format!("no endpoint {id}")).about(Object::Endpoint)
                        )
                    }
                    Some(e) if e.disabled.is_some() => {
                        return Err(Error::prohibited(format!(
                            "endpoint {id} is disabled; set it again with webhook.set"
                        ))
                        .about(Object::Endpoint))
                    }
                    Some(_) => {}
                }
                let data = serde_json::json!({ "endpoint": id });
                let ev = webhooks::emit(tx, &partner.login, "webhook.test", data, now, Some(id))?
                    .ok_or_else(|| Error::internal("test event not written"))?;
                Ok(Outcome::ok(Data::Elements {
                    elements: vec![Element::new("event")
                        .attr("id", ev)
                        .attr("type", "webhook.test")
                        .attr("endpoint", id)
                        .attr("created", ts(&now))],
                }))
            })
            .await
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookDeliveries {
    pub endpoint: Option<u64>,
    pub event: Option<u64>,
    pub limit: usize,
    pub cursor: Option<(u64, u64)>,
}

/// `<delivery>` with its attempts, oldest first.
pub fn delivery(d: &Delivery) -> Element {
    Element::new("delivery")
        .attr("event", d.event)
        .attr("endpoint", d.endpoint)
        .attr("type", &d.kind)
        .attr("state", d.state.as_str())
        .attr("created", ts(&d.created))
        .attr("attempts", d.attempts.len())
        .attr_opt(
            "next-attempt",
            (d.state == crate::store::records::DeliveryState::Pending).then(|| ts(&d.next_at)),
        )
        .children(d.attempts.iter().map(|a| {
            Element::new("attempt")
                .attr("at", ts(&a.at))
                .attr_opt("status", a.status)
                .attr("ms", a.ms)
                .attr_opt("error", a.error.as_ref())
        }))
}

impl WebhookDeliveries {
    pub fn parse(p: &mut Params) -> Result<WebhookDeliveries> {
        let endpoint = p_id(p, "endpoint")?;
        let event = p_id(p, "event")?;
        let (limit, cursor) = p.page()?;
        let cursor = cursor
            .map(|c| {
                c.split_once('.')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .ok_or_else(|| Error::value("cursor", "not a cursor this server gave"))
            })
            .transpose()?;
        Ok(WebhookDeliveries {
            endpoint,
            event,
            limit,
            cursor,
        })
    }

    /// Newest first.
    pub fn apply(&self, ctx: &Ctx<'_>) -> Result<Outcome> {
        let rows = ctx
            .eng
            .store
            .deliveries(&ctx.partner.login, self.cursor, true)
            .filter(|r| {
                r.as_ref().map_or(true, |d| {
                    self.endpoint.is_none_or(|e| e == d.endpoint)
                        && self.event.is_none_or(|e| e == d.event)
                })
            });
        let (rows, next) = super::page(rows, self.limit, |d: &Delivery| {
            format!("{}.{}", d.event, d.endpoint)
        })?;
        let mut elements: Vec<Element> = rows.iter().map(delivery).collect();
        if let Some(n) = next {
            elements.push(Element::new("next-cursor").text(n));
        }
        Ok(Outcome::ok(Data::Elements { elements }))
    }
}

fn p_id(p: &mut Params, key: &str) -> Result<Option<u64>> {
    match p.opt(key)? {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| Error::value(key, format!("{v:?} is not an id"))),
    }
}
