//! Every stuck order can be settled: `regway order list` and `regway order settle`,
//! over the operator channel while the gateway serves and on the store itself when it
//! does not. A licensing service that never answers leaves licence orders `unknown`;
//! the operator settles one as completed (the charge stays, the licence is there) and
//! one as failed (refunded in the same write); `verify` checks both.

mod common;
mod process;
mod support;

use process::*;
use std::path::Path;
use std::time::Duration;
use support::*;

/// A licensing service that reads every request and never answers.
async fn silent_service() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/billmgr", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

fn config(path: &Path, url: &str) {
    std::fs::write(
        path,
        format!(
            "license_upstream = \"licensing\"\n\
             reconcile_interval_ms = 100\n\
             \n\
             [upstreams.licensing]\n\
             type = \"ispsystem\"\n\
             url = \"{url}\"\n\
             login = \"reseller\"\n\
             password = \"pw-for-the-service\"\n\
             timeout_ms = 300\n\
             products = {{ \"ispmanager6-lite\" = \"3541\" }}\n"
        ),
    )
    .unwrap();
}

async fn op_ok(data: &Path, args: &[&str]) -> String {
    let (ok, out) = operator(data, args).await;
    assert!(ok, "regway {args:?}:\n{out}");
    out
}

async fn licence_order(http: &reqwest::Client, api: &str, rid: &str, client: &str) -> String {
    let a = post(
        http,
        api,
        format!(
            "command=license.order&request-id={rid}&product=ispmanager6-lite&period=month\
             &ip=93.184.216.10&client={}",
            enc(client)
        ),
    )
    .await
    .unwrap();
    let a = expect(a, 1001);
    assert_eq!(elem(&a.body, "order").get("state"), "unknown");
    elem(&a.body, "order").get("id").to_string()
}

