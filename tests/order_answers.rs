//! What an order's answer says: the balance right after that order's own charge (on the
//! first answer, on a replay and after pending → completed, however many orders were
//! charged in between), and, for a name with another order in progress, nothing about
//! that order.

mod common;
mod support;

use regway::config::SandboxFaults;
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

/// Order id → the balance-after of its charge, from the ledger.
async fn charges(s: &common::TestServer) -> BTreeMap<String, String> {
    ledger(s)
        .await
        .into_iter()
        .filter(|e| e.get("kind") == "charge")
        .map(|e| {
            (
                e.get("order").to_string(),
                e.get("balance-after").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_balance_in_an_answer_is_the_one_after_its_own_charge() {
    // Every answer comes a while after its charge, so the six charges all land before
    // the first answer is recorded.
    let s = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            latency_ms: 400,
            ..Default::default()
        };
        c.upstream_timeout_ms = 5_000;
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let forms: Vec<String> = (0..6)
        .map(|i| register_form(&format!("P{i}"), &format!("parallel-{i}.ru"), &client, ""))
        .collect();
    let answers = futures_util::future::join_all(forms.iter().map(|f| s.form(f))).await;
    let charged = charges(&s).await;
    assert_eq!(charged.len(), 6, "{charged:?}");
    let mut shown = std::collections::BTreeSet::new();
    for (form, a) in forms.iter().zip(answers) {
        let a = expect(a, 1000);
        let order = elem(&a.body, "order").get("id").to_string();
        let balance = text(&a.body, "balance").unwrap();
        assert_eq!(balance, charged[&order], "order {order}:\n{}", a.body);
        shown.insert(balance);
        let again = expect(s.form(form).await, 1000);
        assert!(again.replayed);
        assert_eq!(again.body, a.body);
    }
    // Six orders, six different balances: none shows another's.
    assert_eq!(shown.len(), 6, "{shown:?}");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_pending_order_completes_with_the_balance_after_its_charge() {
    let s = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            pending_percent: 100,
            pending_ms: 200,
            ..Default::default()
        };
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let first = register_form("Q1", "pending-a.ru", &client, "");
    let a = expect(s.form(&first).await, 1001);
    let id = elem(&a.body, "order").get("id").to_string();
    // A second order is charged while the first is pending.
    expect(
        s.form(&register_form("Q2", "pending-b.ru", &client, ""))
            .await,
        1001,
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    let charged = charges(&s).await;
    let done = expect(s.form(&first).await, 1000);
    assert!(done.replayed);
    assert_eq!(
        text(&done.body, "balance").unwrap(),
        charged[&id],
        "{}",
        done.body
    );
    assert_eq!(text(&done.body, "balance").unwrap(), "9410.00");
    let status = expect(s.form("command=request.status&request-id=Q1").await, 1000);
    assert!(
        status
            .body
            .contains("<balance currency=\"RUB\">9410.00</balance>"),
        "{}",
        status.body
    );
    s.stop().await;
}

#[tokio::test]
async fn an_order_in_progress_is_not_named_to_anyone() {
    let s = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            pending_percent: 100,
            pending_ms: 3_600_000,
            ..Default::default()
        };
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let a = expect(
        s.form(&register_form("Z1", "zed-shop.com", &client, ""))
            .await,
        1001,
    );
    let id = elem(&a.body, "order").get("id").to_string();
    add_partner(&s, "other", "other-password", Some("1000.00")).await;
    let theirs = client_as(&s, "other", "other-password", "OC1").await;
    for (login, password, handle) in [
        ("other", "other-password", theirs.as_str()),
        (common::LOGIN, common::PASSWORD, client.as_str()),
    ] {
        let a = expect_http(
            s.form_as(
                login,
                password,
                &register_form("Z2", "zed-shop.com", handle, ""),
            )
            .await,
            2304,
        );
        let message = elem(&a.body, "result").text.unwrap();
        assert_eq!(message, "zed-shop.com has an order in progress", "{login}");
        assert!(!a.body.contains(&format!("order {id}")), "{}", a.body);
    }
    s.stop().await;
}
