//! Input the gateway must refuse, never guess at: malformed forms and XML, unknown and
//! repeated fields, bad UTF-8, DTDs and entities, over-long and malformed values,
//! oversized bodies. Each gets its code, and nothing is stored or charged.

mod common;
mod support;

use common::{Answer, TestServer, LOGIN, PASSWORD};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FORM: &str = "application/x-www-form-urlencoded";
const XML: &str = "application/xml";

async fn send(s: &TestServer, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    let mut req = s.client.post(&s.url).basic_auth(LOGIN, Some(PASSWORD));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    s.raw(req.body(body)).await
}

/// Sends every case, checks its code (and HTTP status), then checks that the store is
/// unchanged and that none of the request-ids `B…` was taken.
async fn refused(s: &TestServer, cases: &[(&str, Option<&str>, Vec<u8>, u16)], rids: &[&str]) {
    let before = snapshot(s).await;
    for (what, ct, body, code) in cases {
        let a = send(s, *ct, body.clone()).await;
        assert_eq!(a.code(), *code, "{what}: {}", a.body);
        assert_eq!(a.status, http_of(*code), "{what}: HTTP status");
        assert_eq!(a.content_type, "application/xml; charset=utf-8", "{what}");
        assert!(!a.replayed, "{what}");
    }
    assert_eq!(snapshot(s).await, before, "refused input changed state");
    for rid in rids {
        let a = s
            .form(&format!("command=request.status&request-id={rid}"))
            .await;
        assert_eq!(a.code(), 2303, "request-id {rid} was taken: {}", a.body);
    }
}

fn reg(rid: &str, extra: &str) -> Vec<u8> {
    format!("command=domain.register&request-id={rid}&client=1000%2FRW-P{extra}").into_bytes()
}

