//! A domain keeps the upstream it was registered with: after its zone's upstream
//! changes from the sandbox to a parent, its renewal still goes to the sandbox (where
//! it is registered), while new registrations go to the parent. `regway domain move`
//! (here `Engine::move_domains`) is the operator's explicit step that sends it to the
//! parent from then on.

mod common;
mod support;

use common::{start_config, start_parent};
use regway::engine::moves::MoveDomains;
use support::*;

fn balance(s: &common::TestServer, login: &str) -> String {
    s.engine().show_partner(login).unwrap().balance
}

#[tokio::test]
async fn a_domain_is_renewed_where_it_was_registered_until_moved() {
    let parent = start_parent("1000.00", |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("child");
    // First the zones go to the sandbox; the parent is configured but unused.
    let mut cfg = common::child_config(&data, &parent.url, 2_000);
    cfg.upstream = None;
    let child = start_config(cfg.clone()).await;
    child
        .engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: common::LOGIN.into(),
            password: Some(common::PASSWORD.into()),
            currency: Some("RUB".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    child
        .engine()
        .topup(common::LOGIN, "5000.00", "")
        .await
        .unwrap();
    let client = child.client("C1").await;
    expect(register(&child, "R1", "kept-here.ru", &client).await, 1000);
    child.stop().await;
    assert_eq!(
        balance(&parent, "child"),
        "1000.00",
        "the parent saw nothing"
    );

    // The zone's upstream becomes the parent.
    cfg.upstream = Some("parent".into());
    let child = common::start_when_free(cfg.clone()).await;
    let renew = |rid: &str, expires: &str| {
        format!(
            "command=domain.renew&request-id={rid}&domain=kept-here.ru&period=1&expires={expires}"
        )
    };
    let a = child.form(&renew("R2", "2027-01-15")).await;
    assert_eq!(a.code(), 1000, "renewed at the sandbox: {}", a.body);
    assert_eq!(balance(&parent, "child"), "1000.00", "not at the parent");
    // A new registration goes to the parent.
    expect(register(&child, "R3", "new-there.ru", &client).await, 1000);
    assert_eq!(balance(&parent, "child"), "410.00");

    // The operator moves the zone's sandbox domains to the parent.
    let unknown = child
        .engine()
        .move_domains(MoveDomains {
            from: "sandbox".into(),
            to: "nowhere".into(),
            zone: Some("ru".into()),
            domain: None,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code.number(), 2303, "{}", unknown.message);
    let moved = child
        .engine()
        .move_domains(MoveDomains {
            from: "sandbox".into(),
            to: "parent".into(),
            zone: Some("ru".into()),
            domain: None,
        })
        .await
        .unwrap();
    assert_eq!(moved.moved, ["kept-here.ru"]);
    assert!(moved.busy.is_empty());
    // Now its renewal goes to the parent, which has never registered it.
    let a = child.form(&renew("R4", "2028-01-15")).await;
    assert_eq!(a.code(), 2303, "the parent answered: {}", a.body);
    assert_eq!(balance(&parent, "child"), "410.00");
    // Moving again finds nothing left at the sandbox.
    let again = child
        .engine()
        .move_domains(MoveDomains {
            from: "sandbox".into(),
            to: "parent".into(),
            zone: None,
            domain: None,
        })
        .await
        .unwrap();
    assert!(again.moved.is_empty() && again.busy.is_empty());
    assert!(child.verify().await.problems.is_empty());
    child.stop().await;
    parent.stop().await;
}
