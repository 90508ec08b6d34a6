//! A chain of resellers: a child regway whose upstream is a parent regway (the `regway`
//! backend). Orders go through both; each side charges its own partner, and the
//! parent's idempotency makes a second delivery harmless.

mod common;
mod support;

use common::{start_child, start_parent, TestServer};
use support::*;

async fn parent_says(parent: &TestServer, body: &str) -> common::Answer {
    parent.form_as("child", "child-password", body).await
}

fn balance(s: &TestServer, login: &str) -> String {
    s.engine().show_partner(login).unwrap().balance
}

#[tokio::test]
async fn orders_go_through_child_and_parent() {
    let parent = start_parent("10000.00", |_| {}).await;
    let child = start_child(&parent.url, "10000.00", 5_000, |_| {}).await;
    // In front of a real upstream, no demo partner is made (start_child makes it).
    assert_ne!(child.engine().backend.name(), "sandbox");

    // Availability is the parent's.
    let a = expect(
        child
            .form("command=domain.check&domain=chain-a.ru&domain=example.com")
            .await,
        1000,
    );
    let rows = elems(&a.body, "domain");
    assert_eq!(rows[0].get("available"), "true");
    assert_eq!(rows[1].get("available"), "false");

    let client = child.client("C1").await;
    let a = expect(
        child
            .form(&format!(
                "command=domain.register&request-id=R1&domain=chain-a.ru&period=1&client={}\
                 &ns=ns1.example.net&ns=ns2.example.net",
                enc(&client)
            ))
            .await,
        1000,
    );
    assert_eq!(elem(&a.body, "domain").get("expires"), "2027-01-15");
    assert_eq!(elem(&a.body, "order").get("state"), "completed");
    assert_eq!(balance(&child, "demo"), "9410.00");
    assert_eq!(balance(&parent, "child"), "9410.00");

    // On the parent, the domain belongs to the child gateway, with the registrant it
    // sent up once, and the order carries the child's key as its request-id.
    let info = expect(
        parent_says(&parent, "command=domain.info&domain=chain-a.ru").await,
        1000,
    );
    let d = elem(&info.body, "domain");
    assert_eq!(d.get("expires"), "2027-01-15");
    assert_eq!(d.get("delegated"), "true");
    let orders = expect(parent_says(&parent, "command=order.list").await, 1000);
    let rows = elems(&orders.body, "order");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("request-id"), "demo:R1");
    let clients = expect(parent_says(&parent, "command=client.list").await, 1000);
    assert_eq!(elems(&clients.body, "client").len(), 1);

    // A retry on the child is answered from its store: nothing goes up again.
    let again = child
        .form(&format!(
            "command=domain.register&request-id=R1&domain=chain-a.ru&period=1&client={}\
             &ns=ns1.example.net&ns=ns2.example.net",
            enc(&client)
        ))
        .await;
    assert!(again.replayed);
    assert_eq!(again.body, a.body);

    // A second registration for the same registrant reuses its parent handle.
    expect(
        child
            .form(&format!(
                "command=domain.register&request-id=R2&domain=chain-b.ru&client={}",
                enc(&client)
            ))
            .await,
        1000,
    );
    let clients = expect(parent_says(&parent, "command=client.list").await, 1000);
    assert_eq!(elems(&clients.body, "client").len(), 1);

    // A name the parent's registry holds: refused up there, refunded down here.
    let a = expect(
        child
            .form(&format!(
                "command=domain.register&request-id=R3&domain=taken.ru&client={}",
                enc(&client)
            ))
            .await,
        2302,
    );
    assert_eq!(elem(&a.body, "order").get("state"), "failed");
    assert_eq!(balance(&child, "demo"), "8820.00");
    assert_eq!(balance(&parent, "child"), "8820.00");

    // Renewal and nameservers go up too.
    let a = expect(
        child
            .form(
                "command=domain.renew&request-id=R4&domain=chain-a.ru&period=1&expires=2027-01-15",
            )
            .await,
        1000,
    );
    assert_eq!(elem(&a.body, "domain").get("expires"), "2028-01-15");
    expect(
        child
            .form("command=domain.set-ns&request-id=R5&domain=chain-a.ru&ns=ns1.other.net&ns=ns2.other.net")
            .await,
        1000,
    );
    let info = expect(
        parent_says(&parent, "command=domain.info&domain=chain-a.ru").await,
        1000,
    );
    assert_eq!(elem(&info.body, "domain").get("expires"), "2028-01-15");
    assert!(info.body.contains("<ns>ns1.other.net</ns>"));
    assert_eq!(balance(&child, "demo"), balance(&parent, "child"));

    assert!(child.verify().await.problems.is_empty());
    assert!(parent.verify().await.problems.is_empty());
    child.stop().await;
    parent.stop().await;
}

