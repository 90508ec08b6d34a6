//! The client libraries (`clients/python/`, `clients/php/`) against real gateways: lost
//! answers (the retry replays), a pending order then completed, rate limits, and paging
//! through 250 domains. Also: the PHP files are lint-clean, the modules ship the PHP
//! client unchanged, and `pip install ./clients/python` works. Needs `php` and
//! `python3` with venv and pip (`.ci/run` installs them).

mod common;
mod external;
mod support;

use common::TestServer;
use external::{root, LossyProxy};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::process::Command;
use support::*;

/// The gateways the client scenarios run against.
struct Gateways {
    /// 250 domains `page-000.ru` … `page-249.ru`, behind `proxy` too.
    plain: TestServer,
    /// Loses the first two answers to requests with a `LOST-` request-id.
    proxy: LossyProxy,
    /// Every new order pending at the registry for a second.
    pending: TestServer,
    /// Two changing requests at once, then one a second.
    limited: TestServer,
}

async fn gateways() -> Gateways {
    let plain = common::start().await;
    plain
        .engine()
        .topup("demo", "200000.00", "paging test")
        .await
        .unwrap();
    let client = plain.client("C-PAGE").await;
    for n in 0..250 {
        expect(
            register(
                &plain,
                &format!("PAGE-{n}"),
                &format!("page-{n:03}.ru"),
                &client,
            )
            .await,
            1000,
        );
    }
    let addr = plain.running.as_ref().unwrap().addr;
    let proxy = LossyProxy::start(addr, "request-id=LOST-", 2).await;
    let pending = common::start_with(|c| {
        c.sandbox.faults.pending_percent = 100;
        c.sandbox.faults.pending_ms = 1000;
        c.reconcile_interval_ms = 200;
    })
    .await;
    let limited = common::start_with(|c| {
        c.limits.order = regway::config::Rate {
            per_minute: 60,
            burst: 2,
        };
    })
    .await;
    Gateways {
        plain,
        proxy,
        pending,
        limited,
    }
}

impl Gateways {
    fn urls(&self) -> String {
        json!({
            "plain": self.plain.url,
            "lossy": self.proxy.url(),
            "pending": self.pending.url,
            "limited": self.limited.url,
        })
        .to_string()
    }

