//! Rate limits and the lock-out: per-partner buckets for reads and for orders, the
//! per-address bucket for requests without valid credentials, the lock-out after
//! failed logins, and how each dialect says "too many". All on loopback, bounded in time.

mod common;

use common::{TestServer, LOGIN, PASSWORD};
use regway::config::{LimitsConfig, PartnerLimits, Rate};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn rate(per_minute: u32, burst: u32) -> Rate {
    Rate { per_minute, burst }
}

fn base(s: &TestServer) -> String {
    s.url.trim_end_matches("/api").to_string()
}

/// Limits that refill one token a minute, so a test never sees a refill.
fn tight() -> LimitsConfig {
    LimitsConfig {
        read: rate(1, 3),
        order: rate(1, 2),
        anonymous: rate(1, 5),
        lockout_failures: 10,
        ..LimitsConfig::default()
    }
}

#[tokio::test]
async fn orders_and_reads_have_separate_buckets_and_a_limited_request_id_stays_free() {
    let s = common::start_with(|c| c.limits = tight()).await;
    let t = Instant::now();
    let client = s.client("C1").await; // order 1 of 2
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=limits-one.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R2&domain=limits-two.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    assert_eq!(a.status, 429);
    let secs: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    // As protocol/native.md shows it.
    assert_eq!(
        a.body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <result code=\"2502\">\
         rate limit exceeded for orders and other changes; retry later</result>\n  \
         <request-id>R2</request-id>\n</response>\n"
    );
    // Reads still pass: R2 was never executed, so its request-id is unknown.
    let st = s.form("command=request.status&request-id=R2").await;
    assert_eq!(st.code(), 2303, "{}", st.body);
    let st = s.form("command=domain.info&domain=limits-two.ru").await;
    assert_eq!(st.code(), 2303, "{}", st.body);
    let b = s.form("command=balance.get").await;
    assert_eq!(b.code(), 1000, "{}", b.body);
    let b = s.form("command=balance.get").await;
    assert_eq!(b.code(), 2502, "{}", b.body);
    assert!(b.retry_after.is_some());
    assert!(s.verify().await.problems.is_empty());
    assert!(t.elapsed() < Duration::from_secs(20));
    s.stop().await;
}

#[tokio::test]
async fn a_partner_override_replaces_the_default() {
    let s = common::start_with(|c| {
        c.limits = tight();
        c.limits.partners.insert(
            LOGIN.into(),
            PartnerLimits {
                read: Some(rate(0, 0)),
                order: None,
            },
        );
    })
    .await;
    for _ in 0..20 {
        let a = s.form("command=balance.get").await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    s.stop().await;
}

#[tokio::test]
async fn each_dialect_answers_a_limit_as_its_original_does() {
    let s = common::start_with(|c| c.limits.read = rate(1, 1)).await;
    let a = s.form("command=balance.get").await;
    assert_eq!(a.code(), 1000);
    // Namecheap: HTTP 200, error 500000.
    let r = s
        .client
        .get(format!(
            "{}/xml.response?ApiUser=demo&ApiKey={PASSWORD}&UserName=demo&ClientIp=192.0.2.10\
             &Command=namecheap.users.getBalances",
            base(&s)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("Status=\"ERROR\""), "{body}");
    assert!(body.contains("Number=\"500000\""), "{body}");
    // MasterName: its status 405 in the text, HTTP 200.
    let text = format!(
        "[request]\nlogin: demo\npassword: {PASSWORD}\naction: request_status\nrequest-id: X1\n"
    );
    let body = format!(
        "request={}",
        percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
    );
    let r = s
        .client
        .post(format!("{}/partner_gateway", base(&s)))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("status: 405 "), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn requests_without_credentials_are_limited_by_address() {
    let s = common::start_with(|c| c.limits = tight()).await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        let a = s
            .raw(
                s.client
                    .post(&s.url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("command=balance.get"),
            )
            .await;
        codes.push((a.code(), a.status));
    }
    assert_eq!(codes[..5], [(2200, 401); 5]);
    assert_eq!(codes[5..], [(2502, 429); 3]);
    // The partner itself is not limited by what others send from its address.
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
    s.stop().await;
}

/// 10,000 wrong passwords, 32 at a time: the lock-out kicks in after the threshold,
/// argon2 runs a handful of times, and the right password is locked out too.
#[tokio::test]
async fn ten_thousand_bad_passwords_end_in_lock_out() {
    let s = common::start_with(|c| {
        c.limits = tight();
        c.limits.anonymous = rate(0, 0);
    })
    .await;
    let t = Instant::now();
    let total = 10_000usize;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (next, client, url) = (next.clone(), s.client.clone(), s.url.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return seen;
                }
                let r = client
                    .post(&url)
                    .basic_auth(LOGIN, Some(format!("guess-{i}")))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("command=balance.get")
                    .send()
                    .await
                    .unwrap();
                seen.push(r.status().as_u16());
            }
        }));
    }
    let mut by_status = std::collections::BTreeMap::new();
    for t in tasks {
        for st in t.await.unwrap() {
            *by_status.entry(st).or_insert(0usize) += 1;
        }
    }
    let elapsed = t.elapsed();
    let refused = by_status.get(&401).copied().unwrap_or(0);
    let limited = by_status.get(&429).copied().unwrap_or(0);
    assert_eq!(refused + limited, total, "{by_status:?}");
    // Checks of one login queue behind each other and look at the lock-out again
    // when their turn comes: the threshold, and no more, reach argon2.
    assert_eq!(refused, 10, "{by_status:?}");
    let slow = s.engine().auth.slow_checks.load(Ordering::Relaxed);
    assert_eq!(slow, 10, "argon2 checks");
    let a = s.form("command=balance.get").await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    assert!(a.body.contains("locked out"), "{}", a.body);
    let secs: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
    assert!(secs > 800 && secs <= 900, "{secs}");
    eprintln!("10,000 bad passwords: {by_status:?}, {slow} argon2 checks, {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    s.stop().await;
}

/// A burst of first logins with the right password runs argon2 once.
#[tokio::test]
async fn a_burst_of_first_logins_checks_the_password_once() {
    let s = common::start().await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (client, url) = (s.client.clone(), s.url.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(&url)
                .basic_auth(LOGIN, Some(PASSWORD))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("command=balance.get")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(s.engine().auth.slow_checks.load(Ordering::Relaxed), 1);
    // The same wrong password, again and again: one argon2 run. Knowing the right
    // password does not spare it: a wrong password costs what it costs for a login
    // that does not exist, so the answer's timing does not tell the two apart.
    for _ in 0..5 {
        assert_eq!(
            s.form_as(LOGIN, "nope", "command=balance.get").await.code(),
            2200
        );
    }
    assert_eq!(s.engine().auth.slow_checks.load(Ordering::Relaxed), 2);
    // An unknown login is checked the same way: one run, then the list of failures.
    for _ in 0..5 {
        assert_eq!(
            s.form_as("nobody", "nope", "command=balance.get")
                .await
                .code(),
            2200
        );
    }
    assert_eq!(s.engine().auth.slow_checks.load(Ordering::Relaxed), 3);
    s.stop().await;
}
