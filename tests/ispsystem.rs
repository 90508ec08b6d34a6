//! Licence orders through the ISPsystem-style licensing backend, against a stand-in
//! service on 127.0.0.1 that answers with the files of `fixtures/ispsystem/`.

mod common;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/ispsystem")
            .join(name),
    )
    .unwrap()
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: String,
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body) from `sock`.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, buf[head_end..head_end + len].to_vec()))
}

/// Serves one answer per connection, chosen by `func` (and an IP that it refuses);
/// keeps every request it was sent but the health probe.
async fn stand_in() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/billmgr", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut sock).await else {
                    return;
                };
                let mut first = head.split(' ');
                let req = Seen {
                    method: first.next().unwrap_or("").to_string(),
                    target: first.next().unwrap_or("").to_string(),
                    body: String::from_utf8_lossy(&body).to_string(),
                };
                let form = req.body.clone();
                // The gateway's health probe (`func=whoami`) is not an order: kept apart
                // from what the test counts.
                if !form.contains("func=whoami") {
                    log.lock().unwrap().push(req);
                }
                let body = if form.contains("ip=10.20.30.99") {
                    fixture("error-value.xml")
                } else if form.contains("func=soft.order.param") {
                    fixture("order-elid.xml")
                } else {
                    fixture("prolong-ok.xml")
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn balance(s: &common::TestServer) -> String {
    s.engine().show_partner("demo").unwrap().balance
}

#[tokio::test]
async fn licences_through_an_ispsystem_service() {
    let (url, seen) = stand_in().await;
    let s = common::start_with(|c| {
        c.upstreams.insert(
            "licensing".into(),
            regway::config::UpstreamConfig {
                kind: regway::config::UpstreamKind::Ispsystem,
                url,
                login: "reseller".into(),
                password: "pw".into(),
                timeout_ms: 5_000,
                concurrency: 4,
                products: BTreeMap::from([("ispmanager6-lite".into(), "3541".into())]),
                allow_insecure_http: false,
            },
        );
        c.license_upstream = Some("licensing".into());
        // A real licensing service refuses the documentation ranges the sandbox
        // takes; the servers here are on a private network.
        c.license_allow_private_ips = true;
    })
    .await;
    // Licences with free demo money must not reach a real service: no demo partner.
    assert!(!s.engine().has_partners().unwrap());
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: common::LOGIN.into(),
            password: Some(common::PASSWORD.into()),
            currency: Some("RUB".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    s.engine()
        .topup(common::LOGIN, "10000.00", "test")
        .await
        .unwrap();
    let client = s.client("C1").await;
    let order = |rid: &str, product: &str, ip: &str| {
        format!(
            "command=license.order&request-id={rid}&product={product}&period=month&ip={ip}&auto-renew=true&client={}",
            enc(&client)
        )
    };

    // Addresses no licence can have, and a documentation one, are refused before
    // anything is charged or sent.
    for (i, ip) in [
        "203.0.113.10",
        "2001:db8::10",
        "::ffff:127.0.0.1",
        "169.254.169.254",
    ]
    .into_iter()
    .enumerate()
    {
        let a = expect(
            s.form(&order(&format!("L0-{i}"), "ispmanager6-lite", &enc(ip)))
                .await,
            2306,
        );
        assert!(a.body.contains("public address"), "{}", a.body);
    }
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(balance(&s), "10000.00");

    let a = expect(
        s.form(&order("L1", "ispmanager6-lite", "10.20.30.10"))
            .await,
        1000,
    );
    let l = elem(&a.body, "license");
    let id = l.get("id").to_string();
    assert_eq!(l.get("expires"), "2026-02-15");
    let req = seen.lock().unwrap().last().cloned().unwrap();
    // The credentials travel in a POST body, never in the URL.
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/billmgr");
    let q = req.body;
    for part in [
        "authinfo=reseller%3Apw",
        "out=xml",
        "func=soft.order.param",
        "pricelist=3541",
        "period=1",
        "ip=10.20.30.10",
        "licname=demo%3AL1",
        // The partner asked for auto-renew: the gateway renews, the service never does.
        "autoprolong=off",
        "skipbasket=on",
        "clicked_button=finish",
        "sok=ok",
    ] {
        assert!(q.contains(part), "{part} missing in {q}");
    }

    // Renewal and the move to another address name the service's licence id.
    let a = expect(
        s.form(&format!(
            "command=license.renew&request-id=L2&license={id}&period=month&expires=2026-02-15"
        ))
        .await,
        1000,
    );
    assert_eq!(elem(&a.body, "license").get("expires"), "2026-03-15");
    let q = seen.lock().unwrap().last().cloned().unwrap().body;
    assert!(
        q.contains("func=service.prolong") && q.contains("elid=4421"),
        "{q}"
    );
    expect(
        s.form(&format!(
            "command=license.set-ip&request-id=L3&license={id}&ip=10.20.30.7"
        ))
        .await,
        1000,
    );
    let q = seen.lock().unwrap().last().cloned().unwrap().body;
    assert!(
        q.contains("func=soft.edit") && q.contains("elid=4421") && q.contains("ip=10.20.30.7"),
        "{q}"
    );
    assert_eq!(balance(&s), "9420.00");

    // The service's refusal is refunded; so is a product it has no price list for,
    // which is never sent.
    let a = expect(
        s.form(&order("L4", "ispmanager6-lite", "10.20.30.99"))
            .await,
        2400,
    );
    assert!(a.body.contains("Invalid IP address"), "{}", a.body);
    let sent = seen.lock().unwrap().len();
    expect(
        s.form(&order("L5", "ispmanager6-pro", "10.20.30.11")).await,
        2400,
    );
    assert_eq!(seen.lock().unwrap().len(), sent);
    assert_eq!(balance(&s), "9420.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
