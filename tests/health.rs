//! `/healthz` tells the truth about the upstreams: 503 naming the parent while it is
//! down (or refuses the gateway), 200 once it is back; the probes are cached, so a
//! burst of health checks asks the parent once.

mod common;
mod support;

use common::{start_child, start_parent};
use std::time::{Duration, Instant};

async fn health(http: &reqwest::Client, api: &str) -> (u16, serde_json::Value) {
    let r = http
        .get(api.replace("/api", "/healthz"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn healthz_is_503_while_the_parent_is_down_and_200_once_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api");
    let child = start_child(&url, "1000.00", 2_000, |c| {
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let http = reqwest::Client::new();
    let (status, v) = health(&http, &child.url).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["store"], "ok");
    let upstream = v["upstream"].as_str().unwrap();
    assert!(upstream.starts_with("parent: the registry"), "{v}");
    assert!(
        !upstream.contains("127.0.0.1"),
        "no upstream address shown: {v}"
    );
    assert_eq!(
        v["upstreams"]["parent"],
        upstream.trim_start_matches("parent: ")
    );
    // Licence orders still go to the sandbox, which answers.
    assert_eq!(v["upstreams"]["sandbox"], "ok");
    // A burst of checks is answered from the cache: no more probes.
    let probes = |m: String| {
        m.lines()
            .find(|l| l.starts_with("regway_upstream_calls_total{op=\"probe\"}"))
            .map(str::to_string)
    };
    let before = probes(child.engine().render_metrics());
    assert!(before.is_some());
    for _ in 0..20 {
        assert_eq!(health(&http, &child.url).await.0, 503);
    }
    assert_eq!(probes(child.engine().render_metrics()), before);

    // The parent comes up: within the cache's life, /healthz says so.
    let parent = start_parent("1000.00", |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let (status, v) = health(&http, &child.url).await;
        if status == 200 {
            break v;
        }
        assert!(Instant::now() < deadline, "still {status}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(v["upstream"], "ok");
    assert_eq!(v["upstreams"]["parent"], "ok");
    // The probe read the gateway's balance at the parent.
    let m = child.engine().render_metrics();
    assert!(
        m.contains("regway_upstream_balance{upstream=\"parent\",currency=\"RUB\"} 1000.0\n"),
        "{m}"
    );
    child.stop().await;

    // A parent that refuses the gateway's login is a failing part too.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::child_config(dir.path(), &parent.url, 2_000);
    cfg.upstreams.get_mut("parent").unwrap().password = "wrong-password".into();
    let refused = common::start_config(cfg).await;
    let (status, v) = health(&http, &refused.url).await;
    assert_eq!(status, 503, "{v}");
    assert!(
        v["upstream"].as_str().unwrap().starts_with("parent: "),
        "{v}"
    );
    assert!(!v.to_string().contains("wrong-password"), "{v}");
    refused.stop().await;
    parent.stop().await;
}
