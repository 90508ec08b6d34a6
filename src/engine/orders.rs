//! The order lifecycle: accept (money taken, durable) → submitted → completed | failed
//! (money returned in the same write) | unknown (money held until reconciled).
//!
//! No store write is held across the upstream call: accepting is one write, recording
//! the upstream's answer is another. Between the two the order is in the open-order
//! queue (`q\0…`) and its domain is locked (`F\0…`), so a crash in between leaves an
//! order the reconciler finds and settles, and no second order for the domain can start.

use super::services::{self, Categories};
use super::{Ctx, Engine, Fresh};
use crate::error::{Code, Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{
    license_object, Client, CommissionEntry, CommissionKind, DayTotals, Domain, DomainState,
    EntryKind, LedgerEntry, License, LicenseState, Order, OrderKind, OrderState, Partner,
    RequestRecord, Transition,
};
use crate::store::{keys, Tx};
use crate::types::client::ClientHandle;
use crate::types::clock::add_years;
use crate::types::money::Money;
use crate::upstream::{Trouble, TroubleKind, UpstreamOrder, UpstreamResult, REJECTED};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How many open orders the reconciler settles at once.
pub const RECONCILE_CONCURRENCY: usize = 16;

pub struct NewOrder {
    pub domain: String,
    pub kind: OrderKind,
    /// What the order costs; zero when it moves no money.
    pub amount: Money,
    /// How `amount` was priced, recorded with the charge.
    pub priced: Option<crate::engine::programme::Priced>,
}

impl Engine {
    /// Accepts an order (one atomic write: request-id, checks, charge, order, lock),
    /// hands it to the upstream, and records the answer. `precheck` runs inside the
    /// accepting write and sees the state the charge is made against.
    pub async fn place_order<P>(
        &self,
        ctx: &Ctx<'_>,
        new: NewOrder,
        precheck: P,
    ) -> Result<Fresh<Outcome>>
    where
        P: FnOnce(&mut Tx<'_>, &Partner) -> Result<()> + Send + 'static,
    {
        let login = ctx.partner.login.clone();
        let rid = ctx
            .request_id
            .clone()
            .ok_or_else(|| Error::internal("order without request-id"))?;
        let fingerprint = ctx.fingerprint.clone();
        // A concurrent request with the same request-id holds the claim: this one waits
        // until the holder has accepted the order (and answers from its record, a
        // replay) or let go of the claim without accepting (and tries itself). Only the
        // holder of the claim ever hands the order upstream.
        let _live = match self.claim_or_record(&login, &rid).await {
            Ok(g) => g,
            Err(rec) => return Ok(Fresh::Replay(rec)),
        };
        let now = self.clock.now();
        let accepted = self
            .store
            .write(move |tx| {
                let mut partner: Partner = tx
                    .get(&keys::partner(&login))?
                    .ok_or_else(|| Error::internal("partner vanished"))?;
                if let Some(rec) = tx.get::<RequestRecord<Outcome>>(&keys::request(&login, &rid))? {
                    return Ok(Fresh::Replay(Box::new(rec)));
                }
                precheck(tx, &partner)?;
                if tx.get_raw(&keys::in_flight(&new.domain))?.is_some() {
                    // Another partner's order may hold the name: its id is not said.
                    return Err(Error::prohibited(format!(
                        "{} has an order in progress",
                        object_name(&new.domain)
                    ))
                    .about(Object::Domain));
                }
                let id = tx.next_id("order")?;
                let mut charge = None;
                if new.amount.is_positive() {
                    let after = partner.balance - new.amount.amount;
                    if after < -partner.credit_limit {
                        let available = partner.balance + partner.credit_limit;
                        return Err(Error::billing(format!(
                            "not enough funds: the order costs {}, available {}",
                            new.amount,
                            Money {
                                amount: available,
                                currency: partner.currency
                            }
                        )));
                    }
                    let entry = append_entry(
                        tx,
                        &mut partner,
                        EntryKind::Charge,
                        -new.amount.amount,
                        Some(id),
                        now,
                    )?;
                    charge = Some(entry);
                    if let Some(p) = &new.priced {
                        let key = keys::ledger_entry(&login, entry);
                        let mut e: LedgerEntry = tx.get(&key)?.ok_or_else(|| {
                            Error::internal("ledger entry just written is missing")
                        })?;
                        e.list_price = Some(p.list.amount);
                        e.rule = Some(p.rule.clone());
                        e.tier = p.tier.clone();
                        e.discount = p.discount;
                        tx.put(key, &e)?;
                    }
                }
                partner.orders += 1;
                let order = Order {
                    id,
                    request_id: rid.clone(),
                    domain: new.domain.clone(),
                    kind: new.kind,
                    amount: new.amount.amount,
                    currency: new.amount.currency,
                    state: OrderState::Accepted,
                    created: now,
                    updated: now,
                    history: vec![Transition {
                        state: OrderState::Accepted,
                        at: now,
                    }],
                    reason: None,
                    commission: new.priced.as_ref().and_then(|p| p.commission.clone()),
                    charge,
                    settled: None,
                };
                tx.put(keys::partner(&login), &partner)?;
                tx.put(keys::order(&login, id), &order)?;
                tx.put(keys::order_owner(id), &login)?;
                tx.put(keys::open_order(id), &login)?;
                tx.put(keys::in_flight(&new.domain), &id)?;
                tx.put(
                    keys::request(&login, &rid),
                    &RequestRecord::<Outcome> {
                        request_id: rid,
                        command: order.kind.command().to_string(),
                        params: fingerprint,
                        created: now,
                        order: Some(id),
                        outcome: None,
                    },
                )?;
                Ok(Fresh::Done(order))
            })
            .await?;
        let order = match accepted {
            Fresh::Done(o) => o,
            Fresh::Replay(r) => return Ok(Fresh::Replay(r)),
        };
        // Requests with the same request-id waiting for the claim can answer now.
        self.wake_claim_waiters();
        // From here on the money is held on an open order: whatever goes wrong inside
        // the gateway, the answer is 1001 with the order ("nothing was charged" would be
        // false), and the order stays in the open-order queue for the reconciler.
        let pending = |order: &Order| {
            let mut o = Outcome::pending(Data::Order(Box::new(order.clone())));
            o.request_id = Some(order.request_id.clone());
            Ok(Fresh::Done(o))
        };
        let up = match self.upstream_order(&ctx.partner.login, &order) {
            Ok(up) => up,
            Err(e) => {
                tracing::error!(order = order.id, error = %e, "the order cannot be handed upstream; the reconciler retries it");
                return pending(&order);
            }
        };
        let submitted = self.clock.now();
        let result = self.call(self.backend.submit(&up)).await;
        self.log_result(&ctx.partner.login, order.id, &result);
        match self
            .record_result(&ctx.partner.login, order.id, Some(submitted), result)
            .await
        {
            Ok(o) => Ok(Fresh::Done(o)),
            Err(e) => {
                tracing::error!(order = order.id, error = %e, "recording the upstream's answer failed");
                pending(&order)
            }
        }
    }

    /// Logs what the operator must know of an upstream's answer: the detail of an
    /// unclear one, and a refusal of the gateway itself.
    fn log_result(&self, login: &str, order: u64, result: &UpstreamResult) {
        match result {
            UpstreamResult::Unknown(t) => {
                tracing::warn!(order, partner = %login, reason = %t.phrase(), detail = %t.detail, "upstream answer unclear")
            }
            UpstreamResult::Rejected { code, detail } => {
                tracing::error!(order, partner = %login, upstream_code = code, detail = %detail, "the upstream refused the gateway itself: check its credentials and account there")
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

    /// Records what the upstream said about an order, in one write. Settling an order
    /// that is already completed or failed changes nothing and gives its stored answer.
    pub async fn record_result(
        &self,
        login: &str,
        order_id: u64,
        submitted_at: Option<DateTime<Utc>>,
        result: UpstreamResult,
    ) -> Result<Outcome> {
        let login = login.to_string();
        let now = self.clock.now();
        let cats = self.categories.clone();
        self.store
            .write(move |tx| settle(tx, &cats, &login, order_id, submitted_at, result, now))
            .await
    }

    /// Settles open orders nobody is carrying out: asks the upstream what became of
    /// each, and submits (under the same key) those it has never seen, up to
    /// [`RECONCILE_CONCURRENCY`] orders at a time (each is its own upstream call and its
    /// own write). Returns how many orders are still open afterwards.
    pub async fn reconcile(&self, alert_after: Duration) -> Result<usize> {
        self.reconcile_round(alert_after, None).await
    }

    /// [`Engine::reconcile`] as the background worker runs it every `interval`: an
    /// order the upstream gave no clear answer about is asked about again only after a
    /// wait that doubles with each unclear answer (see [`Backoffs`]).
    pub async fn reconcile_due(&self, alert_after: Duration, interval: Duration) -> Result<usize> {
        self.reconcile_round(alert_after, Some(interval)).await
    }

    async fn reconcile_round(
        &self,
        alert_after: Duration,
        interval: Option<Duration>,
    ) -> Result<usize> {
        use futures_util::StreamExt;
        let open: Vec<(u64, String)> = self
            .store
            .scan::<String>(&keys::open_orders(), None, false)
            .map(|r| r.map(|(k, login)| (keys::trailing_id(&k), login)))
            .collect::<Result<_>>()?;
        let now = std::time::Instant::now();
        self.backoffs
            .keep_only(&open.iter().map(|(id, _)| *id).collect());
        let (due, waiting): (Vec<_>, Vec<_>) = open
            .into_iter()
            .partition(|(id, _)| interval.is_none_or(|every| self.backoffs.due(*id, now, every)));
        let results: Vec<Result<bool>> = futures_util::stream::iter(due)
            .map(|(id, login)| self.reconcile_one(id, login, alert_after))
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
    async fn reconcile_one(&self, id: u64, login: String, alert_after: Duration) -> Result<bool> {
        let read = || {
            self.store
                .get::<Order>(&keys::order(&login, id))?
                .ok_or_else(|| Error::internal(format!("open order {id} has no record")))
        };
        let Some(_live) = self.claim_order(&login, &read()?.request_id) else {
            return Ok(true);
        };
        // Read again under the claim: the request that held it may have settled it.
        let order = read()?;
        if order.state.is_terminal() {
            self.backoffs.forget(id);
            return Ok(false);
        }
        let up = self.upstream_order(&login, &order)?;
        let (submitted, result) = match self.call(self.backend.lookup(&up)).await {
            UpstreamResult::NotFound => (
                Some(self.clock.now()),
                self.call(self.backend.submit(&up)).await,
            ),
            r => (None, r),
        };
        self.log_result(&login, id, &result);
        let unclear = match &result {
            UpstreamResult::Unknown(t) => Some(t.kind == TroubleKind::NoLookup),
            _ => None,
        };
        let settled = self.record_result(&login, id, submitted, result).await?;
        if !settled.code.is_success() || settled.code == Code::Completed {
            self.backoffs.forget(id);
            tracing::info!(order = id, partner = %login, code = settled.code.number(), "order reconciled");
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
            tracing::error!(order = id, partner = %login, domain = %order.domain,
                since = %order.updated, "order outcome unknown: needs an operator (regway order list --state unknown)");
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
    fn keep_only(&self, open: &std::collections::HashSet<u64>) {
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

/// How an order's object is named to a partner: the domain, or `licence N`.
fn object_name(object: &str) -> String {
    match object.strip_prefix("license/") {
        Some(id) => format!("licence {id}"),
        None => object.to_string(),
    }
}

impl Engine {
    /// The order as the upstream gets it, with the registrant of a registration.
    pub fn upstream_order(&self, login: &str, order: &Order) -> Result<UpstreamOrder> {
        let contact = match &order.kind {
            OrderKind::Register { client, .. } => {
                let number = ClientHandle::number_of(client)
                    .ok_or_else(|| Error::internal("stored client handle is malformed"))?;
                Some(
                    self.store
                        .get::<Client>(&keys::client(login, number))?
                        .ok_or_else(|| Error::internal(format!("client {client} is missing")))?,
                )
            }
            _ => None,
        };
        let service = match order.kind.license() {
            Some(id) => self
                .store
                .get::<License>(&keys::license(login, id))?
                .and_then(|l| l.service),
            None => None,
        };
        Ok(UpstreamOrder {
            key: format!("{login}:{}", order.request_id),
            domain: order.domain.clone(),
            kind: order.kind.clone(),
            contact,
            service,
        })
    }
}

/// Appends a ledger entry and moves the partner's balance with it (the caller stores
/// the partner).
pub fn append_entry(
    tx: &mut Tx<'_>,
    partner: &mut Partner,
    kind: EntryKind,
    amount: rust_decimal::Decimal,
    order: Option<u64>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let id = tx.next_id("ledger")?;
    partner.balance = partner
        .balance
        .checked_add(amount)
        .ok_or_else(|| Error::internal("balance overflow"))?;
    // A balance stays within what an amount may be, so it can always be written,
    // read back and compared as one.
    if partner.balance.abs() > rust_decimal::Decimal::from(crate::types::money::MAX_ABS) {
        return Err(Error::range(
            "amount",
            "the balance would pass the largest amount the gateway keeps",
        ));
    }
    let moved = DayTotals::of(kind, amount);
    if !moved.is_zero() {
        let key = keys::day_totals(&partner.login, now.date_naive());
        let mut day: DayTotals = tx.get(&key)?.unwrap_or_default();
        day.add(moved);
        tx.put(key, &day)?;
    }
    tx.put(
        keys::ledger_entry(&partner.login, id),
        &LedgerEntry {
            id,
            time: now,
            kind,
            amount,
            balance_after: partner.balance,
            order,
            note: String::new(),
            list_price: None,
            rule: None,
            tier: None,
            discount: None,
        },
    )?;
    Ok(id)
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
    let client = match &order.kind {
        OrderKind::Register { client, .. } | OrderKind::LicenseOrder { client, .. } => {
            Some(client.clone())
        }
        OrderKind::Renew { .. } => tx
            .get::<Domain>(&keys::domain(&login, &order.domain))?
            .map(|d| d.client),
        OrderKind::LicenseRenew { license, .. } => tx
            .get::<License>(&keys::license(&login, *license))?
            .map(|l| l.client),
        _ => None,
    };
    let Some(client) = client else {
        return Ok(());
    };
    let current = match ClientHandle::number_of(&client) {
        Some(n) => tx.get::<Client>(&keys::client(&login, n))?,
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
    append_commission(
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

/// Appends a line to the partner's commission account and moves what it can withdraw
/// (and, for earnings, what it earned in all) with it; the caller stores the partner.
/// The account never goes below zero.
pub fn append_commission(
    tx: &mut Tx<'_>,
    partner: &mut Partner,
    mut e: CommissionEntry,
) -> Result<CommissionEntry> {
    let after = partner
        .commission
        .checked_add(e.amount)
        .filter(|a| *a >= rust_decimal::Decimal::ZERO)
        .ok_or_else(|| Error::internal("the commission account would go below zero"))?;
    partner.commission = after;
    if e.kind == CommissionKind::Earned {
        partner.commission_earned += e.amount;
    }
    e.id = tx.next_id("commission")?;
    e.balance_after = after;
    tx.put(keys::commission_entry(&partner.login, e.id), &e)?;
    Ok(e)
}

pub(super) fn settle(
    tx: &mut Tx<'_>,
    cats: &Categories,
    login: &str,
    order_id: u64,
    submitted_at: Option<DateTime<Utc>>,
    result: UpstreamResult,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let mut order: Order = tx
        .get(&keys::order(login, order_id))?
        .ok_or_else(|| Error::internal(format!("order {order_id} is missing")))?;
    let rkey = keys::request(login, &order.request_id);
    let mut rec: RequestRecord<Outcome> = tx
        .get(&rkey)?
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
            let mut o = Outcome::pending(Data::Order(Box::new(order.clone())));
            o.request_id = Some(order.request_id.clone());
            return Ok(o);
        }
    }
    let mut partner: Partner = tx
        .get(&keys::partner(login))?
        .ok_or_else(|| Error::internal("partner vanished"))?;
    // The balance an order's answer shows is the one right after its own charge, not
    // the partner's balance when the answer comes (other orders may have been charged
    // in between).
    let balance = match order.charge {
        Some(entry) => tx
            .get::<LedgerEntry>(&keys::ledger_entry(login, entry))?
            .map(|e| e.balance_after)
            .ok_or_else(|| Error::internal(format!("ledger entry {entry} is missing")))?,
        None => partner.balance,
    };
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
            Some(match &order.kind {
                OrderKind::LicenseSetIp { .. } => Outcome::ok(Data::License(Box::new(license))),
                _ => Outcome::ok(Data::LicenseOrder {
                    license: Box::new(license),
                    order: Box::new(order.clone()),
                    currency: order.currency,
                    charged: order.amount,
                    balance,
                }),
            })
        }
        UpstreamResult::Done(done) => {
            order.set_state(OrderState::Completed, now);
            let domain = apply_done(tx, cats, login, &mut partner, &order, done, now)?;
            accrue_commission(tx, &mut partner, &order, now)?;
            let outcome = match &order.kind {
                OrderKind::Register { .. } | OrderKind::Renew { .. } => {
                    Outcome::ok(Data::DomainOrder {
                        name: order.domain.clone(),
                        expires: Some(domain.expires),
                        state: Some(domain.state),
                        order: Box::new(order.clone()),
                        currency: order.currency,
                        charged: order.amount,
                        balance,
                    })
                }
                _ => Outcome::ok(Data::Domain(Box::new(domain))),
            };
            Some(outcome)
        }
        UpstreamResult::Failed { code, reason } => {
            order.set_state(OrderState::Failed, now);
            order.reason = Some(reason.clone());
            if order.amount > rust_decimal::Decimal::ZERO {
                append_entry(
                    tx,
                    &mut partner,
                    EntryKind::Refund,
                    order.amount,
                    Some(order.id),
                    now,
                )?;
            }
            let mut e = Error::new(code, reason);
            if code == Code::Failed {
                e = Error::upstream(e.message);
            }
            if matches!(code, Code::NotFound | Code::Forbidden) {
                e = e.about(match order.kind {
                    OrderKind::LicenseOrder { .. }
                    | OrderKind::LicenseRenew { .. }
                    | OrderKind::LicenseSetIp { .. } => Object::License,
                    _ => Object::Domain,
                });
            }
            Some(Outcome::error(e).with_data(Data::Order(Box::new(order.clone()))))
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
    tx.put(keys::order(login, order.id), &order)?;
    tx.put(keys::partner(login), &partner)?;
    match outcome {
        Some(mut outcome) => {
            outcome.request_id = Some(order.request_id.clone());
            tx.remove(keys::open_order(order.id));
            tx.remove(keys::in_flight(&order.domain));
            rec.outcome = Some(outcome.clone());
            if super::retention::is_keyless(&order.request_id) {
                // Nobody can ask for it again (engine/retention.rs).
                tx.remove(rkey);
            } else {
                tx.put(rkey, &rec)?;
            }
            Ok(outcome)
        }
        None => {
            let mut o = Outcome::pending(Data::Order(Box::new(order.clone())));
            o.request_id = Some(order.request_id.clone());
            Ok(o)
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
    let dkey = keys::domain(login, &order.domain);
    let domain = match &order.kind {
        OrderKind::Register {
            period,
            client,
            ns,
            auto_renew,
        } => {
            let expires = match done.expires {
                Some(e) => e,
                None => add_years(now.date_naive(), *period)
                    .ok_or_else(|| Error::internal("date overflow"))?,
            };
            let d = Domain {
                name: order.domain.clone(),
                client: client.clone(),
                state: DomainState::Active,
                created: now,
                expires,
                ns: ns.clone(),
                delegated: done.delegated.unwrap_or(!ns.is_empty()),
                auto_renew: *auto_renew,
            };
            let number = ClientHandle::number_of(client)
                .ok_or_else(|| Error::internal("stored client handle is malformed"))?;
            tx.put(keys::domain_owner(&d.name), &login)?;
            tx.put(keys::client_domain(login, number, &d.name), &())?;
            partner.domains += 1;
            services::track(tx, login, client, &cats.of_domain(&d.name), 1)?;
            services::reindex(tx, login, &d.name, None, Some(d.expires))?;
            d
        }
        OrderKind::Renew { period, expires } => {
            let mut d: Domain = tx
                .get(&dkey)?
                .ok_or_else(|| Error::internal("renewed domain has no record"))?;
            let was = (d.state == DomainState::Active).then_some(d.expires);
            d.expires = match done.expires {
                Some(e) => e,
                None => {
                    add_years(*expires, *period).ok_or_else(|| Error::internal("date overflow"))?
                }
            };
            if d.state != DomainState::Active {
                d.state = DomainState::Active;
                services::track(tx, login, &d.client, &cats.of_domain(&d.name), 1)?;
            }
            services::reindex(tx, login, &d.name, was, Some(d.expires))?;
            d
        }
        OrderKind::SetNs { ns } => {
            let mut d: Domain = tx
                .get(&dkey)?
                .ok_or_else(|| Error::internal("domain has no record"))?;
            d.ns = ns.clone();
            d.delegated = done.delegated.unwrap_or(!ns.is_empty());
            d
        }
        _ => return Err(Error::internal("a licence order applied to a domain")),
    };
    tx.put(dkey, &domain)?;
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
    let license = match &order.kind {
        OrderKind::LicenseOrder {
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
            tx.put(keys::license_owner(*license), &login)?;
            services::track(tx, login, client, &cats.of_license(product), 1)?;
            services::reindex(tx, login, &license_object(*license), None, Some(expires))?;
            License {
                id: *license,
                product: product.clone(),
                period: *period,
                ip: ip.clone(),
                client: client.clone(),
                state: LicenseState::Active,
                created: now,
                expires,
                auto_renew: *auto_renew,
                service: done.service.clone(),
            }
        }
        OrderKind::LicenseRenew {
            license,
            period,
            expires,
        } => {
            let mut l: License = tx
                .get(&keys::license(login, *license))?
                .ok_or_else(|| Error::internal("renewed licence has no record"))?;
            let was = (l.state == LicenseState::Active).then_some(l.expires);
            l.expires = match done.expires {
                Some(e) => e,
                None => period
                    .after(*expires)
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
        OrderKind::LicenseSetIp { license, ip } => {
            let mut l: License = tx
                .get(&keys::license(login, *license))?
                .ok_or_else(|| Error::internal("licence has no record"))?;
            l.ip = ip.clone();
            l
        }
        _ => return Err(Error::internal("a domain order applied to a licence")),
    };
    tx.put(keys::license(login, license.id), &license)?;
    Ok(license)
}
