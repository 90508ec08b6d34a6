//! Recording what the upstream said about an order, in one write: the order's new
//! state, what it changes (a domain, a licence, the commission it earns), its refund
//! when it failed, and its stored answer once it is settled.

use crate::engine::ledger;
use crate::engine::services::{self, Categories};
use crate::engine::{Answer, Engine, OrderAnswer};
use crate::error::{Code, Error, Object, Result};
use crate::store::records::{
    license_object, CommissionEntry, CommissionKind, Domain, DomainState, Effect, EntryKind,
    License, LicenseState, Order, OrderState, Partner, RequestRecord,
};
use crate::store::{RequestWrites, Requests, Tx};
use crate::types::client::ClientHandle;
use crate::types::clock::add_years;
use crate::upstream::{UpstreamResult, REJECTED};
use chrono::{DateTime, Utc};

impl Engine {
    /// Records what the upstream said about an order, in one write. Settling an order
    /// that is already completed or failed changes nothing and gives its stored answer.
    pub async fn record_result<A: Answer>(
        &self,
        login: &str,
        order_id: u64,
        submitted_at: Option<DateTime<Utc>>,
        result: UpstreamResult,
    ) -> Result<A> {
        let login = login.to_string();
        let now = self.clock.now();
        let cats = self.categories.clone();
        self.store
            .write(move |tx| settle(tx, &cats, &login, order_id, submitted_at, result, now))
            .await
    }
}

/// Credits the commission a completed order earns to the partner's commission account
/// (the caller stores the partner): the rate it was priced with, on what it was charged,
/// rounded half-up once. A client deleted since earns nothing.
fn accrue_commission(
    tx: &mut Tx<'_>,
    partner: &mut Partner,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(rate) = &order.commission else {
        return Ok(());
    };
    let login = partner.login.clone();
    // The client of the service the order creates or extends; a change earns nothing.
    let client = match order.kind.spec().effect {
        Effect::NewDomain { client, .. } | Effect::NewLicense { client, .. } => {
            Some(client.to_string())
        }
        Effect::ExtendDomain { .. } => tx.domain(&login, &order.domain)?.map(|d| d.client),
        Effect::ExtendLicense { license, .. } => tx.license(&login, license)?.map(|l| l.client),
        Effect::SetNs { .. } | Effect::SetIp { .. } => None,
    };
    let Some(client) = client else {
        return Ok(());
    };
    let current = match ClientHandle::number_of(&client) {
        Some(n) => tx.client(&login, n)?,
        None => None,
    };
    if current.is_none_or(|c| c.deleted.is_some()) {
        return Ok(());
    }
    let amount = (order.amount.checked_mul(rate.percent))
        .map(|a| a / rust_decimal::Decimal::ONE_HUNDRED)
        .ok_or_else(|| Error::internal("commission overflow"))?
        .round_dp_with_strategy(
            order.currency.minor_digits(),
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        );
    if amount <= rust_decimal::Decimal::ZERO {
        return Ok(());
    }
    ledger::append_commission(
        tx,
        partner,
        CommissionEntry {
            order: Some(order.id),
            client: Some(client),
            base: Some(order.amount),
            rate: Some(rate.clone()),
            ..CommissionEntry::new(CommissionKind::Earned, amount, now)
        },
    )
    .map(|_| ())
}

