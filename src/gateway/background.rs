//! The background worker beside the pipeline: it settles open orders (the engine's
//! reconciler) every interval and does the daily work once a UTC day.
//!
//! Daily work: domains and licences past their expiry date become `expired`, and those
//! with auto-renew on are renewed a configured number of days before they expire, paid
//! from the partner's balance. It reads the expiry index (active services by expiry
//! date) only as far as the renewal horizon.
//!
//! Restart-safe without bookkeeping of its own: an automatic renewal is an ordinary
//! order under the request-id `auto-renew:EXPIRES:TODAY:DOMAIN` (`…:license.ID` for a
//! licence; hashed when longer than 64 characters), so running the day's work twice
//! renews nothing twice. When the money is not there, the partner sees a failed order
//! that cost nothing, and the next day (a new request-id) tries again.

use crate::command::domain_renew::DomainRenew;
use crate::command::license::LicenseRenew;
use crate::command::Command;
use crate::engine::services;
use crate::engine::{Ctx, Engine, Fresh};
use crate::error::{Code, Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{
    license_object, Domain, DomainState, LicenseState, Order, OrderKind, OrderState, Partner,
    RequestRecord, Transition,
};
use crate::store::requests;
use crate::types::request_id::RequestId;
use chrono::{Duration, NaiveDate};

/// When the worker runs what.
/// How often the background worker probes the upstreams at least (`/healthz` probes
/// them when asked, at most every `upstream::health::HEALTH_TTL`).
pub const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

pub struct Schedule {
    /// Between reconciliation rounds (`reconcile_interval_ms`).
    pub interval: std::time::Duration,
    /// An order unclear for longer is reported to the operator (`unknown_alert_ms`).
    pub alert_after: std::time::Duration,
    /// Days before expiry a domain is renewed (`auto_renew_days`).
    pub renew_days: u32,
    /// Days before expiry a licence is renewed (`license_auto_renew_days`).
    pub license_renew_days: u32,
}

/// How long a node may take over the day's work before another may take it up.
const DAILY_LEASE: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long the day's lease is kept once its work is done: past the day.
const DAILY_DONE: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

/// The background worker, until `stop` resolves: reconciles open orders every
/// interval, and once a UTC day expires and renews services and prunes request
/// records.
pub async fn work(
    engine: std::sync::Arc<Engine>,
    schedule: Schedule,
    stop: impl std::future::Future<Output = ()>,
) {
    let Schedule {
        interval,
        alert_after,
        renew_days,
        license_renew_days,
    } = schedule;
    let mut stop = std::pin::pin!(stop);
    // The daily work runs on the first tick of each UTC day (again after a
    // restart, which it tolerates: see `Engine::daily`).
    let mut last_day = None;
    // The first round settles what a previous run left open (a crash between
    // accepting an order and recording the upstream's answer). It runs while the
    // gateway already serves: those orders are in the open-order queue with their
    // domains locked, so a new order for such a domain gets 2304 and a retry of
    // such a request-id gets 1001, and opening the port does not wait for a slow
    // upstream. A stop cancels a round; what it did not settle stays open, safely.
    let mut first = true;
    let mut last_probe: Option<std::time::Instant> = None;
    loop {
        if !first {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        // After the first round, orders without a clear answer are asked about
        // again at growing intervals (engine::orders::Backoffs).
        let round = tokio::select! {
            _ = &mut stop => break,
            r = async {
                if first {
                    engine.reconcile::<Outcome>(alert_after).await
                } else {
                    engine.reconcile_due::<Outcome>(alert_after, interval).await
                }
            } => r,
        };
        match round {
            Ok(open) if first && open > 0 => {
                tracing::warn!(open, "orders still open after the start-up reconciliation")
            }
            Ok(open) => tracing::debug!(open, "reconciliation round done"),
            Err(e) => {
                tracing::error!(error = %e.cause_or_message(), "reconciliation failed; it is tried again next interval")
            }
        }
        // The upstreams' health (and the gateway's balance at a parent, for
        // `regway_upstream_balance`) is read at least every PROBE_EVERY, health checks
        // or not.
        if last_probe.is_none_or(|t| t.elapsed() >= PROBE_EVERY) {
            let health = engine.probes.health().await;
            tracing::debug!(
                upstreams = health.len(),
                failing = health.iter().filter(|h| h.problem.is_some()).count(),
                "upstreams probed"
            );
            last_probe = Some(std::time::Instant::now());
        }
        // The daily work waits for the first interval, as it always has.
        let was_first = std::mem::replace(&mut first, false);
        let today = engine.clock.today();
        if !was_first && last_day != Some(today) {
            // Nodes sharing one store run the day's work once: the one holding the
            // day's lease. A node that dies at it loses the lease when it ends, and
            // another runs the work (which tolerates a second run); done, the lease is
            // kept past the day.
            let lease = format!("daily:{today}");
            match engine.store.lease(&lease, DAILY_LEASE) {
                Ok(true) => {
                    tracing::debug!(%today, renew_days, license_renew_days, "daily work: expiring services past their date, placing auto-renewals");
                    match engine.daily(renew_days, license_renew_days).await {
                        Ok(_) => {
                            last_day = Some(today);
                            if let Err(e) = engine.store.lease(&lease, DAILY_DONE) {
                                tracing::warn!(error = %e, "the day's lease was not kept");
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e.cause_or_message(), "daily work failed; it is tried again next interval")
                        }
                    }
                    if let Err(e) = engine.prune_requests().await {
                        tracing::error!(error = %e.cause_or_message(), "pruning request records failed; it is tried again tomorrow");
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e.cause_or_message(), "the day's lease could not be taken; it is tried again next interval")
                }
            }
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DailyReport {
    pub expired: u64,
    /// Renewal orders placed by this run (completed or still open).
    pub renewed: u64,
    /// Renewals refused for want of money by this run (a failed order each).
    pub unpaid: u64,
    /// Renewals that could not be placed for another reason (logged).
    pub skipped: u64,
}

impl DailyReport {
    fn count(&mut self, r: Result<bool>, login: &str, object: &str) {
        match r {
            Ok(placed) => {
                tracing::debug!(partner = %login, object, placed, "auto-renewal {}", if placed { "placed" } else { "already placed today" });
                self.renewed += u64::from(placed)
            }
            Err(e) if e.code == Code::Billing => {
                tracing::warn!(partner = %login, object, "auto-renewal unpaid: {}", e.message);
                self.unpaid += 1;
            }
            Err(e) => {
                tracing::warn!(partner = %login, object, code = e.code.number(), "auto-renewal not placed: {}", e.cause_or_message());
                self.skipped += 1;
            }
        }
    }
}

impl Engine {
    /// The day's work for `today`. Idempotent for one day. Domains are renewed
    /// `renew_days` before they expire, licences `license_renew_days`.
    pub async fn daily(&self, renew_days: u32, license_renew_days: u32) -> Result<DailyReport> {
        let today = self.clock.today();
        let mut report = DailyReport::default();
        // Only what is due: the active services whose expiry date is at most the
        // longer renewal horizon away, from the expiry index, oldest first.
        // Also as far as the first `domain.expiring` notice (engine::webhooks).
        let longest = renew_days
            .max(license_renew_days)
            .max(crate::engine::webhooks::EXPIRING_DAYS[0]);
        let horizon = today + Duration::days(longest.into());
        let mut due: Vec<(String, String)> = Vec::new();
        for row in self.store.expiries() {
            let e = row?.ok_or_else(|| Error::internal("malformed expiry index key"))?;
            if e.date > horizon {
                break;
            }
            due.push((e.login, e.object));
        }
        let mut partners: std::collections::HashMap<String, Partner> = Default::default();
        for (login, object) in due {
            if !partners.contains_key(&login) {
                let Some(p) = self.store.partner(&login)? else {
                    continue;
                };
                partners.insert(login.clone(), p);
            }
            let partner = &partners[&login];
            if self.store.in_flight(&object)?.is_some() {
                continue;
            }
            if let Some(id) = object
                .strip_prefix("license/")
                .and_then(|n| n.parse::<u64>().ok())
            {
                let Some(l) = self.store.license(&login, id)? else {
                    continue;
                };
                if l.state != LicenseState::Active {
                    continue;
                }
                if l.expires < today {
                    report.expired += u64::from(self.expire_license(&login, l.id, today).await?);
                } else if l.auto_renew
                    && l.expires <= today + Duration::days(license_renew_days.into())
                {
                    let cmd = Command::LicenseRenew(LicenseRenew {
                        license: l.id,
                        period: l.period,
                        expires: l.expires,
                    });
                    let kind = OrderKind::LicenseRenew {
                        license: l.id,
                        period: l.period,
                        expires: l.expires,
                    };
                    let what = format!("{}:{today}:license.{}", l.expires, l.id);
                    let r = self.renew_now(partner, cmd, kind, &object, &what).await;
                    report.count(r, &login, &object);
                }
                continue;
            }
            let Some(d) = self.store.domain(&login, &object)? else {
                continue;
            };
            if d.state != DomainState::Active {
                continue;
            }
            if d.expires >= today {
                self.notify_expiring(&login, &d.name, today).await?;
            }
            if d.expires < today {
                report.expired += u64::from(self.expire(&login, &d.name, today).await?);
            } else if d.auto_renew && d.expires <= today + Duration::days(renew_days.into()) {
                let r = self.auto_renew(partner, &d, today).await;
                report.count(r, &login, &d.name);
            }
        }
        if report != DailyReport::default() {
            tracing::info!(?report, %today, "daily work done");
        }
        Ok(report)
    }

    /// Marks a domain expired, if it still is past its date and no order is open for it.
    async fn expire(&self, login: &str, name: &str, today: NaiveDate) -> Result<bool> {
        let (login, name) = (login.to_string(), name.to_string());
        let now = self.clock.now();
        let cats = self.categories.clone();
        self.store
            .write(move |tx| {
                if tx.in_flight(&name)?.is_some() {
                    return Ok(false);
                }
                let Some(mut d) = tx.domain(&login, &name)? else {
                    return Ok(false);
                };
                if d.state != DomainState::Active || d.expires >= today {
                    return Ok(false);
                }
                d.state = DomainState::Expired;
                services::track(tx, &login, &d.client, &cats.of_domain(&d.name), -1)?;
                services::reindex(tx, &login, &d.name, Some(d.expires), None)?;
                tx.put_domain(&login, &d)?;
                let data = crate::engine::webhooks::domain_data(&d, None);
                crate::engine::webhooks::emit(tx, &login, "domain.expired", data, now, None)?;
                Ok(true)
            })
            .await
    }

    /// Marks a licence expired, if it still is past its date and no order is open for it.
    async fn expire_license(&self, login: &str, id: u64, today: NaiveDate) -> Result<bool> {
        let login = login.to_string();
        let cats = self.categories.clone();
        self.store
            .write(move |tx| {
                if tx.in_flight(&license_object(id))?.is_some() {
                    return Ok(false);
                }
                let Some(mut l) = tx.license(&login, id)? else {
                    return Ok(false);
                };
                if l.state != LicenseState::Active || l.expires >= today {
                    return Ok(false);
                }
                l.state = LicenseState::Expired;
                services::track(tx, &login, &l.client, &cats.of_license(&l.product), -1)?;
                services::reindex(tx, &login, &license_object(id), Some(l.expires), None)?;
                tx.put_license(&login, &l)?;
                Ok(true)
            })
            .await
    }

    /// Renews a domain (see [`Engine::renew_now`]).
    async fn auto_renew(&self, partner: &Partner, d: &Domain, today: NaiveDate) -> Result<bool> {
        let name = crate::types::names::parse_name("domain", &d.name)?;
        let period = self.catalogue.zone_of(&name)?.min_period;
        let cmd = Command::DomainRenew(DomainRenew {
            domain: name,
            period,
            expires: d.expires,
        });
        let kind = OrderKind::Renew {
            period,
            expires: d.expires,
        };
        let what = format!("{}:{today}:{}", d.expires, d.name);
        self.renew_now(partner, cmd, kind, &d.name, &what).await
    }

    /// Places a renewal order, or records the refusal when the money is not there.
    /// `false` when today's attempt was made before (an earlier run the same day).
    async fn renew_now(
        &self,
        partner: &Partner,
        cmd: Command,
        kind: OrderKind,
        object: &str,
        what: &str,
    ) -> Result<bool> {
        let rid = RequestId::derived(&format!("auto-renew:{what}")).into_string();
        let ctx = Ctx {
            eng: self,
            partner: std::sync::Arc::new(partner.clone()),
            request_id: Some(rid.clone()),
            fingerprint: cmd.fingerprint(),
            user: None,
        };
        match cmd.apply(&ctx).await {
            Ok(Fresh::Done(_)) => Ok(true),
            Ok(Fresh::Replay(_)) => Ok(false),
            Err(e) if e.code == Code::Billing => {
                self.record_unpaid(
                    &partner.login,
                    &rid,
                    &ctx.fingerprint,
                    object,
                    kind,
                    e.clone(),
                )
                .await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Stores a failed order that moved no money, with its request record, so that the
    /// partner sees the refused renewal in `order.list` and `request.status`.
    async fn record_unpaid(
        &self,
        login: &str,
        rid: &str,
        fingerprint: &str,
        domain: &str,
        kind: OrderKind,
        e: Error,
    ) -> Result<()> {
        let (login, rid, fingerprint, domain) = (
            login.to_string(),
            rid.to_string(),
            fingerprint.to_string(),
            domain.to_string(),
        );
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                if requests::taken(tx, &login, &rid)? {
                    return Ok(());
                }
                let mut partner: Partner = tx
                    .partner(&login)?
                    .ok_or_else(|| Error::internal("partner vanished"))?;
                let id = tx.next_id("order")?;
                partner.orders += 1;
                let order = Order {
                    id,
                    request_id: rid.clone(),
                    domain,
                    kind,
                    amount: rust_decimal::Decimal::ZERO,
                    currency: partner.currency,
                    state: OrderState::Failed,
                    created: now,
                    updated: now,
                    history: vec![Transition {
                        state: OrderState::Failed,
                        at: now,
                    }],
                    reason: Some(e.message.clone()),
                    upstream: None,
                    commission: None,
                    charge: None,
                    settled: None,
                    by: None,
                };
                let mut outcome = Outcome::error(e).with_data(Data::Order(Box::new(order.clone())));
                outcome.request_id = Some(rid.clone());
                tx.put_partner(&partner)?;
                tx.add_order(&login, &order)?;
                requests::record(
                    tx,
                    &login,
                    &RequestRecord {
                        request_id: rid,
                        command: order.kind.command().to_string(),
                        params: fingerprint,
                        created: now,
                        order: Some(id),
                        outcome: Some(outcome),
                    },
                )?;
                Ok(())
            })
            .await
    }
}
