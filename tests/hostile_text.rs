//! Hostile text through every text field of every command, in every dialect.
//!
//! Code points XML 1.0 cannot carry (C0 controls other than tab, LF and CR; U+FFFE;
//! U+FFFF; lone surrogates where they can be written) are refused where they come in:
//! native forms and XML (2005 for a value, 2001 for a name), Namecheap (its form of
//! 2005), MasterName (400). Every answer parses with a strict XML parser, nothing is
//! stored, and afterwards every listing and record still parses. Text XML can carry,
//! however unfriendly (`<`, `&`, `]]>`, quotes, right-to-left marks, emoji), is
//! stored and comes back exactly.

mod common;

use common::{Answer, TestServer};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// Every code point XML 1.0 cannot carry that a Rust string can hold, by kind.
const UNCARRIED: [char; 9] = [
    '\u{0}', '\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{E}', '\u{1F}', '\u{FFFE}', '\u{FFFF}',
];

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Parses `body` as XML 1.0 with a parser that refuses what XML cannot carry.
fn well_formed(what: &str, body: &str) {
    if let Err(e) = roxmltree::Document::parse(body) {
        panic!("{what}: the answer is not well-formed XML ({e}):\n{body:?}");
    }
}

/// `v` with `c` put after its first character (a value stays recognisable).
fn spoil(v: &str, c: char) -> String {
    let mut chars = v.chars();
    match chars.next() {
        Some(first) => format!("{first}{c}{}", chars.as_str()),
        None => c.to_string(),
    }
}

