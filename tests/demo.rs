//! The demo partner (published password, free money) never becomes a door: it is made
//! only on loopback, a gateway with a real upstream refuses to start while the store
//! holds it, and `regway demo remove` takes it away with all it owns.

mod common;
mod process;
mod support;

use regway::config::Config;

/// A configuration whose zones go to a regway parent (never called here).
fn with_real_upstream(data: &std::path::Path) -> Config {
    common::child_config(data, "http://127.0.0.1:9/api", 1000)
}

async fn refusal(cfg: Config) -> String {
    match regway::app::start(cfg).await {
        Ok(r) => {
            r.shutdown().await;
            panic!("the gateway started with the demo partner and a real upstream")
        }
        Err(e) => e.message,
    }
}

#[tokio::test]
async fn no_demo_partner_when_listening_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    let s = common::start_config(cfg).await;
    assert!(s.engine().partner("demo").unwrap().is_none());
    assert!(!s.engine().has_partners().unwrap());
    assert!(s.engine().demo_partner().unwrap().is_none());
    s.stop().await;
    // On loopback it is made, and marked.
    let s = common::start().await;
    assert_eq!(s.engine().demo_partner().unwrap().as_deref(), Some("demo"));
    s.stop().await;
}

#[tokio::test]
async fn a_real_upstream_refuses_to_start_until_the_demo_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_config(common::test_config(dir.path())).await;
    // The demo partner owns a client and a domain.
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=demo-shop.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // And another partner, who must stay.
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "acme".into(),
            password: Some("acme-password".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    s.engine().topup("acme", "50.00", "").await.unwrap();
    s.stop().await;

    let msg = refusal(with_real_upstream(dir.path())).await;
    assert!(msg.contains("demo partner \"demo\""), "{msg}");
    assert!(msg.contains("regway demo remove"), "{msg}");
    assert!(msg.contains("enabled = false"), "{msg}");

    let (ok, out) = process::operator(dir.path(), &["demo", "remove"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("removed the demo partner demo and all it owned: clients 1, domains 1, orders 1, licences 0"),
        "{out}"
    );
    let (ok, out) = process::operator(dir.path(), &["demo", "remove"]).await;
    assert!(ok && out.contains("there is no demo partner"), "{out}");

    let s = common::start_when_free(with_real_upstream(dir.path())).await;
    assert!(s.engine().partner("demo").unwrap().is_none());
    assert!(s.engine().partner("acme").unwrap().is_some());
    // Nothing of it is left behind: the name is free, the store checks out.
    assert!(s
        .engine()
        .store
        .domain_owner("demo-shop.ru")
        .unwrap()
        .is_none());
    let r = s.verify().await;
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.partners, 1);
    s.stop().await;
}

/// A store made before the demo was marked: its demo partner is known by its starting
/// balance, and refused all the same.
#[tokio::test]
async fn an_older_stores_demo_partner_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_config(common::test_config(dir.path())).await;
    s.engine()
        .store
        .write(|tx| tx.set_demo(None))
        .await
        .unwrap();
    assert!(s.engine().demo_partner().unwrap().is_none());
    s.stop().await;
    let msg = refusal(with_real_upstream(dir.path())).await;
    assert!(msg.contains("regway demo remove"), "{msg}");
}

/// A partner called `demo` that the operator made is not the demo.
#[tokio::test]
async fn an_operators_own_partner_named_demo_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_config(with_real_upstream(dir.path())).await;
    assert!(
        !s.engine().has_partners().unwrap(),
        "a demo in front of a real upstream"
    );
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "demo".into(),
            password: Some("a-real-password".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    s.engine()
        .topup("demo", "10.00", "invoice 1")
        .await
        .unwrap();
    assert!(s.engine().demo_partner().unwrap().is_none());
    s.stop().await;
    let s = common::start_when_free(with_real_upstream(dir.path())).await;
    assert!(s.engine().partner("demo").unwrap().is_some());
    s.stop().await;
}

#[tokio::test]
async fn the_demo_is_not_removed_while_one_of_its_orders_is_open() {
    let s = common::start_with(|c| {
        c.sandbox.faults.pending_percent = 100;
        c.sandbox.faults.pending_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=pending-shop.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1001, "{}", a.body);
    let e = s.engine().remove_demo().await.unwrap_err();
    assert_eq!(e.code, regway::error::Code::StatusProhibits);
    assert!(e.message.contains("still open"), "{}", e.message);
    assert!(s.engine().partner("demo").unwrap().is_some());
    s.stop().await;
}
