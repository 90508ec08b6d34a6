//! SIGTERM shuts the gateway down gracefully: requests in flight are answered, the
//! process exits 0 with the store and the log flushed (one log line for every answered
//! request), and every answered order is there after a restart.

mod common;

use common::{LOGIN, NOW, PASSWORD};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 300;

/// Starts the gateway with the default log level, its log appended to `log`.
fn start(data: &Path, port: u16, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_regway"))
        .arg("serve")
        .env_remove("REGWAY_CONFIG")
        .env("REGWAY_DATA", data)
        .env("REGWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .env("REGWAY_SANDBOX_CLOCK", NOW)
        .env_remove("REGWAY_LOG")
        // 300 orders at once is a burst the default partner quota refuses.
        .env("REGWAY_LIMITS_ORDER_PER_MINUTE", "0")
        .env("REGWAY_LIMITS_READ_PER_MINUTE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("regway serve starts")
}

async fn ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "regway serve did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(http: &reqwest::Client, base: &str, body: String) -> reqwest::Result<String> {
    http.post(format!("{base}/api"))
        .basic_auth(LOGIN, Some(PASSWORD))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?
        .text()
        .await
}

fn code(body: &str) -> u16 {
    let i = body.find("<result code=\"").expect("a result") + 14;
    body[i..i + 4].parse().unwrap()
}

fn register(i: usize) -> String {
    format!("command=domain.register&request-id=T{i:03}&domain=term{i:03}.ru&client=1000/RW-P")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_requests_in_flight_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    // A connection per request, so no request waits behind another one's keep-alive.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let log = dir.path().join("log");
    let mut child = start(dir.path(), port, &log);
    ready(&http, &base).await;
    let topup = Command::new(env!("CARGO_BIN_EXE_regway"))
        .args(["partner", "topup", LOGIN, "1000000"])
        .env("REGWAY_DATA", dir.path())
        .output()
        .unwrap();
    assert!(topup.status.success(), "{topup:?}");
    let c = post(
        &http,
        &base,
        "command=client.create&request-id=C1&type=person&name=Ivan&email=i%40example.net\
         &phone=%2B7.4951234567&country=RU&address=Moscow"
            .into(),
    )
    .await
    .unwrap();
    assert_eq!(code(&c), 1000, "{c}");

    let answered = Arc::new(AtomicUsize::new(0));
    let termed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (http, base) = (http.clone(), base.clone());
        let (answered, termed) = (answered.clone(), termed.clone());
        tasks.push(tokio::spawn(async move {
            let r = post(&http, &base, register(i)).await;
            let after_term = termed.load(Ordering::SeqCst);
            if r.is_ok() {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            (i, r.ok(), after_term)
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::SeqCst) < 20 {
        assert!(Instant::now() < deadline, "no registration was answered");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    termed.store(true, Ordering::SeqCst);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let exit = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await
    .unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit}");

    let answered: Vec<(usize, String)> = results
        .iter()
        .filter_map(|(i, r, _)| r.clone().map(|b| (*i, b)))
        .collect();
    let after_term = results.iter().filter(|(_, r, t)| r.is_some() && *t).count();
    assert!(
        after_term > 0,
        "no request in flight at SIGTERM was answered ({} answered before)",
        answered.len()
    );
    for (i, body) in &answered {
        assert_eq!(code(body), 1000, "T{i:03}: {body}");
    }

    // The log was written out before the exit: exactly one line for every answered
    // request, and at most one for any other.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines_of = |i: usize| {
        let rid = format!("request_id=\"T{i:03}\"");
        text.lines()
            .filter(|l| l.contains(" request ") && l.contains(&rid))
            .collect::<Vec<_>>()
    };
    for (i, r, _) in &results {
        let lines = lines_of(*i);
        if r.is_some() {
            assert_eq!(lines.len(), 1, "T{i:03}: {lines:?}");
            assert!(lines[0].contains("code=1000"), "T{i:03}: {lines:?}");
        } else {
            assert!(lines.len() <= 1, "T{i:03}: {lines:?}");
        }
    }
    assert!(
        text.lines()
            .last()
            .unwrap_or("")
            .contains("store flushed; bye"),
        "the log does not end with the last line of the stop:\n{text}"
    );

    // Everything answered is there after a restart, with the same answer; the rest can
    // be retried with the same request-ids and executes once.
    let mut child = start(dir.path(), port, &log);
    ready(&http, &base).await;
    for (i, body) in &answered {
        let again = post(&http, &base, register(*i)).await.unwrap();
        assert_eq!(
            &again, body,
            "T{i:03} answers differently after the restart"
        );
    }
    for (i, r, _) in &results {
        if r.is_none() {
            let a = post(&http, &base, register(*i)).await.unwrap();
            assert_eq!(code(&a), 1000, "T{i:03}: {a}");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_regway"))
        .arg("verify")
        .env("REGWAY_DATA", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("orders: {N} (0 open)")), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
}
