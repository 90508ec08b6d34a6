//! Orders through a parent that misbehaves on purpose: the parent's sandbox refuses 5%
//! of orders, carries out 10% without ever answering (the child times out), and answers
//! 5% "pending", carrying them out later. Once every order has been placed (no new
//! faults), reconciliation on both sides must bring every order to `completed` or
//! `failed` within a bounded time; nothing may be created twice, both stores must
//! verify, and what the child charged its partner must equal what the parent charged
//! the child.
//!
//! 1,000 orders (a few seconds on two cores); `REGWAY_CHAOS_ORDERS` overrides the number.

mod common;
mod support;

use common::{start_child, start_parent, TestServer};
use regway::config::SandboxFaults;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const PRICE: u64 = 590;
/// How long after the last order was placed every order must be settled.
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

/// Every order of `login` on `s`, by request-id: (state, domain, reason).
async fn orders(
    s: &TestServer,
    login: &str,
    password: &str,
) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let a = expect(
            s.form_as(
                login,
                password,
                &format!("command=order.list&limit=1000{cursor}"),
            )
            .await,
            1000,
        );
        for o in elems(&a.body, "order") {
            let prev = out.insert(
                o.get("request-id").to_string(),
                (
                    o.get("state").to_string(),
                    o.get("domain").to_string(),
                    o.opt("reason").unwrap_or("").to_string(),
                ),
            );
            assert!(prev.is_none(), "order listed twice: {o:?}");
        }
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

async fn domains(s: &TestServer, login: &str, password: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let a = expect(
            s.form_as(
                login,
                password,
                &format!("command=domain.list&limit=1000{cursor}"),
            )
            .await,
            1000,
        );
        for d in elems(&a.body, "domain") {
            assert!(out.insert(d.get("name").to_string()), "listed twice: {d:?}");
        }
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = format!("&cursor={}", enc(&c)),
            None => return out,
        }
    }
}

async fn chaos(n: usize) {
    let parent = start_parent("10000000.00", |c| {
        c.sandbox.faults = SandboxFaults {
            latency_ms: 0,
            fail_percent: 5,
            timeout_percent: 10,
            pending_percent: 5,
            pending_ms: 500,
        };
        // The parent waits longer for its sandbox than the child waits for the parent,
        // so the child sees the timeouts itself.
        c.upstream_timeout_ms = 1_500;
        c.reconcile_interval_ms = 200;
    })
    .await;
    let child = Arc::new(
        start_child(&parent.url, "10000000.00", 500, |c| {
            c.reconcile_interval_ms = 200;
            if let Some(u) = c.upstreams.get_mut("parent") {
                u.concurrency = 32;
            }
        })
        .await,
    );
    let client = child.client("C1").await;

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (child, next, client) = (child.clone(), next.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return codes;
                }
                let a = child
                    .form(&format!(
                        "command=domain.register&request-id=R{i}&domain=chaos-{i}.ru&client={}",
                        enc(&client)
                    ))
                    .await;
                codes.push(a.code());
            }
        }));
    }
    let mut first = BTreeMap::<u16, usize>::new();
    for t in tasks {
        for c in t.await.unwrap() {
            *first.entry(c).or_default() += 1;
        }
    }
    let placed = started.elapsed();
    assert_eq!(first.values().sum::<usize>(), n);
    assert!(
        first.keys().all(|c| [1000, 1001, 2400].contains(c)),
        "unexpected answers: {first:?}"
    );
    assert!(first.get(&1001).copied().unwrap_or(0) > 0, "{first:?}");
    assert!(first.get(&2400).copied().unwrap_or(0) > 0, "{first:?}");

    // The faults stop with the last new order; reconciliation does the rest.
    let settle_start = Instant::now();
    loop {
        let (c, p) = (child.verify().await, parent.verify().await);
        if c.open_orders == 0 && p.open_orders == 0 {
            break;
        }
        assert!(
            settle_start.elapsed() < SETTLE_WITHIN,
            "still open after {SETTLE_WITHIN:?}: child {}, parent {}",
            c.open_orders,
            p.open_orders
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = settle_start.elapsed();

    let down = orders(&child, common::LOGIN, common::PASSWORD).await;
    let up = orders(&parent, "child", "child-password").await;
    assert_eq!(down.len(), n);
    // One parent order per child order, under the child's key, in the same state.
    assert_eq!(up.len(), n, "the parent holds a different number of orders");
    let mut completed = 0u64;
    let mut failed = 0u64;
    for (rid, (state, domain, reason)) in &down {
        let (up_state, up_domain, _) = up
            .get(&format!("demo:{rid}"))
            .unwrap_or_else(|| panic!("{rid} never reached the parent"));
        assert_eq!((state, domain), (up_state, up_domain), "{rid}");
        match state.as_str() {
            "completed" => completed += 1,
            "failed" => {
                // Only the injected refusals fail: a second create would show as 2302.
                assert!(reason.contains("injected failure"), "{rid}: {reason}");
                failed += 1;
            }
            other => panic!("{rid} is {other}"),
        }
    }
    let child_domains = domains(&child, common::LOGIN, common::PASSWORD).await;
    let parent_domains = domains(&parent, "child", "child-password").await;
    assert_eq!(child_domains.len() as u64, completed);
    assert_eq!(child_domains, parent_domains);

    // Charges match: the child's partner and the child's account on the parent paid
    // the same, one price per completed order.
    let spent = |s: &TestServer, login: &str| {
        let b: rust_decimal::Decimal = s
            .engine()
            .show_partner(login)
            .unwrap()
            .balance
            .parse()
            .unwrap();
        rust_decimal::Decimal::from(10_000_000u64) - b
    };
    let expected = rust_decimal::Decimal::from(completed * PRICE);
    assert_eq!(spent(&child, common::LOGIN), expected);
    assert_eq!(spent(&parent, "child"), expected);

    let (c, p) = (child.verify().await, parent.verify().await);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    eprintln!(
        "chaos: {n} orders placed in {placed:?}; first answers {first:?}; \
         all settled {settled:?} after the last; {completed} completed, {failed} failed; \
         charged {expected} RUB on each side"
    );
    if let Ok(child) = Arc::try_unwrap(child) {
        child.stop().await;
    }
    parent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_orders() {
    let n = std::env::var("REGWAY_CHAOS_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    chaos(n).await;
}
