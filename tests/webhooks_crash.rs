//! kill -9 of the gateway between an order's write and its event's delivery: the event
//! was written with the order (the outbox), so it is delivered after the restart, with
//! the same event id as the attempt that was cut off.

mod common;
mod process;
mod receiver;
mod support;

use receiver::{verifies, Receiver, Reply};
use support::*;

const SECRET: &str = "whsec-crash-0123456789";

#[tokio::test]
async fn an_event_cut_off_by_a_kill_is_delivered_after_restart_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("regway.log");
    let config = dir.path().join("regway.toml");
    // The receiver takes the first post and never answers it: the gateway is killed
    // while that delivery is in flight, so nothing about it was recorded.
    let rx = Receiver::start("127.0.0.1:0", Reply::Hang).await.unwrap();
    std::fs::write(
        &config,
        "[webhooks]\nhttp_hosts = [\"127.0.0.1\"]\nallow_addresses = [\"127.0.0.1\"]\n\
         poll_ms = 50\ntimeout_ms = 120000\n",
    )
    .unwrap();
    let env = [("REGWAY_CONFIG", config.display().to_string())];
    let http = reqwest::Client::new();
    let server = process::serve_env(&data, &log, &http, &env).await;
    let api = server.api();
    let set = process::definite(
        &http,
        &api,
        &format!(
            "command=webhook.set&request-id=W1&url={}&secret={SECRET}&events=order.completed",
            enc(&rx.url("/crash"))
        ),
    )
    .await;
    expect(set, 1000);
    let client = process::definite(
        &http,
        &api,
        "command=client.create&request-id=C1&type=person&name=Ivan&email=i%40example.net\
         &phone=%2B7.4951234567&country=RU&address=Moscow",
    )
    .await;
    let client = expect(client, 1000).attr("id").unwrap();
    let order =
        process::definite(&http, &api, &register_form("R1", "crashed.ru", &client, "")).await;
    let order_id: u64 = elem(&expect(order, 1000).body, "order")
        .get("id")
        .parse()
        .unwrap();

    let first = rx.wait_for(1, 20).await.remove(0);
    let id = first.json()["id"].as_u64().unwrap();
    server.kill();

    rx.set_default(Reply::Status(200));
    let server = process::serve_env(&data, &log, &http, &env).await;
    let got = rx.wait_for(2, 20).await;
    let again = &got[1];
    assert_eq!(again.json()["id"].as_u64(), Some(id), "the same event id");
    assert_eq!(again.json()["type"], "order.completed");
    assert_eq!(again.json()["data"]["order"]["id"].as_u64(), Some(order_id));
    assert!(verifies(
        SECRET,
        again.header("x-regway-signature").unwrap(),
        &again.body
    ));
    // Delivered: no third post, and the delivery says so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let a = expect(
            process::post(&http, &server.api(), "command=webhook.deliveries".into())
                .await
                .unwrap(),
            1000,
        );
        let ds = elems(&a.body, "delivery");
        assert_eq!(ds.len(), 1, "{}", a.body);
        if ds[0].get("state") == "delivered" {
            assert_eq!(ds[0].get("event"), id.to_string());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", a.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 2);
    // The operator sees it through the running gateway's channel …
    let (ok, out) = process::operator(&data, &["webhook", "list", "--state", "delivered"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("event {id}  demo  endpoint 1 {}  order.completed  delivered  attempts 1  last status 200", rx.url("/crash"))),
        "{out}"
    );
    let (ok, out) = process::operator(
        &data,
        &[
            "webhook",
            "retry",
            "--partner",
            "demo",
            &id.to_string(),
            "1",
        ],
    )
    .await;
    assert!(!ok && out.contains("that delivery was delivered"), "{out}");
    assert!(server.stop());
    // … and on the store when it is stopped.
    let (ok, out) = process::operator(&data, &["webhook", "list", "--state", "failed"]).await;
    assert!(ok && out.contains("0 deliveries"), "{out}");
    let (ok, out) = process::operator(&data, &["webhook", "list", "--state", "all"]).await;
    assert!(ok && out.contains("1 delivery"), "{out}");
}
