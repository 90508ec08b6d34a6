//! A chain of resellers as two real `regway serve` processes, each with its own data
//! directory and port: a parent in front of the sandbox, and a child whose
//! configuration file sends every zone to the parent, as a partner made on the parent
//! with the operator CLI. Orders through the child reach the parent exactly once (a
//! replay is answered by the child alone), both sides charge the same amounts, and
//! `regway verify` passes on both.

mod common;
mod process;
mod support;

use common::{Answer, LOGIN, PASSWORD};
use process::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::*;

const CHILD: &str = "child";
const CHILD_PASSWORD: &str = "child-password";
const TOPUP: &str = "10000.00";

/// The last lines of a log, for a failure message.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Writes the child's configuration: every zone to the parent at `api`.
pub fn child_config_file(path: &Path, api: &str, timeout_ms: u64) {
    std::fs::write(
        path,
        format!(
            "upstream = \"parent\"\n\
             \n\
             [upstreams.parent]\n\
             type = \"regway\"\n\
             url = \"{api}\"\n\
             login = \"{CHILD}\"\n\
             password = \"{CHILD_PASSWORD}\"\n\
             timeout_ms = {timeout_ms}\n"
        ),
    )
    .unwrap();
}

pub async fn op(data: &Path, args: &[&str]) {
    let (ok, out) = operator(data, args).await;
    assert!(ok, "regway {args:?}: {out}");
}

pub async fn verify_ok(data: &Path, what: &str) {
    let (ok, out) = operator(data, &["verify"]).await;
    assert!(
        ok && out.contains("verify: OK"),
        "{what}: regway verify:\n{out}"
    );
    assert!(out.contains("(0 open)"), "{what}: {out}");
}

async fn balance_of(http: &reqwest::Client, api: &str, login: &str, password: &str) -> String {
    let a = post_as(http, api, login, password, "command=balance.get".into())
        .await
        .unwrap();
    text(&expect(a, 1000).body, "balance").unwrap()
}

/// What a partner paid, by kind of ledger entry, in cents.
async fn ledger_sums(
    http: &reqwest::Client,
    api: &str,
    login: &str,
    password: &str,
) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for e in walk_as(http, api, login, password, "ledger.list", "entry").await {
        *sums.entry(e.get("kind").to_string()).or_default() += cents(e.get("amount"));
    }
    sums
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_go_through_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (parent_log, child_log) = (dir.path().join("parent.log"), dir.path().join("child.log"));
    let r = tokio::time::timeout(Duration::from_secs(40), run(dir.path())).await;
    if r.is_err() {
        panic!(
            "took longer than 40 s\nparent log:\n{}\nchild log:\n{}",
            tail(&parent_log, 30),
            tail(&child_log, 30)
        );
    }
}

