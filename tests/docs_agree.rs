//! What `protocol/native.md` and README say about the gateway, checked against a running
//! one: the statements the fixtures cannot show (fault knobs, timers, defaults) and
//! those where the server once said otherwise.

mod common;
mod support;

use regway::config::{Config, SandboxFaults};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

fn doc(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// A malformed request-id is refused on a read-only command as on a changing one, and
/// never repeated in `<request-id>`; a well-formed one is repeated.
#[tokio::test]
async fn a_read_command_refuses_a_malformed_request_id() {
    let s = common::start().await;
    for body in [
        "command=balance.get&request-id=bad+id!",
        "command=domain.list&request-id=",
        "command=ledger.list&request-id=%3Cx%3E",
    ] {
        let a = expect_http(s.form(body).await, 2005);
        assert!(a.body.contains("request-id: "), "{}", a.body);
        assert!(!a.body.contains("<request-id>"), "{}", a.body);
    }
    let long = format!("command=client.list&request-id={}", "r".repeat(65));
    expect_http(s.form(&long).await, 2005);
    let a = expect(s.form("command=balance.get&request-id=B-1").await, 1000);
    assert_eq!(text(&a.body, "request-id").as_deref(), Some("B-1"));
    // A `GET` is checked the same way.
    let a = s
        .raw(
            s.client
                .get(format!("{}?command=balance.get&request-id=a%20b", s.url))
                .basic_auth(common::LOGIN, Some(common::PASSWORD)),
        )
        .await;
    expect_http(a, 2005);
    s.stop().await;
}

/// The envelope's request-id is checked after the command's own parameters and after
/// the unknown ones (`protocol/native.md`, "Strictness").
#[tokio::test]
async fn the_request_id_is_checked_after_the_commands_parameters() {
    let s = common::start().await;
    let client = s.client("C-1").await;
    let c = enc(&client);
    // A bad domain and a bad request-id: the domain.
    let a = expect_http(
        s.form(&format!(
            "command=domain.register&request-id=a+b&domain=-x-.ru&client={c}"
        ))
        .await,
        2005,
    );
    assert!(a.body.contains("domain: "), "{}", a.body);
    // A bad period and no request-id: the period.
    let a = expect_http(
        s.form(&format!(
            "command=domain.register&domain=fine.ru&period=0&client={c}"
        ))
        .await,
        2004,
    );
    assert!(a.body.contains("period"), "{}", a.body);
    // An unknown parameter and a bad request-id: the unknown parameter.
    let a = expect_http(
        s.form(&format!(
            "command=domain.register&request-id=a+b&domain=fine.ru&client={c}&colour=red"
        ))
        .await,
        2001,
    );
    assert!(a.body.contains("colour"), "{}", a.body);
    // Everything else right: the request-id.
    let a = expect_http(
        s.form(&format!(
            "command=domain.register&request-id=a+b&domain=fine.ru&client={c}"
        ))
        .await,
        2005,
    );
    assert!(a.body.contains("request-id: "), "{}", a.body);
    expect_http(
        s.form(&format!(
            "command=domain.register&domain=fine.ru&client={c}"
        ))
        .await,
        2003,
    );
    // order.info takes it as its own parameter.
    let a = expect_http(s.form("command=order.info&request-id=a+b").await, 2005);
    assert!(a.body.contains("request-id: "), "{}", a.body);
    s.stop().await;
}

/// `domain.list` refuses a cursor it did not give, as every other list does; the cursor
/// it gives goes on where the page stopped.
#[tokio::test]
async fn domain_list_refuses_a_cursor_it_did_not_give() {
    let s = common::start().await;
    let client = s.client("C-1").await;
    for name in ["list-a.ru", "list-b.ru", "list-c.ru"] {
        expect(
            register(&s, &format!("R-{name}"), name, &client).await,
            1000,
        );
    }
    for cursor in [
        "garbage!!",
        "LIST-A.RU",
        "list-a.ru.",
        "тест.рф",
        "a b",
        "%00",
    ] {
        for extra in ["", "&client=1000%2FRW-P"] {
            let a = s
                .form(&format!(
                    "command=domain.list&limit=1&cursor={}{extra}",
                    enc(cursor)
                ))
                .await;
            let a = expect_http(a, 2005);
            assert!(
                a.body.contains("cursor: not a cursor this server gave"),
                "{cursor}: {}",
                a.body
            );
        }
    }
    let first = expect(s.form("command=domain.list&limit=1").await, 1000);
    let next = text(&first.body, "next-cursor").unwrap();
    let second = expect(
        s.form(&format!(
            "command=domain.list&limit=1&cursor={}",
            enc(&next)
        ))
        .await,
        1000,
    );
    assert_eq!(elem(&second.body, "domain").get("name"), "list-b.ru");
    // Every list answers the same code for the same mistake.
    for command in [
        "client.list",
        "order.list",
        "ledger.list",
        "license.list",
        "commission.list",
    ] {
        let a = s.form(&format!("command={command}&cursor=garbage!!")).await;
        expect_http(a, 2005);
    }
    s.stop().await;
}

/// An order that went `unknown` and then completed shows no `reason`: a reason is on
/// failed and unknown orders only.
#[tokio::test]
async fn an_order_completed_after_unknown_has_no_reason() {
    let s = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            timeout_percent: 100,
            ..Default::default()
        };
        c.upstream_timeout_ms = 300;
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let a = expect(register(&s, "R1", "late.ru", &client).await, 1001);
    let order = elem(&a.body, "order");
    assert_eq!(order.get("state"), "unknown");
    assert!(order.opt("reason").is_some(), "{}", a.body);
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    for body in [
        "command=order.info&request-id=R1",
        "command=order.list",
        "command=request.status&request-id=R1",
    ] {
        let a = expect(s.form(body).await, 1000);
        let order = elem(&a.body, "order");
        assert_eq!(order.get("state"), "completed", "{}", a.body);
        assert_eq!(order.opt("reason"), None, "{body}: {}", a.body);
        assert!(!a.body.contains("reason="), "{body}: {}", a.body);
    }
    // The retry gets the final answer, without a reason either.
    let a = expect(register(&s, "R1", "late.ru", &client).await, 1000);
    assert!(a.replayed);
    assert!(!a.body.contains("reason="), "{}", a.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// A 2400 from the registry: the order was charged and refunded, the balance is as
/// before, and the ledger holds both entries (`protocol/native.md`, "Result codes").
#[tokio::test]
async fn a_refusal_by_the_registry_is_charged_and_refunded() {
    let s = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            fail_percent: 100,
            ..Default::default()
        };
    })
    .await;
    let client = s.client("C1").await;
    let before = balance(&s).await;
    let a = expect(register(&s, "R1", "refused.ru", &client).await, 2400);
    assert_eq!(a.status, 502);
    let order = elem(&a.body, "order");
    assert_eq!(order.get("state"), "failed");
    let id = order.get("id").to_string();
    assert_eq!(balance(&s).await, before);
    let entries: Vec<_> = ledger(&s)
        .await
        .into_iter()
        .filter(|e| e.opt("order") == Some(id.as_str()))
        .collect();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.get("kind"), e.get("amount")))
        .collect();
    assert_eq!(kinds, [("refund", "590.00"), ("charge", "-590.00")]);
    // The same request-id gives the same refusal, and charges nothing more.
    let again = expect(register(&s, "R1", "refused.ru", &client).await, 2400);
    assert!(again.replayed);
    assert_eq!(again.body, a.body);
    assert_eq!(balance(&s).await, before);
    // The document says so.
    let native = doc("protocol/native.md");
    assert!(native.contains("(502; the order was charged and refunded)"));
    assert!(!native.contains("nothing charged:"));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// `/healthz` answers the JSON the documents show, with HTTP 200.
