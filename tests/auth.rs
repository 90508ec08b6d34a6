//! Authentication order and lock-outs, seen from outside: the allow-list before the
//! password, lock-outs by address and by (address, login) pair rather than by login,
//! unknown logins checked like wrong passwords, one `Authorization` header only.
//!
//! Several source addresses on one machine: every 127.0.0.0/8 address is loopback on
//! Linux, so a client bound to 127.0.0.2 reaches a server on 127.0.0.1 from another
//! address.

mod common;

use common::{Answer, TestServer, LOGIN, PASSWORD};
use regway::config::{LimitsConfig, Rate};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(addr.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn balance(s: &TestServer, client: &reqwest::Client, login: &str, pw: &str) -> Answer {
    s.raw(
        client
            .post(&s.url)
            .basic_auth(login, Some(pw))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("command=balance.get"),
    )
    .await
}

fn lockouts(failures: u32) -> LimitsConfig {
    LimitsConfig {
        lockout_failures: failures,
        anonymous: Rate {
            per_minute: 0,
            burst: 0,
        },
        ..LimitsConfig::off()
    }
}

/// A request from an address outside the partner's allow-list gets 2201 whatever the
/// password, and is never counted as a failed login: no password oracle, no lock-out.
#[tokio::test]
async fn the_allow_list_is_checked_before_the_password() {
    let s = common::start_with(|c| c.limits = lockouts(3)).await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "fenced".into(),
            password: Some("fenced-password".into()),
            allow_ips: vec!["192.0.2.0/24".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let checks = s.engine().auth.slow_checks.load(Ordering::Relaxed);
    let right = s
        .form_as("fenced", "fenced-password", "command=balance.get")
        .await;
    assert_eq!((right.code(), right.status), (2201, 403), "{}", right.body);
    for i in 0..10 {
        let wrong = s
            .form_as("fenced", &format!("guess-{i}"), "command=balance.get")
            .await;
        assert_eq!(
            wrong.body, right.body,
            "a wrong password answers as a right one"
        );
    }
    // No password was checked, nothing was counted: the address is not locked out.
    assert_eq!(s.engine().auth.slow_checks.load(Ordering::Relaxed), checks);
    let again = s
        .form_as("fenced", "fenced-password", "command=balance.get")
        .await;
    assert_eq!(again.code(), 2201, "{}", again.body);
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
    s.stop().await;
}

/// Failed logins from one address lock that address out for that login, and that is
/// all: the partner still logs in from its own address.
#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_partner_out_of_the_others() {
    let s = common::start_with(|c| c.limits = lockouts(3)).await;
    let attacker = from("127.0.0.2");
    let panel = from("127.0.0.1");
    for i in 0..3 {
        let a = balance(&s, &attacker, LOGIN, &format!("guess-{i}")).await;
        assert_eq!(a.code(), 2200, "{}", a.body);
    }
    let a = balance(&s, &attacker, LOGIN, PASSWORD).await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    assert!(a.body.contains("locked out"), "{}", a.body);
    let a = balance(&s, &panel, LOGIN, PASSWORD).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // An unknown login is counted the same way.
    for i in 0..3 {
        let a = balance(&s, &attacker, "nobody", &format!("guess-{i}")).await;
        assert_eq!(a.code(), 2200, "{}", a.body);
    }
    let a = balance(&s, &attacker, "nobody", "guess-9").await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    s.stop().await;
}

/// An address trying many logins is locked out for all of them.
#[tokio::test]
async fn an_address_trying_many_logins_is_locked_out() {
    let s = common::start_with(|c| {
        c.limits = lockouts(3);
        c.limits.lockout_address_failures = 5;
    })
    .await;
    let attacker = from("127.0.0.3");
    for i in 0..5 {
        let a = balance(&s, &attacker, &format!("user{i}"), "guess").await;
        assert_eq!(a.code(), 2200, "{}", a.body);
    }
    let a = balance(&s, &attacker, LOGIN, PASSWORD).await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    let a = balance(&s, &from("127.0.0.1"), LOGIN, PASSWORD).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    s.stop().await;
}

/// Guessing one login from many addresses: past `lockout_failures`, its password
/// checks from new addresses are spaced out, and a turn too far away is refused
/// before the password is looked at; the partner's own address is not slowed down.
#[tokio::test]
async fn guessing_from_many_addresses_is_slowed_down_per_login() {
    let s = common::start_with(|c| {
        c.limits = lockouts(3);
        c.limits.login_delay_max_s = 30;
    })
    .await;
    let panel = from("127.0.0.1");
    assert_eq!(balance(&s, &panel, LOGIN, PASSWORD).await.code(), 1000);
    // The free failures, then two spaced 1 s and 2 s apart; one address each.
    for i in 0..6 {
        let c = from(&format!("127.0.1.{}", i + 1));
        let a = balance(&s, &c, LOGIN, &format!("guess-{i}")).await;
        assert_eq!(a.code(), 2200, "{}", a.body);
    }
    // Then six guesses at once from six more addresses: the first gets a turn about
    // 2 s away, the next turns are 4 s further each, and one more than 5 s away is
    // refused at once, without a check.
    let checks = s.engine().auth.slow_checks.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 10..16 {
        let (c, url) = (from(&format!("127.0.1.{i}")), s.url.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(&url)
                .basic_auth(LOGIN, Some(format!("guess-{i}")))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("command=balance.get")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 429 {
            assert!(body.contains("spaced out"), "{body}");
        }
        statuses.push(status);
    }
    statuses.sort();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 6, "{statuses:?}");
    assert!((1..=3).contains(&checked), "{statuses:?}");
    // The refused ones did not wait; the longest accepted wait is 5 s.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let ran = s.engine().auth.slow_checks.load(Ordering::Relaxed) - checks;
    assert_eq!(ran as usize, checked, "a refused turn ran argon2");
    // The right password from a new address waits its turn too (or is refused).
    let t = Instant::now();
    let a = balance(&s, &from("127.0.1.50"), LOGIN, PASSWORD).await;
    assert!(
        a.code() == 2502 || t.elapsed() >= Duration::from_secs(1),
        "{} after {:?}",
        a.body,
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(balance(&s, &panel, LOGIN, PASSWORD).await.code(), 1000);
    assert!(t.elapsed() < Duration::from_secs(1));
    s.stop().await;
}

/// Two `Authorization` headers: which one counts is not guessed.
#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let s = common::start().await;
    let good = "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk";
    let a = s
        .raw(
            s.client
                .post(&s.url)
                .header("authorization", good)
                .header("authorization", "Basic b3RoZXI6b3RoZXItcGFzc3dvcmQ=")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("command=balance.get"),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, 2001), "{}", a.body);
    assert!(a.body.contains("Authorization"), "{}", a.body);
    // The same header twice is refused as well.
    let a = s
        .raw(
            s.client
                .post(&s.url)
                .header("authorization", good)
                .header("authorization", good)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("command=balance.get"),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, 2001), "{}", a.body);
    let a = s
        .raw(
            s.client
                .post(&s.url)
                .header("authorization", good)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("command=balance.get"),
        )
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    s.stop().await;
}