fn form_body(command: &str, fields: &[(&str, String)]) -> String {
    std::iter::once(format!("command={}", enc(command)))
        .chain(fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// A native XML request; `raw` fields are written as given (character references).
fn xml_body(command: &str, fields: &[(&str, String)], raw: Option<usize>) -> String {
    let mut x = format!("<request command=\"{}\">", xml_escape(command));
    for (i, (k, v)) in fields.iter().enumerate() {
        let v = if raw == Some(i) {
            v.clone()
        } else {
            xml_escape(v)
        };
        x.push_str(&format!("<{k}>{v}</{k}>"));
    }
    x.push_str("</request>");
    x
}

async fn xml(s: &TestServer, body: &str) -> Answer {
    s.xml(body).await
}

/// A valid request of every command of the native protocol, naming the objects made
/// by `setup`.
fn commands(client: &str, spare: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let v = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    vec![
        ("balance.get", v(&[("request-id", "read-1")])),
        (
            "domain.check",
            v(&[("domain", "fresh.ru"), ("domain", "fresh.com")]),
        ),
        (
            "domain.register",
            v(&[
                ("request-id", "R-new"),
                ("domain", "fresh.ru"),
                ("period", "1"),
                ("client", client),
                ("ns", "ns1.host.net"),
                ("ns", "ns2.host.net"),
                ("auto-renew", "false"),
            ]),
        ),
        (
            "domain.renew",
            v(&[
                ("request-id", "N-new"),
                ("domain", "shop.ru"),
                ("period", "1"),
                ("expires", "2027-01-15"),
            ]),
        ),
        (
            "domain.set-ns",
            v(&[
                ("request-id", "S-new"),
                ("domain", "shop.ru"),
                ("ns", "ns1.other.net"),
                ("ns", "ns2.other.net"),
            ]),
        ),
        (
            "domain.set-autorenew",
            v(&[
                ("request-id", "A-new"),
                ("domain", "shop.ru"),
                ("auto-renew", "true"),
            ]),
        ),
        ("domain.info", v(&[("domain", "shop.ru")])),
        (
            "domain.list",
            v(&[
                ("match", "shop"),
                ("client", client),
                ("state", "active"),
                ("auto-renew", "false"),
                ("limit", "10"),
            ]),
        ),
        (
            "client.create",
            v(&[
                ("request-id", "C-new"),
                ("type", "person"),
                ("name", "Anna Petrova"),
                ("email", "anna@example.net"),
                ("phone", "+7.4951234567"),
                ("country", "RU"),
                ("address", "Moscow, Tverskaya 1"),
                ("x-passport", "4510 123456"),
            ]),
        ),
        (
            "client.delete",
            v(&[("request-id", "D-new"), ("client", spare)]),
        ),
        ("client.info", v(&[("client", client)])),
        ("client.list", v(&[("match", "ivan"), ("limit", "10")])),
        ("order.info", v(&[("order", "1")])),
        (
            "order.list",
            v(&[
                ("state", "completed"),
                ("type", "domain.register"),
                ("limit", "10"),
            ]),
        ),
        ("ledger.list", v(&[("limit", "10")])),
        ("request.status", v(&[("request-id", "R-1")])),
        ("price.list", v(&[("zone", "ru")])),
        ("programme.status", v(&[])),
        ("statement.list", v(&[])),
        ("statement.info", v(&[("month", "2026-01")])),
        (
            "license.order",
            v(&[
                ("request-id", "L-new"),
                ("product", "ispmanager6-lite"),
                ("period", "month"),
                ("ip", "203.0.113.10"),
                ("client", client),
                ("auto-renew", "false"),
            ]),
        ),
        (
            "license.renew",
            v(&[
                ("request-id", "LR-new"),
                ("license", "1"),
                ("period", "month"),
                ("expires", "2026-02-15"),
            ]),
        ),
        (
            "license.set-ip",
            v(&[
                ("request-id", "LS-new"),
                ("license", "1"),
                ("ip", "198.51.100.7"),
            ]),
        ),
        ("license.info", v(&[("license", "1")])),
        ("license.list", v(&[("state", "active"), ("limit", "10")])),
        ("commission.list", v(&[("limit", "10")])),
        (
            "commission.transfer",
            v(&[("request-id", "T-new"), ("amount", "1.00")]),
        ),
    ]
}

/// Objects the requests name: two clients (one to delete), a domain, a licence.
async fn setup(s: &TestServer) -> (String, String) {
    let client = s.client("C-1").await;
    let spare = s.client("C-2").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R-1&domain=shop.ru&client={}\
             &ns=ns1.host.net&ns=ns2.host.net",
            enc(&client)
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=license.order&request-id=L-1&product=ispmanager6-lite&period=month\
             &ip=203.0.113.10&client={}",
            enc(&client)
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    (client, spare)
}

/// Every listing and record a partner can read, each checked to parse.
async fn read_everything(s: &TestServer, client: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    for q in [
        "command=balance.get".to_string(),
        "command=client.list".to_string(),
        format!("command=client.info&client={}", enc(client)),
        "command=domain.list".to_string(),
        "command=domain.info&domain=shop.ru".to_string(),
        "command=order.list".to_string(),
        "command=ledger.list".to_string(),
        "command=license.list".to_string(),
        "command=license.info&license=1".to_string(),
        "command=request.status&request-id=R-1".to_string(),
        "command=request.status&request-id=C-1".to_string(),
        "command=commission.list".to_string(),
        "command=price.list".to_string(),
        "command=programme.status".to_string(),
    ] {
        let a = s.form(&q).await;
        well_formed(&q, &a.body);
        assert_eq!(a.code(), 1000, "{q}: {}", a.body);
        bodies.push(a.body);
    }
    for page in elems_with_attr(&bodies[1], "client", "id") {
        let q = format!("command=client.info&client={}", enc(&page));
        let a = s.form(&q).await;
        well_formed(&q, &a.body);
    }
    bodies
}

/// The `attr` of every `<name …>` element (a plain scan; the body is known to parse).
fn elems_with_attr(body: &str, name: &str, attr: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(body).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name(name))
        .filter_map(|n| n.attribute(attr).map(String::from))
        .collect()
}

#[tokio::test]
async fn native_requests_refuse_what_xml_cannot_carry_and_answers_always_parse() {
    // The parser used here refuses what the gateway must never write.
    assert!(roxmltree::Document::parse("<a>Bad\u{FFFF}Name</a>").is_err());
    assert!(roxmltree::Document::parse("<a>&#1;</a>").is_err());

    let s = common::start().await;
    let (client, spare) = setup(&s).await;
    let before = read_everything(&s, &client).await;
    let mut sent = 0;
    for (command, fields) in commands(&client, &spare) {
        // The command itself.
        for c in UNCARRIED {
            let a = s.form(&form_body(&spoil(command, c), &fields)).await;
            well_formed(command, &a.body);
            assert_eq!(
                a.code(),
                2005,
                "{command} with {c:?} in command: {}",
                a.body
            );
            sent += 1;
        }
        for i in 0..fields.len() {
            let (key, value) = &fields[i];
            for c in UNCARRIED {
                let mut spoilt = fields.clone();
                spoilt[i].1 = spoil(value, c);
                let what = format!("{command} {key} with U+{:04X}", c as u32);
                // Form.
                let a = s.form(&form_body(command, &spoilt)).await;
                well_formed(&what, &a.body);
                assert_eq!((a.status, a.code()), (400, 2005), "{what}: {}", a.body);
                assert!(a.body.contains(&format!("{key}: U+")), "{what}: {}", a.body);
                // XML, as a character reference.
                spoilt[i].1 = xml_escape(value).replacen(
                    &xml_escape(&value.chars().take(1).collect::<String>()),
                    &format!(
                        "{}&#x{:X};",
                        xml_escape(&value.chars().take(1).collect::<String>()),
                        c as u32
                    ),
                    1,
                );
                if value.is_empty() {
                    spoilt[i].1 = format!("&#x{:X};", c as u32);
                }
                let a = xml(&s, &xml_body(command, &spoilt, Some(i))).await;
                well_formed(&what, &a.body);
                assert!(matches!(a.code(), 2001 | 2005), "{what} in XML: {}", a.body);
                // XML, as the character itself.
                spoilt[i].1 = spoil(value, c);
                let a = xml(&s, &xml_body(command, &spoilt, None)).await;
                well_formed(&what, &a.body);
                assert!(
                    matches!(a.code(), 2001 | 2005),
                    "{what} in raw XML: {}",
                    a.body
                );
                sent += 3;
            }
        }
        // A field name holding one: a syntax error, and the name is not echoed.
        for c in ['\u{1}', '\u{FFFF}'] {
            let body = format!(
                "{}&{}=v",
                form_body(command, &fields),
                enc(&spoil("x-a", c))
            );
            let a = s.form(&body).await;
            well_formed(command, &a.body);
            assert_eq!(a.code(), 2001, "{command}: {}", a.body);
        }
    }
    // Lone surrogates: not UTF-8 in a form, not a character in XML.
    let a = s.form("command=client.list&match=a%ED%A0%80b").await;
    well_formed("surrogate", &a.body);
    assert_eq!(a.code(), 2001, "{}", a.body);
    let a = xml(
        &s,
        "<request command=\"client.list\"><match>a&#xD800;b</match></request>",
    )
    .await;
    well_formed("surrogate", &a.body);
    assert_eq!(a.code(), 2001, "{}", a.body);
    // Nothing was stored: every record and listing is as it was, and still parses.
    assert!(sent > 1000, "{sent} requests");
    assert_eq!(read_everything(&s, &client).await, before);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Text XML can carry, however unfriendly, through every free-text field of
/// `client.create`: stored, and answered exactly, in records and listings alike.
#[tokio::test]
async fn unfriendly_text_xml_can_carry_comes_back_exactly() {
    let s = common::start().await;
    let nasty = [
        "<b>&amp;\"'</b>",
        "]]><![CDATA[x]]>",
        "<?xml version=\"1.0\"?><!DOCTYPE x>",
        "\u{202E}gnp.exe \u{200F}right-to-left",
        "emoji \u{1F600} and \u{E000} private",
        "tab\tand\nline",
        "\u{FFFD} replacement",
        "&#xFFFF; written out",
    ];
    for (i, text) in nasty.iter().enumerate() {
        let a = s
            .form(&format!(
                "command=client.create&request-id=C-{i}&type=person&name={}\
                 &email=a%40example.net&phone=%2B7.4951234567&country=RU&address={}&x-note={}",
                enc(text),
                enc(text),
                enc(text)
            ))
            .await;
        well_formed(text, &a.body);
        if a.code() != 1000 {
            // Free text refuses tabs (control characters other than a newline).
            assert!(text.contains('\t'), "{text:?}: {}", a.body);
            assert_eq!(a.code(), 2005, "{}", a.body);
            continue;
        }
        let id = a.attr("id").unwrap();
        let info = s
            .form(&format!("command=client.info&client={}", enc(&id)))
            .await;
        well_formed(text, &info.body);
        let doc = roxmltree::Document::parse(&info.body).unwrap();
        for el in ["name", "address", "extra"] {
            let got = doc
                .descendants()
                .find(|n| n.has_tag_name(el))
                .and_then(|n| n.text())
                .unwrap_or_default();
            assert_eq!(got, *text, "{el} of {text:?}");
        }
    }
    let list = s.form("command=client.list").await;
    well_formed("client.list", &list.body);
    let replay = s
        .form(&format!(
            "command=request.status&request-id=C-{}",
            nasty.len() - 1
        ))
        .await;
    well_formed("request.status", &replay.body);
    s.stop().await;
}

/// The Namecheap and MasterName dialects refuse the same code points with their own
/// errors; Namecheap's answer parses, and nothing reaches the store.
#[tokio::test]
async fn other_dialects_refuse_what_xml_cannot_carry() {
    let s = common::start().await;
    let base = s.url.trim_end_matches("/api").to_string();
    let auth = "ApiUser=demo&ApiKey=demo-password&UserName=demo&ClientIp=192.0.2.10";
    let contact = |p: &str| {
        format!(
            "{p}FirstName=Jane&{p}LastName=Doe&{p}Address1=1+Main+St&{p}City=Springfield\
             &{p}StateProvince=IL&{p}PostalCode=62701&{p}Country=US&{p}Phone=%2B1.2175550100\
             &{p}EmailAddress=jane%40example.net"
        )
    };
    let create = format!(
        "Command=namecheap.domains.create&DomainName=fresh-nc.com&Years=1&{}&{}&{}&{}&Nameservers=ns1.host.net,ns2.host.net",
        contact("Registrant"),
        contact("Tech"),
        contact("Admin"),
        contact("AuxBilling")
    );
    let requests = [
        create,
        "Command=namecheap.domains.check&DomainList=fresh-nc.com,fresh-nc.net".to_string(),
        "Command=namecheap.domains.renew&DomainName=fresh-nc.com&Years=1&RequestId=NR-1"
            .to_string(),
        "Command=namecheap.domains.dns.setCustom&SLD=fresh-nc&TLD=com\
         &Nameservers=ns1.host.net,ns2.host.net&RequestId=NS-1"
            .to_string(),
        "Command=namecheap.domains.getInfo&DomainName=fresh-nc.com".to_string(),
        "Command=namecheap.domains.getList&ListType=ALL&SearchTerm=fresh&Page=1&PageSize=20\
         &SortBy=NAME"
            .to_string(),
        "Command=namecheap.users.getBalances".to_string(),
    ];
    let mut sent = 0;
    for request in &requests {
        let all = format!("{auth}&{request}");
        let pairs: Vec<&str> = all.split('&').collect();
        for i in 0..pairs.len() {
            let (key, value) = pairs[i].split_once('=').unwrap();
            for c in UNCARRIED {
                let mut spoilt = pairs.clone();
                let bad = format!("{key}={}", enc(&spoil(value, c)));
                spoilt[i] = &bad;
                let resp = s
                    .client
                    .post(format!("{base}/xml.response"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(spoilt.join("&"))
                    .send()
                    .await
                    .unwrap();
                let text = resp.text().await.unwrap();
                well_formed(key, &text);
                assert!(
                    text.contains("Status=\"ERROR\"") && text.contains("Number=\"3052005\""),
                    "{key} with {c:?}: {text}"
                );
                sent += 1;
            }
        }
    }
    assert!(sent > 500, "{sent}");
    // MasterName, in UTF-8: the whole request is refused (400, bad request format).
    let person = "[request]\nlogin: demo\npassword: demo-password\naction: create_client\n\
                  request-id: M-1\n\n[client]\nclient-type: ФИЗЛИЦО\nresident:\n\
                  person-r: Иванов Иван\nperson: Ivan Ivanov\nemail: ivan@example.ru\n\
                  phone: +7 495 1234567\npost-country: RU\npost-zip-code: 101000\n\
                  post-city: Москва\npost-street: ул. Тверская, 1\n";
    let register = "[request]\nlogin: demo\npassword: demo-password\naction: register_domain\n\
                    request-id: M-2\n\n[domain]\nclient: 1000/RW-P\ndomain: fresh-mn.ru\n\
                    nserver: ns1.fresh-mn.ru 192.0.2.1\nnserver: ns2.host.net\n";
    let lines = |t: &'static str| t.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>();
    let mut spoilt_texts = Vec::new();
    for text in [person, register] {
        let ls = lines(text);
        for i in 0..ls.len() {
            for c in UNCARRIED {
                let mut l = ls.clone();
                let bad = spoil(l[i], c);
                l[i] = &bad;
                spoilt_texts.push((l.join("\n"), c));
            }
        }
    }
    for (text, c) in spoilt_texts {
        let resp = s
            .client
            .post(format!("{base}/partner_gateway"))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(format!("request={}", enc(&text)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let answer = resp.text().await.unwrap();
        assert!(answer.starts_with("status: 400 "), "{c:?}: {answer}");
        assert!(
            answer.chars().all(|c| !UNCARRIED.contains(&c)),
            "{answer:?}"
        );
    }
    let list = s.form("command=client.list").await;
    well_formed("client.list", &list.body);
    assert!(
        !list.body.contains("<client "),
        "no client was stored: {}",
        list.body
    );
    s.stop().await;
}

/// The operator's note on a money movement is shown to the partner in `ledger.list`:
/// it is held to the same rule.
#[tokio::test]
async fn operator_notes_are_held_to_the_same_rule() {
    let s = common::start().await;
    for c in UNCARRIED {
        let e = s
            .engine()
            .topup("demo", "1.00", &format!("invoice{c}17"))
            .await
            .unwrap_err();
        assert_eq!(e.code, regway::error::Code::ValueSyntax, "{c:?}: {e}");
    }
    s.engine()
        .topup("demo", "1.00", "invoice <17> & \"co\"\nsecond line")
        .await
        .unwrap();
    let a = s.form("command=ledger.list").await;
    well_formed("ledger.list", &a.body);
    let doc = roxmltree::Document::parse(&a.body).unwrap();
    let note = doc
        .descendants()
        .find_map(|n| n.attribute("note").filter(|n| n.starts_with("invoice")))
        .unwrap();
    assert_eq!(note, "invoice <17> & \"co\"\nsecond line");
    s.stop().await;
}
