//! No byte the gateway writes carries an upstream's credentials. For each upstream type
//! that has credentials (a parent regway and an ISPsystem licensing service) and each
//! way an upstream can fail — refusing connections, never answering, failing TLS,
//! answering HTTP 500 with an HTML page that echoes the request, answering garbage,
//! refusing with words that echo the request — a real `regway serve` takes orders in
//! every dialect, reconciles them, and answers `order.info`, `order.list`,
//! `request.status`, `/metrics` and `/healthz`; then every answer and the whole log are
//! searched for the password in each of its forms.

mod common;
mod process;
mod support;

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use process::*;
use std::path::Path;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UP_LOGIN: &str = "reseller";
/// Characters that URL and form encodings change, so the encoded forms are searched too.
const UP_PASSWORD: &str = "top$ecret pass/7f3a";

/// Every form in which the credentials could leak.
fn secret_forms() -> Vec<String> {
    const FORM: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'*');
    let pair = format!("{UP_LOGIN}:{UP_PASSWORD}");
    let mut forms = vec![base64::engine::general_purpose::STANDARD.encode(&pair)];
    for t in [UP_PASSWORD, pair.as_str()] {
        forms.push(t.to_string());
        forms.push(utf8_percent_encode(t, NON_ALPHANUMERIC).to_string());
        forms.push(utf8_percent_encode(t, FORM).to_string().replace("%20", "+"));
    }
    forms
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// Nothing listens.
    Refuse,
    /// Reads the request, never answers.
    Silent,
    /// `https://` to a server that speaks plain HTTP.
    Tls,
    /// HTTP 500 with an HTML page holding the request.
    Echo500,
    /// HTTP 200 with bytes that are not the protocol, holding the request.
    Garbage,
    /// A well-formed refusal whose words hold the request.
    EchoRefusal,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Reads what the client sends: a request head and its body, or (TLS) whatever came.
async fn read_some(sock: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match tokio::time::timeout(Duration::from_millis(200), sock.read(&mut chunk)).await
        {
            Ok(Ok(n)) if n > 0 => n,
            _ => return buf,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= i + 4 + len {
                return buf;
            }
        }
    }
}

