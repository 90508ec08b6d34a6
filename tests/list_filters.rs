//! The filters panels list by: `order.list` and `license.list` by client and dates,
//! `order.list` by domain, `domain.list` by delegation, `ledger.list` by dates and as
//! CSV (RFC 4180, the same totals as the XML, formulas neutralised).

mod common;

use rust_decimal::Decimal;
use std::str::FromStr;

fn attrs(body: &str, el: &str, name: &str) -> Vec<String> {
    let open = format!("<{el} ");
    body.split(&open)
        .skip(1)
        .filter_map(|chunk| {
            let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let pat = format!(" {name}=\"");
            let at = format!(" {tag}");
            let i = at.find(&pat)? + pat.len();
            Some(at[i..i + at[i..].find('"')?].to_string())
        })
        .collect()
}

/// Splits RFC 4180 text into records of fields (quoted fields may hold commas, quotes
/// doubled, and line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => {
                assert!(field.is_empty(), "a quote inside an unquoted field");
                quoted = true;
            }
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a record ends with CRLF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => {
                assert_ne!(c, '\n', "a bare LF ends no record");
                field.push(c);
            }
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends with CRLF"
    );
    records
}

#[tokio::test]
async fn ledger_csv_has_the_xml_rows_and_totals_and_runs_no_formula() {
    let s = common::start().await;
    let eng = s.engine();
    let notes = [
        "=HYPERLINK(\"http://example.net\",\"pay\")",
        "+1-2",
        "-3",
        "@SUM(A1:A9)",
        "bank, ref \"7\"\nsecond line",
        "plain",
    ];
    for n in notes {
        eng.topup(common::LOGIN, "10.50", n).await.unwrap();
    }
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=csv-one.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);

    for limit in [3, 1000] {
        let xml = s.form(&format!("command=ledger.list&limit={limit}")).await;
        assert_eq!(xml.code(), 1000, "{}", xml.body);
        let csv = s
            .form(&format!("command=ledger.list&format=csv&limit={limit}"))
            .await;
        assert_eq!(csv.status, 200);
        assert_eq!(csv.content_type, "text/csv; charset=utf-8; header=present");
        let records = parse_csv(&csv.body);
        assert_eq!(
            records[0].join(","),
            "id,time,kind,amount,balance-after,currency,order,list-price,rule,tier,discount,note,by"
        );
        let rows = &records[1..];
        let ids = attrs(&xml.body, "entry", "id");
        assert_eq!(rows.len(), ids.len(), "one record per entry");
        assert_eq!(
            rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
            ids,
            "the same entries in the same order"
        );
        let sum =
            |v: Vec<String>| -> Decimal { v.iter().map(|a| Decimal::from_str(a).unwrap()).sum() };
        let xml_total = sum(attrs(&xml.body, "entry", "amount"));
        let csv_total = sum(rows.iter().map(|r| r[3].clone()).collect());
        assert_eq!(csv_total, xml_total, "limit {limit}");
        assert_eq!(
            rows.iter().map(|r| r[4].clone()).collect::<Vec<_>>(),
            attrs(&xml.body, "entry", "balance-after")
        );
        if limit == 1000 {
            // Every entry: the total is the balance.
            let balance = s.form("command=balance.get").await;
            let b = balance.body.split("<balance").nth(1).unwrap();
            let b = &b[b.find('>').unwrap() + 1..b.find("</").unwrap()];
            assert_eq!(csv_total, Decimal::from_str(b).unwrap());
            assert_eq!(
                csv.body.matches("\r\n").count(),
                rows.len() + 1,
                "CRLF ends records only"
            );
            // A negative amount stays a number.
            assert!(rows.iter().any(|r| r[3].starts_with('-')));
            // Notes come back as given; a formula is shown, never run.
            let got: Vec<&str> = rows.iter().map(|r| r[11].as_str()).collect();
            for n in notes {
                let formula = n.starts_with(['=', '+', '-', '@']);
                let shown = if formula {
                    format!("'{n}")
                } else {
                    n.to_string()
                };
                assert!(got.contains(&shown.as_str()), "{shown:?} in {got:?}");
            }
            assert!(!csv.body.contains("\n=") && !csv.body.contains(",="));
            assert!(!csv.body.contains(",@") && !csv.body.contains(",+"));
        }
    }
    // Errors stay XML.
    let a = s.form("command=ledger.list&format=CSV").await;
    assert_eq!(a.code(), 2005);
    assert!(a.content_type.starts_with("application/xml"));
    s.stop().await;
}

#[tokio::test]
async fn csv_pages_like_xml() {
    let s = common::start().await;
    for n in 0..5 {
        s.engine()
            .topup(common::LOGIN, "1.00", &format!("t{n}"))
            .await
            .unwrap();
    }
    let resp = s
        .client
        .post(&s.url)
        .basic_auth(common::LOGIN, Some(common::PASSWORD))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("command=ledger.list&format=csv&limit=2")
        .send()
        .await
        .unwrap();
    let cursor = resp.headers()["next-cursor"].to_str().unwrap().to_string();
    let xml = s.form("command=ledger.list&limit=2").await;
    assert!(xml
        .body
        .contains(&format!("<next-cursor>{cursor}</next-cursor>")));
    let page2 = s
        .form(&format!(
            "command=ledger.list&format=csv&limit=10&cursor={cursor}"
        ))
        .await;
    let xml2 = s
        .form(&format!("command=ledger.list&limit=10&cursor={cursor}"))
        .await;
    let rows = parse_csv(&page2.body);
    assert_eq!(
        rows[1..].iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        attrs(&xml2.body, "entry", "id")
    );
    s.stop().await;
}

