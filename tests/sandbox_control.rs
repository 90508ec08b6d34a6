//! The sandbox control API (`protocol/sandbox.md`): each call's effect seen through the
//! partner API (a clock moved past the renewal horizon renews an auto-renew domain once
//! and charges it once, and expires a domain without it; a pending order settled as
//! failed is failed and refunded; a taken name is unavailable); faults for the next N
//! orders; the API is off with a real upstream, absent from the partner port, and
//! refuses calls without the token; a reset is refused while requests are in flight or
//! orders open, and leaves an empty store that verifies.

mod common;
mod support;

use common::TestServer;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

async fn start() -> TestServer {
    start_with(|_| {}).await
}

async fn start_with(f: impl FnOnce(&mut regway::config::Config)) -> TestServer {
    common::start_with(|c| {
        f(c);
        c.sandbox.control = true;
        // Only the control API settles orders here.
        c.reconcile_interval_ms = 3_600_000;
    })
    .await
}

/// One signed call of the control API; its answer, or the refusal's code.
async fn call(s: &TestServer, path: &str, body: Value) -> Result<Value, u16> {
    regway::control::call(&s.data, path, body)
        .await
        .map_err(|e| e.code.number())
}

async fn ok(s: &TestServer, path: &str, body: Value) -> Value {
    call(s, path, body)
        .await
        .unwrap_or_else(|c| panic!("{path} refused with {c}"))
}

fn balance(s: &TestServer) -> String {
    s.engine().show_partner("demo").unwrap().balance
}

async fn domain(s: &TestServer, name: &str) -> El {
    let a = expect(
        s.form(&format!("command=domain.info&domain={name}")).await,
        1000,
    );
    elem(&a.body, "domain")
}

async fn orders(s: &TestServer, extra: &str) -> Vec<El> {
    let a = expect(s.form(&format!("command=order.list{extra}")).await, 1000);
    elems(&a.body, "order")
}

