//! Orders, the ledger and `request.status`: what a partner reads about its money and
//! its orders.

use super::demo_with_client;
use super::support::*;

#[tokio::test]
async fn orders_ledger_and_request_status() {
    let (s, c) = demo_with_client().await;
    bounded(60, async {
        expect(register(&s, "R1", "one.ru", &c).await, 1000);
        expect(register(&s, "R2", "taken.ru", &c).await, 2302);
        expect(register(&s, "R3", "two.ru", &c).await, 1000);
        expect(
            s.form("command=domain.renew&request-id=R4&domain=one.ru&expires=2027-01-15")
                .await,
            1000,
        );
        expect(
            s.form("command=domain.set-ns&request-id=R5&domain=two.ru&ns=a.example.net&ns=b.example.net")
                .await,
            1000,
        );

        // order.info by id and by request-id give the same answer.
        let by_id = expect_http(s.form("command=order.info&order=1").await, 1000);
        let by_rid = expect_http(s.form("command=order.info&request-id=R1").await, 1000);
        let data = |b: &str| b[b.find("<data>").unwrap()..].to_string();
        assert_eq!(data(&by_id.body), data(&by_rid.body));
        assert_eq!(text(&by_rid.body, "request-id").as_deref(), Some("R1"));
        let o = elem(&by_id.body, "order");
        assert_eq!(o.get("id"), "1");
        assert_eq!(o.get("command"), "domain.register");
        assert_eq!(o.get("domain"), "one.ru");
        assert_eq!(o.get("state"), "completed");
        assert_eq!(o.get("amount"), "590.00");
        assert_eq!(o.get("currency"), "RUB");
        assert_eq!(o.get("request-id"), "R1");
        assert_eq!(o.get("created"), "2026-01-15T10:00:00Z");
        let states: Vec<_> = elems(&by_id.body, "transition")
            .into_iter()
            .map(|t| t.get("state").to_string())
            .collect();
        assert_eq!(states, ["accepted", "submitted", "completed"]);
        let failed = expect(s.form("command=order.info&request-id=R2").await, 1000);
        assert_eq!(elem(&failed.body, "order").get("state"), "failed");
        expect_http(s.form("command=order.info&order=999").await, 2303);
        expect_http(s.form("command=order.info&request-id=NOPE").await, 2303);
        // A request-id that placed no order (client.create) has no order either.
        expect_http(s.form("command=order.info&request-id=C-1").await, 2303);
        expect_http(s.form("command=order.info&order=1&request-id=R1").await, 2001);
        expect_http(s.form("command=order.info").await, 2003);
        expect_http(s.form("command=order.info&order=x1").await, 2005);
        add_partner(&s, "other", "other-password", None).await;
        let a = s
            .form_as("other", "other-password", "command=order.info&order=1")
            .await;
        expect_http(a, 2201);
        let a = s
            .form_as("other", "other-password", "command=order.info&request-id=R1")
            .await;
        expect_http(a, 2303);

        // order.list: newest first, filters, paging.
        let ids = |rows: &[El]| -> Vec<String> {
            rows.iter().map(|r| r.get("id").to_string()).collect()
        };
        let (rows, pages) = walk(&s, "order.list", "&limit=2", "order").await;
        assert_eq!(ids(&rows), ["5", "4", "3", "2", "1"]);
        assert_eq!(pages, 3);
        let (rows, _) = walk(&s, "order.list", "&state=failed", "order").await;
        assert_eq!(ids(&rows), ["2"]);
        let (rows, _) = walk(&s, "order.list", "&type=domain.register&limit=1", "order").await;
        assert_eq!(ids(&rows), ["3", "2", "1"]);
        let (rows, _) = walk(&s, "order.list", "&type=domain.register&state=completed", "order").await;
        assert_eq!(ids(&rows), ["3", "1"]);
        let (rows, _) = walk(&s, "order.list", "&type=domain.renew", "order").await;
        assert_eq!(ids(&rows), ["4"]);
        let (rows, _) = walk(&s, "order.list", "&type=domain.set-ns", "order").await;
        assert_eq!(ids(&rows), ["5"]);
        let (rows, _) = walk(&s, "order.list", "&state=unknown", "order").await;
        assert!(rows.is_empty());
        expect_http(s.form("command=order.list&state=done").await, 2005);
        expect_http(s.form("command=order.list&type=client.create").await, 2005);
        let a = s.form_as("other", "other-password", "command=order.list").await;
        assert!(elems(&expect(a, 1000).body, "order").is_empty());

        // ledger.list: newest first; the balance is the sum of the entries.
        let (rows, pages) = walk(&s, "ledger.list", "&limit=2", "entry").await;
        let kinds: Vec<_> = rows.iter().map(|r| r.get("kind").to_string()).collect();
        assert_eq!(kinds, ["charge", "charge", "refund", "charge", "charge", "topup"]);
        assert_eq!(pages, 3);
        let top = rows.last().unwrap();
        assert_eq!(top.get("amount"), "10000.00");
        assert_eq!(top.get("note"), "demo starting balance");
        assert_eq!(top.opt("order"), None);
        let mut sum = 0;
        for r in rows.iter().rev() {
            sum += cents(r.get("amount"));
            assert_eq!(cents(r.get("balance-after")), sum, "{r:?}");
            assert_eq!(r.get("time"), "2026-01-15T10:00:00Z");
        }
        assert_eq!(sum, cents(&balance(&s).await));
        assert_eq!(balance(&s).await, "8230.00");
        let orders_of: Vec<_> = rows.iter().map(|r| r.opt("order").unwrap_or("-")).collect();
        assert_eq!(orders_of, ["4", "3", "2", "2", "1", "-"]);
        expect_http(s.form("command=ledger.list&limit=0").await, 2004);

        // request.status: the stored answer of an earlier request.
        let st = expect_http(s.form("command=request.status&request-id=R1").await, 1000);
        let r = elem(&st.body, "request");
        assert_eq!(r.get("request-id"), "R1");
        assert_eq!(r.get("command"), "domain.register");
        assert_eq!(r.get("state"), "done");
        assert_eq!(r.get("order"), "1");
        // The stored response is inside, with its own result.
        let codes: Vec<_> = elems(&st.body, "result")
            .into_iter()
            .map(|e| e.get("code").to_string())
            .collect();
        assert_eq!(codes, ["1000", "1000"]);
        assert_eq!(elems(&st.body, "charged")[0].text.as_deref(), Some("590.00"));
        let st = expect(s.form("command=request.status&request-id=R2").await, 1000);
        let codes: Vec<_> = elems(&st.body, "result")
            .into_iter()
            .map(|e| e.get("code").to_string())
            .collect();
        assert_eq!(codes, ["1000", "2302"]);
        let st = expect(s.form("command=request.status&request-id=C-1").await, 1000);
        let r = elem(&st.body, "request");
        assert_eq!(r.get("command"), "client.create");
        assert_eq!(r.get("state"), "done");
        assert_eq!(r.opt("order"), None);
        expect_http(s.form("command=request.status&request-id=UNKNOWN").await, 2303);
        expect_http(s.form("command=request.status").await, 2003);
        expect_http(s.form("command=request.status&request-id=a+b").await, 2005);
        let a = s
            .form_as("other", "other-password", "command=request.status&request-id=R1")
            .await;
        expect_http(a, 2303);
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}