/// Unknown logins and wrong passwords of a real partner (whose right password the
/// gateway already knows) take the same time: their response-time distributions,
/// sampled alternately so that the machine's load falls on both alike, overlap.
///
/// The comparison is the probability that an unknown login answers faster than a wrong
/// password (the common-language effect size, Mann–Whitney's U over n·m). Two samples
/// of one distribution give 0.5; two apart by a factor of 60 give 1.0. The bounds are
/// wide, so a loaded machine does not make the test flaky.
#[tokio::test]
async fn unknown_logins_and_wrong_passwords_take_the_same_time() {
    let s = common::start().await;
    // The right password is known (cached), and the dummy hash is made.
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
    assert_eq!(
        s.form_as("ghost", "warm-up", "command=balance.get")
            .await
            .code(),
        2200
    );
    let timed = |login: &'static str, pw: String| {
        let s = &s;
        async move {
            let t = Instant::now();
            let a = s.form_as(login, &pw, "command=balance.get").await;
            assert_eq!(a.code(), 2200, "{}", a.body);
            t.elapsed().as_secs_f64() * 1000.0
        }
    };
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..30 {
        // Every password is new, so no cache answers; the order alternates.
        if i % 2 == 0 {
            unknown.push(timed("ghost", format!("u-{i}")).await);
            wrong.push(timed(LOGIN, format!("w-{i}")).await);
        } else {
            wrong.push(timed(LOGIN, format!("w-{i}")).await);
            unknown.push(timed("ghost", format!("u-{i}")).await);
        }
    }
    let mut faster = 0.0;
    for u in &unknown {
        for w in &wrong {
            faster += if u < w {
                1.0
            } else if u == w {
                0.5
            } else {
                0.0
            };
        }
    }
    let p = faster / (unknown.len() * wrong.len()) as f64;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (mu, mw) = (median(&mut unknown), median(&mut wrong));
    eprintln!(
        "unknown login: median {mu:.2} ms, {:.2}–{:.2}; wrong password: median {mw:.2} ms, \
         {:.2}–{:.2}; P(unknown faster) = {p:.2}",
        unknown[0],
        unknown[unknown.len() - 1],
        wrong[0],
        wrong[wrong.len() - 1]
    );
    assert!(
        (0.2..=0.8).contains(&p),
        "the distributions do not overlap: P(unknown faster) = {p:.2}, medians {mu:.2} ms and {mw:.2} ms"
    );
    // Both ran argon2 every time.
    assert!(unknown[0] < wrong[wrong.len() - 1] && wrong[0] < unknown[unknown.len() - 1]);
    s.stop().await;
}
