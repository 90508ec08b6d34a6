//! Delivering events in the background, never on a partner's request path: the
//! queue of pending deliveries is read every `poll_ms`; each due one is posted with
//! its signature, by a task of its own, within the bounds on deliveries in flight
//! overall and per endpoint. Every attempt is written down with the delivery; a
//! failed one is tried again after a wait that doubles (with jitter) until the event
//! is `give_up_s` old, when the delivery becomes `failed`. An endpoint failing for
//! `disable_after_s` without a success is disabled and logged.
//!
//! Redirects are not followed, proxies are not used, and each delivery resolves the
//! endpoint's name afresh and connects only to an address [`Policy`] allows.

use super::address::{Checked, Policy};
use crate::config::WebhooksConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::records::{Attempt, Delivery, DeliveryState, Event};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Regway-Signature";

/// `t=TIMESTAMP,v1=HEX(HMAC-SHA256(secret, "TIMESTAMP.BODY"))`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// The JSON body of an event as it is posted (the same bytes at every attempt).
pub fn body(login: &str, e: &Event) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": e.id,
        "type": e.kind,
        "created": e.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "partner": login,
        "data": e.data,
    }))
    .unwrap_or_default()
}

/// Outcomes of attempts, for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub queue: AtomicU64,
}

/// What delivers events: the operator's rules, the HTTP client, the bounds.
pub struct Hub {
    pub cfg: WebhooksConfig,
    pub policy: Arc<Policy>,
    client: reqwest::Client,
    overall: Arc<Semaphore>,
    per_endpoint: Mutex<HashMap<(String, u64), Arc<Semaphore>>>,
    in_flight: Arc<Mutex<HashSet<(String, u64, u64)>>>,
    pub counters: Counters,
}

impl Hub {
    pub fn new(cfg: &WebhooksConfig) -> Result<Hub> {
        let policy = Arc::new(Policy::of(cfg)?);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(Checked(policy.clone())))
            // Every delivery connects afresh, so every one resolves and checks.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .user_agent("regway-webhooks")
            .build()
            .map_err(|e| Error::internal(format!("webhook client: {e}")))?;
        Ok(Hub {
            cfg: cfg.clone(),
            policy,
            client,
            overall: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            per_endpoint: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            counters: Counters::default(),
        })
    }

    fn endpoint_permits(&self, login: &str, endpoint: u64) -> Arc<Semaphore> {
        let mut m = self.per_endpoint.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((login.to_string(), endpoint))
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_endpoint.max(1))))
            .clone()
    }

    /// The wait before attempt `n + 1` after `n` failed ones: doubling from
    /// `retry_base_ms`, at most `retry_max_ms`, between half and all of it.
    pub fn backoff(&self, n: usize) -> Duration {
        let exp = self
            .cfg
            .retry_base_ms
            .saturating_mul(1u64 << (n.saturating_sub(1)).min(40))
            .min(self.cfg.retry_max_ms.max(1));
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        Duration::from_millis(((exp as f64) * jitter) as u64)
    }

    /// Posts one body to a URL; the receiver's status, or why there is none.
    async fn post(
        &self,
        url: &str,
        secret: &str,
        body: Vec<u8>,
        t: i64,
    ) -> (Option<u16>, Option<String>) {
        // The check again, as the URL stands now: an address literal is not resolved
        // (the client's resolver sees names only), so it is checked here.
        let target = match self.policy.check_url(url) {
            Ok(t) => t,
            Err(e) => return (None, Some(e.message)),
        };
        if let Some(ip) = target.literal {
            if let Err(e) = self.policy.check_address(ip) {
                return (None, Some(format!("refused: {e}")));
            }
        }
        let sig = signature(secret, t, &body);
        let sent = self
            .client
            .post(target.url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, sig)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) => (None, Some(describe(&e))),
        }
    }
}

/// Why a post got no answer, in words (the refusal of an address when that was it).
fn describe(e: &reqwest::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        let t = s.to_string();
        if t.starts_with("refused:") || t.ends_with("does not resolve") {
            return t;
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "no answer".into()
    }
}

