//! One request-id, one execution: a retry gets the stored bytes and is charged nothing,
//! a reuse with other parameters is refused, and a request refused before it ran
//! leaves its request-id free for the corrected retry.

mod common;
mod support;

use common::LOGIN;
use support::*;

#[tokio::test]
async fn a_retry_gets_the_same_bytes_and_is_charged_once() {
    let s = common::start().await;
    bounded(30, async {
        let c = s.client("C-1").await;
        let body = register_form(
            "R1",
            "once.ru",
            &c,
            "&ns=ns1.example.net&ns=ns2.example.net",
        );
        let first = expect(s.form(&body).await, 1000);
        assert!(!first.replayed);
        let after_first = snapshot(&s).await;
        for _ in 0..3 {
            let again = s.form(&body).await;
            assert!(again.replayed, "a retry is marked as replayed");
            assert_eq!(again.status, first.status);
            assert_eq!(again.body, first.body, "a retry answers the stored bytes");
        }
        // The parameters in another spelling are the same parameters.
        let respelled = s
            .form(&format!(
                "domain=ONCE.RU&request-id=R1&command=domain.register&period=1&auto-renew=false\
                 &ns=ns1.example.net&client={}&ns=ns2.example.net",
                enc(&c)
            ))
            .await;
        assert!(respelled.replayed);
        assert_eq!(respelled.body, first.body);
        assert_eq!(snapshot(&s).await, after_first, "a retry changed state");
        assert_eq!(balance(&s).await, "9410.00");
        let charges: Vec<_> = ledger(&s)
            .await
            .into_iter()
            .filter(|e| e.get("kind") == "charge")
            .collect();
        assert_eq!(charges.len(), 1);
        assert_eq!(orders(&s).await.len(), 1);

        // A retry of a request whose order failed: the same failure, one refund.
        let taken = register_form("R2", "taken.ru", &c, "");
        let failed = expect(s.form(&taken).await, 2302);
        let again = s.form(&taken).await;
        assert!(again.replayed);
        assert_eq!(again.body, failed.body);
        assert_eq!(again.status, 409);
        let l = ledger(&s).await;
        assert_eq!(l.iter().filter(|e| e.get("kind") == "refund").count(), 1);
        assert_eq!(balance(&s).await, "9410.00");

        // client.create: one client however often it is sent.
        let cbody = "command=client.create&request-id=C-2&type=person&name=Anna&email=a%40b.ru\
                     &phone=%2B7.4951234567&country=RU&address=Kazan";
        let first = expect(s.form(cbody).await, 1000);
        let again = s.form(cbody).await;
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
        assert_eq!(s.engine().show_partner(LOGIN).unwrap().clients, 2);

        // request.status holds the same answer.
        let st = expect(s.form("command=request.status&request-id=R1").await, 1000);
        assert_eq!(elem(&st.body, "request").get("state"), "done");
        assert_eq!(
            elems(&st.body, "balance")[0].text.as_deref(),
            Some("9410.00")
        );
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_replay_executes_nothing_again() {
    let s = common::start().await;
    bounded(30, async {
        let c = s.client("C-1").await;
        expect(register(&s, "R1", "flag.ru", &c).await, 1000);
        let on = "command=domain.set-autorenew&request-id=A1&domain=flag.ru&auto-renew=true";
        let first = expect(s.form(on).await, 1000);
        expect(
            s.form("command=domain.set-autorenew&request-id=A2&domain=flag.ru&auto-renew=false")
                .await,
            1000,
        );
        let again = s.form(on).await;
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
        let info = expect(s.form("command=domain.info&domain=flag.ru").await, 1000);
        assert_eq!(
            elem(&info.body, "domain").get("auto-renew"),
            "false",
            "the replay switched auto-renew on again"
        );

        // A renew retried after it moved the expiry: the stored success, not 2105,
        // and no second year.
        let renew = "command=domain.renew&request-id=N1&domain=flag.ru&expires=2027-01-15";
        let first = expect(s.form(renew).await, 1000);
        let before = snapshot(&s).await;
        let again = s.form(renew).await;
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
        assert_eq!(snapshot(&s).await, before);
        let info = expect(s.form("command=domain.info&domain=flag.ru").await, 1000);
        assert_eq!(elem(&info.body, "domain").get("expires"), "2028-01-15");
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn other_parameters_under_a_used_request_id_are_refused() {
    let s = common::start().await;
    bounded(30, async {
        let c = s.client("C-1").await;
        let first = expect(register(&s, "R1", "first.ru", &c).await, 1000);
        let before = snapshot(&s).await;
        let variants = vec![
            register_form("R1", "second.ru", &c, ""),
            register_form("R1", "first.ru", &c, "&auto-renew=true"),
            register_form("R1", "first.ru", &c, "&ns=a.example.net&ns=b.example.net"),
            // Another command under the same request-id.
            "command=domain.renew&request-id=R1&domain=first.ru&expires=2027-01-15".into(),
            "command=client.create&request-id=R1&type=person&name=A&email=a%40b.ru\
             &phone=%2B7.4951234567&country=RU&address=M"
                .into(),
            "command=domain.set-autorenew&request-id=R1&domain=first.ru&auto-renew=true".into(),
        ];
        for v in &variants {
            let a = expect_http(s.form(v).await, 2308);
            assert!(!a.replayed, "{v}");
            assert_eq!(text(&a.body, "request-id").as_deref(), Some("R1"));
        }
        // Even as XML.
        let a = s
            .xml(&format!(
                "<request command=\"domain.register\" request-id=\"R1\"><domain>third.ru</domain>\
                 <client>{c}</client></request>"
            ))
            .await;
        expect_http(a, 2308);
        assert_eq!(snapshot(&s).await, before, "a refused reuse changed state");
        expect(s.form("command=domain.info&domain=second.ru").await, 2303);
        // The original is still there, unchanged.
        let again = register(&s, "R1", "first.ru", &c).await;
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_request_refused_before_execution_leaves_its_request_id_free() {
    let s = common::start().await;
    bounded(30, async {
        let c = s.client("C-1").await;
        let before = snapshot(&s).await;
        // 2005: the name is malformed; the corrected request may use the same id.
        expect(register(&s, "F1", "bad_name.ru", &c).await, 2005);
        // 2004, 2306, 2303, 2003: the same.
        expect(
            s.form(&register_form("F2", "fine2.ru", &c, "&period=2"))
                .await,
            2004,
        );
        expect(register(&s, "F3", "fine3.io", &c).await, 2306);
        expect(register(&s, "F4", "fine4.ru", "9999/RW-P").await, 2303);
        expect(
            s.form("command=domain.register&request-id=F5&domain=fine5.ru")
                .await,
            2003,
        );
        expect(
            s.form("command=domain.renew&request-id=F6&domain=nothere.ru&expires=2027-01-15")
                .await,
            2303,
        );
        assert_eq!(snapshot(&s).await, before);
        for rid in ["F1", "F2", "F3", "F4", "F5", "F6"] {
            expect(
                s.form(&format!("command=request.status&request-id={rid}"))
                    .await,
                2303,
            );
        }
        for (rid, name) in [
            ("F1", "fine1.ru"),
            ("F2", "fine2.ru"),
            ("F3", "fine3.ru"),
            ("F4", "fine4.ru"),
            ("F5", "fine5.ru"),
        ] {
            let a = expect(register(&s, rid, name, &c).await, 1000);
            assert!(!a.replayed, "{rid} was not free");
        }
        let a = expect(
            s.form("command=domain.renew&request-id=F6&domain=fine1.ru&expires=2027-01-15")
                .await,
            1000,
        );
        assert!(!a.replayed);

        // 2104: not enough money. After a top-up the same request-id goes through.
        add_partner(&s, "poor", "poor-password", Some("500.00")).await;
        let pc = client_as(&s, "poor", "poor-password", "PC-1").await;
        let body = register_form("P1", "poor.ru", &pc, "");
        expect_http(s.form_as("poor", "poor-password", &body).await, 2104);
        expect_http(s.form_as("poor", "poor-password", &body).await, 2104);
        assert_eq!(balance_as(&s, "poor", "poor-password").await, "500.00");
        s.engine().topup("poor", "90.00", "").await.unwrap();
        let a = expect(s.form_as("poor", "poor-password", &body).await, 1000);
        assert!(!a.replayed);
        assert_eq!(text(&a.body, "balance").as_deref(), Some("0.00"));
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn request_ids_belong_to_one_partner() {
    let s = common::start().await;
    bounded(30, async {
        let c = s.client("C-1").await;
        add_partner(&s, "other", "other-password", Some("5000.00")).await;
        let oc = client_as(&s, "other", "other-password", "C-1").await;
        assert_ne!(oc, c, "the same request-id made two clients, one each");
        let mine = expect(register(&s, "R1", "mine.ru", &c).await, 1000);
        let theirs = s
            .form_as(
                "other",
                "other-password",
                &register_form("R1", "theirs.ru", &oc, ""),
            )
            .await;
        let theirs = expect(theirs, 1000);
        assert!(!theirs.replayed);
        assert_ne!(mine.body, theirs.body);
        assert_eq!(balance_as(&s, "other", "other-password").await, "4410.00");
        assert_eq!(balance(&s).await, "9410.00");
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}
