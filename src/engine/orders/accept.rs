//! Accepting an order: one atomic write takes the request-id, runs the checks, charges
//! the order, stores it in the open-order queue and locks its object; then the order
//! goes upstream and its answer is recorded ([`super::settle`]).

use super::{object_name, NewOrder};
use crate::engine::ledger;
use crate::engine::{Answer, Ctx, Engine, Fresh, OrderAnswer};
use crate::error::{Error, Object, Result};
use crate::store::records::{
    EntryKind, Order, OrderKind, OrderState, Partner, RequestRecord, Transition,
};
use crate::store::{RequestWrites, Requests, Tx};
use crate::types::money::Money;

impl Engine {
    /// Accepts an order (one atomic write: request-id, checks, charge, order, lock),
    /// hands it to the upstream, and records the answer. `precheck` runs inside the
    /// accepting write and sees the state the charge is made against.
    pub async fn place_order<A, P>(
        &self,
        ctx: &Ctx<'_>,
        new: NewOrder,
        precheck: P,
    ) -> Result<Fresh<A>>
    where
        A: Answer,
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
        // Where its zone sends a new order; a domain's own upstream, read in the write,
        // comes first.
        let zone_upstream = match new.kind.license() {
            Some(_) => None,
            None => self.backend.upstream_for(&new.domain),
        };
        let accepted = self
            .store
            .write(move |tx| {
                let mut partner: Partner = tx
                    .partner(&login)?
                    .ok_or_else(|| Error::internal("partner vanished"))?;
                let upstream = match &new.kind {
                    OrderKind::Register { .. } => zone_upstream,
                    k if k.license().is_some() => None,
                    _ => tx
                        .domain(&login, &new.domain)?
                        .and_then(|d| d.upstream)
                        .or(zone_upstream),
                };
                if let Some(rec) = tx.request::<A>(&login, &rid)? {
                    return Ok(Fresh::Replay(Box::new(rec)));
                }
                precheck(tx, &partner)?;
                if tx.in_flight(&new.domain)?.is_some() {
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
                    // The charge says how it was priced, in the entry itself.
                    let mut e = ledger::entry(EntryKind::Charge, -new.amount.amount, Some(id), now);
                    if let Some(p) = &new.priced {
                        e.list_price = Some(p.list.amount);
                        e.rule = Some(p.rule.clone());
                        e.tier = p.tier.clone();
                        e.discount = p.discount;
                    }
                    charge = Some(ledger::append(tx, &mut partner, e)?);
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
                    upstream,
                };
                tx.put_partner(&partner)?;
                tx.accept_order(&login, &order)?;
                tx.put_request(
                    &login,
                    &RequestRecord::<A> {
                        request_id: rid,
                        command: order.kind.command().to_string(),
                        params: fingerprint,
                        created: now,
                        order: Some(id),
                        outcome: None,
                    },
                )?;
                Ok(Fresh::<Order, A>::Done(order))
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
            let mut a = A::of_order(OrderAnswer::Open(order.clone()));
            a.answers(&order.request_id);
            Ok(Fresh::Done(a))
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
}
