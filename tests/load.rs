//! `regway load` fills a store the engine can serve and `verify` accepts: the records it
//! writes are the ones a completed registration leaves, under the same keys.

mod common;
mod support;

use common::test_config;
use regway::bench::scale::{domain_name, load, Shape};
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_store_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape {
        partners: 7,
        clients: 30,
        domains: 500,
    };
    load(dir.path(), shape).await.expect("loads");
    // Loading into a store that has data is refused (once sled has let go of it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match load(dir.path(), shape).await {
            Err(e) if e.message.contains("in use") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            r => break r.expect_err("a second load is refused"),
        }
    };
    assert!(refused.message.contains("not empty"), "{}", refused.message);

    let s = common::start_when_free(test_config(dir.path())).await;
    let r = s.verify().await;
    assert!(r.problems.is_empty(), "verify: {:?}", r.problems);
    assert_eq!(
        (
            r.partners,
            r.orders,
            r.open_orders,
            r.domains,
            r.ledger_entries
        ),
        (7, 500, 0, 500, 507)
    );

    // The demo partner (partner 0) has its share: 500 * 1 / 7 = 71 domains.
    let (domains, _) = walk(&s, "domain.list", "&limit=1000", "domain").await;
    assert_eq!(domains.len(), 71);
    let a = expect(
        s.form(&format!("command=domain.info&domain={}", domain_name(70)))
            .await,
        1000,
    );
    assert_eq!(elem(&a.body, "domain").get("name"), domain_name(70));
    // Another partner's domain is not the demo partner's.
    let a = s
        .form(&format!("command=domain.info&domain={}", domain_name(71)))
        .await;
    assert_ne!(a.code(), 1000, "{}", a.body);
    // A loaded request-id is replayed, not charged again.
    let st = expect(
        s.form("command=request.status&request-id=load-1").await,
        1000,
    );
    assert_eq!(elem(&st.body, "request").get("state"), "done");
    // Each partner's top-up paid for its registrations and left 1,000,000.00.
    assert_eq!(balance(&s).await, "1000000.00");
}
