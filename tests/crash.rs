//! A crash in the middle of a burst of orders: the real `regway serve` process is killed
//! (SIGKILL) while hundreds of `domain.register` requests are in flight, then started
//! again on the same data. Whatever was acknowledged is there; every request-id, retried
//! until it gets a definite answer, yields exactly one order, paid exactly once; and
//! `regway verify` passes.

mod common;
mod process;
mod support;

use common::{Answer, LOGIN};
use process::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const ORDERS: usize = 500;
/// Acknowledged registrations to wait for before the kill.
const ACKED_BEFORE_KILL: usize = 40;

fn rid(i: usize) -> String {
    format!("K{i:04}")
}

fn name(i: usize) -> String {
    format!("crash{i:04}.ru")
}

/// The rules on money and orders hold across the crash: one order per request-id, one
/// charge per order, refunds only for failed orders, `verify` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_the_middle_of_500_registrations() {
    crash_run(false).await;
}

/// With unused names and money enough, every one of the orders completes, crash or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_the_middle_of_500_registrations_every_order_completes() {
    crash_run(true).await;
}

async fn crash_run(every_order_completes: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("regway.log");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(50),
        scenario(&data, &log, http, every_order_completes),
    )
    .await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = log_text
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(result.is_ok(), "took longer than 50 s; server log:\n{tail}");
}