async fn balance(http: &reqwest::Client, api: &str) -> String {
    let a = post(http, api, "command=balance.get".into()).await.unwrap();
    text(&expect(a, 1000).body, "balance").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_orders_are_settled_by_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("serve.log"));
    let cfg = dir.path().join("regway.toml");
    config(&cfg, &silent_service().await);
    let env = [("REGWAY_CONFIG", cfg.display().to_string())];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = serve_env(&data, &log, &http, &env).await;
    let api = server.api();
    op_ok(
        &data,
        &[
            "partner",
            "add",
            common::LOGIN,
            "--password",
            common::PASSWORD,
        ],
    )
    .await;
    op_ok(&data, &["partner", "topup", common::LOGIN, "1000.00"]).await;
    let client = "command=client.create&request-id=C1&type=person&name=Ivan\
                  &email=i%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow";
    let client = expect(post(&http, &api, client.into()).await.unwrap(), 1000)
        .attr("id")
        .unwrap();
    let l1 = licence_order(&http, &api, "L1", &client).await;
    let l2 = licence_order(&http, &api, "L2", &client).await;
    assert_eq!(balance(&http, &api).await, "420.00");

    let listed = op_ok(&data, &["order", "list", "--state", "unknown"]).await;
    assert!(listed.contains("2 order(s)"), "{listed}");
    assert!(
        listed.contains(&format!("order {l1}  demo  unknown  license.order")),
        "{listed}"
    );
    let mine = op_ok(&data, &["order", "list", "--partner", "demo"]).await;
    assert!(mine.contains("2 order(s)"), "{mine}");
    let (ok, out) = operator(&data, &["order", "list", "--partner", "nobody"]).await;
    assert!(!ok && out.contains("no partner nobody"), "{out}");

    // Completed: the charge stays, the licence is there with the service's id.
    let out = op_ok(
        &data,
        &[
            "order",
            "settle",
            &l1,
            "--completed",
            "--service",
            "4421",
            "--note",
            "found at the vendor, service 4421",
        ],
    )
    .await;
    assert!(
        out.contains("completed") && out.contains("found at the vendor"),
        "{out}"
    );
    let a = expect(
        post(&http, &api, "command=order.info&request-id=L1".into())
            .await
            .unwrap(),
        1000,
    );
    assert_eq!(elem(&a.body, "order").get("state"), "completed");
    assert!(
        !a.body.contains("vendor"),
        "the note is the operator's: {}",
        a.body
    );
    let again = post(
        &http,
        &api,
        format!(
            "command=license.order&request-id=L1&product=ispmanager6-lite&period=month\
             &ip=93.184.216.10&client={}",
            enc(&client)
        ),
    )
    .await
    .unwrap();
    let again = expect(again, 1000);
    assert!(again.replayed);
    assert_eq!(elem(&again.body, "license").get("state"), "active");
    assert_eq!(text(&again.body, "balance").unwrap(), "710.00");

    // Failed: refunded in the same write.
    let out = op_ok(
        &data,
        &[
            "order",
            "settle",
            &l2,
            "--failed",
            "--note",
            "not at the vendor",
        ],
    )
    .await;
    assert!(out.contains("failed"), "{out}");
    assert_eq!(balance(&http, &api).await, "710.00");
    let a = expect(
        post(&http, &api, "command=order.info&request-id=L2".into())
            .await
            .unwrap(),
        1000,
    );
    assert_eq!(
        elem(&a.body, "order").get("reason"),
        regway::engine::operator::SETTLED_FAILED
    );

    // Settled once; and an order needs a clear verdict and a note.
    let (ok, out) = operator(
        &data,
        &["order", "settle", &l2, "--completed", "--note", "x"],
    )
    .await;
    assert!(!ok && out.contains("already failed"), "{out}");
    let (ok, _) = operator(&data, &["order", "settle", &l2, "--failed"]).await;
    assert!(!ok);
    let (ok, _) = operator(&data, &["order", "settle", &l2, "--note", "x"]).await;
    assert!(!ok);
    let listed = op_ok(&data, &["order", "list"]).await;
    assert!(listed.contains("0 order(s)"), "{listed}");
    let v = op_ok(&data, &["verify"]).await;
    assert!(v.contains("verify: OK") && v.contains("(0 open)"), "{v}");

    // With no gateway running, the same commands work on the store itself.
    let l3 = licence_order(&http, &api, "L3", &client).await;
    server.kill();
    let listed = op_ok(&data, &["order", "list"]).await;
    assert!(
        listed.contains(&format!("order {l3} ")) && listed.contains("1 order(s)"),
        "{listed}"
    );
    op_ok(
        &data,
        &[
            "order",
            "settle",
            &l3,
            "--failed",
            "--note",
            "checked: never arrived",
        ],
    )
    .await;
    let v = op_ok(&data, &["verify"]).await;
    assert!(v.contains("verify: OK") && v.contains("(0 open)"), "{v}");
    let server = serve_env(&data, &log, &http, &env).await;
    assert_eq!(balance(&http, &server.api()).await, "710.00");
    drop(server);
}

#[tokio::test]
async fn verify_checks_what_the_operator_settled() {
    let s = common::start_with(|c| {
        c.sandbox.faults = regway::config::SandboxFaults {
            timeout_percent: 100,
            ..Default::default()
        };
        c.upstream_timeout_ms = 200;
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = s.client("C1").await;
    let a = expect(
        s.form(&register_form("R1", "settled.ru", &client, ""))
            .await,
        1001,
    );
    let id: u64 = elem(&a.body, "order").get("id").parse().unwrap();
    let row = s
        .engine()
        .settle_order::<regway::outcome::Outcome>(regway::engine::operator::Settle {
            order: id,
            state: "completed".into(),
            note: "registry shows it".into(),
            expires: Some("2027-01-10".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(row.state, "completed");
    let info = expect(s.form("command=domain.info&domain=settled.ru").await, 1000);
    assert_eq!(elem(&info.body, "domain").get("expires"), "2027-01-10");
    assert!(s.verify().await.problems.is_empty());
    // A settlement the order's record does not bear out is reported.
    s.engine()
        .store
        .write(move |tx| {
            let mut o: regway::store::records::Order = tx.order("demo", id)?.unwrap();
            o.settled.as_mut().unwrap().note.clear();
            tx.put_order("demo", &o)
        })
        .await
        .unwrap();
    let problems = s.verify().await.problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("settled by the operator"),
        "{problems:?}"
    );
    s.stop().await;
}
