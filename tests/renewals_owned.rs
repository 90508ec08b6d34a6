//! The gateway owns renewals: a child regway registers at its parent with auto-renew
//! off, whatever its partner asked, so when time passes the renewal horizon exactly one
//! renewal happens at the parent — the one the child's own daily work places and its
//! partner pays — charged once on both ledgers, with the same expiry on both sides.
//! Two real processes, their clocks moved with `REGWAY_SANDBOX_CLOCK`.

mod common;
mod process;
mod support;

use common::{LOGIN, PASSWORD};
use process::*;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const CHILD: &str = "child";
const CHILD_PASSWORD: &str = "child-password";
/// 26 days before the registration's expiry (2027-01-15): inside the 30-day horizon.
const LATER: &str = "2026-12-20T10:00:00Z";

fn child_config(path: &Path, api: &str) {
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
             timeout_ms = 5000\n"
        ),
    )
    .unwrap();
}

async fn op(data: &Path, args: &[&str]) {
    let (ok, out) = operator(data, args).await;
    assert!(ok, "regway {args:?}: {out}");
}

async fn expiry(http: &reqwest::Client, api: &str, login: &str, password: &str) -> String {
    let a = post_as(
        http,
        api,
        login,
        password,
        "command=domain.info&domain=renew-me.ru".into(),
    )
    .await
    .unwrap();
    elem(&expect(a, 1000).body, "domain")
        .get("expires")
        .to_string()
}

/// Charges less refunds, in cents, and the number of each.
async fn paid(
    http: &reqwest::Client,
    api: &str,
    login: &str,
    password: &str,
) -> (i64, usize, usize) {
    let (mut net, mut charges, mut refunds) = (0, 0, 0);
    for e in walk_as(http, api, login, password, "ledger.list", "entry").await {
        match e.get("kind") {
            "charge" => {
                net -= cents(e.get("amount"));
                charges += 1;
            }
            "refund" => {
                net -= cents(e.get("amount"));
                refunds += 1;
            }
            _ => {}
        }
    }
    (net, charges, refunds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_gateway_renews() {
    let dir = tempfile::tempdir().unwrap();
    let (parent_data, child_data) = (dir.path().join("parent"), dir.path().join("child"));
    let (parent_log, child_log) = (dir.path().join("parent.log"), dir.path().join("child.log"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let parent = serve(&parent_data, &parent_log, &http).await;
    op(
        &parent_data,
        &["partner", "add", CHILD, "--password", CHILD_PASSWORD],
    )
    .await;
    op(&parent_data, &["partner", "topup", CHILD, "10000.00"]).await;
    let config = dir.path().join("child.toml");
    child_config(&config, &parent.api());
    let config_env = ("REGWAY_CONFIG", config.display().to_string());
    let child = serve_env(
        &child_data,
        &child_log,
        &http,
        std::slice::from_ref(&config_env),
    )
    .await;
    op(
        &child_data,
        &["partner", "add", LOGIN, "--password", PASSWORD],
    )
    .await;
    op(&child_data, &["partner", "topup", LOGIN, "10000.00"]).await;
    let create = "command=client.create&request-id=C1&type=person&name=Ivan\
                  &email=i%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow";
    let client = expect(
        post(&http, &child.api(), create.into()).await.unwrap(),
        1000,
    )
    .attr("id")
    .unwrap();
    let a = post(
        &http,
        &child.api(),
        register_form("R1", "renew-me.ru", &client, "&auto-renew=true"),
    )
    .await
    .unwrap();
    assert_eq!(
        elem(&expect(a, 1000).body, "domain").get("expires"),
        "2027-01-15"
    );
    // The partner's wish is kept here; the parent holds the name with auto-renew off.
    let up = post_as(
        &http,
        &parent.api(),
        CHILD,
        CHILD_PASSWORD,
        "command=domain.info&domain=renew-me.ru".into(),
    )
    .await
    .unwrap();
    assert_eq!(
        elem(&expect(up, 1000).body, "domain").get("auto-renew"),
        "false"
    );
    parent.kill();
    child.kill();

    // Time passes the renewal horizon. The parent starts first and runs its daily work.
    let later = [
        ("REGWAY_SANDBOX_CLOCK", LATER.to_string()),
        ("REGWAY_RECONCILE_INTERVAL_MS", "100".to_string()),
    ];
    let parent = serve_env(&parent_data, &parent_log, &http, &later).await;
    child_config(&config, &parent.api());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut env = later.to_vec();
    env.push(config_env);
    let child = serve_env(&child_data, &child_log, &http, &env).await;
    let (c_api, p_api) = (child.api(), parent.api());
    let deadline = Instant::now() + Duration::from_secs(20);
    let renewal = loop {
        let rows = walk_as(&http, &c_api, LOGIN, PASSWORD, "order.list", "order").await;
        let renewals: Vec<El> = rows
            .into_iter()
            .filter(|o| o.get("command") == "domain.renew")
            .collect();
        if renewals
            .iter()
            .any(|o| o.get("state") != "accepted" && o.get("state") != "submitted")
        {
            break renewals;
        }
        assert!(Instant::now() < deadline, "the child never renewed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(renewal.len(), 1, "{renewal:?}");
    assert_eq!(renewal[0].get("state"), "completed", "{renewal:?}");
    // Let both daily jobs have every chance to do more than they should.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let up_renewals: Vec<El> = walk_as(&http, &p_api, CHILD, CHILD_PASSWORD, "order.list", "order")
        .await
        .into_iter()
        .filter(|o| o.get("command") == "domain.renew")
        .collect();
    assert_eq!(
        up_renewals.len(),
        1,
        "renewals at the parent: {up_renewals:?}"
    );
    assert_eq!(up_renewals[0].get("state"), "completed");
    let c_paid = paid(&http, &c_api, LOGIN, PASSWORD).await;
    let p_paid = paid(&http, &p_api, CHILD, CHILD_PASSWORD).await;
    assert_eq!(c_paid, (2 * 59000, 2, 0), "the child's partner");
    assert_eq!(p_paid, c_paid, "the child at the parent");
    let c_exp = expiry(&http, &c_api, LOGIN, PASSWORD).await;
    assert_eq!(c_exp, "2028-01-15");
    assert_eq!(expiry(&http, &p_api, CHILD, CHILD_PASSWORD).await, c_exp);
    for (data, what) in [(&child_data, "child"), (&parent_data, "parent")] {
        let (ok, out) = operator(data, &["verify"]).await;
        assert!(ok && out.contains("verify: OK"), "{what}: {out}");
    }
    drop(child);
    drop(parent);
}