    /// What a client's scenarios saw, and what the gateways hold afterwards.
    async fn check(self, out: &Value) {
        // Lost answers: two lost, the third attempt replayed; one order, one charge.
        assert_eq!(
            out["lost"],
            json!({
                "replayed": true,
                "pending": false,
                "retries": 2,
                "order": out["lost"]["order"],
                "state": "completed",
                "charged": "590.00",
                "expires": "2027-01-15",
            })
        );
        assert_eq!(self.proxy.lost(), 2);
        let all = orders(&self.plain).await;
        let lost: Vec<_> = all
            .iter()
            .filter(|o| o.get("request-id") == "LOST-R1")
            .collect();
        assert_eq!(lost.len(), 1);
        let charges = ledger(&self.plain)
            .await
            .iter()
            .filter(|e| e.opt("order") == Some(lost[0].get("id")))
            .count();
        assert_eq!(charges, 1, "charged once");

        // Pending, then completed.
        let p = &out["pending"];
        assert_eq!(p["first"], json!({"pending": true, "state": "submitted"}));
        assert_eq!(
            p["short_deadline"],
            json!({"code": 1001, "temporary": true})
        );
        assert_eq!(p["final_code"], 1000);
        assert_eq!(p["final_state"], "completed");
        assert_eq!(p["expires"], "2027-01-15");
        assert_eq!(p["order_state"], "completed");
        assert_eq!(
            ledger(&self.pending)
                .await
                .iter()
                .filter(|e| e.get("kind") == "charge")
                .count(),
            1
        );

        // Rate limits: waited out, everything carried out.
        let l = &out["limited"];
        assert_eq!(l["created"], 5);
        assert!(l["rate_limited_retries"].as_u64().unwrap() >= 1, "{l}");
        assert!(
            l["min_delay"].as_f64().unwrap() >= 1.0,
            "Retry-After honoured: {l}"
        );

        // Paging through 250 domains.
        assert_eq!(
            out["paging"],
            json!({
                "count": 250,
                "unique": 250,
                "sorted": true,
                "first": "page-000.ru",
                "last": "page-249.ru",
                "ledger": 253,
            })
        );

        // Typed errors; `object` tells apart what a 2303 is about, and is absent (null)
        // where the answer names none.
        assert_eq!(
            out["errors"],
            json!({
                "auth": [2200, 401, "authentication failed", false, null],
                "not_found": [2303, 404, "never-registered.ru is not registered here", "domain"],
                "no_order": [2303, 404, "no order 999999", "order"],
                "no_order_for_request": [
                    2303,
                    404,
                    "no order was placed with request-id NEVER-SENT-1",
                    "request"
                ],
                "no_request": [2303, 404, "no request with request-id NEVER-SENT-2", "request"],
                "conflict": [2105, 409, null],
                "transport": [0, true, null],
            })
        );
        let hashed = format!(
            "h-{}",
            &hex(&Sha256::digest("panel-invoice 117".as_bytes()))[..62]
        );
        assert_eq!(
            out["request_ids"],
            json!(["bm-117-open", "whmcs-42-renew-2027-01-15", hashed])
        );
        // 210000.00 − 250 × 590.00 − 590.00
        assert_eq!(out["balance"], json!(["61910.00", "RUB"]));
        for s in [self.plain, self.pending, self.limited] {
            assert!(s.verify().await.problems.is_empty());
            s.stop().await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "the scenarios failed:\n{}\n{}",
        external::stdout(out),
        external::stderr(out)
    );
    serde_json::from_str(&external::stdout(out))
        .unwrap_or_else(|e| panic!("{e}:\n{}\n{}", external::stdout(out), external::stderr(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_real_gateways() {
    if !external::require("python3") {
        return;
    }
    let g = gateways().await;
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("tests/harness/client_scenarios.py"))
        .env("PYTHONPATH", root().join("clients/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = parse(&external::run(cmd, &g.urls()).await);
    g.check(&out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_client_against_real_gateways() {
    if !external::require("php") {
        return;
    }
    let g = gateways().await;
    let mut cmd = Command::new("php");
    cmd.arg(root().join("tests/harness/client_scenarios.php"))
        .arg(root().join("clients/php/regway.php"));
    let out = parse(&external::run(cmd, &g.urls()).await);
    g.check(&out).await;
}

/// `pip install ./clients/python` into a fresh virtual environment, then import it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_installs_with_pip() {
    if !external::require("python3") {
        return;
    }
    let venv = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "venv"]).arg(venv.path());
    let made = external::run(cmd, "").await;
    assert!(
        made.status.success(),
        "python3 -m venv: {}",
        external::stderr(&made)
    );
    let python = venv.path().join("bin/python");
    // pip builds in the source directory: build from a copy, so the tree stays clean.
    let source = venv.path().join("source");
    copy_dir(&root().join("clients/python"), &source);
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .arg(&source);
    let installed = external::run(cmd, "").await;
    assert!(
        installed.status.success(),
        "pip install ./clients/python: {}\n{}",
        external::stdout(&installed),
        external::stderr(&installed)
    );
    let mut cmd = Command::new(&python);
    // From elsewhere than the source tree, so the installed package is what imports.
    cmd.current_dir(venv.path()).args([
        "-c",
        "import regway; print(regway.__version__, regway.request_id('bm', 117, 'open'), regway.Client('http://gw.example/', 'a', 'b').url)",
    ]);
    let ran = external::run(cmd, "").await;
    assert_eq!(
        external::stdout(&ran).trim(),
        "1.0.0 bm-117-open http://gw.example/api",
        "{}",
        external::stderr(&ran)
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["build", "__pycache__"].contains(&name.to_str().unwrap())
            || name.to_string_lossy().ends_with(".egg-info")
        {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// Every PHP file of the project passes `php -l`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_files_are_lint_clean() {
    if !external::require("php") {
        return;
    }
    let files = [
        "clients/php/regway.php",
        "integrations/billmanager/processing/pmregway",
        "integrations/billmanager/processing/regway/regway.php",
        "integrations/whmcs/modules/registrars/regway/regway.php",
        "integrations/whmcs/modules/registrars/regway/regway-client.php",
        "tests/harness/mgrctl",
        "tests/harness/whmcs.php",
        "tests/harness/client_scenarios.php",
    ];
    for f in files {
        let mut cmd = Command::new("php");
        cmd.arg("-l").arg(root().join(f));
        let out = external::run(cmd, "").await;
        assert!(
            out.status.success() && external::stdout(&out).contains("No syntax errors detected"),
            "{f}: {}{}",
            external::stdout(&out),
            external::stderr(&out)
        );
    }
}

/// The modules ship the PHP client unchanged (`integrations/sync-php-client.sh` copies it).
#[test]
fn shipped_php_client_copies_are_identical() {
    let client = std::fs::read(root().join("clients/php/regway.php")).unwrap();
    for copy in [
        "integrations/billmanager/processing/regway/regway.php",
        "integrations/whmcs/modules/registrars/regway/regway-client.php",
    ] {
        let shipped = std::fs::read(root().join(copy)).unwrap();
        assert!(
            shipped == client,
            "{copy} differs from clients/php/regway.php: run integrations/sync-php-client.sh"
        );
    }
}

/// The first fenced block of `lang` in a README.
fn code_block(readme: &str, lang: &str) -> String {
    let text = std::fs::read_to_string(root().join(readme)).unwrap();
    let start = text
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no {lang} example in {readme}"))
        + lang.len()
        + 4;
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_string()
}

/// The examples of the clients' READMEs run as written, against a gateway in place of
/// `https://gateway.example.net/api`: the Python one registers, the PHP one (the same
/// request-ids and parameters) gets the stored answers back and charges nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_run() {
    if !external::require("python3") || !external::require("php") {
        return;
    }
    let s = common::start().await;
    let adapt = |code: String| {
        code.replace("https://gateway.example.net/api", &s.url)
            .replace("'acme', 'secret'", "'demo', 'demo-password'")
            .replace("\"acme\", \"secret\"", "\"demo\", \"demo-password\"")
    };

    let python = adapt(code_block("clients/python/README.md", "python"));
    let mut cmd = Command::new("python3");
    cmd.arg("-")
        .env("PYTHONPATH", root().join("clients/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = external::run(cmd, &python).await;
    assert!(out.status.success(), "{}", external::stderr(&out));
    assert_eq!(external::stdout(&out), "10000.00\n");

    let php = adapt(code_block("clients/php/README.md", "php"));
    let mut cmd = Command::new("php");
    cmd.current_dir(root().join("clients/php"));
    let out = external::run(cmd, &format!("<?php\n{php}")).await;
    assert!(
        out.status.success() && external::stderr(&out).is_empty(),
        "{}{}",
        external::stdout(&out),
        external::stderr(&out)
    );
    assert_eq!(external::stdout(&out), "9410.00\n");

    let all = orders(&s).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].get("request-id"), "shop-invoice-117");
    assert_eq!(all[0].get("state"), "completed");
    assert_eq!(balance(&s).await, "9410.00");
    s.stop().await;
}