impl Engine {
    /// One look at the queue: starts a task for every due delivery the bounds allow.
    /// Returns the pending deliveries seen.
    pub fn deliver_due(self: &Arc<Self>) -> Result<u64> {
        let now = self.clock.now();
        let mut depth = 0;
        for row in self.store.pending_deliveries() {
            let (ev, ep, login) = row?;
            depth += 1;
            let key = (login.clone(), ev, ep);
            if self
                .webhooks
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
            {
                continue;
            }
            let Some(d) = self.store.delivery(&login, ev, ep)? else {
                continue;
            };
            if d.next_at > now {
                continue;
            }
            let Ok(all) = self.webhooks.overall.clone().try_acquire_owned() else {
                continue;
            };
            let Ok(one) = self
                .webhooks
                .endpoint_permits(&login, ep)
                .try_acquire_owned()
            else {
                continue;
            };
            self.webhooks
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone());
            let eng = self.clone();
            tokio::spawn(async move {
                if let Err(e) = eng.attempt(&login, ev, ep).await {
                    tracing::error!(error = %e, partner = %login, event = ev, endpoint = ep, "webhook delivery failed to record");
                }
                eng.webhooks
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                drop((all, one));
            });
        }
        self.webhooks.counters.queue.store(depth, Ordering::Relaxed);
        Ok(depth)
    }

    /// One attempt at one delivery, and its record.
    pub async fn attempt(&self, login: &str, ev: u64, ep: u64) -> Result<()> {
        let Some(d) = self.store.delivery(login, ev, ep)? else {
            return Ok(());
        };
        if d.state != DeliveryState::Pending {
            return Ok(());
        }
        let hooks = self.store.webhooks(login)?.unwrap_or_default();
        let endpoint = hooks.endpoints.iter().find(|e| e.id == ep).cloned();
        let event = self.store.event(login, ev)?;
        let started = std::time::Instant::now();
        let at = self.clock.now();
        let (status, error) = match (&endpoint, &event) {
            (None, _) => (None, Some("the endpoint was deleted".to_string())),
            (Some(e), _) if e.disabled.is_some() => {
                (None, Some("the endpoint is disabled".to_string()))
            }
            (_, None) => (None, Some("the event is missing".to_string())),
            (Some(e), Some(event)) => {
                let b = body(login, event);
                self.webhooks
                    .post(&e.url, &e.secret, b, at.timestamp())
                    .await
            }
        };
        let attempt = Attempt {
            at,
            status,
            error,
            ms: started.elapsed().as_millis() as u64,
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        let gone = endpoint.as_ref().is_none_or(|e| e.disabled.is_some());
        let wait = self.webhooks.backoff(d.attempts.len() + 1);
        let give_up = chrono::Duration::seconds(self.webhooks.cfg.give_up_s as i64);
        let disable_after = chrono::Duration::seconds(self.webhooks.cfg.disable_after_s as i64);
        let login_s = login.to_string();
        let now = self.clock.now();
        let state = self
            .store
            .write(move |tx| {
                let Some(mut d): Option<Delivery> = tx.delivery(&login_s, ev, ep)? else {
                    return Ok(None);
                };
                if d.state != DeliveryState::Pending {
                    return Ok(None);
                }
                d.attempts.push(attempt);
                let mut disabled_now = false;
                if ok {
                    d.state = DeliveryState::Delivered;
                } else if gone || now - d.created >= give_up {
                    d.state = DeliveryState::Failed;
                } else {
                    d.next_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                }
                if let Some(mut hooks) = tx.webhooks(&login_s)? {
                    if let Some(e) = hooks.endpoints.iter_mut().find(|e| e.id == ep) {
                        if ok {
                            e.failing_since = None;
                        } else if e.disabled.is_none() {
                            let since = *e.failing_since.get_or_insert(now);
                            if now - since >= disable_after {
                                e.disabled = Some(now);
                                disabled_now = true;
                            }
                        }
                        tx.put_webhooks(&login_s, &hooks)?;
                    }
                }
                tx.put_delivery(&login_s, &d)?;
                Ok(Some((d.state, disabled_now)))
            })
            .await?;
        let c = &self.webhooks.counters;
        match state {
            Some((DeliveryState::Delivered, _)) => c.delivered.fetch_add(1, Ordering::Relaxed),
            Some((DeliveryState::Failed, _)) => c.failed.fetch_add(1, Ordering::Relaxed),
            Some((DeliveryState::Pending, _)) => c.retried.fetch_add(1, Ordering::Relaxed),
            None => 0,
        };
        if let Some((_, true)) = state {
            tracing::warn!(partner = %login, endpoint = ep, "webhook endpoint disabled: failing for {}s", self.webhooks.cfg.disable_after_s);
        }
        if let Some((DeliveryState::Failed, _)) = state {
            tracing::warn!(partner = %login, event = ev, endpoint = ep, "webhook delivery failed for good");
        }
        Ok(())
    }

    /// Makes a failed delivery pending again, due now, with a new 24 hours to succeed
    /// (the operator's retry, `regway webhook retry`).
    pub async fn retry_delivery(&self, login: &str, ev: u64, ep: u64) -> Result<DeliveryRow> {
        let owned = login.to_string();
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let login = owned;
                let mut d = tx.delivery(&login, ev, ep)?.ok_or_else(|| {
                    Error::not_found(format!("no delivery of event {ev} to endpoint {ep}"))
                })?;
                if d.state == DeliveryState::Delivered {
                    return Err(Error::prohibited("that delivery was delivered"));
                }
                d.state = DeliveryState::Pending;
                d.next_at = now;
                d.created = now;
                tx.put_delivery(&login, &d)?;
                Ok(())
            })
            .await?;
        self.list_deliveries("all", Some(login))?
            .into_iter()
            .find(|r| r.event == ev && r.endpoint == ep)
            .ok_or_else(|| Error::internal("retried delivery vanished"))
    }
}