#[tokio::test]
async fn advancing_the_clock_runs_the_daily_work_once_per_day() {
    let s = start().await;
    let client = s.client("C1").await;
    for (rid, name, auto) in [("R1", "auto-a.ru", true), ("R2", "manual-b.ru", false)] {
        expect(
            s.form(&register_form(
                rid,
                name,
                &client,
                &format!("&auto-renew={auto}"),
            ))
            .await,
            1000,
        );
    }
    assert_eq!(balance(&s), "8820.00");
    assert_eq!(domain(&s, "auto-a.ru").await.get("expires"), "2027-01-15");

    // 2026-01-15 + 340 days = 2026-12-21: past the 30-day horizon of 2027-01-15.
    let moved = ok(&s, "/clock", json!({"advance": "P340D"})).await;
    assert_eq!(moved["now"], "2026-12-21T10:00:00Z");
    assert_eq!(moved["days"], 340);
    assert_eq!(moved["renewed"], 1);
    assert_eq!(domain(&s, "auto-a.ru").await.get("expires"), "2028-01-15");
    assert_eq!(balance(&s), "8230.00", "charged once");
    let renewals: Vec<El> = orders(&s, "")
        .await
        .into_iter()
        .filter(|o| o.get("command") == "domain.renew")
        .collect();
    assert_eq!(renewals.len(), 1, "renewed once");
    assert_eq!(renewals[0].get("state"), "completed");
    // Renewed on the first day within the horizon, at midnight.
    assert!(
        renewals[0]
            .get("request-id")
            .starts_with("auto-renew:2027-01-15:2026-12-16:"),
        "{renewals:?}"
    );
    assert_eq!(renewals[0].get("created"), "2026-12-16T00:00:00Z");

    // Past the expiry: the other domain expires, the renewed one stays; nothing renews twice.
    let moved = ok(&s, "/clock", json!({"set": "2027-01-20T00:00:00Z"})).await;
    assert_eq!(moved["expired"], 1);
    assert_eq!(moved["renewed"], 0);
    assert_eq!(domain(&s, "manual-b.ru").await.get("state"), "expired");
    assert_eq!(domain(&s, "auto-a.ru").await.get("state"), "active");
    assert_eq!(balance(&s), "8230.00");

    // The clock never moves back; nonsense is refused.
    assert_eq!(
        call(&s, "/clock", json!({"set": "2027-01-01T00:00:00Z"})).await,
        Err(2004)
    );
    assert_eq!(
        call(&s, "/clock", json!({"advance": "30 days"})).await,
        Err(2005)
    );
    assert_eq!(call(&s, "/clock", json!({})).await, Err(2001));
    assert_eq!(
        call(
            &s,
            "/clock",
            json!({"advance": "P1D", "set": "2028-01-01T00:00:00Z"})
        )
        .await,
        Err(2001)
    );
    assert_eq!(
        call(&s, "/clock", json!({"advance": "P20Y"})).await,
        Err(2004)
    );
    let state = ok(&s, "/state", json!({})).await;
    assert_eq!(state["clock"]["now"], "2027-01-20T00:00:00Z");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_pending_order_settled_failed_is_failed_and_refunded() {
    let s = start().await;
    let client = s.client("C1").await;
    // Pending for the next two new orders only.
    let f = ok(
        &s,
        "/faults",
        json!({"pending_percent": 100, "pending_ms": 3_600_000, "next": 2}),
    )
    .await;
    assert_eq!(f["faults"]["next"], 2);
    let pending = |rid: &'static str, name: &'static str| {
        let s = &s;
        let client = client.clone();
        async move {
            let a = expect(register(s, rid, name, &client).await, 1001);
            elem(&a.body, "order").get("id").to_string()
        }
    };
    let failing = pending("R1", "pending-a.ru").await;
    let completing = pending("R2", "pending-b.ru").await;
    assert_eq!(balance(&s), "8820.00", "both charged while pending");
    // The third order is past `next`: carried out at once.
    expect(register(&s, "R3", "direct-c.ru", &client).await, 1000);
    assert!(ok(&s, "/state", json!({})).await["faults"]["next"].is_null());

    let row = ok(
        &s,
        &format!("/orders/{failing}/settle"),
        json!({"outcome": "failed"}),
    )
    .await;
    assert_eq!(row["state"], "failed");
    let info = expect(s.form("command=order.info&request-id=R1").await, 1000);
    assert_eq!(elem(&info.body, "order").get("state"), "failed");
    assert_eq!(balance(&s), "8820.00", "R1 refunded, R3 charged");
    let check = expect(
        s.form("command=domain.check&domain=pending-a.ru").await,
        1000,
    );
    assert_eq!(elem(&check.body, "domain").get("available"), "true");

    let row = ok(
        &s,
        &format!("/orders/{completing}/settle"),
        json!({"outcome": "completed"}),
    )
    .await;
    assert_eq!(row["state"], "completed");
    assert_eq!(domain(&s, "pending-b.ru").await.get("state"), "active");
    assert_eq!(balance(&s), "8820.00");

    // Settled once: again, or an order never pending, or none at all, is refused.
    let again = call(
        &s,
        &format!("/orders/{failing}/settle"),
        json!({"outcome": "completed"}),
    )
    .await;
    assert_eq!(again, Err(2304));
    assert_eq!(
        call(&s, "/orders/999/settle", json!({"outcome": "failed"})).await,
        Err(2303)
    );
    assert_eq!(
        call(
            &s,
            &format!("/orders/{completing}/settle"),
            json!({"outcome": "maybe"})
        )
        .await,
        Err(2005)
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn taken_names_are_unavailable_until_removed() {
    let s = start().await;
    let available = |name: &'static str| {
        let s = &s;
        async move {
            let a = expect(
                s.form(&format!("command=domain.check&domain={name}")).await,
                1000,
            );
            elem(&a.body, "domain").get("available").to_string()
        }
    };
    assert_eq!(available("shop-elsewhere.ru").await, "true");
    let t = ok(
        &s,
        "/taken",
        json!({"add": ["shop-elsewhere.ru", "пример-два.рф"]}),
    )
    .await;
    let taken: Vec<String> = serde_json::from_value(t["taken"].clone()).unwrap();
    assert!(taken.contains(&"shop-elsewhere.ru".to_string()));
    assert_eq!(taken.len(), 10, "{taken:?}");
    assert!(taken.iter().all(|t| t.is_ascii()), "{taken:?}");
    assert_eq!(available("shop-elsewhere.ru").await, "false");
    // A registration is refused after the charge and refunded.
    let client = s.client("C1").await;
    let a = register(&s, "R1", "shop-elsewhere.ru", &client).await;
    assert_eq!(a.code(), 2302, "{}", a.body);
    assert_eq!(balance(&s), "10000.00");

    ok(&s, "/taken", json!({"remove": ["shop-elsewhere.ru"]})).await;
    assert_eq!(available("shop-elsewhere.ru").await, "true");
    // One bad name changes nothing.
    assert_eq!(
        call(&s, "/taken", json!({"add": ["fine.ru", "not a name"]})).await,
        Err(2005)
    );
    let state = ok(&s, "/state", json!({})).await;
    assert!(!state["taken"]
        .as_array()
        .unwrap()
        .contains(&json!("fine.ru")));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn faults_are_checked_and_apply_to_new_orders() {
    let s = start().await;
    for bad in [
        json!({"fail_percent": 101}),
        json!({"fail_percent": 60, "pending_percent": 50}),
        json!({"pending_ms": 3_600_001}),
        json!({"next": 0, "fail_percent": 1}),
        json!({"fail_percent": 1, "typo": 1}),
    ] {
        assert!(call(&s, "/faults", bad.clone()).await.is_err(), "{bad}");
    }
    ok(&s, "/faults", json!({"fail_percent": 100})).await;
    let client = s.client("C1").await;
    let a = register(&s, "R1", "refused-a.ru", &client).await;
    assert_eq!(a.code(), 2400, "{}", a.body);
    assert_eq!(balance(&s), "10000.00");
    // Until changed.
    assert_eq!(
        register(&s, "R2", "refused-b.ru", &client).await.code(),
        2400
    );
    ok(&s, "/faults", json!({})).await;
    expect(register(&s, "R3", "fine-c.ru", &client).await, 1000);
    s.stop().await;
}

#[tokio::test]
async fn the_control_api_is_not_on_the_partner_port_and_wants_the_token() {
    let s = start().await;
    let control = s
        .running
        .as_ref()
        .unwrap()
        .control_addr
        .expect("control on");
    let partner = s.url.trim_end_matches("/api").to_string();
    assert_ne!(control, s.running.as_ref().unwrap().addr);
    for path in [
        "/clock",
        "/taken",
        "/faults",
        "/reset",
        "/state",
        "/orders/1/settle",
    ] {
        let r = s
            .client
            .post(format!("{partner}{path}"))
            .body(r#"{"advance":"P30D"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path} on the partner port");
    }
    let unsigned = s
        .client
        .post(format!("http://{control}/clock"))
        .body(r#"{"advance":"P30D"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!(body["code"], 2200);
    let forged = s
        .client
        .post(format!("http://{control}/reset"))
        .header("authorization", "Regway-HMAC nonce=00, mac=00")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let state = s
        .client
        .get(format!("http://{control}/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), 401);
    // Nothing moved.
    let state = ok(&s, "/state", json!({})).await;
    assert_eq!(state["clock"]["now"], common::NOW);
    // The operator channel's token is not the control API's.
    let admin: Value =
        serde_json::from_slice(&std::fs::read(regway::admin::admin_file(&s.data)).unwrap())
            .unwrap();
    let ours: Value =
        serde_json::from_slice(&std::fs::read(regway::control::file(&s.data)).unwrap()).unwrap();
    assert_ne!(admin["token"], ours["token"]);
    assert_eq!(ours["url"], format!("http://{control}"));
    let data = s.data.clone();
    s.stop().await;
    assert!(
        !regway::control::file(&data).exists(),
        "sandbox.json removed"
    );
}

#[tokio::test]
async fn off_by_default_and_refused_with_a_real_upstream() {
    let s = common::start().await;
    assert!(s.running.as_ref().unwrap().control_addr.is_none());
    assert!(!regway::control::file(&s.data).exists());
    s.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.sandbox.control = true;
    cfg.upstreams.insert(
        "parent".into(),
        toml::from_str("type = \"regway\"\nurl = \"http://127.0.0.1:9/api\"\nlogin = \"r\"")
            .unwrap(),
    );
    let e = cfg.validate().unwrap_err();
    assert!(e.message.contains("sandbox.control"), "{}", e.message);
    assert!(e.message.contains("\"parent\""), "{}", e.message);
    let Err(e) = regway::app::start(cfg.clone()).await else {
        panic!("started with a real upstream and the control API on")
    };
    assert!(e.message.contains("sandbox.control"), "{}", e.message);
    cfg.upstreams.clear();
    cfg.sandbox.control_listen = "0.0.0.0:0".parse().unwrap();
    assert!(cfg.validate().unwrap_err().message.contains("loopback"));

    // As `regway serve` says it, with the environment variable.
    let conf = dir.path().join("regway.toml");
    std::fs::write(
        &conf,
        "[upstreams.parent]\ntype = \"regway\"\nurl = \"http://127.0.0.1:9/api\"\nlogin = \"r\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regway"))
        .arg("serve")
        .env("REGWAY_CONFIG", &conf)
        .env("REGWAY_DATA", dir.path().join("data"))
        .env("REGWAY_LISTEN", "127.0.0.1:0")
        .env("REGWAY_SANDBOX_CONTROL", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sandbox.control (REGWAY_SANDBOX_CONTROL) is on, but upstream \"parent\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_is_refused_while_orders_are_in_flight_and_empties_the_store() {
    // Enough for 52 registrations.
    let s = start_with(|c| c.demo.balance = "50000.00".into()).await;
    let client = s.client("C1").await;
    expect(register(&s, "R0", "before-reset.ru", &client).await, 1000);

    // 50 registrations held in flight by the sandbox's latency.
    ok(&s, "/faults", json!({"latency_ms": 1500})).await;
    let url = s.url.clone();
    let mut flying = Vec::new();
    for i in 0..50 {
        let (http, url, client) = (s.client.clone(), url.clone(), client.clone());
        flying.push(tokio::spawn(async move {
            http.post(&url)
                .basic_auth(common::LOGIN, Some(common::PASSWORD))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(register_form(
                    &format!("F{i}"),
                    &format!("flying-{i}.ru"),
                    &client,
                    "",
                ))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = ok(&s, "/state", json!({})).await;
        if st["counts"]["requests_in_flight"] == 50 {
            break;
        }
        if std::time::Instant::now() > deadline {
            for f in flying {
                eprintln!("{:?}", f.await);
            }
            panic!("{st}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(call(&s, "/reset", json!({})).await, Err(2304));
    for f in flying {
        let body = f.await.unwrap();
        assert!(body.contains("code=\"1000\""), "{body}");
    }

    // Orders held open (pending) block it as well, until settled.
    ok(
        &s,
        "/faults",
        json!({"pending_percent": 100, "pending_ms": 3_600_000}),
    )
    .await;
    let a = expect(register(&s, "P1", "pending-reset.ru", &client).await, 1001);
    let id = elem(&a.body, "order").get("id").to_string();
    assert_eq!(call(&s, "/reset", json!({})).await, Err(2304));
    ok(
        &s,
        &format!("/orders/{id}/settle"),
        json!({"outcome": "failed"}),
    )
    .await;
    ok(&s, "/clock", json!({"advance": "P3D"})).await;
    ok(&s, "/taken", json!({"add": ["gone-after-reset.ru"]})).await;
    add_partner(&s, "acme", "acme-password-1", Some("100.00")).await;

    let done = ok(&s, "/reset", json!({})).await;
    assert_eq!(done["partners_removed"], 2);
    assert_eq!(done["demo"], "demo");
    assert_eq!(done["now"], common::NOW, "the clock is back at its start");
    let st = ok(&s, "/state", json!({})).await;
    assert_eq!(st["counts"]["partners"], 1);
    assert_eq!(st["counts"]["open_orders"], 0);
    assert_eq!(st["counts"]["sandbox_records"], 0);
    assert_eq!(st["faults"]["pending_percent"], 0);
    assert!(!st["taken"]
        .as_array()
        .unwrap()
        .contains(&json!("gone-after-reset.ru")));

    let report = s.verify().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.partners, report.orders, report.domains), (1, 0, 0));
    // As after a first start: the demo's money, no domains, names free again.
    assert_eq!(balance(&s), "50000.00");
    let list = expect(s.form("command=domain.list").await, 1000);
    assert!(elems(&list.body, "domain").is_empty(), "{}", list.body);
    let check = expect(
        s.form("command=domain.check&domain=before-reset.ru").await,
        1000,
    );
    assert_eq!(elem(&check.body, "domain").get("available"), "true");
    // The request-ids are free again too, and numbering starts again.
    let client = s.client("C1").await;
    assert_eq!(client, "1000/RW-P");
    let a = expect(register(&s, "R0", "before-reset.ru", &client).await, 1000);
    assert_eq!(elem(&a.body, "order").get("id"), "1");
    let b = s
        .form_as("acme", "acme-password-1", "command=balance.get")
        .await;
    assert_eq!(b.code(), 2200, "{}", b.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// One example of `protocol/sandbox.md`: the partner requests before it, the CLI line,
/// the HTTP call and the documented answer.
#[derive(Debug, Default)]
struct DocExample {
    line: usize,
    partner: Vec<String>,
    cli: Option<String>,
    path: String,
    body: String,
    answer: Option<Value>,
}

fn doc_examples() -> Vec<DocExample> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/sandbox.md"))
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<DocExample> = Vec::new();
    let mut next = DocExample::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(form) = line
            .strip_prefix("<!-- partner: ")
            .and_then(|r| r.strip_suffix(" -->"))
        {
            next.partner.push(form.to_string());
        }
        let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let mut end = start;
        while !lines[end].trim().starts_with("```") {
            end += 1;
        }
        let block = &lines[start..end];
        match lang {
            "sh" => {
                for l in block {
                    if let Some(args) = l.trim().strip_prefix("regway sandbox ") {
                        next.cli = Some(args.to_string());
                    }
                }
            }
            "http" => {
                let (method, path) = block[0].split_once(' ').unwrap();
                assert!(matches!(method, "GET" | "POST"), "line {}", i + 1);
                next.line = i + 1;
                next.path = path.to_string();
                next.body = block[1..].join("\n");
            }
            "json" => {
                next.answer = Some(
                    serde_json::from_str(&block.join("\n"))
                        .unwrap_or_else(|e| panic!("protocol/sandbox.md line {}: {e}", i + 1)),
                );
                out.push(std::mem::take(&mut next));
            }
            _ => {}
        }
        i = end + 1;
    }
    out
}

/// Every example of `protocol/sandbox.md`, in order, on a fresh gateway: once as the
/// HTTP call it shows, once as the `regway sandbox` line above it; both answer as
/// documented.
#[tokio::test]
async fn the_documented_examples_answer_as_documented() {
    let examples = doc_examples();
    let paths: std::collections::BTreeSet<&str> = examples
        .iter()
        .map(|e| {
            if e.path.starts_with("/orders/") {
                "/orders/{id}/settle"
            } else {
                e.path.as_str()
            }
        })
        .collect();
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        [
            "/clock",
            "/faults",
            "/orders/{id}/settle",
            "/reset",
            "/state",
            "/taken"
        ],
        "an example per call"
    );
    let mut wrong = Vec::new();
    for via_cli in [false, true] {
        let s = start().await;
        for e in &examples {
            assert!(e.cli.is_some(), "line {}: no CLI line", e.line);
            for form in &e.partner {
                let a = s.form(form).await;
                assert!(a.code() < 2000, "{form}: {}", a.body);
            }
            let got: Value = if via_cli {
                let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_regway"))
                    .env_remove("REGWAY_CONFIG")
                    .arg("--data")
                    .arg(&s.data)
                    .arg("sandbox")
                    .args(e.cli.as_ref().unwrap().split_whitespace())
                    .output()
                    .await
                    .unwrap();
                assert!(
                    out.status.success(),
                    "regway sandbox {}: {}",
                    e.cli.as_ref().unwrap(),
                    String::from_utf8_lossy(&out.stderr)
                );
                serde_json::from_slice(&out.stdout).unwrap()
            } else {
                let body: Value = if e.body.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&e.body).unwrap()
                };
                ok(&s, &e.path, body).await
            };
            if Some(&got) != e.answer.as_ref() {
                wrong.push(format!(
                    "protocol/sandbox.md line {} ({}): answered\n{got:#}",
                    e.line,
                    if via_cli { "CLI" } else { "HTTP" }
                ));
            }
        }
        assert!(s.verify().await.problems.is_empty());
        s.stop().await;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A postpay programme for the partner `late`: a statement a month, due 10 days after.
const POSTPAY: &str = r#"
name = "postpay"
currency = "RUB"
partners = ["late"]
exclusive = false
metric = { kind = "payments", window_days = 31 }
postpay = { due_days = 10 }

[[tier]]
name = "Any"
from = "1000000.00"
discount = { domains = 1 }
"#;

#[tokio::test]
async fn a_statement_becomes_overdue_as_the_clock_passes_its_due_date() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("postpay.toml");
    std::fs::write(&file, POSTPAY).unwrap();
    let s = start_with(|c| {
        c.programmes = vec![file];
        c.sandbox.clock = Some("2025-12-10T10:00:00Z".parse().unwrap());
    })
    .await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "late".into(),
            password: Some("late-password".into()),
            credit_limit: Some("5000.00".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let late = |form: String| {
        let s = &s;
        async move { s.form_as("late", "late-password", &form).await }
    };
    let client = client_as(&s, "late", "late-password", "C-1").await;
    let register = |rid: &str, name: &str| register_form(rid, name, &client, "");
    assert_eq!(late(register("R-1", "late-one.ru")).await.code(), 1000);

    // January 10, the due date: December's statement is open; orders go on.
    ok(&s, "/clock", json!({"set": "2026-01-10T23:59:59Z"})).await;
    let l = late("command=statement.list".into()).await;
    assert!(
        l.body.contains(r#"month="2025-12""#) && l.body.contains(r#"state="open""#),
        "{}",
        l.body
    );
    assert_eq!(late(register("R-2", "late-two.ru")).await.code(), 1000);

    // One second later it is overdue: new orders are refused.
    ok(&s, "/clock", json!({"advance": "PT1S"})).await;
    let a = late(register("R-3", "late-three.ru")).await;
    assert_eq!(a.code(), 2104, "{}", a.body);
    assert!(a.body.contains("was due on 2026-01-10"), "{}", a.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Control calls at the same moment run one after the other: ten advances of a day
/// move the clock ten days, and the daily work runs once for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clock_moves_add_up() {
    let s = std::sync::Arc::new(start().await);
    let mut calls = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        calls.push(tokio::spawn(async move {
            ok(&s, "/clock", json!({"advance": "P1D"})).await
        }));
    }
    let mut days = 0;
    for c in calls {
        days += c.await.unwrap()["days"].as_u64().unwrap();
    }
    assert_eq!(days, 10);
    let state = ok(&s, "/state", json!({})).await;
    assert_eq!(state["clock"]["now"], "2026-01-25T10:00:00Z");
    let s = std::sync::Arc::into_inner(s).unwrap();
    s.stop().await;
}