pub(in crate::engine) fn settle<A: Answer>(
    tx: &mut Tx<'_>,
    cats: &Categories,
    login: &str,
    order_id: u64,
    submitted_at: Option<DateTime<Utc>>,
    result: UpstreamResult,
    now: DateTime<Utc>,
) -> Result<A> {
    let mut order: Order = tx
        .order(login, order_id)?
        .ok_or_else(|| Error::internal(format!("order {order_id} is missing")))?;
    let mut rec: RequestRecord<A> = tx
        .request(login, &order.request_id)?
        .ok_or_else(|| Error::internal(format!("order {order_id} has no request record")))?;
    if order.state.is_terminal() {
        return rec
            .outcome
            .ok_or_else(|| Error::internal("settled order without an outcome"));
    }
    // Nothing new about an order already unclear for the same reason: nothing is
    // written, so an order the upstream cannot be asked about is not rewritten (and
    // flushed) at every reconciliation.
    if let UpstreamResult::Unknown(t) = &result {
        if order.state == OrderState::Unknown
            && submitted_at.is_none()
            && order.reason.as_deref() == Some(t.phrase().as_str())
        {
            let mut a = A::of_order(OrderAnswer::Open(order.clone()));
            a.answers(&order.request_id);
            return Ok(a);
        }
    }
    let mut partner: Partner = tx
        .partner(login)?
        .ok_or_else(|| Error::internal("partner vanished"))?;
    // The balance an order's answer shows is the one right after its own charge, not
    // the partner's balance when the answer comes (other orders may have been charged
    // in between).
    let balance = match order.charge {
        Some(entry) => tx
            .ledger_entry(login, entry)?
            .map(|e| e.balance_after)
            .ok_or_else(|| Error::internal(format!("ledger entry {entry} is missing")))?,
        None => partner.balance,
    };
    let before = order.state;
    let result = match result {
        UpstreamResult::Rejected { .. } => UpstreamResult::Failed {
            code: Code::Failed,
            reason: REJECTED.to_string(),
        },
        r => r,
    };
    if let (Some(t), OrderState::Accepted) = (submitted_at, order.state) {
        order.set_state(OrderState::Submitted, t);
    }
    let outcome = match result {
        UpstreamResult::Done(done) if order.kind.license().is_some() => {
            order.set_state(OrderState::Completed, now);
            let license = apply_license(tx, cats, login, &order, done, now)?;
            accrue_commission(tx, &mut partner, &order, now)?;
            Some(OrderAnswer::License {
                order: order.clone(),
                license,
                balance,
            })
        }
        UpstreamResult::Done(done) => {
            order.set_state(OrderState::Completed, now);
            let domain = apply_done(tx, cats, login, &mut partner, &order, done, now)?;
            accrue_commission(tx, &mut partner, &order, now)?;
            Some(OrderAnswer::Domain {
                order: order.clone(),
                domain,
                balance,
            })
        }
        UpstreamResult::Failed { code, reason } => {
            order.set_state(OrderState::Failed, now);
            order.reason = Some(reason.clone());
            if order.amount > rust_decimal::Decimal::ZERO {
                // The refund is the order's: it records the login that placed it.
                let mut e = ledger::entry(EntryKind::Refund, order.amount, Some(order.id), now);
                e.by = order.by.clone();
                ledger::append(tx, &mut partner, e)?;
            }
            let mut e = Error::new(code, reason);
            if code == Code::Failed {
                e = Error::upstream(e.message);
            }
            if matches!(code, Code::NotFound | Code::Forbidden) {
                e = e.about(match order.kind.license() {
                    Some(_) => Object::License,
                    None => Object::Domain,
                });
            }
            Some(OrderAnswer::Failed {
                error: e,
                order: order.clone(),
            })
        }
        UpstreamResult::Pending => None,
        UpstreamResult::Unknown(t) => {
            if order.state != OrderState::Unknown {
                order.set_state(OrderState::Unknown, now);
            }
            order.reason = Some(t.phrase());
            None
        }
        UpstreamResult::NotFound | UpstreamResult::Rejected { .. } => {
            return Err(Error::internal("lookup answer used as a submit answer"));
        }
    };
    tx.put_order(login, &order)?;
    tx.put_partner(&partner)?;
    if order.state != before {
        // The partner's notification, in the same write (the outbox).
        crate::engine::webhooks::order_event(tx, login, &order, now)?;
    }
    match outcome {
        Some(settled) => {
            let mut answer = A::of_order(settled);
            answer.answers(&order.request_id);
            tx.close_order(&order);
            rec.outcome = Some(answer.clone());
            if crate::engine::retention::is_keyless(&order.request_id) {
                // Nobody can ask for it again (engine/retention.rs).
                tx.remove_request(login, &order.request_id);
            } else {
                tx.put_request(login, &rec)?;
            }
            Ok(answer)
        }
        None => {
            let mut a = A::of_order(OrderAnswer::Open(order.clone()));
            a.answers(&order.request_id);
            Ok(a)
        }
    }
}

