//! A parent that refuses the gateway itself (here: the reseller's money at the parent
//! runs out) gives the partner a fixed message, never the parent's words, which would
//! show the reseller's balance there to the reseller's customers; the parent's words go
//! to the operator's log and the refusal to `/metrics`.

mod common;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use support::*;

/// The log lines written while the test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_parent_refusing_the_gateway_is_a_fixed_message() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    // The child has 410.00 at the parent; a .ru costs 590.00 there.
    let parent = common::start_parent("410.00", |_| {}).await;
    let child = common::start_child(&parent.url, "1000.00", 5_000, |_| {}).await;
    let client = child.client("C1").await;
    let a = expect_http(
        child
            .form(&register_form("R1", "broke.ru", &client, ""))
            .await,
        2400,
    );
    assert_eq!(a.status, 502);
    let message = elem(&a.body, "result").text.unwrap();
    assert_eq!(message, regway::upstream::REJECTED);
    let info = expect(child.form("command=order.info&request-id=R1").await, 1000);
    let order = elem(&info.body, "order");
    assert_eq!(order.get("state"), "failed");
    assert_eq!(order.get("reason"), regway::upstream::REJECTED);
    for body in [&a.body, &info.body] {
        assert!(!body.contains("410.00") && !body.contains("2104"), "{body}");
    }
    assert_eq!(balance(&child).await, "1000.00");
    assert!(child.verify().await.problems.is_empty());

    // The operator sees the parent's words and the count.
    let base = child.url.trim_end_matches("/api");
    let metrics = child
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("regway_upstream_rejected_total{code=\"2104\"} 1\n"),
        "{metrics}"
    );
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("the upstream refused the gateway itself"))
        .unwrap_or_else(|| panic!("no log line in:\n{text}"));
    assert!(line.contains("2104") && line.contains("410.00"), "{line}");
    assert!(!text.contains("child-password"), "{text}");
    child.stop().await;
    parent.stop().await;
}