/// A transfer goes up as the parent's own `domain.transfer`, with the code and the
/// parent's handle of the registrant; each side charges its partner the renew price
/// (no transfer price configured), once, and a name registered nowhere is refused up
/// there and refunded on both sides.
#[tokio::test]
async fn a_transfer_goes_through_child_and_parent() {
    let parent = start_parent("10000.00", |_| {}).await;
    let child = start_child(&parent.url, "10000.00", 5_000, |_| {}).await;
    let client = child.client("C1").await;
    let body = format!(
        "command=domain.transfer&request-id=T1&domain=taken.com&client={}&authcode=Q9-x%21",
        enc(&client)
    );
    let a = expect(child.form(&body).await, 1000);
    assert_eq!(elem(&a.body, "domain").get("expires"), "2027-01-15");
    assert_eq!(text(&a.body, "charged").unwrap(), "1490.00");
    let again = child.form(&body).await;
    assert!(again.replayed);
    assert_eq!(again.body, a.body);
    assert_eq!(balance(&child, "demo"), "8510.00");
    assert_eq!(balance(&parent, "child"), "8510.00");
    let orders = expect(
        parent_says(&parent, "command=order.list&type=domain.transfer").await,
        1000,
    );
    let rows = elems(&orders.body, "order");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("request-id"), "demo:T1");
    let info = expect(
        parent_says(&parent, "command=domain.info&domain=taken.com").await,
        1000,
    );
    assert_eq!(elem(&info.body, "domain").get("expires"), "2027-01-15");

    let a = expect(
        child
            .form(&format!(
                "command=domain.transfer&request-id=T2&domain=nowhere-at-all.com&client={}&authcode=Q9",
                enc(&client)
            ))
            .await,
        2303,
    );
    assert_eq!(elem(&a.body, "order").get("state"), "failed");
    assert_eq!(balance(&child, "demo"), "8510.00");
    assert_eq!(balance(&parent, "child"), "8510.00");
    assert!(child.verify().await.problems.is_empty());
    assert!(parent.verify().await.problems.is_empty());
    child.stop().await;
    parent.stop().await;
}

/// A parent that is down: the child answers 1001 at once (money held, order `unknown`,
/// listed by `order.list state=unknown`); when the parent comes up, reconciliation
/// finds it never saw the order, sends it under the same request-id, and completes it.
#[tokio::test]
async fn a_parent_that_is_down_leaves_orders_unknown_until_reconciled() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api");
    let child = start_child(&url, "1000.00", 2_000, |c| {
        c.reconcile_interval_ms = 3_600_000;
        c.unknown_alert_ms = 0;
    })
    .await;
    let client = child.client("C1").await;
    let a = expect(
        child
            .form(&format!(
                "command=domain.register&request-id=R1&domain=late.ru&client={}",
                enc(&client)
            ))
            .await,
        1001,
    );
    assert_eq!(elem(&a.body, "order").get("state"), "unknown");
    assert_eq!(balance(&child, "demo"), "410.00");
    let unknown = expect(child.form("command=order.list&state=unknown").await, 1000);
    assert_eq!(elems(&unknown.body, "order").len(), 1);
    // A retry is not sent again: the stored order answers.
    let again = child
        .form(&format!(
            "command=domain.register&request-id=R1&domain=late.ru&client={}",
            enc(&client)
        ))
        .await;
    assert!(again.replayed);
    assert_eq!(again.code(), 1001);
    // Still down: reconciliation keeps it open and the money held.
    assert_eq!(
        child
            .engine()
            .reconcile::<regway::outcome::Outcome>(std::time::Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    assert_eq!(balance(&child, "demo"), "410.00");

    let parent = start_parent("1000.00", |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
    })
    .await;
    assert_eq!(
        child
            .engine()
            .reconcile::<regway::outcome::Outcome>(std::time::Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    let a = expect(child.form("command=order.info&request-id=R1").await, 1000);
    let o = elem(&a.body, "order");
    assert_eq!(o.get("state"), "completed");
    let states: Vec<String> = elems(&a.body, "transition")
        .iter()
        .map(|t| t.get("state").to_string())
        .collect();
    assert_eq!(states, ["accepted", "submitted", "unknown", "completed"]);
    assert_eq!(balance(&child, "demo"), "410.00");
    assert_eq!(balance(&parent, "child"), "410.00");
    let status = expect(
        child.form("command=request.status&request-id=R1").await,
        1000,
    );
    assert_eq!(elem(&status.body, "request").get("state"), "done");
    assert!(child.verify().await.problems.is_empty());
    assert!(parent.verify().await.problems.is_empty());
    child.stop().await;
    parent.stop().await;
}
