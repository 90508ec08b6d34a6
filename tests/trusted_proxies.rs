//! `trusted_proxies`: `X-Forwarded-For` and `Forwarded` name the client only when the
//! connection comes from a trusted proxy; from anywhere else they are ignored, so a
//! client cannot claim an allowed address (nor put another's address in lock-outs).

mod common;
mod support;

async fn balance_via(s: &common::TestServer, headers: &[(&str, &str)]) -> u16 {
    let mut r = s
        .client
        .post(&s.url)
        .basic_auth("acme", Some("acme-password-1"))
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let body = r
        .body("command=balance.get")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    support::elem(&body, "result").get("code").parse().unwrap()
}

async fn with_partner(trusted: &[&str]) -> common::TestServer {
    let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
    let s = common::start_with(|c| c.trusted_proxies = trusted).await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "acme".into(),
            password: Some("acme-password-1".into()),
            allow_ips: vec!["198.51.100.0/24".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
    // The tests' connections come from 127.0.0.1: here a trusted proxy.
    let s = with_partner(&["127.0.0.0/8"]).await;
    assert_eq!(
        balance_via(&s, &[]).await,
        2201,
        "the proxy itself is not allowed"
    );
    assert_eq!(
        balance_via(&s, &[("x-forwarded-for", "198.51.100.7")]).await,
        1000
    );
    assert_eq!(
        balance_via(&s, &[("forwarded", "for=198.51.100.8;proto=https")]).await,
        1000
    );
    // What the client itself put in front is not believed: the nearest hop is.
    assert_eq!(
        balance_via(&s, &[("x-forwarded-for", "198.51.100.7, 203.0.113.9")]).await,
        2201
    );
    s.stop().await;

    // Not a trusted proxy: the headers are ignored.
    let s = with_partner(&["10.0.0.0/8"]).await;
    assert_eq!(
        balance_via(&s, &[("x-forwarded-for", "198.51.100.7")]).await,
        2201
    );
    s.stop().await;
    let s = with_partner(&[]).await;
    assert_eq!(
        balance_via(&s, &[("forwarded", "for=198.51.100.7")]).await,
        2201
    );
    s.stop().await;
}

#[tokio::test]
async fn a_bad_trusted_proxy_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.trusted_proxies = vec!["10.0.0.0/33".into()];
    let e = regway::app::start(cfg).await.err().expect("refused");
    assert!(
        e.message.contains("trusted_proxies: \"10.0.0.0/33\""),
        "{}",
        e.message
    );
    assert_eq!(e.fault, Some(regway::error::Fault::Config));
}
