//! Licences: order, renew, move to another IP, read and list, with the built-in
//! ISPmanager 6 catalogue; money moves as for domains.

mod common;
mod support;

use support::*;

fn balance(s: &common::TestServer) -> String {
    s.engine().show_partner("demo").unwrap().balance
}

#[tokio::test]
async fn licence_lifecycle() {
    let s = common::start().await;
    let client = s.client("C1").await;
    let order = |rid: &str, product: &str, period: &str, ip: &str| {
        format!(
            "command=license.order&request-id={rid}&product={product}&period={period}&ip={ip}&client={}",
            enc(&client)
        )
    };

    let a = expect(
        s.form(&order("L1", "ispmanager6-lite", "month", "203.0.113.10"))
            .await,
        1000,
    );
    let l = elem(&a.body, "license");
    let id = l.get("id").to_string();
    assert_eq!(l.get("product"), "ispmanager6-lite");
    assert_eq!(l.get("period"), "month");
    assert_eq!(l.get("ip"), "203.0.113.10");
    assert_eq!(l.get("state"), "active");
    assert_eq!(l.get("expires"), "2026-02-15");
    assert_eq!(l.get("auto-renew"), "false");
    assert_eq!(elem(&a.body, "order").get("state"), "completed");
    assert_eq!(text(&a.body, "charged").as_deref(), Some("290.00"));
    assert_eq!(balance(&s), "9710.00");

    // A retry is the stored answer; nothing is charged again.
    let again = s
        .form(&order("L1", "ispmanager6-lite", "month", "203.0.113.10"))
        .await;
    assert!(again.replayed);
    assert_eq!(again.body, a.body);
    assert_eq!(balance(&s), "9710.00");

    // Yearly Pro licence, IPv6.
    let a = expect(
        s.form(&order("L2", "ispmanager6-pro", "year", "2001:db8::1"))
            .await,
        1000,
    );
    assert_eq!(elem(&a.body, "license").get("expires"), "2027-01-15");
    assert_eq!(balance(&s), "3810.00");

    // Refusals: product, period, address, money.
    expect(
        s.form(&order("L3", "ispmanager5-lite", "month", "203.0.113.11"))
            .await,
        2306,
    );
    expect(
        s.form(&order("L3", "ispmanager6-lite", "week", "203.0.113.11"))
            .await,
        2005,
    );
    expect(
        s.form(&order("L3", "ispmanager6-lite", "month", "203.0.113.300"))
            .await,
        2005,
    );
    expect(
        s.form(&order("L3", "ispmanager6-business", "year", "203.0.113.11"))
            .await,
        2104,
    );
    assert_eq!(balance(&s), "3810.00");

    // Renewal names the current expiry date.
    let renew = |rid: &str, expires: &str| {
        format!(
            "command=license.renew&request-id={rid}&license={id}&period=month&expires={expires}"
        )
    };
    expect(s.form(&renew("L4", "2026-03-15")).await, 2105);
    let a = expect(s.form(&renew("L5", "2026-02-15")).await, 1000);
    assert_eq!(elem(&a.body, "license").get("expires"), "2026-03-15");
    assert_eq!(balance(&s), "3520.00");

    // Moving to another address costs nothing.
    let a = expect(
        s.form(&format!(
            "command=license.set-ip&request-id=L6&license={id}&ip=198.51.100.7"
        ))
        .await,
        1000,
    );
    assert_eq!(elem(&a.body, "license").get("ip"), "198.51.100.7");
    assert_eq!(balance(&s), "3520.00");

    let info = expect(
        s.form(&format!("command=license.info&license={id}")).await,
        1000,
    );
    let l = elem(&info.body, "license");
    assert_eq!(
        (l.get("ip"), l.get("expires")),
        ("198.51.100.7", "2026-03-15")
    );
    expect(s.form("command=license.info&license=999999").await, 2303);

    let list = expect(s.form("command=license.list&limit=1").await, 1000);
    assert_eq!(elems(&list.body, "license").len(), 1);
    let next = text(&list.body, "next-cursor").expect("a second page");
    let list = expect(
        s.form(&format!("command=license.list&limit=1&cursor={next}"))
            .await,
        1000,
    );
    assert_eq!(
        elem(&list.body, "license").get("product"),
        "ispmanager6-pro"
    );
    assert!(text(&list.body, "next-cursor").is_none());

    let orders = expect(s.form("command=order.list&type=license.order").await, 1000);
    let rows = elems(&orders.body, "order");
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|o| o.opt("domain").is_none() && o.opt("license").is_some()));

    // Another partner's licence.
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "other".into(),
            password: Some("other-password".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    expect(
        s.form_as(
            "other",
            "other-password",
            &format!("command=license.info&license={id}"),
        )
        .await,
        2201,
    );

    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn licences_renew_automatically_and_expire() {
    let s = common::start().await;
    let client = s.client("C1").await;
    let mut ids = Vec::new();
    for (rid, auto) in [("L1", true), ("L2", false)] {
        let a = expect(
            s.form(&format!(
                "command=license.order&request-id={rid}&product=ispmanager6-host&period=month\
                 &ip=203.0.113.10&client={}&auto-renew={auto}",
                enc(&client)
            ))
            .await,
            1000,
        );
        ids.push(elem(&a.body, "license").get("id").to_string());
    }
    // Four days before: not yet.
    let s = s.restart_at("2026-02-11T03:00:00Z").await;
    assert_eq!(s.engine().daily(30, 3).await.unwrap(), Default::default());
    // Two days before: the auto-renewing one is renewed for its period.
    let s = s.restart_at("2026-02-13T03:00:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!((r.renewed, r.unpaid, r.expired), (1, 0, 0));
    assert_eq!(info(&s, &ids[0]).await.get("expires"), "2026-03-15");
    assert_eq!(info(&s, &ids[1]).await.get("expires"), "2026-02-15");
    let renewals = expect(s.form("command=order.list&type=license.renew").await, 1000);
    let o = elem(&renewals.body, "order");
    assert_eq!(
        o.get("request-id"),
        format!("auto-renew:2026-02-15:2026-02-13:license.{}", ids[0])
    );
    assert_eq!(o.get("amount"), "1390.00");
    // The day after: the other one is expired.
    let s = s.restart_at("2026-02-16T03:00:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!((r.renewed, r.expired), (0, 1));
    assert_eq!(info(&s, &ids[0]).await.get("state"), "active");
    assert_eq!(info(&s, &ids[1]).await.get("state"), "expired");
    // An expired licence cannot move; renewing it with its expiry date revives it.
    expect(
        s.form(&format!(
            "command=license.set-ip&request-id=L3&license={}&ip=198.51.100.1",
            ids[1]
        ))
        .await,
        2304,
    );
    expect(
        s.form(&format!(
            "command=license.renew&request-id=L4&license={}&period=month&expires=2026-02-15",
            ids[1]
        ))
        .await,
        1000,
    );
    let l = info(&s, &ids[1]).await;
    assert_eq!((l.get("state"), l.get("expires")), ("active", "2026-03-15"));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

async fn info(s: &common::TestServer, id: &str) -> El {
    elem(
        &expect(
            s.form(&format!("command=license.info&license={id}")).await,
            1000,
        )
        .body,
        "license",
    )
}

/// Addresses no server can hold a licence on are refused (2306) before anything is
/// charged, in whatever form they are written: IPv4-mapped and IPv4-compatible IPv6
/// addresses are the IPv4 address they carry. A mapped address that is fine is kept in
/// its IPv4 form. Private ranges are a setting.
#[tokio::test]
async fn licence_addresses_that_no_server_holds() {
    for allow_private in [false, true] {
        let s = common::start_with(|c| c.license_allow_private_ips = allow_private).await;
        let client = s.client("C1").await;
        let order = |rid: &str, ip: &str| {
            format!(
                "command=license.order&request-id={rid}&product=ispmanager6-lite&period=month\
                 &ip={}&client={}",
                enc(ip),
                enc(&client)
            )
        };
        let a = expect(s.form(&order("OK", "203.0.113.10")).await, 1000);
        let id = elem(&a.body, "license").get("id").to_string();
        let before = balance(&s);
        let refused = [
            "::ffff:127.0.0.1",
            "::ffff:0.0.0.0",
            "::ffff:224.0.0.1",
            "::127.0.0.1",
            "255.255.255.255",
            "169.254.169.254",
            "fe80::1",
            "127.0.0.1",
            "0.0.0.0",
            "::",
            "::1",
            "ff02::1",
            "240.0.0.1",
            "::ffff:169.254.169.254",
        ];
        let private = [
            "10.0.0.1",
            "192.168.1.10",
            "172.16.5.4",
            "fd12::1",
            "::ffff:10.0.0.1",
        ];
        for (i, ip) in refused.iter().enumerate() {
            let a = expect(s.form(&order(&format!("B{i}"), ip)).await, 2306);
            assert!(a.body.contains("public address"), "{ip}: {}", a.body);
            let a = expect(
                s.form(&format!(
                    "command=license.set-ip&request-id=M{i}&license={id}&ip={}",
                    enc(ip)
                ))
                .await,
                2306,
            );
            assert!(a.body.contains("ip: "), "{ip}: {}", a.body);
        }
        for (i, ip) in private.iter().enumerate() {
            let a = s.form(&order(&format!("P{i}"), ip)).await;
            if allow_private {
                assert_eq!(a.code(), 1000, "{ip}: {}", a.body);
            } else {
                assert_eq!(a.code(), 2306, "{ip}: {}", a.body);
                assert!(a.body.contains("private address"), "{}", a.body);
            }
        }
        if !allow_private {
            assert_eq!(balance(&s), before, "nothing was charged");
        }
        // A mapped public address is kept and answered as IPv4.
        let a = expect(
            s.form(&format!(
                "command=license.set-ip&request-id=MAP&license={id}&ip={}",
                enc("::ffff:198.51.100.7")
            ))
            .await,
            1000,
        );
        assert_eq!(elem(&a.body, "license").get("ip"), "198.51.100.7");
        assert!(s.verify().await.problems.is_empty());
        s.stop().await;
    }
}
