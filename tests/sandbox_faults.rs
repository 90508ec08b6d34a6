//! The sandbox's fault knobs on a single gateway: a pending answer is completed later
//! and found by reconciliation; a timeout that still performs the work leaves the order
//! `unknown` (money held) until reconciliation finds it done; an injected failure is
//! refunded at once. Each case is forced with a knob at 100%.

mod common;
mod support;

use regway::config::SandboxFaults;
use std::time::Duration;
use support::*;

async fn one_order(faults: SandboxFaults) -> (common::TestServer, common::Answer) {
    let s = common::start_with(|c| {
        c.sandbox.faults = faults;
        c.upstream_timeout_ms = 300;
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=faulty.ru&client={}",
            enc(&client)
        ))
        .await;
    (s, a)
}

fn balance(s: &common::TestServer) -> String {
    s.engine().show_partner("demo").unwrap().balance
}

async fn order_state(s: &common::TestServer) -> String {
    let a = expect(s.form("command=order.info&request-id=R1").await, 1000);
    elem(&a.body, "order").get("state").to_string()
}

#[tokio::test]
async fn pending_answers_complete_later() {
    let (s, a) = one_order(SandboxFaults {
        pending_percent: 100,
        pending_ms: 300,
        ..Default::default()
    })
    .await;
    let a = expect(a, 1001);
    assert_eq!(elem(&a.body, "order").get("state"), "submitted");
    assert_eq!(balance(&s), "9410.00");
    // Not yet due: still open.
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert_eq!(order_state(&s).await, "completed");
    assert_eq!(balance(&s), "9410.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn timeouts_that_still_perform_are_found_done() {
    let (s, a) = one_order(SandboxFaults {
        timeout_percent: 100,
        ..Default::default()
    })
    .await;
    let a = expect(a, 1001);
    assert_eq!(elem(&a.body, "order").get("state"), "unknown");
    let listed = expect(s.form("command=order.list&state=unknown").await, 1000);
    assert_eq!(elems(&listed.body, "order").len(), 1);
    assert_eq!(balance(&s), "9410.00");
    // The registry did the work: the name is taken there, and reconciliation completes
    // the order without sending it again.
    let check = expect(s.form("command=domain.check&domain=faulty.ru").await, 1000);
    assert_eq!(elem(&check.body, "domain").get("available"), "false");
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert_eq!(order_state(&s).await, "completed");
    assert_eq!(balance(&s), "9410.00");
    let info = expect(s.form("command=domain.info&domain=faulty.ru").await, 1000);
    assert_eq!(elem(&info.body, "domain").get("state"), "active");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn injected_failures_are_refunded() {
    let (s, a) = one_order(SandboxFaults {
        fail_percent: 100,
        ..Default::default()
    })
    .await;
    let a = expect(a, 2400);
    assert_eq!(a.status, 502);
    assert_eq!(elem(&a.body, "order").get("state"), "failed");
    assert_eq!(balance(&s), "10000.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// A transfer whose answer is lost after the registry did it: `unknown`, money held;
/// a retry is answered from the record, not sent again; reconciliation finds it done
/// and completes it with one charge, and the name is the partner's.
#[tokio::test]
async fn a_transfer_whose_answer_is_lost_is_found_done() {
    let s = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            timeout_percent: 100,
            ..Default::default()
        };
        c.upstream_timeout_ms = 300;
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let body = format!(
        "command=domain.transfer&request-id=R1&domain=taken.ru&client={}&authcode=abc",
        enc(&client)
    );
    let a = expect(s.form(&body).await, 1001);
    assert_eq!(elem(&a.body, "order").get("state"), "unknown");
    assert_eq!(balance(&s), "9410.00");
    let again = s.form(&body).await;
    assert!(again.replayed);
    assert_eq!(again.code(), 1001);
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    assert_eq!(order_state(&s).await, "completed");
    assert_eq!(balance(&s), "9410.00");
    let info = expect(s.form("command=domain.info&domain=taken.ru").await, 1000);
    assert_eq!(elem(&info.body, "domain").get("expires"), "2027-01-15");
    let done = expect(s.form(&body).await, 1000);
    assert_eq!(text(&done.body, "charged").unwrap(), "590.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