/// One delivery as the operator sees it (`regway webhook list`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeliveryRow {
    pub partner: String,
    pub event: u64,
    pub endpoint: u64,
    pub url: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub attempts: usize,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt: Option<String>,
}

impl Engine {
    /// Deliveries in `state` (`pending`, `failed`, `delivered` or `all`), one partner's
    /// or every partner's, newest event first.
    pub fn list_deliveries(&self, state: &str, partner: Option<&str>) -> Result<Vec<DeliveryRow>> {
        if !matches!(state, "pending" | "failed" | "delivered" | "all") {
            return Err(Error::value(
                "state",
                format!("{state:?}: pending, failed, delivered or all"),
            ));
        }
        let logins: Vec<String> = match partner {
            Some(l) => vec![l.to_string()],
            None => self
                .store
                .partners()
                .map(|p| p.map(|p| p.login))
                .collect::<Result<_>>()?,
        };
        let mut rows = Vec::new();
        for login in logins {
            let Some(hooks) = self.store.webhooks(&login)? else {
                continue;
            };
            for d in self.store.deliveries(&login, None, true) {
                let d = d?;
                if state != "all" && d.state.as_str() != state {
                    continue;
                }
                let last = d.attempts.last();
                rows.push(DeliveryRow {
                    partner: login.clone(),
                    event: d.event,
                    endpoint: d.endpoint,
                    url: hooks
                        .endpoints
                        .iter()
                        .find(|e| e.id == d.endpoint)
                        .map(|e| e.url.clone()),
                    kind: d.kind.clone(),
                    state: d.state.as_str().to_string(),
                    attempts: d.attempts.len(),
                    last_status: last.and_then(|a| a.status),
                    last_error: last.and_then(|a| a.error.clone()),
                    next_attempt: (d.state == DeliveryState::Pending)
                        .then(|| d.next_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                });
            }
        }
        Ok(rows)
    }
}

/// The queue, every `poll_ms`, until `stop` resolves.
pub async fn run(engine: Arc<Engine>, stop: impl std::future::Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    let every = Duration::from_millis(engine.webhooks.cfg.poll_ms.max(10));
    loop {
        if let Err(e) = engine.deliver_due() {
            tracing::error!(error = %e, "reading the webhook queue failed");
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_time_and_body() {
        // Known answer: HMAC-SHA256("whsec", "1700000000.{}").
        let s = signature("whsec", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
        assert_ne!(s, signature("whsec", 1_700_000_000, b"{ }"));
        assert_ne!(s, signature("other", 1_700_000_000, b"{}"));
        assert_ne!(s, signature("whsec", 1_700_000_001, b"{}"));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let hub = Hub::new(&WebhooksConfig {
            retry_base_ms: 1000,
            retry_max_ms: 8000,
            ..WebhooksConfig::default()
        })
        .unwrap();
        for (n, full) in [
            (1, 1000u64),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (9, 8000),
            (100, 8000),
        ] {
            let w = hub.backoff(n).as_millis() as u64;
            assert!(w >= full / 2 && w <= full, "attempt {n}: {w}");
        }
    }
}
