//! The domain commands: `domain.check`, `domain.register`, `domain.renew`,
//! `domain.transfer`, `domain.set-ns`, `domain.set-autorenew`, `domain.info` and
//! `domain.list`.

use super::common::LOGIN;
use super::demo_with_client;
use super::support::*;

#[tokio::test]
async fn domain_check_names_prices_and_limits() {
    let (s, c) = demo_with_client().await;
    bounded(30, async {
        expect(register(&s, "R-own", "mine.ru", &c).await, 1000);
        let a = expect_http(
            s.form(
                "command=domain.check&domain=free.ru&domain=taken.ru&domain=Example.COM\
                 &domain=mine.ru&domain=free.io&domain=%D0%BF%D1%80%D0%B8%D0%BC%D0%B5%D1%80.%D1%80%D1%84\
                 &domain=free.com",
            )
            .await,
            1000,
        );
        let rows = elems(&a.body, "domain");
        assert_eq!(rows.len(), 7, "{}", a.body);
        let row = |n: &str| rows.iter().find(|r| r.get("name") == n).unwrap().clone();
        let free = row("free.ru");
        assert_eq!(free.get("available"), "true");
        assert_eq!(free.get("price"), "590.00");
        assert_eq!(free.get("currency"), "RUB");
        assert_eq!(free.opt("reason"), None);
        let taken = row("taken.ru");
        assert_eq!(taken.get("available"), "false");
        assert_eq!(taken.get("reason"), "registered");
        // Answered in canonical (lower-case) form.
        assert_eq!(row("example.com").get("available"), "false");
        assert_eq!(row("mine.ru").get("available"), "false");
        assert_eq!(row("mine.ru").get("reason"), "registered");
        let io = row("free.io");
        assert_eq!(io.get("available"), "false");
        assert!(io.get("reason").contains("zone not offered"), "{io:?}");
        assert_eq!(io.opt("price"), None);
        let idn = row("xn--e1afmkfd.xn--p1ai");
        assert_eq!(idn.get("unicode"), "пример.рф");
        assert_eq!(idn.get("available"), "false");
        assert_eq!(row("free.com").get("price"), "1290.00");
        // The rows come back in the order asked.
        let names: Vec<_> = rows.iter().map(|r| r.get("name").to_string()).collect();
        assert_eq!(
            names,
            [
                "free.ru",
                "taken.ru",
                "example.com",
                "mine.ru",
                "free.io",
                "xn--e1afmkfd.xn--p1ai",
                "free.com"
            ]
        );

        let fifty: String = (0..50).map(|i| format!("&domain=n{i}.ru")).collect();
        let a = expect_http(s.form(&format!("command=domain.check{fifty}")).await, 1000);
        assert_eq!(elems(&a.body, "domain").len(), 50);
        assert!(elems(&a.body, "domain")
            .iter()
            .all(|r| r.get("available") == "true"));
        expect_http(
            s.form(&format!("command=domain.check{fifty}&domain=n50.ru"))
                .await,
            2004,
        );
        expect_http(s.form("command=domain.check").await, 2003);
        expect_http(s.form("command=domain.check&domain=bad_name.ru").await, 2005);
        expect_http(s.form("command=domain.check&domain=").await, 2005);
        // A read-only command needs no request-id and stores nothing under one given.
        let before = snapshot(&s).await;
        expect(
            s.form("command=domain.check&request-id=CHK-1&domain=free.ru")
                .await,
            1000,
        );
        assert_eq!(snapshot(&s).await, before);
        expect(
            s.form("command=request.status&request-id=CHK-1").await,
            2303,
        );
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn domain_register_success_and_every_refusal() {
    let (s, c) = demo_with_client().await;
    bounded(60, async {
        let a = expect_http(
            s.form(&register_form(
                "R1",
                "alpha.ru",
                &c,
                "&ns=ns1.example.net&ns=ns2.example.net&auto-renew=true",
            ))
            .await,
            1000,
        );
        assert_eq!(
            a.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <result code=\"1000\">Command completed successfully</result>\n  <request-id>R1</request-id>\n  <data>\n    <domain name=\"alpha.ru\" expires=\"2027-01-15\" state=\"active\"/>\n    <order id=\"1\" state=\"completed\"/>\n    <charged currency=\"RUB\">590.00</charged>\n    <balance currency=\"RUB\">9410.00</balance>\n  </data>\n</response>\n"
        );
        assert!(!a.replayed);
        let info = expect(s.form("command=domain.info&domain=alpha.ru").await, 1000);
        let d = elem(&info.body, "domain");
        assert_eq!(d.get("client"), c);
        assert_eq!(d.get("expires"), "2027-01-15");
        assert_eq!(d.get("created"), "2026-01-15T10:00:00Z");
        assert_eq!(d.get("delegated"), "true");
        assert_eq!(d.get("auto-renew"), "true");
        let ns: Vec<_> = elems(&info.body, "ns")
            .into_iter()
            .map(|e| e.text.unwrap())
            .collect();
        assert_eq!(ns, ["ns1.example.net", "ns2.example.net"]);

        // Without nameservers: allowed, not delegated. .com for 10 years costs ten.
        let a = expect(register(&s, "R2", "beta.ru", &c).await, 1000);
        assert_eq!(text(&a.body, "balance").unwrap(), "8820.00");
        let d = elem(
            &expect(s.form("command=domain.info&domain=beta.ru").await, 1000).body,
            "domain",
        );
        assert_eq!(d.get("delegated"), "false");
        assert_eq!(d.get("auto-renew"), "false");
        s.engine().topup(LOGIN, "20000.00", "").await.unwrap();
        let a = expect(
            s.form(&register_form("R3", "gamma.com", &c, "&period=10"))
                .await,
            1000,
        );
        assert_eq!(elem(&a.body, "domain").get("expires"), "2036-01-15");
        assert_eq!(text(&a.body, "charged").unwrap(), "12900.00");
        assert_eq!(text(&a.body, "balance").unwrap(), "15920.00");

        // Glue: an IP only for a host inside the domain, and required there.
        let glue = "&ns=ns1.delta.ru+192.0.2.1&ns=ns2.example.net";
        expect(s.form(&register_form("R4", "delta.ru", &c, glue)).await, 1000);
        let d = expect(s.form("command=domain.info&domain=delta.ru").await, 1000);
        assert_eq!(text(&d.body, "ns").unwrap(), "ns1.delta.ru 192.0.2.1");

        let before = snapshot(&s).await;
        let refusals: Vec<(&str, String, u16)> = vec![
            (
                "glue missing",
                register_form("X1", "eps.ru", &c, "&ns=ns1.eps.ru&ns=ns2.example.net"),
                2306,
            ),
            (
                "glue outside",
                register_form(
                    "X2",
                    "eps.ru",
                    &c,
                    "&ns=ns1.example.net+192.0.2.1&ns=ns2.example.net",
                ),
                2306,
            ),
            (
                "bad glue address",
                register_form("X3", "eps.ru", &c, "&ns=ns1.eps.ru+999.1.1.1&ns=ns2.example.net"),
                2005,
            ),
            (
                "one nameserver",
                register_form("X4", "eps.ru", &c, "&ns=ns1.example.net"),
                2306,
            ),
            (
                "fourteen nameservers",
                register_form(
                    "X5",
                    "eps.ru",
                    &c,
                    &(1..=14).map(|i| format!("&ns=ns{i}.example.net")).collect::<String>(),
                ),
                2306,
            ),
            (
                "a nameserver twice",
                register_form("X6", "eps.ru", &c, "&ns=ns1.example.net&ns=NS1.example.net"),
                2306,
            ),
            ("two years of .ru", register_form("X7", "eps.ru", &c, "&period=2"), 2004),
            ("period 0", register_form("X8", "eps.com", &c, "&period=0"), 2004),
            ("period 11", register_form("X9", "eps.com", &c, "&period=11"), 2004),
            ("unknown zone", register_form("X10", "eps.io", &c, ""), 2306),
            ("below a zone", register_form("X11", "www.eps.ru", &c, ""), 2306),
            ("missing client", register_form("X12", "eps.ru", "9999/RW-P", ""), 2303),
            ("malformed client", register_form("X13", "eps.ru", "RW-9999", ""), 2005),
            (
                "no client",
                "command=domain.register&request-id=X14&domain=eps.ru".into(),
                2003,
            ),
            (
                "no domain",
                format!("command=domain.register&request-id=X15&client={}", enc(&c)),
                2003,
            ),
            (
                "no request-id",
                format!("command=domain.register&domain=eps.ru&client={}", enc(&c)),
                2003,
            ),
            ("bad request-id", register_form("X%20Y", "eps.ru", &c, ""), 2005),
            ("bad auto-renew", register_form("X16", "eps.ru", &c, "&auto-renew=yes"), 2005),
            ("already ours", register_form("X17", "alpha.ru", &c, ""), 2302),
        ];
        for (what, body, code) in &refusals {
            let a = s.form(body).await;
            assert_eq!(a.code(), *code, "{what}: {}", a.body);
            assert_eq!(a.status, http_of(*code), "{what}");
        }
        assert_eq!(snapshot(&s).await, before, "a refused register changed state");

        // Another partner's client: 2201, nothing charged to anyone.
        add_partner(&s, "other", "other-password", Some("5000.00")).await;
        let theirs = client_as(&s, "other", "other-password", "OC-1").await;
        let before = snapshot(&s).await;
        expect_http(register(&s, "X18", "eps.ru", &theirs).await, 2201);
        assert_eq!(snapshot(&s).await, before);
        assert_eq!(balance_as(&s, "other", "other-password").await, "5000.00");
        // And another partner's domain: 2302 for the registrant who comes second.
        let a = s
            .form_as("other", "other-password", &register_form("O1", "alpha.ru", &theirs, ""))
            .await;
        expect_http(a, 2302);
        assert_eq!(balance_as(&s, "other", "other-password").await, "5000.00");

        // A name the registry holds: accepted, charged, refunded in the same write.
        let a = expect_http(register(&s, "R5", "taken.ru", &c).await, 2302);
        let o = elem(&a.body, "order");
        assert_eq!(o.get("state"), "failed");
        assert_eq!(o.get("amount"), "590.00");
        assert!(o.get("reason").contains("already registered"), "{o:?}");
        let after = snapshot(&s).await;
        assert_eq!(after.balance, before.balance, "a failed order is refunded");
        assert_eq!(after.ledger_entries, before.ledger_entries + 2);
        let l = ledger(&s).await;
        assert_eq!(l[0].get("kind"), "refund");
        assert_eq!(l[0].get("amount"), "590.00");
        assert_eq!(l[1].get("kind"), "charge");
        assert_eq!(l[1].get("amount"), "-590.00");
        assert_eq!(l[0].get("order"), l[1].get("order"));
        assert_eq!(l[0].get("order"), o.get("id"));

        // Not enough money: 2104, nothing charged, and the request-id stays free.
        add_partner(&s, "poor", "poor-password", Some("100.00")).await;
        let pc = client_as(&s, "poor", "poor-password", "PC-1").await;
        let a = s
            .form_as("poor", "poor-password", &register_form("P1", "poor.ru", &pc, ""))
            .await;
        expect_http(a, 2104);
        assert_eq!(balance_as(&s, "poor", "poor-password").await, "100.00");
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}

fn transfer_form(rid: &str, domain: &str, client: &str, extra: &str) -> String {
    format!(
        "command=domain.transfer&request-id={rid}&domain={}&client={}&authcode=Xy7%21pQ{extra}",
        enc(domain),
        enc(client)
    )
}

/// `domain.transfer` brings a name another registrar holds (the sandbox's `taken`) for
/// one year at the zone's transfer price, which is its renew price when it has none
/// (.com: 1490.00, not the 1290.00 of a registration). Charged once however often it
/// is sent; every refusal leaves everything as it was.
#[tokio::test]
async fn domain_transfer_charges_once_and_refuses_cleanly() {
    let (s, c) = demo_with_client().await;
    bounded(60, async {
        let before = snapshot(&s).await;
        let body = transfer_form("T1", "taken.com", &c, "&ns=ns1.example.net&ns=ns2.example.net");
        // Two at once and a retry after: one order, one charge, the same answer.
        let (a, b) = tokio::join!(s.form(&body), s.form(&body));
        // One of the two carries the order out; the other answers from its record,
        // with the order done (1000) or still open (1001).
        let (a, b) = if a.code() == 1000 && !a.replayed { (a, b) } else { (b, a) };
        let a = expect_http(a, 1000);
        assert!(matches!(b.code(), 1000 | 1001), "{}", b.body);
        assert_eq!(
            a.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <result code=\"1000\">Command completed successfully</result>\n  <request-id>T1</request-id>\n  <data>\n    <domain name=\"taken.com\" expires=\"2027-01-15\" state=\"active\"/>\n    <order id=\"1\" state=\"completed\"/>\n    <charged currency=\"RUB\">1490.00</charged>\n    <balance currency=\"RUB\">8510.00</balance>\n  </data>\n</response>\n"
        );
        let again = expect_http(s.form(&body).await, 1000);
        assert!(again.replayed);
        assert_eq!(again.body, a.body);
        let after = snapshot(&s).await;
        assert_eq!(after.ledger_entries, before.ledger_entries + 1);
        assert_eq!(after.orders, before.orders + 1);
        assert_eq!(after.domains, before.domains + 1);
        assert_eq!(after.balance, "8510.00");
        let l = ledger(&s).await;
        assert_eq!(l[0].get("kind"), "charge");
        assert_eq!(l[0].get("amount"), "-1490.00");
        let info = expect(s.form("command=domain.info&domain=taken.com").await, 1000);
        let d = elem(&info.body, "domain");
        assert_eq!(d.get("client"), c);
        assert_eq!(d.get("expires"), "2027-01-15");
        assert_eq!(d.get("delegated"), "true");
        assert_eq!(d.get("auto-renew"), "false");
        let o = expect(s.form("command=order.info&request-id=T1").await, 1000);
        assert_eq!(elem(&o.body, "order").get("command"), "domain.transfer");
        assert!(!o.body.contains("Xy7"), "the transfer code is never shown: {}", o.body);
        let listed = expect(s.form("command=order.list&type=domain.transfer").await, 1000);
        assert_eq!(elems(&listed.body, "order").len(), 1);

        // Refusals before the charge: nothing changes.
        let before = snapshot(&s).await;
        let refusals: Vec<(&str, String, u16)> = vec![
            ("already ours", transfer_form("X1", "taken.com", &c, ""), 2302),
            ("missing client", transfer_form("X2", "example.com", "9999/RW-P", ""), 2303),
            ("malformed client", transfer_form("X3", "example.com", "RW-9999", ""), 2005),
            (
                "no authcode",
                format!("command=domain.transfer&request-id=X4&domain=example.com&client={}", enc(&c)),
                2003,
            ),
            (
                "authcode with a space",
                format!(
                    "command=domain.transfer&request-id=X5&domain=example.com&client={}&authcode=a+b",
                    enc(&c)
                ),
                2005,
            ),
            (
                "authcode too long",
                format!(
                    "command=domain.transfer&request-id=X6&domain=example.com&client={}&authcode={}",
                    enc(&c),
                    "a".repeat(65)
                ),
                2004,
            ),
            ("unknown zone", transfer_form("X7", "example.io", &c, ""), 2306),
            ("one nameserver", transfer_form("X8", "example.com", &c, "&ns=ns1.example.net"), 2306),
            ("a period", transfer_form("X9", "example.com", &c, "&period=1"), 2001),
            (
                "no request-id",
                format!("command=domain.transfer&domain=example.com&client={}&authcode=A1", enc(&c)),
                2003,
            ),
        ];
        for (what, body, code) in &refusals {
            let a = s.form(body).await;
            assert_eq!(a.code(), *code, "{what}: {}", a.body);
            assert_eq!(a.status, http_of(*code), "{what}");
        }
        assert_eq!(snapshot(&s).await, before, "a refused transfer changed state");

        // A name registered nowhere: accepted, charged, refunded in the same write;
        // 2303 about the domain, and the request-id is used up.
        let a = expect_http(s.form(&transfer_form("T2", "nowhere.com", &c, "")).await, 2303);
        let o = elem(&a.body, "order");
        assert_eq!(o.get("state"), "failed");
        assert_eq!(o.get("amount"), "1490.00");
        assert!(o.get("reason").contains("nothing to transfer"), "{o:?}");
        let after = snapshot(&s).await;
        assert_eq!(after.balance, before.balance, "a failed transfer is refunded");
        assert_eq!(after.ledger_entries, before.ledger_entries + 2);
        assert_eq!(after.domains, before.domains);
        let again = s.form(&transfer_form("T2", "nowhere.com", &c, "")).await;
        assert_eq!(again.code(), 2303);
        assert!(again.replayed);
        assert_eq!(snapshot(&s).await, after);

        // Past the credit line: 2104, nothing charged, no order, the name not held.
        s.engine()
            .add_partner(regway::engine::operator::NewPartner {
                login: "lender".into(),
                password: Some("lender-password".into()),
                currency: None,
                credit_limit: Some("1000.00".into()),
                allow_ips: vec![],
            })
            .await
            .unwrap();
        let lc = client_as(&s, "lender", "lender-password", "LC-1").await;
        let a = s
            .form_as("lender", "lender-password", &transfer_form("L1", "example.com", &lc, ""))
            .await;
        expect_http(a, 2104);
        assert_eq!(balance_as(&s, "lender", "lender-password").await, "0.00");
        let lender = s.engine().show_partner("lender").unwrap();
        assert_eq!((lender.orders, lender.domains), (0, 0), "nothing was ordered");
        let l = expect(
            s.form_as("lender", "lender-password", "command=ledger.list")
                .await,
            1000,
        );
        assert!(elems(&l.body, "entry").is_empty(), "nothing was charged: {}", l.body);
        // Within it (.ru, 590.00): the balance goes below zero, down to the line.
        let a = s
            .form_as("lender", "lender-password", &transfer_form("L2", "example.ru", &lc, ""))
            .await;
        expect_http(a, 1000);
        assert_eq!(balance_as(&s, "lender", "lender-password").await, "-590.00");
        // The request-id refused for money was not used up.
        let a = s
            .form_as("lender", "lender-password", &transfer_form("L1", "example.su", &lc, ""))
            .await;
        expect_http(a, 2104);
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}

/// A zone's own `transfer` price is charged and listed by `price.list` (for its one
/// year, even where the zone registers for two years at least); a zone without one
/// lists none and transfers at its renew price.
#[tokio::test]
async fn a_zone_with_a_transfer_price_charges_it() {
    let s = super::common::start_with(|cfg| {
        let prices = [(
            "RUB".to_string(),
            regway::config::catalogue::PriceConfig::named([
                ("register", "100.00".to_string()),
                ("renew", "120.00".to_string()),
                ("transfer", "80.00".to_string()),
            ])
            .unwrap(),
        )]
        .into();
        cfg.zones.insert(
            "com".into(),
            regway::config::catalogue::ZoneConfig {
                periods: [2, 10],
                horizon_years: 10,
                prices,
                upstream: None,
                category: "domains".into(),
                whole_script_confusables: None,
            },
        );
    })
    .await;
    let c = s.client("C-1").await;
    bounded(60, async {
        let a = expect(
            s.form(&transfer_form("T1", "example.com", &c, "")).await,
            1000,
        );
        assert_eq!(text(&a.body, "charged").unwrap(), "80.00");
        assert_eq!(elem(&a.body, "domain").get("expires"), "2027-01-15");
        let p = expect(s.form("command=price.list&zone=com").await, 1000);
        let rows: Vec<String> = elems(&p.body, "price")
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e.get("operation"),
                    e.get("period"),
                    e.get("price")
                )
            })
            .collect();
        assert_eq!(rows.first().unwrap(), "register 2 200.00");
        assert_eq!(rows.len(), 9 + 9 + 1, "{rows:?}");
        // A transfer is for one year: one row, not one per period of the zone.
        assert_eq!(rows.last().unwrap(), "transfer 1 80.00");
        let p = expect(s.form("command=price.list&zone=ru").await, 1000);
        assert!(!p.body.contains("operation=\"transfer\""), "{}", p.body);
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn domain_renew_names_the_current_expiry() {
    let (s, c) = demo_with_client().await;
    bounded(60, async {
        s.engine().topup(LOGIN, "100000.00", "").await.unwrap();
        expect(register(&s, "R1", "renew.ru", &c).await, 1000);
        let a = expect_http(
            s.form(
                "command=domain.renew&request-id=N1&domain=renew.ru&period=1&expires=2027-01-15",
            )
            .await,
            1000,
        );
        assert_eq!(elem(&a.body, "domain").get("expires"), "2028-01-15");
        assert_eq!(text(&a.body, "charged").unwrap(), "590.00");
        assert_eq!(text(&a.body, "balance").unwrap(), "108820.00");
        let info = expect(s.form("command=domain.info&domain=renew.ru").await, 1000);
        assert_eq!(elem(&info.body, "domain").get("expires"), "2028-01-15");

        let before = snapshot(&s).await;
        // The same renew again under a new request-id names the old date: refused.
        let a = expect_http(
            s.form(
                "command=domain.renew&request-id=N2&domain=renew.ru&period=1&expires=2027-01-15",
            )
            .await,
            2105,
        );
        assert!(a.body.contains("2028-01-15"), "{}", a.body);
        // The horizon: .com 9 years, then 2 more would reach past 10 years from now.
        assert_eq!(snapshot(&s).await, before);
        expect(
            s.form(&register_form("R2", "far.com", &c, "&period=9"))
                .await,
            1000,
        );
        let before = snapshot(&s).await;
        let a = expect_http(
            s.form("command=domain.renew&request-id=N3&domain=far.com&period=2&expires=2035-01-15")
                .await,
            2105,
        );
        assert!(a.body.contains("too early"), "{}", a.body);
        for (body, code) in [
            // .ru renews for one year only.
            (
                "command=domain.renew&request-id=N4&domain=renew.ru&period=2&expires=2028-01-15",
                2004,
            ),
            (
                "command=domain.renew&request-id=N5&domain=renew.ru&period=1",
                2003,
            ),
            (
                "command=domain.renew&request-id=N6&domain=renew.ru&period=1&expires=2028-1-15",
                2005,
            ),
            (
                "command=domain.renew&request-id=N7&domain=renew.ru&period=1&expires=2028-02-30",
                2005,
            ),
            (
                "command=domain.renew&request-id=N8&domain=nobody.ru&period=1&expires=2027-01-15",
                2303,
            ),
            (
                "command=domain.renew&request-id=N9&domain=renew.io&period=1&expires=2027-01-15",
                2306,
            ),
            (
                "command=domain.renew&request-id=N10&domain=far.com&period=11&expires=2035-01-15",
                2004,
            ),
        ] {
            let a = s.form(body).await;
            assert_eq!(a.code(), code, "{body}: {}", a.body);
        }
        assert_eq!(snapshot(&s).await, before, "a refused renew changed state");
        // Exactly up to the horizon is allowed.
        let a = expect(
            s.form(
                "command=domain.renew&request-id=N11&domain=far.com&period=1&expires=2035-01-15",
            )
            .await,
            1000,
        );
        assert_eq!(elem(&a.body, "domain").get("expires"), "2036-01-15");
        assert_eq!(text(&a.body, "charged").unwrap(), "1490.00");

        // Another partner's domain.
        add_partner(&s, "other", "other-password", Some("5000.00")).await;
        let a = s
            .form_as(
                "other",
                "other-password",
                "command=domain.renew&request-id=N1&domain=renew.ru&period=1&expires=2028-01-15",
            )
            .await;
        expect_http(a, 2201);
        assert_eq!(balance_as(&s, "other", "other-password").await, "5000.00");
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn domain_set_ns_and_set_autorenew() {
    let (s, c) = demo_with_client().await;
    bounded(30, async {
        expect(register(&s, "R1", "ns.ru", &c).await, 1000);
        let before = snapshot(&s).await;
        let a = expect_http(
            s.form("command=domain.set-ns&request-id=S1&domain=ns.ru&ns=ns1.ns.ru+192.0.2.7&ns=dns.example.org")
                .await,
            1000,
        );
        let d = elem(&a.body, "domain");
        assert_eq!(d.get("name"), "ns.ru");
        assert_eq!(d.get("delegated"), "true");
        let ns: Vec<_> = elems(&a.body, "ns")
            .into_iter()
            .map(|e| e.text.unwrap())
            .collect();
        assert_eq!(ns, ["ns1.ns.ru 192.0.2.7", "dns.example.org"]);
        // An order that moves no money: no ledger entry, balance unchanged.
        let after = snapshot(&s).await;
        assert_eq!(after.balance, before.balance);
        assert_eq!(after.ledger_entries, before.ledger_entries);
        assert_eq!(after.orders, before.orders + 1);
        let o = expect(s.form("command=order.info&request-id=S1").await, 1000);
        assert_eq!(elem(&o.body, "order").get("command"), "domain.set-ns");
        assert_eq!(elem(&o.body, "order").get("amount"), "0.00");

        let before = snapshot(&s).await;
        for (body, code) in [
            ("command=domain.set-ns&request-id=S2&domain=ns.ru&ns=ns1.example.net", 2306),
            ("command=domain.set-ns&request-id=S3&domain=ns.ru", 2003),
            ("command=domain.set-ns&request-id=S4&domain=ns.ru&ns=ns1.ns.ru&ns=ns2.example.net", 2306),
            ("command=domain.set-ns&request-id=S5&domain=none.ru&ns=a.example.net&ns=b.example.net", 2303),
            ("command=domain.set-autorenew&request-id=A1&domain=ns.ru", 2003),
            ("command=domain.set-autorenew&request-id=A2&domain=ns.ru&auto-renew=1", 2005),
            ("command=domain.set-autorenew&request-id=A3&domain=none.ru&auto-renew=true", 2303),
        ] {
            let a = s.form(body).await;
            assert_eq!(a.code(), code, "{body}: {}", a.body);
        }
        assert_eq!(snapshot(&s).await, before);

        let a = expect_http(
            s.form("command=domain.set-autorenew&request-id=A4&domain=ns.ru&auto-renew=true")
                .await,
            1000,
        );
        assert_eq!(elem(&a.body, "domain").get("auto-renew"), "true");
        let info = expect(s.form("command=domain.info&domain=ns.ru").await, 1000);
        assert_eq!(elem(&info.body, "domain").get("auto-renew"), "true");
        assert_eq!(snapshot(&s).await, before, "the flag moves no money");
        let a = expect(
            s.form("command=domain.set-autorenew&request-id=A5&domain=NS.RU&auto-renew=false")
                .await,
            1000,
        );
        assert_eq!(elem(&a.body, "domain").get("auto-renew"), "false");
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn domain_info_and_list_filters_and_paging() {
    let (s, c1) = demo_with_client().await;
    bounded(60, async {
        s.engine().topup(LOGIN, "100000.00", "").await.unwrap();
        let c2 = s.client("C-2").await;
        let mut names = Vec::new();
        for i in 0..13 {
            let name = format!("list{i:02}.ru");
            let c = if i % 3 == 0 { &c2 } else { &c1 };
            let extra = if i % 4 == 0 { "&auto-renew=true" } else { "" };
            expect(
                s.form(&register_form(&format!("L{i}"), &name, c, extra))
                    .await,
                1000,
            );
            names.push(name);
        }
        expect(register(&s, "L-x", "other-name.com", &c1).await, 1000);
        expect(register(&s, "L-idn", "пример-тест.рф", &c1).await, 1000);

        let info = expect_http(s.form("command=domain.info&domain=LIST03.ru").await, 1000);
        let d = elem(&info.body, "domain");
        assert_eq!(d.get("name"), "list03.ru");
        assert_eq!(d.get("client"), c2);
        assert_eq!(d.get("state"), "active");
        assert_eq!(d.get("auto-renew"), "false");
        let idn = expect(
            s.form(&format!(
                "command=domain.info&domain={}",
                enc("пример-тест.рф")
            ))
            .await,
            1000,
        );
        assert_eq!(elem(&idn.body, "domain").get("unicode"), "пример-тест.рф");
        expect_http(s.form("command=domain.info&domain=nobody.ru").await, 2303);
        expect_http(s.form("command=domain.info").await, 2003);
        add_partner(&s, "other", "other-password", None).await;
        let a = s
            .form_as(
                "other",
                "other-password",
                "command=domain.info&domain=list01.ru",
            )
            .await;
        expect_http(a, 2201);
        // Another partner sees none of them in its list.
        let a = s
            .form_as("other", "other-password", "command=domain.list")
            .await;
        assert!(elems(&expect(a, 1000).body, "domain").is_empty());

        let all = |rows: &[El]| -> Vec<String> {
            rows.iter().map(|r| r.get("name").to_string()).collect()
        };
        let (rows, pages) = walk(&s, "domain.list", "&limit=2", "domain").await;
        let mut expected: Vec<String> = names.clone();
        expected.push("other-name.com".into());
        expected.push("xn----itbbjuqhdlic.xn--p1ai".into());
        expected.sort();
        let got = all(&rows);
        assert_eq!(got, expected, "every domain once, in order, no gaps");
        assert_eq!(pages, 8);
        // One page holding everything has no next-cursor.
        let a = expect(s.form("command=domain.list&limit=15").await, 1000);
        assert_eq!(elems(&a.body, "domain").len(), 15);
        assert_eq!(text(&a.body, "next-cursor"), None);

        // Filters, also while paging.
        let (rows, _) = walk(
            &s,
            "domain.list",
            &format!("&limit=1&client={}", enc(&c2)),
            "domain",
        )
        .await;
        let want: Vec<String> = (0..13)
            .filter(|i| i % 3 == 0)
            .map(|i| format!("list{i:02}.ru"))
            .collect();
        assert_eq!(all(&rows), want);
        let (rows, _) = walk(&s, "domain.list", "&limit=2&auto-renew=true", "domain").await;
        let want: Vec<String> = (0..13)
            .filter(|i| i % 4 == 0)
            .map(|i| format!("list{i:02}.ru"))
            .collect();
        assert_eq!(all(&rows), want);
        let (rows, _) = walk(
            &s,
            "domain.list",
            &format!("&limit=2&auto-renew=false&client={}", enc(&c2)),
            "domain",
        )
        .await;
        assert_eq!(all(&rows), ["list03.ru", "list06.ru", "list09.ru"]);
        let (rows, _) = walk(&s, "domain.list", "&limit=3&match=ST1", "domain").await;
        assert_eq!(all(&rows), ["list10.ru", "list11.ru", "list12.ru"]);
        let (rows, _) = walk(
            &s,
            "domain.list",
            &format!("&match={}", enc("тест")),
            "domain",
        )
        .await;
        assert_eq!(all(&rows), ["xn----itbbjuqhdlic.xn--p1ai"]);
        let (rows, _) = walk(&s, "domain.list", "&state=active&limit=4", "domain").await;
        assert_eq!(rows.len(), 15);
        let (rows, _) = walk(&s, "domain.list", "&state=expired", "domain").await;
        assert!(rows.is_empty());
        let (rows, _) = walk(&s, "domain.list", "&match=zzz", "domain").await;
        assert!(rows.is_empty());
        for (body, code) in [
            ("command=domain.list&state=gone", 2005),
            ("command=domain.list&limit=0", 2004),
            ("command=domain.list&limit=1001", 2004),
            ("command=domain.list&limit=ten", 2005),
            ("command=domain.list&client=nobody", 2005),
            ("command=domain.list&auto-renew=maybe", 2005),
            ("command=domain.list&cursor=", 2005),
        ] {
            let a = s.form(body).await;
            assert_eq!(a.code(), code, "{body}: {}", a.body);
        }
    })
    .await;
    s.stop().await;
}
