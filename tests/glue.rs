//! Glue on the native protocol: a nameserver inside the domain with several addresses,
//! in a form and in XML, kept and shown as `host ip ip…`; the rules around it.

mod common;

#[tokio::test]
async fn several_glue_addresses_in_form_and_xml() {
    let s = common::start().await;
    let client = s.client("C1").await.replace('/', "%2F");
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=glue-form.ru&client={client}\
             &ns=ns1.glue-form.ru+192.0.2.1+2001:DB8:0:0::1&ns=ns2.hosting.net"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let info = s.form("command=domain.info&domain=glue-form.ru").await;
    assert!(
        info.body
            .contains("<ns>ns1.glue-form.ru 192.0.2.1 2001:db8::1</ns>"),
        "{}",
        info.body
    );
    let x = s
        .xml(
            "<request command=\"domain.set-ns\" request-id=\"S1\"><domain>glue-form.ru</domain>\
             <ns>ns1.glue-form.ru 192.0.2.7 192.0.2.8 2001:db8::7</ns>\
             <ns>ns2.glue-form.ru 192.0.2.9</ns></request>",
        )
        .await;
    assert_eq!(x.code(), 1000, "{}", x.body);
    assert!(
        x.body
            .contains("<ns>ns1.glue-form.ru 192.0.2.7 192.0.2.8 2001:db8::7</ns>"),
        "{}",
        x.body
    );
    let list = s.form("command=domain.list").await;
    assert!(
        list.body.contains("<ns>ns2.glue-form.ru 192.0.2.9</ns>"),
        "{}",
        list.body
    );
    s.stop().await;
}

#[tokio::test]
async fn glue_rules() {
    let s = common::start().await;
    s.client("C1").await;
    let nine = (1..=9)
        .map(|i| format!("192.0.2.{i}"))
        .collect::<Vec<_>>()
        .join("+");
    for (ns, code) in [
        // Addresses on a name outside the domain.
        (
            "ns=ns1.hosting.net+192.0.2.1+192.0.2.2&ns=ns2.hosting.net",
            2306,
        ),
        // The same address twice for one host.
        (
            "ns=ns1.rules.ru+192.0.2.1+192.0.2.1&ns=ns2.hosting.net",
            2306,
        ),
        // More than 8 addresses for one host.
        (&*format!("ns=ns1.rules.ru+{nine}&ns=ns2.hosting.net"), 2306),
        // An address that is none.
        (
            "ns=ns1.rules.ru+192.0.2.1+192.0.2.300&ns=ns2.hosting.net",
            2005,
        ),
        // Inside the domain without glue.
        ("ns=ns1.rules.ru&ns=ns2.hosting.net", 2306),
    ] {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{code}-{}&domain=rules.ru&client=1000%2FRW-P&{ns}",
                ns.len()
            ))
            .await;
        assert_eq!(a.code(), code, "{ns}: {}", a.body);
    }
    let eight = (1..=8)
        .map(|i| format!("192.0.2.{i}"))
        .collect::<Vec<_>>()
        .join("+");
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R8&domain=rules.ru&client=1000%2FRW-P&ns=ns1.rules.ru+{eight}&ns=ns2.hosting.net"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    s.stop().await;
}
