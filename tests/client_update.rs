//! `client.update`: the fields given change and only they, once per request-id; another
//! partner's, a deleted or a missing client is refused; nothing goes upstream (no order).

mod common;

use regway::engine::operator::NewPartner;

#[tokio::test]
async fn changes_the_fields_given_once() {
    let s = common::start().await;
    let c = s.client("C1").await;
    let enc = c.replace('/', "%2F");
    let orders_before = s.form("command=order.list").await.body;
    let ledger_before = s.form("command=ledger.list").await.body;

    let body = format!(
        "command=client.update&request-id=U1&client={enc}&email=new%40example.org\
         &address=Kazan%2C+Baumana+5&x-passport=4510+123456"
    );
    let a = s.form(&body).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(
        a.body.contains("<email>new@example.org</email>"),
        "{}",
        a.body
    );
    assert!(a.body.contains("<address>Kazan, Baumana 5</address>"));
    assert!(
        a.body.contains("<name>Ivan Petrov</name>"),
        "unchanged fields stay"
    );
    assert!(a.body.contains("<phone>+7.4951234567</phone>"));
    assert!(a
        .body
        .contains("<extra name=\"x-passport\">4510 123456</extra>"));

    // The same request again: the stored answer, not a second change.
    let again = s.form(&body).await;
    assert!(again.replayed);
    assert_eq!(again.body, a.body);
    // The request-id with other parameters: 2308.
    let reused = s
        .form(&format!(
            "command=client.update&request-id=U1&client={enc}&email=x%40example.org"
        ))
        .await;
    assert_eq!(reused.code(), 2308, "{}", reused.body);

    // An empty x- field removes it.
    let a = s
        .form(&format!(
            "command=client.update&request-id=U2&client={enc}&x-passport="
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(!a.body.contains("x-passport"));
    let info = s.form(&format!("command=client.info&client={enc}")).await;
    assert!(info.body.contains("<email>new@example.org</email>"));
    assert!(!info.body.contains("x-passport"));

    // Nothing went upstream and no money moved.
    assert_eq!(s.form("command=order.list").await.body, orders_before);
    assert_eq!(s.form("command=ledger.list").await.body, ledger_before);

    for (q, code) in [
        (format!("client={enc}"), 2003),
        (format!("client={enc}&email=not-an-address"), 2005),
        (format!("client={enc}&country=ru"), 2005),
        (format!("client={enc}&phone=123"), 2005),
        (format!("client={enc}&name=%01"), 2005),
        (format!("client={enc}&name=X&type=org"), 2001),
        ("client=nobody&name=X".to_string(), 2005),
        ("client=999999%2FRW-P&name=X".to_string(), 2303),
        ("name=X".to_string(), 2003),
    ] {
        let a = s
            .form(&format!(
                "command=client.update&request-id=B{code}x{}&{q}",
                q.len()
            ))
            .await;
        assert_eq!(a.code(), code, "{q}: {}", a.body);
    }
    let a = s
        .form(&format!("command=client.update&client={enc}&name=X"))
        .await;
    assert_eq!(a.code(), 2003, "a changing command needs a request-id");

    // Another partner cannot change it.
    s.engine()
        .add_partner(NewPartner {
            login: "other".into(),
            password: Some("other-password".into()),
            ..NewPartner::default()
        })
        .await
        .unwrap();
    let a = s
        .form_as(
            "other",
            "other-password",
            &format!("command=client.update&request-id=O1&client={enc}&name=Mallory"),
        )
        .await;
    assert_eq!(a.code(), 2201, "{}", a.body);

    // A deleted client cannot be changed.
    let a = s
        .form(&format!("command=client.delete&request-id=D1&client={enc}"))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=client.update&request-id=U3&client={enc}&name=Later"
        ))
        .await;
    assert_eq!(a.code(), 2304, "{}", a.body);
    let info = s.form(&format!("command=client.info&client={enc}")).await;
    assert!(info.body.contains("<name>Ivan Petrov</name>"));
    s.stop().await;
}

#[tokio::test]
async fn racing_updates_each_apply_whole() {
    let s = common::start().await;
    let c = s.client("C1").await;
    let enc = c.replace('/', "%2F");
    let mut tasks = Vec::new();
    for n in 0..8 {
        let body = format!(
            "command=client.update&request-id=R{n}&client={enc}&name=Name+{n}&address=Street+{n}"
        );
        let client = s.client.clone();
        let url = s.url.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .basic_auth(common::LOGIN, Some(common::PASSWORD))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let info = s.form(&format!("command=client.info&client={enc}")).await;
    let name = info.body.split("<name>Name ").nth(1).unwrap();
    let n = &name[..1];
    assert!(
        info.body
            .contains(&format!("<address>Street {n}</address>")),
        "one update whole, not a mix: {}",
        info.body
    );
    s.stop().await;
}
