//! A real `regway serve` process for tests that kill it: start it on a data directory,
//! SIGKILL it, run the operator CLI against it, and post forms to it.
#![allow(dead_code)]

use super::common::{self, Answer, LOGIN, PASSWORD};
use super::support::{cents, elems, enc, expect, text, El};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_regway");

/// A `regway serve` process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn api(&self) -> String {
        format!("{}/api", self.base)
    }

    /// SIGTERM (a graceful stop: requests in flight answered, store and log written
    /// out), and wait until the process is gone; true when it exited 0.
    pub fn stop(mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM not sent");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return status.success();
            }
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn cli(data: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("REGWAY_CONFIG")
        .env("REGWAY_DATA", data)
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .env("REGWAY_SANDBOX_CLOCK", common::NOW)
        // Bursts of hundreds of orders are the point here, not the partner quotas.
        .env("REGWAY_LIMITS_ORDER_PER_MINUTE", "0")
        .env("REGWAY_LIMITS_READ_PER_MINUTE", "0");
    c
}

/// Starts `regway serve` on a free port and waits until it answers.
pub async fn serve(data: &Path, log: &Path, http: &reqwest::Client) -> Server {
    serve_env(data, log, http, &[]).await
}

/// Starts `regway serve` with more environment (`REGWAY_CONFIG`, fault knobs, …) on a
/// free port and waits until it answers.
pub async fn serve_env(
    data: &Path,
    log: &Path,
    http: &reqwest::Client,
    env: &[(&str, String)],
) -> Server {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = cli(data)
        .arg("serve")
        .env("REGWAY_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("regway serve starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    // Ready when /healthz answers (polled: the process gives no other signal).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http
            .get(format!("{}/healthz", server.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if r.is_ok() {
            return server;
        }
        assert!(Instant::now() < deadline, "regway serve did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs an operator command of the CLI against the running server.
pub async fn operator(data: &Path, args: &[&str]) -> (bool, String) {
    let mut c = cli(data);
    c.args(args);
    let out = tokio::task::spawn_blocking(move || c.output().expect("regway runs"))
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub async fn post(http: &reqwest::Client, url: &str, body: String) -> reqwest::Result<Answer> {
    post_as(http, url, LOGIN, PASSWORD, body).await
}

pub async fn post_as(
    http: &reqwest::Client,
    url: &str,
    login: &str,
    password: &str,
    body: String,
) -> reqwest::Result<Answer> {
    let resp = http
        .post(url)
        .basic_auth(login, Some(password))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok(Answer {
        status,
        replayed,
        retry_after: None,
        content_type,
        body: resp.text().await?,
    })
}

/// Retries a request until the answer is definite (not a transport error, not 1001).
pub async fn definite(http: &reqwest::Client, url: &str, body: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(a) = post(http, url, body.to_string()).await {
            if a.code() != 1001 {
                return a;
            }
        }
        assert!(Instant::now() < deadline, "no definite answer for {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every row of a listing, as `login`, following `next-cursor` to the end.
pub async fn walk_as(
    http: &reqwest::Client,
    url: &str,
    login: &str,
    password: &str,
    command: &str,
    row: &str,
) -> Vec<El> {
    let mut rows = Vec::new();
    let mut cursor = String::new();
    loop {
        let a = post_as(
            http,
            url,
            login,
            password,
            format!("command={command}&limit=1000{cursor}"),
        )
        .await
        .unwrap();
        let a = expect(a, 1000);
        rows.extend(elems(&a.body, row));
        match text(&a.body, "next-cursor") {
            Some(c) => cursor = format!("&cursor={}", enc(&c)),
            None => return rows,
        }
    }
}

/// One partner's money, from its ledger: exactly one charge per order in `state_of`
/// (order id → state), refunds only of failed orders and once each, top-ups equal to
/// `topups` (cents), and balance + charges − refunds = top-ups. Returns what the
/// partner paid net (charges − refunds, cents).
pub async fn audit_money(
    http: &reqwest::Client,
    url: &str,
    login: &str,
    password: &str,
    state_of: &BTreeMap<String, String>,
    topups_given: i64,
) -> i64 {
    let entries = walk_as(http, url, login, password, "ledger.list", "entry").await;
    let (mut topups, mut charges, mut refunds) = (0i64, 0i64, 0i64);
    let mut charged: BTreeMap<String, usize> = BTreeMap::new();
    let mut refunded: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        let amount = cents(e.get("amount"));
        match e.get("kind") {
            "topup" => topups += amount,
            "charge" => {
                charges -= amount;
                *charged.entry(e.get("order").into()).or_default() += 1;
            }
            "refund" => {
                refunds += amount;
                let o = e.get("order");
                assert_eq!(
                    state_of.get(o).map(String::as_str),
                    Some("failed"),
                    "{login}: refund of {e:?}"
                );
                *refunded.entry(o.into()).or_default() += 1;
            }
            k => panic!("{login}: unexpected ledger entry {k}"),
        }
    }
    assert!(
        charged.values().all(|&n| n == 1),
        "{login}: an order charged twice"
    );
    assert!(
        refunded.values().all(|&n| n == 1),
        "{login}: an order refunded twice"
    );
    assert_eq!(
        charged.len(),
        state_of.len(),
        "{login}: orders without a charge"
    );
    assert_eq!(topups, topups_given, "{login}: top-ups in {entries:?}");
    let a = post_as(http, url, login, password, "command=balance.get".into())
        .await
        .unwrap();
    let balance = cents(&text(&expect(a, 1000).body, "balance").unwrap());
    assert_eq!(
        balance + charges - refunds,
        topups,
        "{login}: balance {balance} + charges {charges} - refunds {refunds} != top-ups"
    );
    charges - refunds
}
