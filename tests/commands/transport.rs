//! What holds for every command: which may come by GET, and form and XML requests
//! answered with the same bytes.

use super::common::{LOGIN, PASSWORD};
use super::demo_with_client;
use super::support::*;

#[tokio::test]
async fn get_only_for_read_only_commands() {
    let (s, c) = demo_with_client().await;
    bounded(30, async {
        expect(register(&s, "R1", "get.ru", &c).await, 1000);
        let get = |q: String| {
            s.raw(
                s.client
                    .get(format!("{}?{q}", s.url))
                    .basic_auth(LOGIN, Some(PASSWORD)),
            )
        };
        let post = s.form("command=balance.get").await;
        let a = expect_http(get("command=balance.get".into()).await, 1000);
        assert_eq!(a.body, post.body);
        for q in [
            "command=domain.check&domain=free.ru&domain=taken.ru",
            "command=domain.info&domain=get.ru",
            "command=domain.list&limit=5",
            "command=client.info&client=1000%2FRW-P",
            "command=client.list",
            "command=order.info&order=1",
            "command=order.info&request-id=R1",
            "command=order.list",
            "command=ledger.list",
            "command=request.status&request-id=R1",
        ] {
            let g = get(q.to_string()).await;
            let p = s.form(q).await;
            assert_eq!(g.code(), 1000, "GET {q}: {}", g.body);
            assert_eq!(g.body, p.body, "GET and POST differ for {q}");
        }

        let before = snapshot(&s).await;
        for q in [
            format!("command=domain.register&request-id=G1&domain=get2.ru&client={}", enc(&c)),
            "command=domain.renew&request-id=G2&domain=get.ru&expires=2027-01-15".into(),
            "command=domain.set-ns&request-id=G3&domain=get.ru&ns=a.example.net&ns=b.example.net".into(),
            "command=domain.set-autorenew&request-id=G4&domain=get.ru&auto-renew=true".into(),
            "command=client.create&request-id=G5&type=person&name=A&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M".into(),
        ] {
            let g = get(q.clone()).await;
            assert_eq!(g.code(), 2001, "GET {q}: {}", g.body);
            assert_eq!(g.status, 400);
        }
        assert_eq!(snapshot(&s).await, before, "a GET changed state");
        // The request-ids refused over GET are still free.
        let a = expect(
            s.form(&register_form("G1", "get2.ru", &c, "")).await,
            1000,
        );
        assert!(!a.replayed);
        // Parameters of a POST go in the body; other methods are refused.
        let q = s
            .raw(
                s.client
                    .post(format!("{}?command=balance.get", s.url))
                    .basic_auth(LOGIN, Some(PASSWORD))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(""),
            )
            .await;
        expect_http(q, 2001);
        let put = s
            .raw(
                s.client
                    .put(&s.url)
                    .basic_auth(LOGIN, Some(PASSWORD))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("command=balance.get"),
            )
            .await;
        expect_http(put, 2001);
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn form_and_xml_give_the_same_bytes() {
    let (s, c) = demo_with_client().await;
    bounded(30, async {
        expect(register(&s, "R1", "same.ru", &c).await, 1000);
        let cases: Vec<(String, String)> = vec![
            ("command=balance.get".into(), "<request command=\"balance.get\"/>".into()),
            (
                "command=domain.check&domain=free.ru&domain=taken.ru&domain=%D0%BF%D1%80%D0%B8%D0%BC%D0%B5%D1%80.%D1%80%D1%84".into(),
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request command=\"domain.check\">\n  <domain>free.ru</domain>\n  <domain>taken.ru</domain>\n  <domain>пример.рф</domain>\n</request>".into(),
            ),
            (
                "command=domain.info&domain=same.ru".into(),
                "<request><command>domain.info</command><domain>same.ru</domain></request>".into(),
            ),
            (
                "command=domain.list&limit=1".into(),
                "<request command=\"domain.list\"><limit>1</limit></request>".into(),
            ),
            (
                "command=order.info&request-id=R1".into(),
                "<request command=\"order.info\" request-id=\"R1\"/>".into(),
            ),
            (
                "command=request.status&request-id=R1".into(),
                "<request command=\"request.status\"><request-id>R1</request-id></request>".into(),
            ),
            (
                "command=ledger.list".into(),
                "<request command=\"ledger.list\"></request>".into(),
            ),
            (
                format!("command=client.info&client={}", enc(&c)),
                format!("<request command=\"client.info\"><client>{c}</client></request>"),
            ),
            // Failures too.
            (
                "command=domain.info&domain=nobody.ru".into(),
                "<request command=\"domain.info\"><domain>nobody.ru</domain></request>".into(),
            ),
            (
                "command=domain.check&domain=bad_name.ru".into(),
                "<request command=\"domain.check\"><domain>bad_name.ru</domain></request>".into(),
            ),
            (
                format!("command=domain.register&request-id=X1&domain=same2.ru&period=2&client={}", enc(&c)),
                format!("<request command=\"domain.register\" request-id=\"X1\"><domain>same2.ru</domain><period>2</period><client>{c}</client></request>"),
            ),
            (
                "command=order.list&state=odd".into(),
                "<request command=\"order.list\"><state>odd</state></request>".into(),
            ),
        ];
        for (form, xml) in &cases {
            let f = s.form(form).await;
            let x = s.xml(xml).await;
            assert_eq!(f.status, x.status, "{form}");
            assert_eq!(f.body, x.body, "form and XML differ for {form}");
        }
        // XML sent as text/xml, and credentials as child elements.
        let creds = s
            .raw(
                s.client
                    .post(&s.url)
                    .header("content-type", "text/xml; charset=utf-8")
                    .body("<request command=\"balance.get\"><login>demo</login><password>demo-password</password></request>"),
            )
            .await;
        assert_eq!(creds.body, s.form("command=balance.get").await.body);

        // A mutating command in form, repeated in XML: the same request.
        let f = expect(
            s.form(&register_form(
                "X2",
                "both.ru",
                &c,
                "&ns=ns1.both.ru+192.0.2.1&ns=ns2.example.net&auto-renew=true",
            ))
            .await,
            1000,
        );
        let x = s
            .xml(&format!(
                "<request command=\"domain.register\" request-id=\"X2\"><domain>BOTH.ru</domain>\
                 <client>{c}</client><ns>ns1.both.ru 192.0.2.1</ns><ns>ns2.example.net</ns>\
                 <period>1</period><auto-renew>true</auto-renew></request>"
            ))
            .await;
        assert!(x.replayed, "{}", x.body);
        assert_eq!(x.body, f.body);
    })
    .await;
    s.stop().await;
}