#[tokio::test]
async fn healthz_answers_what_the_documents_show() {
    let s = common::start().await;
    let url = s.url.replace("/api", "/healthz");
    let resp = s.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body = resp.text().await.unwrap();
    let shown = r#"{"status":"ok","store":"ok","upstream":"ok","backend":"sandbox","upstreams":{"sandbox":"ok"}}"#;
    assert_eq!(body.trim_end(), shown);
    assert!(
        doc("protocol/native.md").contains(&format!("  ```json\n  {shown}\n  ```\n")),
        "protocol/native.md shows another /healthz answer"
    );
    assert!(
        doc("README.md").contains(&format!("`GET /healthz`: `{shown}`")),
        "README shows another /healthz answer"
    );
    s.stop().await;
}

/// README lists the sandbox's default taken names; exactly those are taken on a fresh
/// gateway, and a replaced list replaces them.
#[tokio::test]
async fn the_sandboxs_default_taken_names_are_the_documented_ones() {
    let readme = doc("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("| `sandbox.taken` |"))
        .expect("README documents sandbox.taken");
    let listed = line
        .split_once("Default: ")
        .expect("README gives the default list")
        .1;
    let listed = &listed[..listed.find(". ").expect("the list ends with a full stop")];
    let names: Vec<&str> = listed.split(", ").map(|n| n.trim_matches('`')).collect();
    assert!(names.len() >= 2, "{names:?}");
    let defaults: Vec<String> = Config::default()
        .sandbox
        .taken
        .iter()
        .map(|n| {
            regway::types::names::parse_name("n", n)
                .unwrap()
                .ascii()
                .to_string()
        })
        .collect();
    let documented: Vec<String> = names
        .iter()
        .map(|n| {
            regway::types::names::parse_name("n", n)
                .unwrap()
                .ascii()
                .to_string()
        })
        .collect();
    assert_eq!(documented, defaults, "README and the defaults differ");
    // A fresh gateway with the default list (the tests' configuration keeps it).
    let s = common::start().await;
    let q: String = names
        .iter()
        .map(|n| format!("&domain={}", enc(n)))
        .collect();
    let a = expect(
        s.form(&format!("command=domain.check{q}&domain=free-name.ru"))
            .await,
        1000,
    );
    let rows = elems(&a.body, "domain");
    assert_eq!(rows.len(), names.len() + 1);
    for r in &rows[..names.len()] {
        assert_eq!(r.get("available"), "false", "{}", a.body);
    }
    assert_eq!(rows[names.len()].get("available"), "true");
    s.stop().await;
    // `REGWAY_SANDBOX_TAKEN=` (empty) takes none.
    let mut cfg = Config::default();
    cfg.apply_env(|k| (k == "REGWAY_SANDBOX_TAKEN").then(String::new))
        .unwrap();
    assert!(cfg.sandbox.taken.is_empty());
    let s = common::start_with(|c| c.sandbox.taken.clear()).await;
    let a = expect(s.form("command=domain.check&domain=example.ru").await, 1000);
    assert_eq!(elem(&a.body, "domain").get("available"), "true");
    s.stop().await;
}

/// A kept-alive connection left idle is closed after `header_timeout_ms`, as the
/// documents say; the default is the 10 seconds they give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    assert_eq!(Config::default().header_timeout_ms, 10_000);
    assert!(doc("protocol/native.md")
        .contains("closed by the gateway after 10 seconds (the operator's `header_timeout_ms`"));
    assert!(doc("README.md").contains(
        "also how long a kept-alive connection may stay idle before the gateway closes it"
    ));
    let s = common::start_with(|c| c.header_timeout_ms = 600).await;
    let addr = s
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_string();
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = "command=balance.get";
        // Two requests on one connection: it is kept alive.
        let mut answers = 0;
        let mut buf = Vec::new();
        for _ in 0..2 {
            write!(
                conn,
                "POST /api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZGVtbzpkZW1vLXBhc3N3b3Jk\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            // Read until the whole answer (head and Content-Length bytes) is in.
            loop {
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if buf.len() >= i + 4 + len {
                        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                        buf.drain(..i + 4 + len);
                        answers += 1;
                        break;
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = conn.read(&mut chunk).unwrap();
                assert!(n > 0, "closed in the middle of an answer");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        assert_eq!(answers, 2);
        // Now idle: the gateway closes it.
        let idle = Instant::now();
        let mut chunk = [0u8; 64];
        let n = conn.read(&mut chunk).expect("closed, not timed out");
        assert_eq!(n, 0, "the gateway sent {:?}", &chunk[..n]);
        idle.elapsed()
    })
    .await
    .unwrap();
    assert!(
        closed_after >= Duration::from_millis(500) && closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    s.stop().await;
}