#[tokio::test]
async fn malformed_forms_unknown_and_repeated_fields() {
    let s = common::start().await;
    bounded(30, async {
        assert_eq!(s.client("C-1").await, "1000/RW-P");
        let many: String = (0..1001).map(|i| format!("&domain=n{i}.ru")).collect();
        let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
            (
                "field without a name",
                Some(FORM),
                reg("B1", "&domain=a.ru&=x"),
                2001,
            ),
            (
                "unknown field",
                Some(FORM),
                reg("B2", "&domain=a.ru&colour=red"),
                2001,
            ),
            (
                "misspelt field",
                Some(FORM),
                reg("B3", "&domain=a.ru&perod=1"),
                2001,
            ),
            (
                "domain twice",
                Some(FORM),
                reg("B4", "&domain=a.ru&domain=b.ru"),
                2001,
            ),
            (
                "period twice",
                Some(FORM),
                reg("B5", "&domain=a.ru&period=1&period=1"),
                2001,
            ),
            (
                "request-id twice",
                Some(FORM),
                reg("B6", "&domain=a.ru&request-id=B6"),
                2001,
            ),
            (
                "command twice",
                Some(FORM),
                reg("B7", "&domain=a.ru&command=domain.register"),
                2001,
            ),
            (
                "client twice",
                Some(FORM),
                reg("B8", "&domain=a.ru&client=1000%2FRW-P"),
                2001,
            ),
            (
                "unknown command",
                Some(FORM),
                b"command=domain.steal&request-id=B9".to_vec(),
                2000,
            ),
            (
                "no command",
                Some(FORM),
                b"request-id=B10&domain=a.ru".to_vec(),
                2003,
            ),
            (
                "invalid UTF-8 bytes",
                Some(FORM),
                [&reg("B11", "&domain=")[..], b"\xff\xfe.ru"].concat(),
                2001,
            ),
            (
                "invalid UTF-8 escaped",
                Some(FORM),
                reg("B12", "&domain=%FF%FE.ru"),
                2001,
            ),
            (
                "overlong UTF-8 escaped",
                Some(FORM),
                reg("B13", "&domain=%C0%AE.ru"),
                2001,
            ),
            (
                "lone surrogate",
                Some(FORM),
                reg("B14", "&domain=%ED%A0%80.ru"),
                2001,
            ),
            (
                "not UTF-8 charset",
                Some("application/x-www-form-urlencoded; charset=windows-1251"),
                reg("B15", "&domain=a.ru"),
                2001,
            ),
            ("no content type", None, reg("B16", "&domain=a.ru"), 2001),
            (
                "other content type",
                Some("text/plain"),
                reg("B17", "&domain=a.ru"),
                2001,
            ),
            (
                "JSON",
                Some("application/json"),
                br#"{"command":"balance.get"}"#.to_vec(),
                2001,
            ),
            (
                "too many fields",
                Some(FORM),
                format!("command=domain.check{many}").into_bytes(),
                2001,
            ),
            ("empty body", Some(FORM), Vec::new(), 2003),
        ];
        refused(
            &s,
            &cases,
            &[
                "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12", "B13", "B14", "B15",
                "B16", "B17",
            ],
        )
        .await;
        // The same request-ids, now well-formed, are executed afresh.
        let a = expect(
            s.form(&String::from_utf8(reg("B1", "&domain=a1.ru")).unwrap())
                .await,
            1000,
        );
        assert!(!a.replayed);
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn xml_dtds_entities_and_malformed_documents() {
    let s = common::start().await;
    bounded(30, async {
        assert_eq!(s.client("C-1").await, "1000/RW-P");
        let x = |doc: &str| doc.as_bytes().to_vec();
        let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
             <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n \
             <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n \
             <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n \
             <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n \
             <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n \
             <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n \
             <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n \
             <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n]>\n\
             <request command=\"domain.register\" request-id=\"X1\"><domain>&lol9;.ru</domain>\
             <client>1000/RW-P</client></request>";
        let r = |rid: &str, inner: &str| {
            format!("<request command=\"domain.register\" request-id=\"{rid}\">{inner}</request>")
        };
        let ok_inner = "<domain>fine.ru</domain><client>1000/RW-P</client>";
        let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
            ("billion laughs", Some(XML), x(laughs), 2001),
            (
                "a DTD alone",
                Some(XML),
                x(&format!("<!DOCTYPE request>{}", r("X2", ok_inner))),
                2001,
            ),
            (
                "an entity declaration",
                Some(XML),
                x(&format!(
                    "<!DOCTYPE request [<!ENTITY d \"fine.ru\">]>{}",
                    r("X3", "<domain>&d;</domain><client>1000/RW-P</client>")
                )),
                2001,
            ),
            (
                "an external entity",
                Some(XML),
                x(&format!(
                    "<!DOCTYPE request [<!ENTITY d SYSTEM \"file:///etc/hostname\">]>{}",
                    r("X4", "<domain>&d;</domain><client>1000/RW-P</client>")
                )),
                2001,
            ),
            (
                "an undeclared entity",
                Some(XML),
                x(&r("X5", "<domain>&d;.ru</domain><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "invalid UTF-8 bytes",
                Some(XML),
                [
                    &b"<request command=\"domain.register\" request-id=\"X6\"><domain>"[..],
                    b"\xd0\xd0.ru</domain><client>1000/RW-P</client></request>",
                ]
                .concat(),
                2001,
            ),
            (
                "declared in another encoding",
                Some(XML),
                x(&format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{}", r("X7", ok_inner))),
                2001,
            ),
            ("not closed", Some(XML), x(&r("X8", ok_inner).replace("</request>", "")), 2001),
            (
                "mismatched tags",
                Some(XML),
                x(&r("X9", "<domain>fine.ru</domian><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "nested elements",
                Some(XML),
                x(&r("X10", "<domain><name>fine.ru</name></domain><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "attribute on a child",
                Some(XML),
                x(&r("X11", "<domain lang=\"ru\">fine.ru</domain><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "unknown attribute on request",
                Some(XML),
                x("<request command=\"domain.register\" request-id=\"X12\" period=\"1\"><domain>fine.ru</domain><client>1000/RW-P</client></request>"),
                2001,
            ),
            (
                "another root",
                Some(XML),
                x("<command name=\"domain.register\" request-id=\"X13\"><domain>fine.ru</domain></command>"),
                2001,
            ),
            (
                "CDATA",
                Some(XML),
                x(&r("X14", "<domain><![CDATA[fine.ru]]></domain><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "processing instruction",
                Some(XML),
                x(&format!("<?php echo 1; ?>{}", r("X15", ok_inner))),
                2001,
            ),
            (
                "a single-valued child twice",
                Some(XML),
                x(&r("X16", "<domain>fine.ru</domain><domain>fine2.ru</domain><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "request-id as attribute and child",
                Some(XML),
                x(&r("X17", "<request-id>X17</request-id><domain>fine.ru</domain><client>1000/RW-P</client>")),
                2001,
            ),
            (
                "unknown child",
                Some(XML),
                x(&r("X18", "<domain>fine.ru</domain><client>1000/RW-P</client><colour>red</colour>")),
                2001,
            ),
            (
                "two roots",
                Some(XML),
                x(&format!("{}{}", r("X19", ok_inner), r("X19", ok_inner))),
                2001,
            ),
            (
                "text outside elements",
                Some(XML),
                x(&r("X20", "fine.ru<domain>fine.ru</domain><client>1000/RW-P</client>")),
                2001,
            ),
            ("not XML at all", Some(XML), x("command=balance.get"), 2001),
            ("empty document", Some(XML), Vec::new(), 2001),
        ];
        let rids: Vec<String> = (1..=20).map(|i| format!("X{i}")).collect();
        let rids: Vec<&str> = rids.iter().map(String::as_str).collect();
        refused(&s, &cases, &rids).await;
        // Character references and the predefined entities are fine.
        let a = s
            .xml("<request command=\"domain.register\" request-id=\"X1\"><domain>f&#x69;ne.ru</domain><client>1000/RW-P</client><!-- a comment --></request>")
            .await;
        let a = expect(a, 1000);
        assert!(!a.replayed);
        assert_eq!(elem(&a.body, "domain").get("name"), "fine.ru");
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn malformed_and_overlong_values() {
    let s = common::start().await;
    bounded(30, async {
        assert_eq!(s.client("C-1").await, "1000/RW-P");
        expect(register(&s, "R1", "base.ru", "1000/RW-P").await, 1000);
        let f = |b: String| b.into_bytes();
        let label64 = "a".repeat(64);
        let name254 = format!("{l}.{l}.{l}.{}.ru", "b".repeat(59), l = "c".repeat(63));
        let renew = |rid: &str, expires: &str| {
            f(format!(
                "command=domain.renew&request-id={rid}&domain=base.ru&expires={}",
                enc(expires)
            ))
        };
        let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
            ("label of 64", Some(FORM), reg("V1", &format!("&domain={label64}.ru")), 2005),
            ("name of 254", Some(FORM), reg("V2", &format!("&domain={name254}")), 2005),
            ("name of 5000", Some(FORM), reg("V3", &format!("&domain={}.ru", "a".repeat(5000))), 2005),
            ("empty name", Some(FORM), reg("V4", "&domain="), 2005),
            ("trailing dot", Some(FORM), reg("V5", "&domain=v5.ru."), 2005),
            ("IP address", Some(FORM), reg("V6", "&domain=192.0.2.1"), 2005),
            ("space in name", Some(FORM), reg("V7", "&domain=v+7.ru"), 2005),
            ("nameserver of 254", Some(FORM), reg("V8", &format!("&domain=v8.ru&ns={name254}&ns=b.example.net")), 2005),
            (
                "request-id of 65",
                Some(FORM),
                f(format!("command=domain.register&request-id={}&domain=v9.ru&client=1000%2FRW-P", "r".repeat(65))),
                2005,
            ),
            (
                "request-id with a slash",
                Some(FORM),
                f("command=domain.register&request-id=V%2F10&domain=v10.ru&client=1000%2FRW-P".into()),
                2005,
            ),
            ("empty request-id", Some(FORM), f("command=domain.register&request-id=&domain=v11.ru&client=1000%2FRW-P".into()), 2005),
            ("date with a short month", Some(FORM), renew("V12", "2027-1-15"), 2005),
            ("date in another order", Some(FORM), renew("V13", "15.01.2027"), 2005),
            ("month 13", Some(FORM), renew("V14", "2027-13-15"), 2005),
            ("30 February", Some(FORM), renew("V15", "2027-02-30"), 2005),
            ("date and time", Some(FORM), renew("V16", "2027-01-15T00:00:00Z"), 2005),
            ("empty date", Some(FORM), renew("V17", ""), 2005),
            ("fraction period", Some(FORM), reg("V18", "&domain=v18.com&period=1.5"), 2005),
            ("negative period", Some(FORM), reg("V19", "&domain=v19.com&period=-1"), 2005),
            ("signed period", Some(FORM), reg("V20", "&domain=v20.com&period=%2B1"), 2005),
            ("spaced period", Some(FORM), reg("V21", "&domain=v21.com&period=+1"), 2005),
            ("empty period", Some(FORM), reg("V22", "&domain=v22.com&period="), 2005),
            ("word period", Some(FORM), reg("V23", "&domain=v23.com&period=one"), 2005),
            ("period 0", Some(FORM), reg("V24", "&domain=v24.com&period=0"), 2004),
            ("period 11", Some(FORM), reg("V25", "&domain=v25.com&period=11"), 2004),
            ("period 999999999", Some(FORM), reg("V26", "&domain=v26.com&period=999999999"), 2004),
            ("limit 0", Some(FORM), f("command=domain.list&limit=0".into()), 2004),
            ("limit 1001", Some(FORM), f("command=order.list&limit=1001".into()), 2004),
            ("limit 999999999", Some(FORM), f("command=client.list&limit=999999999".into()), 2004),
            ("fraction limit", Some(FORM), f("command=ledger.list&limit=1.0".into()), 2005),
            ("negative limit", Some(FORM), f("command=ledger.list&limit=-5".into()), 2005),
            ("word limit", Some(FORM), f("command=domain.list&limit=all".into()), 2005),
            ("cursor of 301", Some(FORM), f(format!("command=domain.list&cursor={}", "c".repeat(301))), 2005),
            ("order id word", Some(FORM), f("command=order.info&order=first".into()), 2005),
            ("order id of 20 digits", Some(FORM), f(format!("command=order.info&order={}", "9".repeat(20))), 2005),
            (
                "client name of 256",
                Some(FORM),
                f(format!(
                    "command=client.create&request-id=V27&type=person&name={}&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M",
                    "n".repeat(256)
                )),
                2004,
            ),
            (
                "control character in a name",
                Some(FORM),
                f("command=client.create&request-id=V28&type=person&name=A%00B&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=M".into()),
                2005,
            ),
            ("match with a control character", Some(FORM), f("command=domain.list&match=a%07".into()), 2005),
        ];
        let rids: Vec<String> = (1..=28).map(|i| format!("V{i}")).collect();
        let rids: Vec<&str> = rids.iter().map(String::as_str).collect();
        refused(&s, &cases, &rids).await;
    })
    .await;
    s.stop().await;
}

/// A whole number too large for the field is out of range (2004), like any other
/// number outside the range, not a malformed value.
#[tokio::test]
async fn huge_whole_numbers_are_out_of_range() {
    let s = common::start().await;
    bounded(30, async {
        assert_eq!(s.client("C-1").await, "1000/RW-P");
        let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
            (
                "period of 10 digits",
                Some(FORM),
                reg("H1", "&domain=h1.com&period=1000000000"),
                2004,
            ),
            (
                "period beyond u32",
                Some(FORM),
                reg("H2", "&domain=h2.com&period=99999999999"),
                2004,
            ),
            (
                "limit of 10 digits",
                Some(FORM),
                b"command=domain.list&limit=1000000000".to_vec(),
                2004,
            ),
            (
                "limit of 30 digits",
                Some(FORM),
                format!("command=order.list&limit={}", "9".repeat(30)).into_bytes(),
                2004,
            ),
        ];
        refused(&s, &cases, &["H1", "H2"]).await;
    })
    .await;
    s.stop().await;
}

/// Sends a raw HTTP/1.1 request and returns the status line and the body.
async fn raw_http(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before it has read all of the body.
    let _ = sock.write_all(body).await;
    let mut out = Vec::new();
    let _ = sock.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn oversized_bodies_get_413_and_store_nothing() {
    let s = common::start_with(|c| c.max_body_bytes = 1024).await;
    bounded(30, async {
        assert_eq!(s.client("C-1").await, "1000/RW-P");
        let before = snapshot(&s).await;
        // Exactly at the limit: accepted.
        // 14 names of 59 to 63 octets: 20 + 14 × (8 + label + 3) = 1024.
        let mut at_limit = String::from("command=domain.check");
        for i in 0..14 {
            let label = if i < 12 { 61 } else { 59 };
            at_limit.push_str(&format!("&domain={}.ru", "p".repeat(label)));
        }
        assert_eq!(at_limit.len(), 1024);
        let a = send(&s, Some(FORM), at_limit.clone().into_bytes()).await;
        assert_eq!(a.status, 200, "{}", a.body);

        // One byte over, with Content-Length: refused before it is read.
        let mut over = String::from_utf8(reg("O1", "&domain=over.ru&x-pad=")).unwrap();
        over.push_str(&"z".repeat(1025 - over.len()));
        let a = send(&s, Some(FORM), over.clone().into_bytes()).await;
        assert_eq!(a.status, 413, "{}", a.body);
        assert_eq!(a.code(), 2001);
        let big = [&reg("O2", "&domain=over2.ru&x=")[..], &vec![b'z'; 200_000]].concat();
        let a = send(&s, Some(FORM), big).await;
        assert_eq!(a.status, 413);

        // Chunked, with no length given: refused once the limit is passed.
        let addr = s.running.as_ref().unwrap().addr;
        let auth = "ZGVtbzpkZW1vLXBhc3N3b3Jk"; // demo:demo-password
        let head = format!(
            "POST /api HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
             Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let payload =
            String::from_utf8(reg("O3", "&domain=over3.ru&x=")).unwrap() + &"z".repeat(3000);
        let mut chunked = Vec::new();
        for part in payload.as_bytes().chunks(500) {
            chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (status, body) = raw_http(addr, &head, &chunked).await;
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("<result code=\"2001\">"), "{body}");

        assert_eq!(
            snapshot(&s).await,
            before,
            "an oversized body changed state"
        );
        for rid in ["O1", "O2", "O3"] {
            expect(
                s.form(&format!("command=request.status&request-id={rid}"))
                    .await,
                2303,
            );
        }
    })
    .await;
    s.stop().await;
}

/// Amounts, where they enter (the operator's top-up): no exponent, no separators, no
/// more decimals than the currency has, nothing zero or negative, nothing too large,
/// and a top-up that would take the balance past the bound is refused whole.
#[tokio::test]
async fn amounts_are_plain_positive_and_bounded() {
    let s = common::start().await;
    bounded(30, async {
        let before = s.engine().show_partner("demo").unwrap().balance;
        for (amount, code) in [
            ("1e3", 2005),
            ("1E3", 2005),
            ("1,000.00", 2005),
            ("1 000", 2005),
            ("1_000", 2005),
            ("12.345", 2005),
            ("12.", 2005),
            (".5", 2005),
            ("+5", 2005),
            ("-5.00", 2005),
            ("0", 2004),
            ("0.00", 2004),
            ("NaN", 2005),
            ("１２", 2005),
            ("99999999999999", 2005),
            // Past 10^12 an amount is not one the gateway writes, whatever its number
            // of digits: a syntax error like the longer one above (protocol/native.md,
            // "Money").
            ("9999999999999.99", 2005),
        ] {
            let e = s.engine().topup("demo", amount, "").await.unwrap_err();
            assert_eq!(e.code.number(), code, "{amount:?}: {e}");
        }
        assert_eq!(s.engine().show_partner("demo").unwrap().balance, before);
        // Accepted one by one, these would take the balance past the bound.
        let e = s.engine().topup("demo", "999999999999.99", "").await;
        let mut last = e.map(|_| ());
        for _ in 0..20 {
            if last.is_err() {
                break;
            }
            last = s
                .engine()
                .topup("demo", "999999999999.99", "")
                .await
                .map(|_| ());
        }
        let e = last.expect_err("the balance grew without bound");
        assert_eq!(e.code.number(), 2004, "{e}");
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}