/// Applies a carried-out order to the domain it is about; returns the domain as it is now.
fn apply_done(
    tx: &mut Tx<'_>,
    cats: &Categories,
    login: &str,
    partner: &mut Partner,
    order: &Order,
    done: crate::upstream::Done,
    now: DateTime<Utc>,
) -> Result<Domain> {
    let domain = match order.kind.spec().effect {
        Effect::NewDomain {
            arrival: _,
            years,
            client,
            ns,
            auto_renew,
        } => {
            let expires = match done.expires {
                Some(e) => e,
                None => add_years(now.date_naive(), years)
                    .ok_or_else(|| Error::internal("date overflow"))?,
            };
            let d = Domain {
                name: order.domain.clone(),
                client: client.to_string(),
                state: DomainState::Active,
                created: now,
                expires,
                ns: ns.to_vec(),
                delegated: done.delegated.unwrap_or(!ns.is_empty()),
                auto_renew,
                expiring_notice: None,
                upstream: order.upstream.clone(),
            };
            let number = ClientHandle::number_of(client)
                .ok_or_else(|| Error::internal("stored client handle is malformed"))?;
            tx.add_domain(login, number, &d)?;
            partner.domains += 1;
            services::track(tx, login, client, &cats.of_domain(&d.name), 1)?;
            services::reindex(tx, login, &d.name, None, Some(d.expires))?;
            d
        }
        Effect::ExtendDomain { years, from } => {
            let mut d: Domain = tx
                .domain(login, &order.domain)?
                .ok_or_else(|| Error::internal("renewed domain has no record"))?;
            let was = (d.state == DomainState::Active).then_some(d.expires);
            d.expires = match done.expires {
                Some(e) => e,
                None => add_years(from, years).ok_or_else(|| Error::internal("date overflow"))?,
            };
            if d.state != DomainState::Active {
                d.state = DomainState::Active;
                services::track(tx, login, &d.client, &cats.of_domain(&d.name), 1)?;
            }
            services::reindex(tx, login, &d.name, was, Some(d.expires))?;
            d
        }
        Effect::SetNs { ns } => {
            let mut d: Domain = tx
                .domain(login, &order.domain)?
                .ok_or_else(|| Error::internal("domain has no record"))?;
            d.ns = ns.to_vec();
            d.delegated = done.delegated.unwrap_or(!ns.is_empty());
            d
        }
        _ => return Err(Error::internal("a licence order applied to a domain")),
    };
    tx.put_domain(login, &domain)?;
    Ok(domain)
}

/// Applies a carried-out licence order; returns the licence as it is now.
fn apply_license(
    tx: &mut Tx<'_>,
    cats: &Categories,
    login: &str,
    order: &Order,
    done: crate::upstream::Done,
    now: DateTime<Utc>,
) -> Result<License> {
    let effect = order.kind.spec().effect;
    let license = match effect {
        Effect::NewLicense {
            license,
            product,
            period,
            ip,
            client,
            auto_renew,
        } => {
            let expires = match done.expires {
                Some(e) => e,
                None => period
                    .after(now.date_naive())
                    .ok_or_else(|| Error::internal("date overflow"))?,
            };
            services::track(tx, login, client, &cats.of_license(product), 1)?;
            services::reindex(tx, login, &license_object(license), None, Some(expires))?;
            License {
                id: license,
                product: product.to_string(),
                period,
                ip: ip.to_string(),
                client: client.to_string(),
                state: LicenseState::Active,
                created: now,
                expires,
                auto_renew,
                service: done.service.clone(),
            }
        }
        Effect::ExtendLicense {
            license,
            period,
            from,
        } => {
            let mut l: License = tx
                .license(login, license)?
                .ok_or_else(|| Error::internal("renewed licence has no record"))?;
            let was = (l.state == LicenseState::Active).then_some(l.expires);
            l.expires = match done.expires {
                Some(e) => e,
                None => period
                    .after(from)
                    .ok_or_else(|| Error::internal("date overflow"))?,
            };
            if l.state != LicenseState::Active {
                l.state = LicenseState::Active;
                services::track(tx, login, &l.client, &cats.of_license(&l.product), 1)?;
            }
            services::reindex(tx, login, &license_object(l.id), was, Some(l.expires))?;
            if done.service.is_some() {
                l.service = done.service.clone();
            }
            l
        }
        Effect::SetIp { license, ip } => {
            let mut l: License = tx
                .license(login, license)?
                .ok_or_else(|| Error::internal("licence has no record"))?;
            l.ip = ip.to_string();
            l
        }
        _ => return Err(Error::internal("a domain order applied to a licence")),
    };
    if matches!(effect, Effect::NewLicense { .. }) {
        tx.add_license(login, &license)?;
    } else {
        tx.put_license(login, &license)?;
    }
    Ok(license)
}
