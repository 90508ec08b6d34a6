//! The client (contact) commands: `client.create`, `client.info`, `client.list`.

use super::common;
use super::support::*;

#[tokio::test]
async fn client_create_info_and_list() {
    let s = common::start().await;
    bounded(30, async {
        let a = expect_http(
            s.form(
                "command=client.create&request-id=K1&type=org&name=OOO+Romashka\
                 &email=info%40romashka.ru&phone=%2B7+495+123-45-67&country=RU\
                 &address=Moscow%2C+Tverskaya+1&x-inn=7701234567&x-kpp=770101001",
            )
            .await,
            1000,
        );
        let cl = elem(&a.body, "client");
        assert_eq!(cl.get("id"), "1000/RW-P");
        assert_eq!(cl.get("type"), "org");
        assert_eq!(cl.get("created"), "2026-01-15T10:00:00Z");
        assert_eq!(text(&a.body, "name").unwrap(), "OOO Romashka");
        assert_eq!(text(&a.body, "address").unwrap(), "Moscow, Tverskaya 1");
        let extra = elems(&a.body, "extra");
        assert_eq!(extra.len(), 2);
        assert_eq!(extra[0].get("name"), "x-inn");
        assert_eq!(extra[0].text.as_deref(), Some("7701234567"));
        let info = expect_http(s.form("command=client.info&client=1000/RW-P").await, 1000);
        // Same client, same element as create answered.
        assert_eq!(
            &info.body[info.body.find("<client").unwrap()..],
            &a.body[a.body.find("<client").unwrap()..]
        );
        for i in 2..=7 {
            s.client(&format!("K{i}")).await;
        }

        let before = snapshot(&s).await;
        for (what, body, code) in [
            ("bad type", "command=client.create&request-id=KX1&type=robot&name=A&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M", 2005),
            ("bad email", "command=client.create&request-id=KX2&type=person&name=A&email=a.b.ru&phone=%2B7.4951234567&country=RU&address=M", 2005),
            ("bad phone", "command=client.create&request-id=KX3&type=person&name=A&email=a%40b.ru&phone=84951234567&country=RU&address=M", 2005),
            ("bad country", "command=client.create&request-id=KX4&type=person&name=A&email=a%40b.ru&phone=%2B7.4951234567&country=ru&address=M", 2005),
            ("no name", "command=client.create&request-id=KX5&type=person&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M", 2003),
            ("blank name", "command=client.create&request-id=KX6&type=person&name=+&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M", 2005),
            ("bad extra", "command=client.create&request-id=KX7&type=person&name=A&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M&x-INN=1", 2001),
            ("no request-id", "command=client.create&type=person&name=A&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M", 2003),
        ] {
            let a = s.form(body).await;
            assert_eq!(a.code(), code, "{what}: {}", a.body);
        }
        assert_eq!(snapshot(&s).await, before);

        expect_http(s.form("command=client.info&client=9999/RW-P").await, 2303);
        expect_http(s.form("command=client.info&client=1000").await, 2005);
        expect_http(s.form("command=client.info").await, 2003);
        add_partner(&s, "other", "other-password", None).await;
        let a = s
            .form_as("other", "other-password", "command=client.info&client=1000/RW-P")
            .await;
        expect_http(a, 2201);
        let a = s.form_as("other", "other-password", "command=client.list").await;
        assert!(elems(&expect(a, 1000).body, "client").is_empty());

        let (rows, pages) = walk(&s, "client.list", "&limit=3", "client").await;
        let ids: Vec<_> = rows.iter().map(|r| r.get("id").to_string()).collect();
        let want: Vec<_> = (1000..1007).map(|n| format!("{n}/RW-P")).collect();
        assert_eq!(ids, want);
        assert_eq!(pages, 3);
        let (rows, _) = walk(&s, "client.list", "&match=romashka", "client").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get("id"), "1000/RW-P");
        let (rows, _) = walk(&s, "client.list", "&match=1003%2F", "client").await;
        assert_eq!(rows.len(), 1);
        expect_http(s.form("command=client.list&cursor=abc").await, 2005);
    })
    .await;
    s.stop().await;
}
