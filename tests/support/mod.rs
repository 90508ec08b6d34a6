//! Helpers shared by the money and order tests: reading answers, paging through
//! listings, and snapshots of what the store holds. Used next to `mod common;`.
#![allow(dead_code)]

use crate::common::{Answer, TestServer, LOGIN, PASSWORD};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use regway::engine::operator::NewPartner;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// One element of an answer: its attributes and its text (when it has only text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct El {
    pub attrs: BTreeMap<String, String>,
    pub text: Option<String>,
}

impl El {
    pub fn get(&self, k: &str) -> &str {
        self.attrs
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("attribute {k} missing in {self:?}"))
    }
    pub fn opt(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every `<name …>` element of `body`, in document order.
pub fn elems(body: &str, name: &str) -> Vec<El> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = body[at..].find(&open) {
        let start = at + i + open.len();
        at = start;
        let next = body[start..].chars().next();
        if !matches!(next, Some(' ' | '/' | '>')) {
            continue;
        }
        let end = start + body[start..].find('>').expect("a closed tag");
        let mut head = &body[start..end];
        let empty = head.ends_with('/');
        if empty {
            head = &head[..head.len() - 1];
        }
        let mut attrs = BTreeMap::new();
        let mut rest = head.trim();
        while let Some(eq) = rest.find("=\"") {
            let key = rest[..eq].trim().to_string();
            let vstart = eq + 2;
            let vend = vstart + rest[vstart..].find('"').expect("a closed attribute");
            attrs.insert(key, unescape(&rest[vstart..vend]));
            rest = rest[vend + 1..].trim_start();
        }
        let text = if empty {
            None
        } else {
            let close = format!("</{name}>");
            let content_start = end + 1;
            body[content_start..].find(&close).and_then(|j| {
                let content = &body[content_start..content_start + j];
                (!content.contains('<')).then(|| unescape(content))
            })
        };
        out.push(El { attrs, text });
    }
    out
}

/// The first `<name>` element; panics when there is none.
pub fn elem(body: &str, name: &str) -> El {
    elems(body, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{name}> in\n{body}"))
}

/// The text of the first `<name>` element.
pub fn text(body: &str, name: &str) -> Option<String> {
    elems(body, name).into_iter().next().and_then(|e| e.text)
}

/// Form-encodes one value.
pub fn enc(v: &str) -> String {
    utf8_percent_encode(v, NON_ALPHANUMERIC).to_string()
}

/// Asserts the result code and returns the answer, with the body in the message.
#[track_caller]
pub fn expect(a: Answer, code: u16) -> Answer {
    assert_eq!(a.code(), code, "expected {code}, got:\n{}", a.body);
    a
}

/// The HTTP status the protocol gives a result code.
pub fn http_of(code: u16) -> u16 {
    match code {
        1000 => 200,
        1001 => 202,
        2000 | 2001 | 2003 | 2004 | 2005 | 2306 => 400,
        2104 => 402,
        2105 | 2302 | 2304 | 2308 => 409,
        2200 => 401,
        2201 => 403,
        2303 => 404,
        2502 => 429,
        _ => 500,
    }
}

/// Asserts code and HTTP status together.
#[track_caller]
pub fn expect_http(a: Answer, code: u16) -> Answer {
    assert_eq!(a.code(), code, "expected {code}, got:\n{}", a.body);
    if code != 2400 {
        assert_eq!(
            a.status,
            http_of(code),
            "HTTP status for {code}:\n{}",
            a.body
        );
    }
    assert_eq!(a.content_type, "application/xml; charset=utf-8");
    a
}

pub fn register_form(rid: &str, domain: &str, client: &str, extra: &str) -> String {
    format!(
        "command=domain.register&request-id={rid}&domain={}&client={}{extra}",
        enc(domain),
        enc(client)
    )
}

/// `domain.register` of one name for the demo partner.
pub async fn register(s: &TestServer, rid: &str, domain: &str, client: &str) -> Answer {
    s.form(&register_form(rid, domain, client, "")).await
}

/// Adds a partner with `balance` on its account.
pub async fn add_partner(s: &TestServer, login: &str, password: &str, balance: Option<&str>) {
    s.engine()
        .add_partner(NewPartner {
            login: login.into(),
            password: Some(password.into()),
            ..NewPartner::default()
        })
        .await
        .expect("partner added");
    if let Some(b) = balance {
        s.engine().topup(login, b, "").await.expect("topped up");
    }
}

/// Creates a client for `login` and returns its handle.
pub async fn client_as(s: &TestServer, login: &str, password: &str, rid: &str) -> String {
    let a = s
        .form_as(
            login,
            password,
            &format!(
                "command=client.create&request-id={rid}&type=org&name=Org+{rid}\
                 &email=org%40example.net&phone=%2B7.4950000000&country=RU&address=Moscow"
            ),
        )
        .await;
    expect(a, 1000).attr("id").unwrap()
}

/// The demo partner's balance as the gateway answers it.
pub async fn balance(s: &TestServer) -> String {
    balance_as(s, LOGIN, PASSWORD).await
}

pub async fn balance_as(s: &TestServer, login: &str, password: &str) -> String {
    let a = expect(
        s.form_as(login, password, "command=balance.get").await,
        1000,
    );
    text(&a.body, "balance").unwrap()
}

/// Walks a listing (`command` with `extra` parameters) through every `next-cursor`,
/// returning every `row` element and the number of pages.
pub async fn walk(s: &TestServer, command: &str, extra: &str, row: &str) -> (Vec<El>, usize) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = format!("command={command}{extra}");
        if let Some(c) = &cursor {
            body.push_str(&format!("&cursor={}", enc(c)));
        }
        let a = expect(s.form(&body).await, 1000);
        pages += 1;
        assert!(pages < 10_000, "paging does not end");
        rows.extend(elems(&a.body, row));
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = Some(c),
            None => return (rows, pages),
        }
    }
}

/// Every ledger entry of the demo partner, newest first.
pub async fn ledger(s: &TestServer) -> Vec<El> {
    walk(s, "ledger.list", "&limit=1000", "entry").await.0
}

/// Every order of the demo partner, newest first.
pub async fn orders(s: &TestServer) -> Vec<El> {
    walk(s, "order.list", "&limit=1000", "order").await.0
}

/// What the store holds, to show that a refused request changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub ledger_entries: u64,
    pub orders: u64,
    pub domains: u64,
    pub balance: String,
    pub clients: u64,
    pub partner_orders: u64,
}

pub async fn snapshot(s: &TestServer) -> Snapshot {
    let r = s.verify().await;
    assert!(r.problems.is_empty(), "verify: {:?}", r.problems);
    let p = s.engine().show_partner(LOGIN).unwrap();
    Snapshot {
        ledger_entries: r.ledger_entries,
        orders: r.orders,
        domains: r.domains,
        balance: p.balance,
        clients: p.clients,
        partner_orders: p.orders,
    }
}

/// Runs `f` under a time limit, so a hung request fails the test instead of stalling it.
pub async fn bounded<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("took longer than {secs} s"))
}

/// Parses a money string into hundredths (`590.00` → 59000).
pub fn cents(s: &str) -> i64 {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (a, b) = s.split_once('.').expect("two minor digits");
    assert_eq!(b.len(), 2, "{s}: exactly two minor digits");
    let v = a.parse::<i64>().unwrap() * 100 + b.parse::<i64>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}
