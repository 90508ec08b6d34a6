//! The daily background work: automatic renewal some days before expiry, paid from the
//! balance (a failed order that cost nothing when the money is not there, tried again
//! the next day), and domains past their expiry date becoming `expired`.

mod common;
mod support;

use common::TestServer;
use support::*;

async fn register(s: &TestServer, rid: &str, name: &str, client: &str, auto: bool) {
    expect(
        s.form(&format!(
            "command=domain.register&request-id={rid}&domain={name}&client={}&auto-renew={auto}",
            enc(client)
        ))
        .await,
        1000,
    );
}

async fn info(s: &TestServer, name: &str) -> El {
    elem(
        &expect(
            s.form(&format!("command=domain.info&domain={name}")).await,
            1000,
        )
        .body,
        "domain",
    )
}

fn balance(s: &TestServer) -> String {
    s.engine().show_partner("demo").unwrap().balance
}

#[tokio::test]
async fn auto_renewal_and_expiry() {
    // Exactly enough for three registrations at 590.00.
    let s = common::start_with(|c| c.demo.balance = "1770.00".into()).await;
    let client = s.client("C1").await;
    register(&s, "R1", "auto-a.ru", &client, true).await;
    register(&s, "R2", "manual-b.ru", &client, false).await;
    register(&s, "R3", "auto-c.ru", &client, true).await;
    assert_eq!(balance(&s), "0.00");

    // Nothing is due a year ahead.
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!(r, Default::default());

    // 26 days before expiry: both auto-renewals are due, and unpaid.
    let s = s.restart_at("2026-12-20T03:00:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!((r.renewed, r.unpaid, r.expired), (0, 2, 0));
    let failed = expect(s.form("command=order.list&state=failed").await, 1000);
    let rows = elems(&failed.body, "order");
    assert_eq!(rows.len(), 2);
    for o in &rows {
        assert_eq!(o.get("command"), "domain.renew");
        assert_eq!(o.get("amount"), "0.00");
        assert!(o
            .get("request-id")
            .starts_with("auto-renew:2027-01-15:2026-12-20:"));
        assert!(o.get("reason").contains("not enough funds"), "{o:?}");
    }
    let status = expect(
        s.form(&format!(
            "command=request.status&request-id={}",
            rows[0].get("request-id")
        ))
        .await,
        1000,
    );
    assert!(status.body.contains("code=\"2104\""), "{}", status.body);
    // The same day again: nothing new.
    s.engine().daily(30, 3).await.unwrap();
    let failed = expect(s.form("command=order.list&state=failed").await, 1000);
    assert_eq!(elems(&failed.body, "order").len(), 2);
    assert!(s.verify().await.problems.is_empty());

    // Money for one renewal; the next day one is renewed, the other fails again.
    s.engine().topup("demo", "590.00", "test").await.unwrap();
    let s = s.restart_at("2026-12-21T03:00:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!((r.renewed, r.unpaid), (1, 1));
    assert_eq!(balance(&s), "0.00");
    assert_eq!(info(&s, "auto-a.ru").await.get("expires"), "2028-01-15");
    assert_eq!(info(&s, "auto-c.ru").await.get("expires"), "2027-01-15");
    // Restarted the same day: neither today's renewal nor today's refusal is repeated.
    let s = s.restart_at("2026-12-21T09:00:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!(r, Default::default());
    let failed = expect(s.form("command=order.list&state=failed").await, 1000);
    assert_eq!(elems(&failed.body, "order").len(), 3);
    assert_eq!(info(&s, "auto-a.ru").await.get("expires"), "2028-01-15");
    let renewals = expect(
        s.form("command=order.list&type=domain.renew&state=completed")
            .await,
        1000,
    );
    assert_eq!(elems(&renewals.body, "order").len(), 1);

    // The day after expiry: the two that were not renewed are expired.
    let s = s.restart_at("2027-01-16T00:30:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!(r.expired, 2);
    assert_eq!(info(&s, "auto-a.ru").await.get("state"), "active");
    assert_eq!(info(&s, "manual-b.ru").await.get("state"), "expired");
    assert_eq!(info(&s, "auto-c.ru").await.get("state"), "expired");
    assert_eq!(s.engine().daily(30, 3).await.unwrap().expired, 0);
    // An expired domain renewed with its current expiry date is active again.
    s.engine().topup("demo", "590.00", "test").await.unwrap();
    expect(
        s.form("command=domain.renew&request-id=R9&domain=manual-b.ru&period=1&expires=2027-01-15")
            .await,
        1000,
    );
    let b = info(&s, "manual-b.ru").await;
    assert_eq!((b.get("state"), b.get("expires")), ("active", "2028-01-15"));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
