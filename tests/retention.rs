//! What the gateway keeps and for how long, and what a scrape costs: request records go
//! after 30 days (orders stay), a Namecheap call without a key keeps none, the open-order
//! gauges are counted as orders change, `/metrics` can ask for a token.

mod common;

use regway::outcome::Outcome;
use regway::store::{RequestScans, Requests};

fn base(s: &common::TestServer) -> String {
    s.url.trim_end_matches("/api").to_string()
}

#[tokio::test]
async fn metrics_can_ask_for_a_bearer_token() {
    let s = common::start_with(|c| c.metrics_token = Some("scrape-secret".into())).await;
    let url = format!("{}/metrics", base(&s));
    let r = s.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("regway_open_orders"));
    s.stop().await;
    // Without the setting, as before.
    let s = common::start().await;
    let r = s
        .client
        .get(format!("{}/metrics", base(&s)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

fn gauge(text: &str, state: &str) -> u64 {
    let line = format!("regway_open_orders{{state=\"{state}\"}} ");
    let i = text.find(&line).unwrap() + line.len();
    text[i..].lines().next().unwrap().parse().unwrap()
}

/// The gauges follow orders as they open and settle, and are right again after a
/// restart (counted once when the store opens).
#[tokio::test]
async fn open_order_gauges_follow_the_orders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    // Answered "pending" and carried out an hour later: they stay open.
    cfg.sandbox.faults.pending_percent = 100;
    cfg.sandbox.faults.pending_ms = 3_600_000;
    let s = common::start_config(cfg.clone()).await;
    let client = s.client("C1").await;
    for i in 0..3 {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R{i}&domain=gauge-{i}.ru&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1001, "{}", a.body);
    }
    let text = s.engine().render_metrics();
    assert_eq!(gauge(&text, "submitted"), 3, "{text}");
    assert_eq!(
        gauge(&text, "accepted") + gauge(&text, "unknown"),
        0,
        "{text}"
    );
    // The scrape read the maintained counters.
    assert_eq!(
        s.engine().open_orders.get(),
        [("accepted", 0), ("submitted", 3), ("unknown", 0)]
    );
    assert_eq!(s.verify().await.open_orders, 3);
    s.stop().await;
    // After a restart, counted from the store (the sandbox still holds them pending).
    cfg.sandbox.faults = Default::default();
    let s = common::start_when_free(cfg).await;
    assert_eq!(
        s.engine().open_orders.get(),
        [("accepted", 0), ("submitted", 3), ("unknown", 0)]
    );
    // An order that opens and fails leaves them as they were.
    let a = s
        .form(&format!(
            "command=domain.register&request-id=T1&domain=example.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 2302, "{}", a.body);
    assert_eq!(
        s.engine().open_orders.get(),
        [("accepted", 0), ("submitted", 3), ("unknown", 0)]
    );
    assert_eq!(s.verify().await.open_orders, 3);
    s.stop().await;
}

/// Request records older than 30 days go with the daily work; their orders stay, and
/// `verify` still checks out.
#[tokio::test]
async fn the_daily_work_prunes_request_records_after_thirty_days() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_config(common::test_config(dir.path())).await;
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=OLD1&domain=old-shop.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let order = a.attr("id").unwrap();
    s.stop().await;

    // 29 days on: still there.
    let mut cfg = common::test_config(dir.path());
    cfg.sandbox.clock = Some("2026-02-13T10:00:00Z".parse().unwrap());
    let s = common::start_when_free(cfg).await;
    assert_eq!(s.engine().prune_requests().await.unwrap(), 0);
    assert_eq!(
        s.form("command=request.status&request-id=OLD1")
            .await
            .code(),
        1000
    );
    s.stop().await;

    // 31 days on, the worker's daily run removes them.
    let mut cfg = common::test_config(dir.path());
    cfg.sandbox.clock = Some("2026-02-15T10:00:00Z".parse().unwrap());
    cfg.reconcile_interval_ms = 50;
    let s = common::start_when_free(cfg).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s
        .engine()
        .store
        .request::<Outcome>("demo", "OLD1")
        .unwrap()
        .is_some()
    {
        assert!(std::time::Instant::now() < deadline, "never pruned");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s
        .engine()
        .store
        .request::<Outcome>("demo", "C1")
        .unwrap()
        .is_none());
    let a = s.form("command=request.status&request-id=OLD1").await;
    assert_eq!(a.code(), 2303, "{}", a.body);
    let a = s.form(&format!("command=order.info&order={order}")).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let r = s.verify().await;
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    s.stop().await;
}

/// A Namecheap call without an idempotency key cannot be repeated, so it keeps no
/// request record; a key the gateway reserves for those is refused.
#[tokio::test]
async fn namecheap_calls_without_a_key_keep_no_request_record() {
    let s = common::start().await;
    let nc = |extra: &str| {
        format!(
            "{}/xml.response?ApiUser=demo&ApiKey=demo-password&UserName=demo\
             &ClientIp=192.0.2.10&Command=namecheap.domains.create&DomainName=keyless.com\
             &Years=1&RegistrantFirstName=Ivan&RegistrantLastName=Petrov\
             &RegistrantAddress1=Tverskaya+1&RegistrantCity=Moscow\
             &RegistrantStateProvince=Moscow&RegistrantPostalCode=125009\
             &RegistrantCountry=RU&RegistrantPhone=%2B7.4951234567\
             &RegistrantEmailAddress=ivan%40example.net{extra}",
            base(&s)
        )
    };
    let body = s
        .client
        .get(nc(""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Status=\"OK\""), "{body}");
    let records: Vec<String> = s
        .engine()
        .store
        .requests::<Outcome>("demo")
        .map(|r| r.unwrap().request_id)
        .collect();
    // Only the registrant's client, whose request-id is derived from its details.
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].starts_with("nc-client-"), "{records:?}");
    let body = s
        .client
        .get(nc("&RequestId=nc-once-0001"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Status=\"ERROR\""), "{body}");
    assert!(body.contains("nc-once- are the gateway"), "{body}");
    let r = s.verify().await;
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    s.stop().await;
}
