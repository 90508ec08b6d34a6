//! Signed webhooks (README, "Notifications"): a real receiver on loopback that the
//! operator's configuration allows gets each settled order's event, signed; failed
//! attempts are retried until one succeeds; addresses the operator has not allowed
//! (by literal, by a name resolved to them, by a redirect) get nothing.

mod common;
mod receiver;
mod support;

use receiver::{verifies, Receiver, Reply};
use regway::config::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::*;

const SECRET: &str = "whsec-0123456789abcdef";

/// Real time (retries are scheduled by it), fast retries, loopback 127.0.0.1 allowed.
fn hooks_config(c: &mut Config) {
    c.sandbox.clock = None;
    c.webhooks.http_hosts = vec!["127.0.0.1".into(), "inside.test".into(), "127.0.0.2".into()];
    c.webhooks.allow_addresses = vec!["127.0.0.1".into()];
    c.webhooks
        .hosts
        .insert("inside.test".into(), "127.0.0.2".parse().unwrap());
    c.webhooks.poll_ms = 20;
    c.webhooks.retry_base_ms = 30;
    c.webhooks.retry_max_ms = 200;
    c.webhooks.timeout_ms = 2_000;
}

async fn set(s: &common::TestServer, rid: &str, url: &str, events: &str) -> common::Answer {
    s.form(&format!(
        "command=webhook.set&request-id={rid}&url={}&secret={SECRET}&events={}",
        enc(url),
        enc(events)
    ))
    .await
}

/// The deliveries as `webhook.deliveries` lists them, once none is pending (at most
/// `secs`).
async fn settled_deliveries(s: &common::TestServer, extra: &str, secs: u64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let a = expect(
            s.form(&format!("command=webhook.deliveries{extra}")).await,
            1000,
        );
        let ds = elems(&a.body, "delivery");
        if !ds.is_empty() && ds.iter().all(|d| d.get("state") != "pending") {
            return a.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still pending: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_settled_order_is_posted_signed_and_a_tampered_body_does_not_verify() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200))
        .await
        .unwrap();
    let s = common::start_with(hooks_config).await;
    let a = expect(
        set(&s, "W1", &rx.url("/hook"), "order.completed,order.failed").await,
        1000,
    );
    assert_eq!(elem(&a.body, "endpoint").get("state"), "enabled");
    assert!(!a.body.contains(SECRET), "the secret is never shown");
    let listed = expect(s.form("command=webhook.list").await, 1000);
    assert!(!listed.body.contains(SECRET));
    assert_eq!(elems(&listed.body, "endpoint").len(), 1);

    let client = s.client("C1").await;
    let order = expect(register(&s, "R1", "hooked.ru", &client).await, 1000);
    let order_id: u64 = elem(&order.body, "order").get("id").parse().unwrap();

    let got = rx.wait_for(1, 10).await;
    let g = &got[0];
    assert_eq!(g.path, "/hook");
    assert_eq!(g.header("content-type"), Some("application/json"));
    let sig = g.header("x-regway-signature").expect("signed");
    assert!(verifies(SECRET, sig, &g.body), "{sig}");
    let mut tampered = g.body.clone();
    let i = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[i] = b'2';
    assert!(!verifies(SECRET, sig, &tampered));
    assert!(!verifies("another-secret-of-16", sig, &g.body));
    // The timestamp is now, so a receiver can refuse replays older than 5 minutes.
    let t: i64 = sig[2..sig.find(',').unwrap()].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 300);

    let j = g.json();
    assert_eq!(j["type"], "order.completed");
    assert_eq!(j["partner"], "demo");
    assert_eq!(j["data"]["order"]["id"], order_id);
    assert_eq!(j["data"]["order"]["domain"], "hooked.ru");
    assert_eq!(j["data"]["order"]["state"], "completed");
    assert_eq!(j["data"]["order"]["request-id"], "R1");
    let body = settled_deliveries(&s, "", 10).await;
    let d = elem(&body, "delivery");
    assert_eq!(d.get("event"), j["id"].to_string());
    assert_eq!(d.get("state"), "delivered");
    assert_eq!(d.get("attempts"), "1");
    assert_eq!(elem(&body, "attempt").get("status"), "200");

    // webhook.test goes to the one endpoint named; deleting stops deliveries.
    let t = expect(
        s.form("command=webhook.test&request-id=T1&endpoint=1")
            .await,
        1000,
    );
    let tid = elem(&t.body, "event").get("id").to_string();
    let got = rx.wait_for(2, 10).await;
    assert_eq!(got[1].json()["type"], "webhook.test");
    assert_eq!(got[1].json()["id"].to_string(), tid);
    expect(
        s.form("command=webhook.delete&request-id=D1&endpoint=1")
            .await,
        1000,
    );
    assert!(elems(
        &expect(s.form("command=webhook.list").await, 1000).body,
        "endpoint"
    )
    .is_empty());
    expect(register(&s, "R2", "unhooked.ru", &client).await, 1000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 2, "nothing after the endpoint is deleted");
    assert!(s.verify().await.problems.is_empty());
}