/// A misbehaving upstream; returns its base URL.
async fn upstream(fault: Fault) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if fault == Fault::Refuse {
        drop(listener);
        return format!("http://{addr}");
    }
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let req = read_some(&mut sock).await;
                let echo = String::from_utf8_lossy(&req).to_string();
                let (status, body) = match fault {
                    Fault::Silent => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    Fault::Tls | Fault::Echo500 => (
                        "500 Internal Server Error",
                        format!("<html><body><h1>Error</h1><pre>{echo}</pre></body></html>"),
                    ),
                    Fault::Garbage => ("200 OK", format!("\u{1}<<garbage>> {echo}")),
                    Fault::EchoRefusal if echo.contains("/billmgr") => (
                        "200 OK",
                        format!(
                            "<doc><error type=\"value\"><msg>bad request: {}</msg></error></doc>",
                            xml_escape(&echo)
                        ),
                    ),
                    Fault::EchoRefusal => (
                        "409 Conflict",
                        format!(
                            "<response><result code=\"2302\">taken: {}</result></response>",
                            xml_escape(&echo)
                        ),
                    ),
                    Fault::Refuse => unreachable!(),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    let scheme = if fault == Fault::Tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

fn config(path: &Path, base: &str) {
    std::fs::write(
        path,
        format!(
            "upstream = \"parent\"\n\
             license_upstream = \"licensing\"\n\
             upstream_timeout_ms = 3000\n\
             reconcile_interval_ms = 100\n\
             unknown_alert_ms = 0\n\
             \n\
             [upstreams.parent]\n\
             type = \"regway\"\n\
             url = \"{base}/api\"\n\
             login = \"{UP_LOGIN}\"\n\
             password = \"{UP_PASSWORD}\"\n\
             timeout_ms = 600\n\
             \n\
             [upstreams.licensing]\n\
             type = \"ispsystem\"\n\
             url = \"{base}/billmgr\"\n\
             login = \"{UP_LOGIN}\"\n\
             password = \"{UP_PASSWORD}\"\n\
             timeout_ms = 600\n\
             products = {{ \"ispmanager6-lite\" = \"3541\" }}\n"
        ),
    )
    .unwrap();
}

/// The body of an answer, whatever its HTTP status.
async fn body_of(r: reqwest::RequestBuilder) -> String {
    let r = r.send().await.unwrap();
    r.text().await.unwrap()
}

async fn run(fault: Fault) {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("serve.log"));
    let base = upstream(fault).await;
    let cfg = dir.path().join("regway.toml");
    config(&cfg, &base);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let server = serve_env(
        &data,
        &log,
        &http,
        &[
            ("REGWAY_CONFIG", cfg.display().to_string()),
            ("REGWAY_LOG", "debug".to_string()),
        ],
    )
    .await;
    for args in [
        vec![
            "partner",
            "add",
            common::LOGIN,
            "--password",
            common::PASSWORD,
        ],
        vec!["partner", "topup", common::LOGIN, "10000.00"],
    ] {
        let (ok, out) = operator(&data, &args).await;
        assert!(ok, "{args:?}: {out}");
    }
    let api = server.api();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut native = |what: &str, a: common::Answer| seen.push((what.to_string(), a.body));

    let client = "command=client.create&request-id=C1&type=person&name=Ivan\
                  &email=i%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow";
    let a = post(&http, &api, client.into()).await.unwrap();
    let handle = a.attr("id").expect("a client");
    native("client.create", a);
    native(
        "domain.check",
        post(&http, &api, "command=domain.check&domain=leak-a.ru".into())
            .await
            .unwrap(),
    );
    native(
        "domain.register",
        post(&http, &api, register_form("R1", "leak-a.ru", &handle, ""))
            .await
            .unwrap(),
    );
    let licence = post(
        &http,
        &api,
        format!(
            "command=license.order&request-id=L1&product=ispmanager6-lite&period=month\
             &ip=93.184.216.10&auto-renew=true&client={}",
            enc(&handle)
        ),
    )
    .await
    .unwrap();
    // It went to the licensing service (a refusal before that would prove nothing).
    assert!(
        [1000, 1001, 2400].contains(&licence.code()),
        "{}",
        licence.body
    );
    native("license.order", licence);

    // The other dialects.
    let root = server.base.clone();
    let nc = |cmd: &str| {
        format!(
            "{root}/xml.response?ApiUser={0}&ApiKey={1}&UserName={0}&ClientIp=192.0.2.10&Command={cmd}",
            common::LOGIN,
            common::PASSWORD
        )
    };
    seen.push((
        "namecheap check".into(),
        body_of(http.get(format!(
            "{}&DomainList=leak-b.com",
            nc("namecheap.domains.check")
        )))
        .await,
    ));
    let contact = |role: &str| {
        format!(
            "&{role}FirstName=John&{role}LastName=Smith&{role}Address1=1+Main+St&{role}City=Springfield\
             &{role}StateProvince=IL&{role}PostalCode=62701&{role}Country=US\
             &{role}Phone=%2B1.2175550100&{role}EmailAddress=john%40example.net"
        )
    };
    let mut create = "DomainName=leak-b.com&Years=1&RequestId=NC-1".to_string();
    for role in ["Registrant", "Tech", "Admin", "AuxBilling"] {
        create.push_str(&contact(role));
    }
    seen.push((
        "namecheap create".into(),
        body_of(
            http.post(nc("namecheap.domains.create"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(create),
        )
        .await,
    ));
    let mn = |text: String| {
        http.post(format!("{root}/partner_gateway"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("request={}", enc(&text)))
    };
    let head = format!(
        "[request]\nlogin: {}\npassword: {}\n",
        common::LOGIN,
        common::PASSWORD
    );
    seen.push((
        "mastername register".into(),
        body_of(mn(format!(
            "{head}action: register_domain\nrequest-id: M1\n\n[domain]\nclient: {handle}\ndomain: leak-c.ru\n"
        )))
        .await,
    ));
    seen.push((
        "mastername status".into(),
        body_of(mn(format!(
            "{head}action: request_status\nrequest-id: M1\n"
        )))
        .await,
    ));

    // Let the reconciler ask about every open order a few times.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (what, body) in [
        ("order.list", "command=order.list".to_string()),
        ("order.info R1", "command=order.info&request-id=R1".into()),
        ("order.info L1", "command=order.info&request-id=L1".into()),
        (
            "request.status R1",
            "command=request.status&request-id=R1".into(),
        ),
        (
            "request.status L1",
            "command=request.status&request-id=L1".into(),
        ),
        (
            "domain.register R1 again",
            register_form("R1", "leak-a.ru", &handle, ""),
        ),
    ] {
        seen.push((what.into(), post(&http, &api, body).await.unwrap().body));
    }
    seen.push((
        "/metrics".into(),
        body_of(http.get(format!("{root}/metrics"))).await,
    ));
    seen.push((
        "/healthz".into(),
        body_of(http.get(format!("{root}/healthz"))).await,
    ));
    let listed = &seen.iter().find(|(w, _)| w == "order.list").unwrap().1;
    assert!(
        elems(listed, "order").len() >= 3,
        "{fault:?}: the orders were not taken:\n{listed}"
    );
    drop(server);
    seen.push(("the log".into(), std::fs::read_to_string(&log).unwrap()));

    let upstream_host = base.split("://").nth(1).unwrap().to_string();
    for (what, text) in &seen {
        for form in secret_forms() {
            assert!(
                !text.contains(&form),
                "{fault:?}: {what} holds the credentials ({form:?}):\n{text}"
            );
        }
        if what != "the log" {
            // Nor the upstream's address or a raw transport error.
            for leak in [
                upstream_host.as_str(),
                "billmgr",
                "error sending request",
                "authinfo",
            ] {
                assert!(
                    !text.contains(leak),
                    "{fault:?}: {what} shows {leak:?}:\n{text}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_refuses_connections() {
    run(Fault::Refuse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers() {
    run(Fault::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_whose_tls_fails() {
    run(Fault::Tls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_echoes_the_request_in_an_error_page() {
    run(Fault::Echo500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_answers_garbage() {
    run(Fault::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_refuses_in_words_that_echo_the_request() {
    run(Fault::EchoRefusal).await;
}
