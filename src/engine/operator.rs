//! What the registrar's operator does: add partners, top up their balances, look at
//! them, and verify that the store keeps the rules on money and orders.

use super::auth::{check_login, hash_password, Cidr};
use super::ledger::{annotate, append_commission, append_entry};
use super::services::{self, Categories};
use super::Engine;
use crate::error::{Error, Object, Result};
use crate::store::records::{
    CommissionEntry, CommissionKind, DayTotals, EntryKind, OperatorRequest, Order, OrderState,
    Partner, ServiceCounts, Settlement,
};
use crate::store::Expiry;
use crate::store::{Quiet, Requests, Tx};
use crate::types::money::{Currency, Money};
use crate::upstream::{Done, UpstreamResult};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct NewPartner {
    pub login: String,
    pub password: Option<String>,
    pub currency: Option<String>,
    pub credit_limit: Option<String>,
    #[serde(default)]
    pub allow_ips: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartnerView {
    pub login: String,
    pub currency: String,
    pub balance: String,
    pub credit_limit: String,
    pub available: String,
    pub allow_ips: Vec<String>,
    pub suspended: bool,
    pub clients: u64,
    pub domains: u64,
    pub orders: u64,
    /// The commission account: withdrawable now, and earned in all.
    #[serde(default)]
    pub commission: String,
    #[serde(default)]
    pub commission_earned: String,
    /// Set only when the password was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The operator's request-id was carried out before: nothing moved this time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct VerifyReport {
    pub partners: u64,
    pub ledger_entries: u64,
    pub orders: u64,
    pub open_orders: u64,
    pub domains: u64,
    pub problems: Vec<String>,
}

/// An open order as `regway order list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderRow {
    pub id: u64,
    pub partner: String,
    pub request_id: String,
    pub command: String,
    /// The domain, or `license/N`.
    pub object: String,
    pub state: String,
    pub amount: String,
    pub currency: String,
    pub created: String,
    pub updated: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The operator's note, once settled by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How an operator settles an order (`regway order settle`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Settle {
    pub order: u64,
    /// `completed` or `failed`.
    pub state: String,
    pub note: String,
    /// (completed licence orders) the licensing service's id of the licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// (completed registrations and renewals) the expiry date the registry holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// What the partner reads on an order an operator settled as failed.
pub const SETTLED_FAILED: &str =
    "the registry never confirmed the order; the operator settled it as failed and returned the money";

pub fn order_row(login: &str, o: &Order) -> OrderRow {
    let ts = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    OrderRow {
        id: o.id,
        partner: login.to_string(),
        request_id: o.request_id.clone(),
        command: o.kind.command().to_string(),
        object: o.domain.clone(),
        state: o.state.as_str().to_string(),
        amount: Money {
            amount: o.amount,
            currency: o.currency,
        }
        .amount_str(),
        currency: o.currency.to_string(),
        created: ts(&o.created),
        updated: ts(&o.updated),
        reason: o.reason.clone(),
        note: o.settled.as_ref().map(|s| s.note.clone()),
    }
}

pub fn view(p: &Partner) -> PartnerView {
    let m = |a: Decimal| {
        Money {
            amount: a,
            currency: p.currency,
        }
        .amount_str()
    };
    PartnerView {
        login: p.login.clone(),
        currency: p.currency.to_string(),
        balance: m(p.balance),
        credit_limit: m(p.credit_limit),
        available: m(p.balance + p.credit_limit),
        allow_ips: p.allow_ips.clone(),
        suspended: p.suspended,
        clients: p.clients,
        domains: p.domains,
        orders: p.orders,
        commission: m(p.commission),
        commission_earned: m(p.commission_earned),
        password: None,
        replayed: false,
    }
}

fn generate_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

impl Engine {
    pub async fn add_partner(&self, new: NewPartner) -> Result<PartnerView> {
        check_login(&new.login)?;
        let currency = Currency::parse(new.currency.as_deref().unwrap_or("RUB"))?;
        let credit = Money::parse(
            "credit-limit",
            new.credit_limit.as_deref().unwrap_or("0"),
            currency,
            false,
        )?;
        for p in self.programmes.all() {
            if p.partners.contains(&new.login) && p.currency != currency {
                return Err(Error::value(
                    "currency",
                    format!(
                        "programme {} lists {} and is in {}, not {currency}",
                        p.name, new.login, p.currency
                    ),
                ));
            }
        }
        let allow_ips = new
            .allow_ips
            .iter()
            .map(|c| Cidr::parse(c).map(|c| c.to_string()))
            .collect::<Result<Vec<_>>>()?;
        let generated = new.password.is_none().then(generate_password);
        let password = new
            .password
            .clone()
            .or(generated.clone())
            .unwrap_or_default();
        if password.len() < 8 || password.len() > 256 {
            return Err(Error::value("password", "8 to 256 characters"));
        }
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(Error::internal)??;
        let partner = Partner {
            login: new.login.clone(),
            password_hash: hash,
            currency,
            balance: Decimal::ZERO,
            credit_limit: credit.amount,
            allow_ips,
            suspended: false,
            created: self.clock.now(),
            clients: 0,
            domains: 0,
            orders: 0,
            commission: Decimal::ZERO,
            commission_earned: Decimal::ZERO,
        };
        let stored = partner.clone();
        self.store
            .write(move |tx| {
                if tx.has_partner(&stored.login)? {
                    return Err(Error::exists(format!("partner {} exists", stored.login)));
                }
                tx.put_partner(&stored)
            })
            .await?;
        let mut v = view(&partner);
        v.password = generated;
        Ok(v)
    }

    /// Credits a partner's balance with a `topup` ledger entry.
    pub async fn topup(&self, login: &str, amount: &str, note: &str) -> Result<PartnerView> {
        self.topup_once(login, amount, note, None).await
    }

    /// [`Engine::topup`], at most once per operator `request_id` for the partner.
    pub async fn topup_once(
        &self,
        login: &str,
        amount: &str,
        note: &str,
        request_id: Option<&str>,
    ) -> Result<PartnerView> {
        let once = Once::new("topup", request_id, amount, note, false)?;
        self.money_move(login, amount, note, once, |tx, p, m, now| {
            append_entry(tx, p, EntryKind::Topup, m.amount, None, now).map(Some)
        })
        .await
    }

    /// Records money paid back to a partner: out of its prepaid balance (a `withdrawal`
    /// ledger entry), only down to zero, so what it owes and what it borrowed on its
    /// credit line stay; or, with `commission`, out of its commission account, up to what
    /// is withdrawable.
    pub async fn withdraw(
        &self,
        login: &str,
        amount: &str,
        note: &str,
        commission: bool,
    ) -> Result<PartnerView> {
        self.withdraw_once(login, amount, note, commission, None)
            .await
    }

    /// [`Engine::withdraw`], at most once per operator `request_id` for the partner.
    pub async fn withdraw_once(
        &self,
        login: &str,
        amount: &str,
        note: &str,
        commission: bool,
        request_id: Option<&str>,
    ) -> Result<PartnerView> {
        let note_kept = note.chars().take(500).collect::<String>();
        let once = Once::new("withdraw", request_id, amount, note, commission)?;
        self.money_move(login, amount, note, once, move |tx, p, m, now| {
            let money = |a: Decimal| Money {
                amount: a,
                currency: p.currency,
            };
            let login = p.login.clone();
            if !commission {
                if m.amount > p.balance {
                    return Err(Error::billing(format!(
                        "{login} can withdraw {} of its balance, not {m}: the balance may only go down to zero",
                        money(p.balance.max(Decimal::ZERO))
                    )));
                }
                return append_entry(tx, p, EntryKind::Withdrawal, -m.amount, None, now).map(Some);
            }
            if m.amount > p.commission {
                return Err(Error::billing(format!(
                    "{login} can withdraw {} of commission, not {m}",
                    money(p.commission)
                )));
            }
            append_commission(
                tx,
                p,
                CommissionEntry {
                    note: note_kept,
                    ..CommissionEntry::new(CommissionKind::Withdrawn, -m.amount, now)
                },
            )?;
            Ok(None)
        })
        .await
    }

    /// One operator money movement, in one write: `amount` (positive, in the partner's
    /// currency) is handed to `f`, which may write a ledger entry (`note` goes on it);
    /// then the partner is stored. With `once`, the operator's request-id is recorded in
    /// the same write, and a repeat of it moves nothing.
    async fn money_move<F>(
        &self,
        login: &str,
        amount: &str,
        note: &str,
        once: Option<Once>,
        f: F,
    ) -> Result<PartnerView>
    where
        F: FnOnce(&mut Tx<'_>, &mut Partner, Money, DateTime<Utc>) -> Result<Option<u64>>
            + Send
            + 'static,
    {
        // The note is shown to the partner in `ledger.list`.
        crate::types::text::check_xml_chars("note", note)?;
        let login = login.to_string();
        let amount = amount.to_string();
        let note = note.chars().take(500).collect::<String>();
        let now = self.clock.now();
        let (partner, replayed) = self
            .store
            .write(move |tx| {
                let mut p: Partner = tx.partner(&login)?.ok_or_else(|| {
                    Error::not_found(format!("no partner {login}")).about(Object::Partner)
                })?;
                if let Some(once) = &once {
                    if let Some(done) = tx.operator_request(&login, &once.request_id)? {
                        if done.command != once.command || done.params != once.params {
                            return Err(Error::reused(&once.request_id));
                        }
                        return Ok((p, true));
                    }
                    tx.put_operator_request(&login, once)?;
                }
                let m = Money::parse("amount", &amount, p.currency, false)?;
                if !m.is_positive() {
                    return Err(Error::range("amount", "must be more than zero"));
                }
                if let (Some(id), false) = (f(tx, &mut p, m, now)?, note.is_empty()) {
                    annotate(tx, &login, id, note)?;
                }
                tx.put_partner(&p)?;
                Ok((p, false))
            })
            .await?;
        Ok(PartnerView {
            replayed,
            ..view(&partner)
        })
    }

    pub fn show_partner(&self, login: &str) -> Result<PartnerView> {
        let p: Partner = self.store.partner(login)?.ok_or_else(|| {
            Error::not_found(format!("no partner {login}")).about(Object::Partner)
        })?;
        Ok(view(&p))
    }

    pub fn has_partners(&self) -> Result<bool> {
        Ok(self.store.partners().next().is_some())
    }

    /// The open orders (from the open-order queue, so the cost does not grow with the
    /// orders that settled): `state` is `unknown`, `accepted`, `submitted` or `open`
    /// (all three); `partner` keeps one partner's. Oldest first.
    pub fn list_open_orders(&self, state: &str, partner: Option<&str>) -> Result<Vec<OrderRow>> {
        let want = match state {
            "open" => None,
            s => match OrderState::parse(s) {
                Some(st) if !st.is_terminal() => Some(st),
                _ => {
                    return Err(Error::value(
                        "state",
                        format!(
                            "{s:?}: unknown, accepted, submitted or open (settled orders are \
                             listed to their partner by order.list)"
                        ),
                    ))
                }
            },
        };
        if let Some(p) = partner {
            if !self.store.has_partner(p)? {
                return Err(Error::not_found(format!("no partner {p}")).about(Object::Partner));
            }
        }
        let mut rows = Vec::new();
        for row in self.store.open_orders() {
            let (id, login) = row?;
            if partner.is_some_and(|p| p != login) {
                continue;
            }
            let Some(o) = self.store.order(&login, id)? else {
                continue;
            };
            if !o.state.is_terminal() && want.is_none_or(|w| w == o.state) {
                rows.push(order_row(&login, &o));
            }
        }
        Ok(rows)
    }

    /// Settles an open order by hand, after the operator has found out at the upstream
    /// what became of it: `completed` keeps the charge and applies the order (the
    /// domain or licence), `failed` refunds it; both in one write, with the operator's
    /// note on the order and its request given its final answer. Waits while a request
    /// or the reconciler is carrying the order out.
    pub async fn settle_order<A: super::Answer>(&self, s: Settle) -> Result<OrderRow> {
        let note = s.note.trim().to_string();
        if note.is_empty() || note.chars().count() > 500 || note.chars().any(char::is_control) {
            return Err(Error::value(
                "note",
                "1 to 500 characters, no control characters: say what was checked",
            ));
        }
        let state = match s.state.as_str() {
            "completed" => OrderState::Completed,
            "failed" => OrderState::Failed,
            other => {
                return Err(Error::value(
                    "state",
                    format!("{other:?}: completed or failed"),
                ))
            }
        };
        let expires = s
            .expires
            .as_deref()
            .map(|d| crate::types::date::parse_date("expires", d))
            .transpose()?;
        if state == OrderState::Failed && (s.service.is_some() || expires.is_some()) {
            return Err(Error::syntax(
                "service and expires describe a completed order",
            ));
        }
        let id = s.order;
        let login: String = self
            .store
            .order_owner(id)?
            .ok_or_else(|| Error::not_found(format!("no order {id}")).about(Object::Order))?;
        let rid = self
            .store
            .order(&login, id)?
            .ok_or_else(|| Error::internal(format!("order {id} has an owner but no record")))?
            .request_id;
        // A request or the reconciler carrying the order out right now is waited for
        // (its upstream call is bounded by the upstream timeout).
        let wait = self.upstream_timeout + std::time::Duration::from_secs(5);
        let Ok(_live) = tokio::time::timeout(wait, self.claim_order_wait(&login, &rid)).await
        else {
            return Err(Error::prohibited(format!(
                "order {id} is being carried out right now; try again in a moment"
            ))
            .about(Object::Order));
        };
        let result = match state {
            OrderState::Completed => UpstreamResult::Done(Done {
                expires,
                delegated: None,
                service: s.service.clone(),
            }),
            _ => UpstreamResult::Failed {
                code: crate::error::Code::Failed,
                reason: SETTLED_FAILED.to_string(),
            },
        };
        let now = self.clock.now();
        let cats = self.categories.clone();
        let w_login = login.clone();
        let order = self
            .store
            .write(move |tx| {
                let before: Order = tx
                    .order(&w_login, id)?
                    .ok_or_else(|| Error::internal(format!("order {id} is missing")))?;
                if before.state.is_terminal() {
                    return Err(Error::prohibited(format!(
                        "order {id} is already {}",
                        before.state.as_str()
                    ))
                    .about(Object::Order));
                }
                super::orders::settle::<A>(tx, &cats, &w_login, id, None, result, now)?;
                let mut o: Order = tx
                    .order(&w_login, id)?
                    .ok_or_else(|| Error::internal(format!("order {id} is missing")))?;
                o.settled = Some(Settlement {
                    state: o.state,
                    at: now,
                    note,
                });
                tx.put_order(&w_login, &o)?;
                Ok(o)
            })
            .await?;
        self.backoffs.forget(id);
        tracing::info!(order = id, partner = %login, state = order.state.as_str(),
            note = ?order.settled.as_ref().map(|s| s.note.as_str()), "order settled by the operator");
        Ok(order_row(&login, &order))
    }

    /// Checks the rules on money and orders (README, "Operator commands": each balance
    /// against its ledger, one charge per order, …) on one consistent state of the store.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let cats = self.categories.clone();
        let now = self.clock.now();
        self.store
            .quiet(move |v| verify_view(v, &cats, now))
            .await?
    }
}

/// An operator money movement carried out under a request-id (`--request-id`).
type Once = OperatorRequest;

impl Once {
    fn new(
        command: &str,
        request_id: Option<&str>,
        amount: &str,
        note: &str,
        commission: bool,
    ) -> Result<Option<Once>> {
        let Some(rid) = request_id else {
            return Ok(None);
        };
        crate::types::request_id::RequestId::parse(rid)?;
        Ok(Some(Once {
            request_id: rid.to_string(),
            command: command.to_string(),
            params: serde_json::json!({
                "amount": amount,
                "note": note.chars().take(500).collect::<String>(),
                "commission": commission,
            })
            .to_string(),
        }))
    }
}

/// The commission account: its entries add up to what the partner can withdraw, which
/// is never below zero; each completed order earned at most once; each spending
/// credited the prepaid balance with one ledger entry of the same amount.
fn verify_commission(v: &Quiet<'_>, p: &Partner, r: &mut VerifyReport) -> Result<()> {
    let login = &p.login;
    let (mut sum, mut earned) = (Decimal::ZERO, Decimal::ZERO);
    let mut orders = HashSet::new();
    for e in v.commissions(login, None, false) {
        let e = e?;
        sum += e.amount;
        if e.balance_after != sum || sum < Decimal::ZERO {
            r.problems.push(format!(
                "{login}: commission entry {} says {} but the entries add up to {sum}",
                e.id, e.balance_after
            ));
        }
        match e.kind {
            CommissionKind::Earned => {
                earned += e.amount;
                let completed = match e.order {
                    Some(o) => v
                        .order(login, o)?
                        .is_some_and(|o| o.state == OrderState::Completed),
                    None => false,
                };
                if !completed || !orders.insert(e.order) {
                    r.problems.push(format!(
                        "{login}: commission entry {} is earned on order {:?}, which is not completed or earned twice",
                        e.id, e.order
                    ));
                }
            }
            CommissionKind::Spent => {
                let credited = match e.ledger {
                    Some(l) => v
                        .ledger_entry(login, l)?
                        .is_some_and(|l| l.kind == EntryKind::Commission && l.amount == -e.amount),
                    None => false,
                };
                if !credited {
                    r.problems.push(format!(
                        "{login}: commission entry {} was spent without its ledger entry",
                        e.id
                    ));
                }
            }
            CommissionKind::Withdrawn => {}
        }
    }
    if sum != p.commission || earned != p.commission_earned {
        r.problems.push(format!(
            "{login}: commission {} (earned {}) but its entries add up to {sum} (earned {earned})",
            p.commission, p.commission_earned
        ));
    }
    Ok(())
}

/// The counts of active services agree with the domains, licences and clients.
fn verify_services(
    v: &Quiet<'_>,
    p: &Partner,
    cats: &Categories,
    index_by_login: &mut HashMap<String, std::collections::BTreeSet<Expiry>>,
    r: &mut VerifyReport,
) -> Result<()> {
    let login = &p.login;
    let (counts, per_client) = services::count(
        v.domains(login, None),
        v.licenses(login, None),
        |n| v.client(login, n),
        cats,
    )?;
    let kept: ServiceCounts = v.service_counts(login)?.unwrap_or_default();
    let kept_clients = v
        .all_client_services(login)
        .collect::<Result<std::collections::BTreeMap<u64, _>>>()?;
    let index: std::collections::BTreeSet<Expiry> =
        services::expiry_keys(login, v.domains(login, None), v.licenses(login, None))?;
    let kept_index = index_by_login.remove(login).unwrap_or_default();
    if index != kept_index {
        r.problems.push(format!(
            "{login}: the expiry index ({} entries) disagrees with its active services ({})",
            kept_index.len(),
            index.len()
        ));
    }
    if kept != counts || kept_clients != per_client {
        r.problems.push(format!(
            "{login}: the counts of active services ({:?}, {} clients) disagree with its services ({:?}, {} clients)",
            kept.services, kept.clients, counts.services, counts.clients
        ));
    }
    Ok(())
}

fn verify_view(v: &Quiet<'_>, cats: &Categories, now: DateTime<Utc>) -> Result<VerifyReport> {
    let mut r = VerifyReport::default();
    let partners: Vec<Partner> = v.partners().collect::<Result<_>>()?;
    // The expiry index, read once and split by partner.
    let mut index_by_login: HashMap<String, std::collections::BTreeSet<Expiry>> = HashMap::new();
    for row in v.expiries() {
        match row? {
            Some(e) => {
                index_by_login.entry(e.login.clone()).or_default().insert(e);
            }
            None => r.problems.push("a malformed expiry index key".into()),
        }
    }
    for p in &partners {
        r.partners += 1;
        let login = &p.login;
        let mut sum = Decimal::ZERO;
        let mut per_order: HashMap<u64, (Decimal, u32, u32)> = HashMap::new();
        let mut days: std::collections::BTreeMap<chrono::NaiveDate, DayTotals> = Default::default();
        for e in v.ledger(login, None, false) {
            let e = e?;
            r.ledger_entries += 1;
            sum += e.amount;
            days.entry(e.time.date_naive())
                .or_default()
                .add(DayTotals::of(e.kind, e.amount));
            if e.balance_after != sum {
                r.problems.push(format!(
                    "{login}: ledger entry {} says balance {} but the entries add up to {sum}",
                    e.id, e.balance_after
                ));
            }
            if let Some(o) = e.order {
                let s = per_order.entry(o).or_default();
                s.0 += e.amount;
                match e.kind {
                    EntryKind::Charge => s.1 += 1,
                    EntryKind::Refund => s.2 += 1,
                    _ => {}
                }
            }
        }
        days.retain(|_, t| !t.is_zero());
        let kept: std::collections::BTreeMap<chrono::NaiveDate, DayTotals> = v
            .day_totals_of(login, false)
            .filter(|r: &Result<(chrono::NaiveDate, DayTotals)>| {
                r.as_ref().map_or(true, |(_, t)| !t.is_zero())
            })
            .collect::<Result<_>>()?;
        if kept != days {
            r.problems.push(format!(
                "{login}: the per-day payment and turnover totals disagree with the ledger"
            ));
        }
        if sum != p.balance {
            r.problems.push(format!(
                "{login}: balance {} but ledger sums to {sum}",
                p.balance
            ));
        }
        if p.balance < -p.credit_limit {
            r.problems.push(format!(
                "{login}: balance {} is below the credit limit -{}",
                p.balance, p.credit_limit
            ));
        }
        let mut orders = 0u64;
        for o in v.orders(login, None, false) {
            let o = o?;
            orders += 1;
            r.orders += 1;
            let (net, charges, refunds) = per_order.remove(&o.id).unwrap_or_default();
            let paid = o.amount > Decimal::ZERO;
            let want_charges = u32::from(paid);
            let want_refunds = u32::from(paid && o.state == OrderState::Failed);
            if charges != want_charges || refunds != want_refunds {
                r.problems.push(format!(
                    "{login}: order {} ({}) has {charges} charge(s) and {refunds} refund(s)",
                    o.id,
                    o.state.as_str()
                ));
            }
            let want_net = if o.state == OrderState::Failed {
                Decimal::ZERO
            } else {
                -o.amount
            };
            if net != want_net {
                r.problems.push(format!(
                    "{login}: order {} ({}) moved {net}, expected {want_net}",
                    o.id,
                    o.state.as_str()
                ));
            }
            let queued = v.is_open(o.id)?;
            if queued == o.state.is_terminal() {
                r.problems.push(format!(
                    "{login}: order {} is {} but {} in the open-order queue",
                    o.id,
                    o.state.as_str(),
                    if queued { "is" } else { "is not" }
                ));
            }
            if !o.state.is_terminal() {
                r.open_orders += 1;
            }
            if let Some(st) = &o.settled {
                let last = o.history.last();
                if st.state != o.state
                    || st.note.trim().is_empty()
                    || last.is_none_or(|t| t.state != st.state || t.at != st.at)
                {
                    r.problems.push(format!(
                        "{login}: order {} ({}) was settled by the operator as {} at {}, \
                         which its record does not show, or without a note",
                        o.id,
                        o.state.as_str(),
                        st.state.as_str(),
                        st.at
                    ));
                }
            }
            match v.request::<serde::de::IgnoredAny>(login, &o.request_id)? {
                Some(rec) if rec.order == Some(o.id) => {
                    if rec.outcome.is_some() != o.state.is_terminal() {
                        r.problems.push(format!(
                            "{login}: request {} and its order {} disagree on being finished",
                            o.request_id, o.id
                        ));
                    }
                }
                None if super::retention::record_may_be_gone(&o, now) => {}
                _ => r.problems.push(format!(
                    "{login}: order {} has no request record for {}",
                    o.id, o.request_id
                )),
            }
        }
        for (o, _) in per_order {
            r.problems.push(format!(
                "{login}: ledger entries name order {o}, which does not exist"
            ));
        }
        if orders != p.orders {
            r.problems.push(format!(
                "{login}: counts {} orders, store has {orders}",
                p.orders
            ));
        }
        let mut domains = 0;
        for d in v.domains(login, None) {
            let d = d?;
            domains += 1;
            if v.domain_owner(&d.name)?.as_deref() != Some(login) {
                r.problems.push(format!(
                    "{login}: domain {} is not recorded as its own",
                    d.name
                ));
            }
        }
        r.domains += domains;
        if domains != p.domains {
            r.problems.push(format!(
                "{login}: counts {} domains, store has {domains}",
                p.domains
            ));
        }
        verify_commission(v, p, &mut r)?;
        verify_services(v, p, cats, &mut index_by_login, &mut r)?;
        let clients = v.client_count(login)?;
        if clients != p.clients {
            r.problems.push(format!(
                "{login}: counts {} clients, store has {clients}",
                p.clients
            ));
        }
    }
    for login in index_by_login.keys() {
        r.problems.push(format!(
            "the expiry index names services of {login}, which is not a partner"
        ));
    }
    for f in v.locks() {
        let (object, id) = f?;
        if !v.is_open(id)? {
            r.problems.push(format!(
                "domain {object} is locked by order {id}, which is not open"
            ));
        }
    }
    Ok(r)
}