#[tokio::test]
async fn dates_keep_the_days_asked_for() {
    let s = common::start().await;
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=day-one.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // The next day, a renewal and a licence.
    let s = s.restart_at("2026-01-16T09:00:00Z").await;
    let a = s
        .form("command=domain.renew&request-id=N1&domain=day-one.ru&expires=2027-01-15")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=license.order&request-id=L1&product=ispmanager6-lite&period=month\
             &ip=198.51.100.7&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);

    let orders = |q: &'static str| {
        let s = &s;
        async move {
            let a = s.form(&format!("command=order.list{q}")).await;
            assert_eq!(a.code(), 1000, "{q}: {}", a.body);
            attrs(&a.body, "order", "command")
        }
    };
    assert_eq!(
        orders("&from=2026-01-16").await,
        ["license.order", "domain.renew"]
    );
    assert_eq!(orders("&to=2026-01-15").await, ["domain.register"]);
    assert_eq!(
        orders("&from=2026-01-15&to=2026-01-15").await,
        ["domain.register"]
    );
    assert!(orders("&from=2026-01-17").await.is_empty());
    assert_eq!(
        orders("&domain=day-one.ru").await,
        ["domain.renew", "domain.register"]
    );
    assert_eq!(
        orders("&domain=day-one.ru&from=2026-01-16").await,
        ["domain.renew"]
    );

    let ledger = s.form("command=ledger.list&to=2026-01-15").await;
    assert_eq!(attrs(&ledger.body, "entry", "kind"), ["charge", "topup"]);
    let ledger = s.form("command=ledger.list&from=2026-01-16").await;
    assert_eq!(attrs(&ledger.body, "entry", "kind"), ["charge", "charge"]);

    let lic = s.form("command=license.list&from=2026-01-16").await;
    assert_eq!(attrs(&lic.body, "license", "id").len(), 1);
    let lic = s.form("command=license.list&to=2026-01-15").await;
    assert!(attrs(&lic.body, "license", "id").is_empty(), "{}", lic.body);

    for (q, code) in [
        ("order.list&from=2026-01-16&to=2026-01-15", 2004),
        ("ledger.list&to=2026-02-30", 2005),
        ("license.list&from=15.01.2026", 2005),
        ("order.list&domain=-bad-.ru", 2005),
    ] {
        let a = s.form(&format!("command={q}")).await;
        assert_eq!(a.code(), code, "{q}: {}", a.body);
    }
    s.stop().await;
}

#[tokio::test]
async fn client_filters_follow_the_holder() {
    let s = common::start().await;
    let c1 = s.client("C1").await;
    let c2 = s.client("C2").await;
    for (n, c) in [(1, &c1), (2, &c2)] {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R{n}&domain=holder{n}.ru&client={c}&ns=ns1.example.net&ns=ns2.example.net"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R3&domain=bare3.ru&client={c2}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form("command=domain.set-ns&request-id=S1&domain=holder1.ru&ns=ns3.example.net&ns=ns4.example.net")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=license.order&request-id=L1&product=ispmanager6-lite&period=month\
             &ip=198.51.100.7&client={c2}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let lid = a.attr("license").or_else(|| a.attr("id")).unwrap();
    let a = s
        .form(&format!(
            "command=license.set-ip&request-id=I1&license={lid}&ip=198.51.100.8"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);

    let enc = |c: &str| c.replace('/', "%2F");
    let a = s
        .form(&format!("command=order.list&client={}", enc(&c1)))
        .await;
    assert_eq!(
        attrs(&a.body, "order", "command"),
        ["domain.set-ns", "domain.register"]
    );
    let a = s
        .form(&format!("command=order.list&client={}", enc(&c2)))
        .await;
    assert_eq!(
        attrs(&a.body, "order", "command"),
        [
            "license.set-ip",
            "license.order",
            "domain.register",
            "domain.register"
        ]
    );
    let a = s
        .form(&format!("command=license.list&client={}", enc(&c1)))
        .await;
    assert!(attrs(&a.body, "license", "id").is_empty());
    let a = s
        .form(&format!("command=license.list&client={}", enc(&c2)))
        .await;
    assert_eq!(attrs(&a.body, "license", "id"), [lid]);
    // A handle no client has: an empty list; a malformed one: 2005.
    let a = s.form("command=order.list&client=999999%2FRW-P").await;
    assert_eq!(a.code(), 1000);
    assert!(attrs(&a.body, "order", "id").is_empty());
    let a = s.form("command=license.list&client=nobody").await;
    assert_eq!(a.code(), 2005);

    let a = s.form("command=domain.list&delegated=true").await;
    assert_eq!(
        attrs(&a.body, "domain", "name"),
        ["holder1.ru", "holder2.ru"]
    );
    let a = s.form("command=domain.list&delegated=false").await;
    assert_eq!(attrs(&a.body, "domain", "name"), ["bare3.ru"]);
    let a = s.form("command=domain.list&delegated=1").await;
    assert_eq!(a.code(), 2005);
    s.stop().await;
}
