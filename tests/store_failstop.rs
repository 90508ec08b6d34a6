//! A store flush that fails stops the gateway (fail-stop): the request whose write could
//! not be made durable gets no answer (its batch may or may not be on disk), the process
//! exits non-zero with one clear log line, and a restart on the same data finds a store
//! that `regway verify` accepts. The flush is made to fail with the test knob
//! `REGWAY_STORE_FAIL_FLUSH_FILE`.

mod common;
mod process;
mod support;

use process::*;
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_stops_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let trigger = dir.path().join("fail-flush");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = serve_env(
        &data,
        &log,
        &http,
        &[(regway::store::FAIL_FLUSH_ENV, trigger.display().to_string())],
    )
    .await;
    let create = "command=client.create&request-id=C1&type=person&name=Ivan\
                  &email=i%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow";
    let client = expect(
        post(&http, &server.api(), create.into()).await.unwrap(),
        1000,
    )
    .attr("id")
    .unwrap();

    std::fs::write(&trigger, b"").unwrap();
    let register = register_form("R1", "failstop.ru", &client, "");
    let answer = post(&http, &server.api(), register.clone()).await;
    // No answer at all: neither "done" nor "failed, nothing charged" can be promised.
    assert!(answer.is_err(), "answered: {}", answer.unwrap().body);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the gateway kept running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(regway::store::EXIT_STORE_FAILED));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .filter(|l| l.contains("stopping now (fail-stop)"))
            .count()
            == 1,
        "{text}"
    );

    // A restart reads what is on disk: whatever became of R1, the money adds up.
    std::fs::remove_file(&trigger).unwrap();
    let server = serve(&data, &log, &http).await;
    let a = definite(&http, &server.api(), &register).await;
    assert!(
        [1000, 2400].contains(&a.code()),
        "R1 after the restart: {}",
        a.body
    );
    let (ok, out) = operator(&data, &["verify"]).await;
    assert!(ok && out.contains("verify: OK"), "{out}");
    drop(server);
}