async fn scenario(data: &Path, log: &Path, http: reqwest::Client, every_order_completes: bool) {
    let server = serve(data, log, &http).await;
    let (ok, out) = operator(data, &["partner", "topup", LOGIN, "10000000"]).await;
    assert!(ok, "regway partner topup: {out}");
    assert!(out.contains("10010000.00 RUB"), "{out}");
    let url = server.api();
    let a = post(
        &http,
        &url,
        "command=client.create&request-id=C-1&type=person&name=Ivan&email=i%40example.net\
         &phone=%2B7.4951234567&country=RU&address=Moscow"
            .into(),
    )
    .await
    .unwrap();
    let client = expect(a, 1000).attr("id").unwrap();
    let body = |i: usize| register_form(&rid(i), &name(i), &client, "");

    // The burst, and the kill once some of it has been acknowledged.
    let acked = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for i in 0..ORDERS {
        let (http, url, b) = (http.clone(), url.clone(), body(i));
        let (acked, reached) = (acked.clone(), reached.clone());
        tasks.push(tokio::spawn(async move {
            let r = post(&http, &url, b).await.ok();
            if r.as_ref().is_some_and(|a| a.code() == 1000)
                && acked.fetch_add(1, Ordering::SeqCst) + 1 == ACKED_BEFORE_KILL
            {
                reached.notify_one();
            }
            r
        }));
    }
    reached.notified().await;
    server.kill();
    let mut before: BTreeMap<usize, Answer> = BTreeMap::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if let Some(a) = t.await.unwrap() {
            before.insert(i, a);
        }
    }
    for a in before.values() {
        // Plenty of money and unused names: nothing but success can have been answered.
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    assert!(before.len() >= ACKED_BEFORE_KILL);
    println!("{} of {ORDERS} answered before the kill", before.len());
    assert!(
        before.len() < ORDERS,
        "every request was answered before the kill; the crash hit nothing in flight"
    );

    // Started again on the same data.
    let server = serve(data, log, &http).await;
    let url = server.api();

    // Everything acknowledged before the kill is there, as it was answered.
    for (&i, first) in &before {
        let st = post(
            &http,
            &url,
            format!("command=request.status&request-id={}", rid(i)),
        )
        .await
        .unwrap();
        let st = expect(st, 1000);
        assert_eq!(elem(&st.body, "request").get("state"), "done");
        let codes: Vec<_> = elems(&st.body, "result")
            .into_iter()
            .map(|r| r.get("code").to_string())
            .collect();
        assert_eq!(codes, ["1000", "1000"], "{}", st.body);
        let order = elem(&first.body, "order").get("id").to_string();
        assert_eq!(elem(&st.body, "request").get("order"), order);
        let oi = post(
            &http,
            &url,
            format!("command=order.info&request-id={}", rid(i)),
        )
        .await
        .unwrap();
        let o = elem(&expect(oi, 1000).body, "order");
        assert_eq!(o.get("id"), order);
        assert_eq!(o.get("state"), "completed");
        assert_eq!(o.get("domain"), name(i));
    }

    // Every request-id retried until it has a definite answer.
    let mut order_of: BTreeMap<usize, String> = BTreeMap::new();
    let mut failed_rids = BTreeSet::new();
    for i in 0..ORDERS {
        let a = definite(&http, &url, &body(i)).await;
        if let Some(first) = before.get(&i) {
            assert!(a.replayed);
            assert_eq!(a.body, first.body, "{} answers differently", rid(i));
        }
        if every_order_completes {
            assert_eq!(a.code(), 1000, "{}: {}", rid(i), a.body);
        } else if a.code() != 1000 {
            // An order that failed upstream: refunded, and its name is not the partner's.
            assert_eq!(a.code(), 2302, "{}: {}", rid(i), a.body);
            assert_eq!(elem(&a.body, "order").get("state"), "failed");
            failed_rids.insert(rid(i));
            let info = post(
                &http,
                &url,
                format!("command=domain.info&domain={}", name(i)),
            )
            .await
            .unwrap();
            expect(info, 2303);
        }
        if a.code() == 1000 {
            assert_eq!(elem(&a.body, "domain").get("name"), name(i));
        } else {
            assert_eq!(elem(&a.body, "order").get("domain"), name(i));
        }
        order_of.insert(i, elem(&a.body, "order").get("id").to_string());
    }
    if !failed_rids.is_empty() {
        println!("failed after the crash: {failed_rids:?}");
    }
    let distinct: BTreeSet<&String> = order_of.values().collect();
    assert_eq!(distinct.len(), ORDERS, "two request-ids share an order");

    // Exactly one order per request-id, each completed.
    let mut orders = Vec::new();
    let mut cursor = String::new();
    loop {
        let a = post(
            &http,
            &url,
            format!("command=order.list&limit=1000{cursor}"),
        )
        .await
        .unwrap();
        let a = expect(a, 1000);
        orders.extend(elems(&a.body, "order"));
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(orders.len(), ORDERS, "orders placed: {}", orders.len());
    let mut rids = BTreeSet::new();
    let mut domains = BTreeSet::new();
    for o in &orders {
        let want = if failed_rids.contains(o.get("request-id")) {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(o.get("state"), want, "{o:?}");
        assert!(rids.insert(o.get("request-id").to_string()));
        assert!(domains.insert(o.get("domain").to_string()));
    }
    let listed: BTreeSet<String> = orders.iter().map(|o| o.get("id").to_string()).collect();
    let answered: BTreeSet<String> = order_of.values().cloned().collect();
    assert_eq!(listed, answered);

    // Per order one charge; refunds only for failed orders, one each.
    let mut entries = Vec::new();
    let mut cursor = String::new();
    loop {
        let a = post(
            &http,
            &url,
            format!("command=ledger.list&limit=1000{cursor}"),
        )
        .await
        .unwrap();
        let a = expect(a, 1000);
        entries.extend(elems(&a.body, "entry"));
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let failed: BTreeSet<String> = orders
        .iter()
        .filter(|o| o.get("state") == "failed")
        .map(|o| o.get("id").to_string())
        .collect();
    let mut charges: BTreeMap<String, usize> = BTreeMap::new();
    let mut refunds: BTreeMap<String, usize> = BTreeMap::new();
    let mut sum = 0;
    for e in entries.iter().rev() {
        sum += cents(e.get("amount"));
        assert_eq!(cents(e.get("balance-after")), sum, "{e:?}");
        match e.get("kind") {
            "charge" => {
                assert_eq!(e.get("amount"), "-590.00");
                *charges.entry(e.get("order").to_string()).or_default() += 1;
            }
            "refund" => {
                assert!(failed.contains(e.get("order")), "refund of {e:?}");
                assert_eq!(e.get("amount"), "590.00");
                *refunds.entry(e.get("order").to_string()).or_default() += 1;
            }
            "topup" => {}
            k => panic!("unexpected ledger entry {k}"),
        }
    }
    assert!(charges.values().all(|&n| n == 1), "an order charged twice");
    assert_eq!(charges.len(), ORDERS);
    assert!(refunds.values().all(|&n| n == 1), "an order refunded twice");
    assert_eq!(refunds.keys().cloned().collect::<BTreeSet<_>>(), failed);
    let a = expect(
        post(&http, &url, "command=balance.get".into())
            .await
            .unwrap(),
        1000,
    );
    let want = cents("10010000.00") - (ORDERS - failed.len()) as i64 * cents("590.00");
    assert_eq!(cents(&text(&a.body, "balance").unwrap()), want);
    assert_eq!(sum, want);

    let (ok, out) = operator(data, &["verify"]).await;
    assert!(ok, "regway verify:\n{out}");
    assert!(out.contains("verify: OK"), "{out}");
    assert!(out.contains("orders: 500 (0 open)"), "{out}");
    drop(server);
}
