//! balance.get latency with and without 100 slow webhook receivers, in one run
//! (BENCHMARKS.md, "Webhooks"): the receivers answer after 10 s each, so 100
//! deliveries are in flight while the second phase measures.
//!
//! ```text
//! cargo run --release --example webhook_load [-- REQUESTS]
//! ```

use regway::config::{Config, LimitsConfig};
use regway::engine::operator::NewPartner;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RECEIVERS: usize = 100;
const PER_PARTNER: usize = 5;
const CONCURRENCY: usize = 8;

/// A receiver that reads a request and answers 200 after `delay`.
async fn slow_receiver(delay: Duration) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 16384];
                let _ = c.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = c
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    addr
}

async fn form(http: &reqwest::Client, url: &str, login: &str, body: String) -> String {
    http.post(url)
        .basic_auth(login, Some("bench-password-1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `n` balance.get requests, `CONCURRENCY` at a time: (p50, p99, max) in ms.
async fn measure(http: &reqwest::Client, url: &str, n: usize) -> (f64, f64, f64) {
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY {
        let (http, url) = (http.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in (w..n).step_by(CONCURRENCY) {
                let t = Instant::now();
                let b = form(&http, &url, "p0", "command=balance.get".into()).await;
                assert!(b.contains("code=\"1000\""), "{b}");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (at(0.50), at(0.99), *all.last().unwrap())
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_path_buf(),
        limits: LimitsConfig::off(),
        ..Config::default()
    };
    cfg.demo.enabled = false;
    cfg.webhooks.http_hosts = vec!["127.0.0.1".into()];
    cfg.webhooks.allow_addresses = vec!["127.0.0.1".into()];
    cfg.webhooks.concurrency = 2 * RECEIVERS;
    cfg.webhooks.timeout_ms = 15_000;
    cfg.webhooks.poll_ms = 100;
    let running = regway::app::start(cfg).await.unwrap();
    let url = format!("http://{}/api", running.addr);
    let engine = running.engine.clone();
    let partners = RECEIVERS / PER_PARTNER;
    for p in 0..partners {
        engine
            .add_partner(NewPartner {
                login: format!("p{p}"),
                password: Some("bench-password-1".into()),
                ..NewPartner::default()
            })
            .await
            .unwrap();
    }
    let http = reqwest::Client::new();
    measure(&http, &url, n / 10).await; // warm-up
    let (a50, a99, amax) = measure(&http, &url, n).await;

    for r in 0..RECEIVERS {
        let addr = slow_receiver(Duration::from_secs(10)).await;
        let login = format!("p{}", r / PER_PARTNER);
        let b = form(
            &http,
            &url,
            &login,
            format!(
                "command=webhook.set&request-id=W{r}&url=http%3A%2F%2F{addr}%2Fh&secret=bench-secret-0123456&events=*"
            ),
        )
        .await;
        assert!(b.contains("code=\"1000\""), "{b}");
    }
    for r in 0..RECEIVERS {
        let login = format!("p{}", r / PER_PARTNER);
        let ep = r % PER_PARTNER + 1;
        let b = form(
            &http,
            &url,
            &login,
            format!("command=webhook.test&request-id=T{r}&endpoint={ep}"),
        )
        .await;
        assert!(b.contains("code=\"1000\""), "{b}");
    }
    // Until every receiver holds a delivery open.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started = Instant::now();
    let (b50, b99, bmax) = measure(&http, &url, n).await;
    let took = started.elapsed();
    let pending = engine.list_deliveries("pending", None).unwrap().len();
    println!("| balance.get, {n} requests, {CONCURRENCY} at a time | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|");
    println!("| no webhook deliveries | {a50:.2} | {a99:.2} | {amax:.2} |");
    println!(
        "| {RECEIVERS} deliveries in flight to receivers answering after 10 s | {b50:.2} | {b99:.2} | {bmax:.2} |"
    );
    println!(
        "(second phase took {:.1} s; deliveries still pending at its end: {pending} of {RECEIVERS})",
        took.as_secs_f64()
    );
    running.shutdown().await;
}
