//! Commissions (programmes C and E): orders for the partner's clients earn commission at
//! the partner's level when they complete, into an account apart from the prepaid
//! balance; the partner spends it (`commission.transfer`), the operator pays it out;
//! a deleted client earns nothing more. Deposits are withdrawn only down to zero.

mod common;

use std::path::Path;

fn e_programme(dir: &Path) -> std::path::PathBuf {
    common::programme_for(dir, "e-clients.toml", "demo")
}

fn charged(a: &common::Answer) -> String {
    a.body.split("<charged currency=\"RUB\">").nth(1).unwrap()[..7].to_string()
}

#[tokio::test]
async fn clients_orders_earn_commission_until_the_client_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let file = e_programme(dir.path());
    let s = common::start_with(|cfg| cfg.programmes = vec![file]).await;
    let mut clients = Vec::new();
    for i in 1..=4 {
        let c = s.client(&format!("C-{i}")).await;
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain=client-{i}.com&client={c}"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
        // Commissions change no price.
        assert_eq!(charged(&a), "1290.00");
        clients.push(c);
    }
    // The first three were placed below Bronze (0, 1, 2 clients with active services);
    // the fourth at Bronze (3): 10% of 1290.00 on domains.
    let l = s.form("command=commission.list").await;
    assert_eq!(l.code(), 1000, "{}", l.body);
    assert!(
        l.body.contains(
            r#"<commission-account earned="129.00" withdrawable="129.00" currency="RUB"/>"#
        ),
        "{}",
        l.body
    );
    let earned = format!(
        r#"<commission-entry id="1" time="2026-01-15T10:00:00Z" kind="earned" amount="129.00" balance-after="129.00" currency="RUB" order="4" client="{}" base="1290.00" category="domains" percent="10" rule="e-clients" tier="Bronze"/>"#,
        clients[3]
    );
    assert!(l.body.contains(&earned), "{}", l.body);
    assert_eq!(l.body.matches("<commission-entry").count(), 1, "{}", l.body);

    // The first client leaves: renewing its domain earns nothing; the second's earns.
    let d = s
        .form(&format!(
            "command=client.delete&request-id=D-1&client={}",
            clients[0]
        ))
        .await;
    assert_eq!(d.code(), 1000, "{}", d.body);
    assert!(
        d.body.contains(r#" deleted="2026-01-15T10:00:00Z">"#),
        "{}",
        d.body
    );
    let again = s
        .form(&format!(
            "command=client.delete&request-id=D-2&client={}",
            clients[0]
        ))
        .await;
    assert_eq!(again.code(), 2304, "{}", again.body);
    let replay = s
        .form(&format!(
            "command=client.delete&request-id=D-1&client={}",
            clients[0]
        ))
        .await;
    assert_eq!(replay.code(), 1000, "{}", replay.body);
    let refused = s
        .form(&format!(
            "command=domain.register&request-id=R-9&domain=after-delete.com&client={}",
            clients[0]
        ))
        .await;
    assert_eq!(refused.code(), 2304, "{}", refused.body);
    for (i, name) in [(1, "client-1.com"), (2, "client-2.com")] {
        let a = s
            .form(&format!(
                "command=domain.renew&request-id=N-{i}&domain={name}&period=1&expires=2027-01-15"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
        assert_eq!(charged(&a), "1490.00");
    }
    // Three clients with active services remain: still Bronze.
    let st = s.form("command=programme.status").await;
    assert!(
        st.body
            .contains(r#"metric="active_clients" value="3" tier="Bronze""#),
        "{}",
        st.body
    );
    assert!(
        st.body.contains(
            r#"<commission-account earned="278.00" withdrawable="278.00" currency="RUB"/>"#
        ),
        "{}",
        st.body
    );
    let l = s.form("command=commission.list&limit=1").await;
    assert!(
        l.body.contains(&format!(r#"kind="earned" amount="149.00" balance-after="278.00" currency="RUB" order="6" client="{}" base="1490.00""#, clients[1])),
        "{}",
        l.body
    );
    assert!(l.body.contains("<next-cursor>"), "{}", l.body);

    // Spending: into the prepaid balance, once per request-id.
    let before = s.form("command=balance.get").await.body;
    assert!(
        before.contains(r#"<balance currency="RUB">1860.00</balance>"#),
        "{before}"
    );
    let too_much = s
        .form("command=commission.transfer&request-id=T-0&amount=278.01")
        .await;
    assert_eq!(too_much.code(), 2104, "{}", too_much.body);
    let t = s
        .form("command=commission.transfer&request-id=T-1&amount=200")
        .await;
    assert_eq!(t.code(), 1000, "{}", t.body);
    assert!(
        t.body
            .contains(r#"kind="spent" amount="-200.00" balance-after="78.00" currency="RUB""#),
        "{}",
        t.body
    );
    assert!(
        t.body
            .contains(r#"<balance currency="RUB">2060.00</balance>"#),
        "{}",
        t.body
    );
    assert!(
        t.body
            .contains(r#"<commission currency="RUB">78.00</commission>"#),
        "{}",
        t.body
    );
    let r = s
        .form("command=commission.transfer&request-id=T-1&amount=200.00")
        .await;
    assert_eq!(r.body, t.body);
    assert!(r.replayed);
    let reused = s
        .form("command=commission.transfer&request-id=T-1&amount=50")
        .await;
    assert_eq!(reused.code(), 2308, "{}", reused.body);
    let ledger = s.form("command=ledger.list&limit=1").await;
    assert!(
        ledger.body.contains(
            r#"kind="commission" amount="200.00" balance-after="2060.00" currency="RUB"/>"#
        ),
        "{}",
        ledger.body
    );

    // Paying out: commission up to what is withdrawable, the deposit down to zero.
    let eng = s.engine();
    let e = eng.withdraw("demo", "78.01", "", true).await.unwrap_err();
    assert_eq!(e.code.number(), 2104, "{e}");
    let v = eng
        .withdraw("demo", "78.00", "payout 1", true)
        .await
        .unwrap();
    assert_eq!(
        (v.commission.as_str(), v.commission_earned.as_str()),
        ("0.00", "278.00")
    );
    let e = eng
        .withdraw("demo", "2060.01", "", false)
        .await
        .unwrap_err();
    assert_eq!(e.code.number(), 2104, "{e}");
    let v = eng
        .withdraw("demo", "2060.00", "refund of deposit", false)
        .await
        .unwrap();
    assert_eq!(v.balance, "0.00");
    let ledger = s.form("command=ledger.list&limit=1").await;
    assert!(
        ledger.body.contains(r#"kind="withdrawal" amount="-2060.00" balance-after="0.00" currency="RUB" note="refund of deposit"/>"#),
        "{}",
        ledger.body
    );
    let report = s.verify().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    s.stop().await;
}

/// A partner on a credit line cannot withdraw what it borrowed.
#[tokio::test]
async fn a_deposit_is_withdrawn_only_down_to_what_is_owed() {
    let s = common::start().await;
    let eng = s.engine();
    eng.add_partner(regway::engine::operator::NewPartner {
        login: "owes".into(),
        password: Some("owes-password".into()),
        credit_limit: Some("1000.00".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    eng.topup("owes", "300.00", "").await.unwrap();
    let client = s
        .form_as(
            "owes",
            "owes-password",
            "command=client.create&request-id=C-1&type=person&name=Ivan+Petrov\
             &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow",
        )
        .await
        .attr("id")
        .unwrap();
    let a = s
        .form_as(
            "owes",
            "owes-password",
            &format!("command=domain.register&request-id=R-1&domain=owes.ru&client={client}"),
        )
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // 300.00 paid, 590.00 charged: it owes 290.00 and has nothing to withdraw.
    let e = eng.withdraw("owes", "0.01", "", false).await.unwrap_err();
    assert_eq!(e.code.number(), 2104, "{e}");
    assert!(e.message.contains("can withdraw 0.00 RUB"), "{e}");
    eng.topup("owes", "500.00", "").await.unwrap();
    let e = eng.withdraw("owes", "210.01", "", false).await.unwrap_err();
    assert!(e.message.contains("can withdraw 210.00 RUB"), "{e}");
    let v = eng.withdraw("owes", "210.00", "", false).await.unwrap();
    assert_eq!(v.balance, "0.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Orders settled by the reconciler (the upstream answered "pending") earn their
/// commission once, when they complete; one whose client is deleted in between earns
/// nothing.
#[tokio::test]
async fn commission_is_earned_once_when_a_late_order_completes() {
    let dir = tempfile::tempdir().unwrap();
    let file = e_programme(dir.path());
    let s = common::start_with(|cfg| {
        cfg.programmes = vec![file];
        cfg.sandbox.faults = regway::config::SandboxFaults {
            pending_percent: 100,
            pending_ms: 50,
            ..Default::default()
        };
        cfg.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let settle = || async {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        assert_eq!(
            s.engine()
                .reconcile::<regway::outcome::Outcome>(std::time::Duration::ZERO)
                .await
                .unwrap(),
            0
        );
    };
    let mut clients = Vec::new();
    for i in 1..=3 {
        let c = s.client(&format!("C-{i}")).await;
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain=late-{i}.com&client={c}"
            ))
            .await;
        assert_eq!(a.code(), 1001, "{}", a.body);
        clients.push(c);
    }
    settle().await;
    // Bronze now: two orders accepted at that level, both still open.
    for (rid, name, client) in [
        ("R-4", "late-4.com", &clients[0]),
        ("R-5", "late-5.com", &clients[1]),
    ] {
        let a = s
            .form(&format!(
                "command=domain.register&request-id={rid}&domain={name}&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1001, "{}", a.body);
    }
    let d = s
        .form(&format!(
            "command=client.delete&request-id=D-1&client={}",
            clients[1]
        ))
        .await;
    assert_eq!(d.code(), 1000, "{}", d.body);
    settle().await;
    settle().await;
    let l = s.form("command=commission.list").await;
    assert!(
        l.body.contains(
            r#"<commission-account earned="129.00" withdrawable="129.00" currency="RUB"/>"#
        ),
        "{}",
        l.body
    );
    assert_eq!(l.body.matches("<commission-entry").count(), 1, "{}", l.body);
    assert!(l.body.contains(r#"order="4""#), "{}", l.body);
    let report = s.verify().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    s.stop().await;
}