async fn run(dir: &Path) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (parent_data, child_data) = (dir.join("parent"), dir.join("child"));
    let parent = serve(&parent_data, &dir.join("parent.log"), &http).await;
    op(
        &parent_data,
        &[
            "partner",
            "add",
            CHILD,
            "--password",
            CHILD_PASSWORD,
            "--currency",
            "RUB",
        ],
    )
    .await;
    op(&parent_data, &["partner", "topup", CHILD, TOPUP]).await;

    let config = dir.join("child.toml");
    child_config_file(&config, &parent.api(), 5_000);
    let child = serve_env(
        &child_data,
        &dir.join("child.log"),
        &http,
        &[("REGWAY_CONFIG", config.display().to_string())],
    )
    .await;
    // In front of a real upstream there is no demo partner: the operator makes one.
    let a = post(&http, &child.api(), "command=balance.get".into())
        .await
        .unwrap();
    assert_eq!(a.code(), 2200, "{}", a.body);
    op(
        &child_data,
        &[
            "partner",
            "add",
            LOGIN,
            "--password",
            PASSWORD,
            "--currency",
            "RUB",
        ],
    )
    .await;
    op(&child_data, &["partner", "topup", LOGIN, TOPUP]).await;

    let (c_api, p_api) = (child.api(), parent.api());
    let down = |body: String| {
        let (http, c_api) = (http.clone(), c_api.clone());
        async move { post(&http, &c_api, body).await.unwrap() }
    };

    // Availability is the parent's.
    let a = expect(
        down("command=domain.check&domain=chain-a.ru&domain=example.com".into()).await,
        1000,
    );
    let rows = elems(&a.body, "domain");
    assert_eq!(rows[0].get("available"), "true");
    assert_eq!(rows[1].get("available"), "false");

    let create = "command=client.create&request-id=C-1&type=person&name=Ivan\
                  &email=i%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow";
    let client = expect(down(create.into()).await, 1000).attr("id").unwrap();

    let register = register_form(
        "R1",
        "chain-a.ru",
        &client,
        "&period=1&ns=ns1.example.net&ns=ns2.example.net",
    );
    let first: Answer = expect(down(register.clone()).await, 1000);
    assert!(!first.replayed);
    assert_eq!(elem(&first.body, "domain").get("expires"), "2027-01-15");
    assert_eq!(elem(&first.body, "order").get("state"), "completed");
    assert_eq!(balance_of(&http, &c_api, LOGIN, PASSWORD).await, "9410.00");
    assert_eq!(
        balance_of(&http, &p_api, CHILD, CHILD_PASSWORD).await,
        "9410.00"
    );

    // The same request-id again: answered by the child, byte for byte, nothing sent up.
    let again = down(register.clone()).await;
    assert!(again.replayed, "{}", again.body);
    assert_eq!(again.body, first.body);
    let up = walk_as(&http, &p_api, CHILD, CHILD_PASSWORD, "order.list", "order").await;
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].get("request-id"), "demo:R1");
    assert_eq!(balance_of(&http, &c_api, LOGIN, PASSWORD).await, "9410.00");
    assert_eq!(
        balance_of(&http, &p_api, CHILD, CHILD_PASSWORD).await,
        "9410.00"
    );

    let a = expect(
        down(
            "command=domain.renew&request-id=R2&domain=chain-a.ru&period=1&expires=2027-01-15"
                .into(),
        )
        .await,
        1000,
    );
    assert_eq!(elem(&a.body, "domain").get("expires"), "2028-01-15");
    expect(
        down(
            "command=domain.set-ns&request-id=R3&domain=chain-a.ru&ns=ns1.other.net&ns=ns2.other.net"
                .into(),
        )
        .await,
        1000,
    );

    // The parent sees the domain as the child's, renewed, with the new nameservers.
    let info = expect(
        post_as(
            &http,
            &p_api,
            CHILD,
            CHILD_PASSWORD,
            "command=domain.info&domain=chain-a.ru".into(),
        )
        .await
        .unwrap(),
        1000,
    );
    assert_eq!(elem(&info.body, "domain").get("expires"), "2028-01-15");
    assert!(
        info.body.contains("<ns>ns1.other.net</ns>"),
        "{}",
        info.body
    );
    let clients = walk_as(
        &http,
        &p_api,
        CHILD,
        CHILD_PASSWORD,
        "client.list",
        "client",
    )
    .await;
    assert_eq!(clients.len(), 1, "{clients:?}");

    // Exactly one parent order per child order, under the child's key, in the same state.
    let down_orders = walk_as(&http, &c_api, LOGIN, PASSWORD, "order.list", "order").await;
    let up_orders = walk_as(&http, &p_api, CHILD, CHILD_PASSWORD, "order.list", "order").await;
    let by_rid = |rows: &[El], prefix: &str| -> BTreeMap<String, (String, String)> {
        let mut m = BTreeMap::new();
        for o in rows {
            let prev = m.insert(
                format!("{prefix}{}", o.get("request-id")),
                (o.get("state").to_string(), o.get("domain").to_string()),
            );
            assert!(prev.is_none(), "two orders for {o:?}");
        }
        m
    };
    let down_map = by_rid(&down_orders, "demo:");
    let up_map = by_rid(&up_orders, "");
    assert!(!down_map.is_empty());
    assert_eq!(down_map, up_map, "child and parent orders differ");
    assert!(
        down_map.values().all(|(s, _)| s == "completed"),
        "{down_map:?}"
    );

    // The money moved by the same amounts on both sides.
    let c_sums = ledger_sums(&http, &c_api, LOGIN, PASSWORD).await;
    let p_sums = ledger_sums(&http, &p_api, CHILD, CHILD_PASSWORD).await;
    assert_eq!(c_sums, p_sums, "ledgers differ");
    assert_eq!(c_sums["topup"], cents(TOPUP));
    assert!(c_sums["charge"] < 0, "{c_sums:?}");
    let c_balance = balance_of(&http, &c_api, LOGIN, PASSWORD).await;
    let p_balance = balance_of(&http, &p_api, CHILD, CHILD_PASSWORD).await;
    assert_eq!(c_balance, p_balance);
    assert_eq!(cents(&c_balance), c_sums.values().sum::<i64>());

    verify_ok(&child_data, "child").await;
    verify_ok(&parent_data, "parent").await;
    println!(
        "chain of two processes: {} orders through the child, {} on the parent; \
         balances {c_balance} on both; ledgers {c_sums:?}",
        down_map.len(),
        up_map.len()
    );
    drop(child);
    drop(parent);
}