#[tokio::test]
async fn three_500s_then_200_is_delivered_once_with_four_attempts() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200))
        .await
        .unwrap();
    rx.then([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let s = common::start_with(hooks_config).await;
    expect(set(&s, "W1", &rx.url("/h"), "*").await, 1000);
    let client = s.client("C1").await;
    expect(register(&s, "R1", "retried.ru", &client).await, 1000);
    let body = settled_deliveries(&s, "", 20).await;
    let d = elem(&body, "delivery");
    assert_eq!(d.get("state"), "delivered");
    assert_eq!(d.get("attempts"), "4");
    let statuses: Vec<String> = elems(&body, "attempt")
        .iter()
        .map(|a| a.get("status").to_string())
        .collect();
    assert_eq!(statuses, ["500", "500", "500", "200"]);
    let got = rx.received();
    assert_eq!(got.len(), 4);
    let ids: BTreeSet<String> = got.iter().map(|g| g.json()["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "one event id across the retries");
    assert!(got
        .iter()
        .all(|g| verifies(SECRET, g.header("x-regway-signature").unwrap(), &g.body)));
    // The queue gauge is the depth the worker saw at its last look (every poll_ms).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = s
            .client
            .get(s.url.replace("/api", "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains("regway_webhook_queue 0\n") || std::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        m.contains("regway_webhook_deliveries_total{outcome=\"delivered\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("regway_webhook_deliveries_total{outcome=\"retry\"} 3\n"),
        "{m}"
    );
    assert!(m.contains("regway_webhook_queue 0\n"), "{m}");
}

#[tokio::test]
async fn a_delivery_failing_past_the_limit_is_failed_and_the_endpoint_disabled() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(503))
        .await
        .unwrap();
    let s = common::start_with(|c| {
        hooks_config(c);
        c.webhooks.give_up_s = 1;
        c.webhooks.disable_after_s = 1;
    })
    .await;
    expect(set(&s, "W1", &rx.url("/h"), "*").await, 1000);
    expect(
        s.form("command=webhook.test&request-id=T1&endpoint=1")
            .await,
        1000,
    );
    let body = settled_deliveries(&s, "", 20).await;
    assert_eq!(elem(&body, "delivery").get("state"), "failed");
    assert!(elems(&body, "attempt").len() >= 2);
    let list = expect(s.form("command=webhook.list").await, 1000);
    assert_eq!(elem(&list.body, "endpoint").get("state"), "disabled");
    // A disabled endpoint takes no test until it is set again.
    expect(
        s.form("command=webhook.test&request-id=T2&endpoint=1")
            .await,
        2304,
    );
    expect(set(&s, "W2", &rx.url("/h"), "*").await, 1000);
    let list = expect(s.form("command=webhook.list").await, 1000);
    assert_eq!(elem(&list.body, "endpoint").get("state"), "enabled");
    // The operator's retry (`regway webhook retry`) of the failed delivery.
    let failed = s.engine().list_deliveries("failed", Some("demo")).unwrap();
    assert_eq!(failed.len(), 1);
    rx.set_default(Reply::Status(204));
    let before = rx.count();
    let r = s
        .engine()
        .retry_delivery("demo", failed[0].event, 1)
        .await
        .unwrap();
    assert_eq!(r.state, "pending");
    rx.wait_for(before + 1, 10).await;
    let body = settled_deliveries(&s, "", 10).await;
    assert_eq!(elem(&body, "delivery").get("state"), "delivered");
    assert!(s
        .engine()
        .retry_delivery("demo", failed[0].event, 1)
        .await
        .is_err());
}

#[tokio::test]
async fn endpoints_are_checked_when_set() {
    let s = common::start_with(hooks_config).await;
    for (url, why) in [
        ("http://hooks.example.net/x", "https://"),
        ("https://127.0.0.2/x", "loopback"),
        ("https://[::1]:8443/x", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://10.0.0.1/x", "private"),
        ("https://[::ffff:127.0.0.1]/x", "IPv4-mapped"),
        ("https://u:p@hooks.example.net/x", "credentials"),
        ("ftp://hooks.example.net/x", "https://"),
    ] {
        let a = expect(set(&s, "W", url, "*").await, 2306);
        assert!(a.body.contains(why), "{url}: {}", a.body);
    }
    let a = s
        .form("command=webhook.set&request-id=W&url=https%3A%2F%2Fh.example.net%2F&secret=short&events=*")
        .await;
    expect(a, 2004);
    let a = expect(
        set(&s, "W", "https://h.example.net/", "order.shipped").await,
        2005,
    );
    assert!(a.body.contains("order.completed"));
    for i in 1..=5 {
        expect(
            set(
                &s,
                &format!("W{i}"),
                &format!("https://h{i}.example.net/"),
                "*",
            )
            .await,
            1000,
        );
    }
    let a = expect(set(&s, "W6", "https://h6.example.net/", "*").await, 2304);
    assert!(a.body.contains("at most 5"), "{}", a.body);
    // The same URL again replaces that endpoint (no sixth one).
    expect(
        set(&s, "W7", "https://h3.example.net/", "order.failed").await,
        1000,
    );
    let list = expect(s.form("command=webhook.list").await, 1000);
    let eps = elems(&list.body, "endpoint");
    assert_eq!(eps.len(), 5);
    assert_eq!(eps[2].get("events"), "order.failed");
    expect(
        s.form("command=webhook.delete&request-id=D9&endpoint=99")
            .await,
        2303,
    );
    expect(
        s.form("command=webhook.test&request-id=T9&endpoint=x")
            .await,
        2005,
    );
    expect(set(&s, "W", "not a url", "*").await, 2005);
}

/// SSRF without traffic off this machine: receivers on loopback addresses the operator
/// has not allowed get nothing, whether named by a name the operator's `hosts` maps to
/// one of them or reached through a redirect from an allowed receiver.
#[tokio::test]
async fn addresses_not_allowed_get_nothing() {
    let Ok(forbidden) = Receiver::start("127.0.0.2:0", Reply::Status(200)).await else {
        common::cannot_run(
            "addresses_not_allowed_get_nothing",
            "cannot listen on 127.0.0.2",
        );
        return;
    };
    let v6 = Receiver::start("[::1]:0", Reply::Status(200)).await.ok();
    let bouncer = Receiver::start("127.0.0.1:0", Reply::Redirect(forbidden.url("/stolen")))
        .await
        .unwrap();
    let s = common::start_with(hooks_config).await;
    // Literals are refused when set.
    expect(set(&s, "W0", &forbidden.url("/x"), "*").await, 2306);
    if let Some(v6) = &v6 {
        expect(set(&s, "W0", &v6.url("/x"), "*").await, 2306);
    }
    // A name is checked where it resolves, at delivery.
    let by_name = format!("http://inside.test:{}/x", forbidden.addr.port());
    expect(set(&s, "W1", &by_name, "*").await, 1000);
    expect(set(&s, "W2", &bouncer.url("/bounce"), "*").await, 1000);
    expect(
        s.form("command=webhook.test&request-id=T1&endpoint=1")
            .await,
        1000,
    );
    expect(
        s.form("command=webhook.test&request-id=T2&endpoint=2")
            .await,
        1000,
    );
    bouncer.wait_for(1, 10).await;
    // Both have been tried (and will be again): wait for two attempts each.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let a = expect(s.form("command=webhook.deliveries").await, 1000);
        let ds = elems(&a.body, "delivery");
        if ds.len() == 2
            && ds
                .iter()
                .all(|d| d.get("attempts").parse::<u32>().unwrap() >= 2)
        {
            break a.body;
        }
        assert!(std::time::Instant::now() < deadline, "{}", a.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let attempts = elems(&body, "attempt");
    assert!(
        attempts.iter().any(|a| a.opt("error")
            == Some("refused: inside.test resolves to 127.0.0.2, a loopback address")),
        "{body}"
    );
    assert!(
        attempts.iter().any(|a| a.opt("status") == Some("302")),
        "{body}"
    );
    assert_eq!(forbidden.count(), 0, "nothing reached 127.0.0.2");
    if let Some(v6) = &v6 {
        assert_eq!(v6.count(), 0);
    }
    // An endpoint set while allowed, then no longer allowed: checked at delivery too.
    drop(s);
}

/// 1,000 orders through the sandbox's fault knobs (refusals, timeouts, late answers):
/// every settled order gives exactly one event id, and none is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_settled_order_gives_exactly_one_event() {
    const ORDERS: usize = 1000;
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200))
        .await
        .unwrap();
    let s = common::start_with(|c| {
        hooks_config(c);
        c.sandbox.faults = regway::config::SandboxFaults {
            latency_ms: 0,
            fail_percent: 15,
            timeout_percent: 10,
            pending_percent: 10,
            pending_ms: 200,
        };
        c.upstream_timeout_ms = 300;
        c.reconcile_interval_ms = 200;
    })
    .await;
    add_partner(&s, "bulk", "bulk-password-1", Some("10000000")).await;
    let client = client_as(&s, "bulk", "bulk-password-1", "C1").await;
    let w = s
        .form_as(
            "bulk",
            "bulk-password-1",
            &format!(
                "command=webhook.set&request-id=W1&url={}&secret={SECRET}&events=order.completed,order.failed",
                enc(&rx.url("/bulk"))
            ),
        )
        .await;
    expect(w, 1000);
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..ORDERS {
        let (url, http, client, sem) =
            (s.url.clone(), s.client.clone(), client.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            http.post(url)
                .basic_auth("bulk", Some("bulk-password-1"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(register_form(
                    &format!("R{i}"),
                    &format!("bulk-{i}.ru"),
                    &client,
                    "",
                ))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        // Refusals and unclear answers have their own HTTP statuses.
        assert!([200, 202, 500, 502, 504].contains(&t.await.unwrap().as_u16()));
    }
    // Every order settles (the reconciler finishes the unclear ones).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let orders = loop {
        let (rows, _) = walk_as(&s, "bulk", "bulk-password-1").await;
        if rows.iter().all(|o| o.0 == "completed" || o.0 == "failed") {
            break rows;
        }
        assert!(std::time::Instant::now() < deadline, "orders still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(orders.len(), ORDERS);
    let settled: BTreeSet<u64> = orders.iter().map(|o| o.1).collect();
    // Every delivery done, then each order's events counted by id.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut by_order: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    loop {
        by_order.clear();
        for g in rx.received() {
            let j = g.json();
            assert!(verifies(
                SECRET,
                g.header("x-regway-signature").unwrap(),
                &g.body
            ));
            let order = j["data"]["order"]["id"].as_u64().unwrap();
            by_order
                .entry(order)
                .or_default()
                .insert(j["id"].as_u64().unwrap());
        }
        if by_order.len() >= settled.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} orders heard of",
            by_order.len(),
            settled.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(by_order.keys().copied().collect::<BTreeSet<_>>(), settled);
    for (order, ids) in &by_order {
        assert_eq!(ids.len(), 1, "order {order}: events {ids:?}");
    }
    let failed = orders.iter().filter(|o| o.0 == "failed").count();
    println!(
        "{ORDERS} orders, {failed} failed, {} requests received",
        rx.count()
    );
    assert!(s.verify().await.problems.is_empty());
}

/// (state, id) of every order of a partner, through `order.list`.
async fn walk_as(s: &common::TestServer, login: &str, pw: &str) -> (Vec<(String, u64)>, usize) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = "command=order.list&limit=1000".to_string();
        if let Some(c) = &cursor {
            body.push_str(&format!("&cursor={}", enc(c)));
        }
        let a = expect(s.form_as(login, pw, &body).await, 1000);
        pages += 1;
        for o in elems(&a.body, "order") {
            rows.push((o.get("state").to_string(), o.get("id").parse().unwrap()));
        }
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = Some(c),
            None => return (rows, pages),
        }
    }
}

/// The daily work's notices: `domain.expiring` 30, 7 and 1 days before (once each, a
/// second run of the day sends nothing) and `domain.expired` after.
#[tokio::test]
async fn expiring_and_expired_domains_are_told() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |now: &str| {
        let mut c = common::test_config(dir.path());
        hooks_config(&mut c);
        c.sandbox.clock = Some(now.parse().unwrap());
        c
    };
    let s = common::start_config(at(common::NOW)).await;
    expect(
        set(&s, "W1", &rx.url("/d"), "domain.expiring,domain.expired").await,
        1000,
    );
    let client = s.client("C1").await;
    let a = s
        .form(&register_form(
            "R1",
            "expiring.ru",
            &client,
            "&auto-renew=false",
        ))
        .await;
    assert_eq!(
        elem(&expect(a, 1000).body, "domain").get("expires"),
        "2027-01-15"
    );
    let mut s = s;
    let mut seen = 0;
    for (now, days) in [
        ("2026-12-16T03:00:00Z", Some(30)),
        ("2026-12-17T03:00:00Z", None),
        ("2027-01-10T03:00:00Z", Some(7)),
        ("2027-01-14T03:00:00Z", Some(1)),
        ("2027-01-16T00:30:00Z", None),
    ] {
        s.stop().await;
        s = common::start_when_free(at(now)).await;
        s.engine().daily(30, 3).await.unwrap();
        s.engine().daily(30, 3).await.unwrap();
        let expired = now.starts_with("2027-01-16");
        if days.is_some() || expired {
            seen += 1;
        }
        let got = rx.wait_for(seen, 10).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rx.count(), seen, "{now}: one notice at most");
        if let (Some(d), Some(last)) = (days, got.last()) {
            let j = last.json();
            assert_eq!(j["type"], "domain.expiring");
            assert_eq!(j["data"]["domain"]["name"], "expiring.ru");
            assert!(j["data"]["domain"]["days-left"].as_i64().unwrap() <= d);
        }
    }
    let got = rx.received();
    let last = got.last().unwrap().json();
    assert_eq!(last["type"], "domain.expired");
    assert_eq!(last["data"]["domain"]["state"], "expired");
    let ids: BTreeSet<u64> = got
        .iter()
        .map(|g| g.json()["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    s.stop().await;
}
