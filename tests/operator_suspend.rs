//! `regway partner suspend|resume LOGIN --note`: a suspended partner's requests get 2201
//! "suspended" while its open orders still settle; `partner show` says so with the
//! note; a request-id makes each call happen once.

mod common;
mod process;
mod support;

use process::cli;
use std::path::Path;
use std::time::Duration;

async fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
    let mut c = cli(data);
    c.args(args);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn suspended_partners_are_refused_and_their_open_orders_settle() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.sandbox.faults = regway::config::SandboxFaults {
        pending_percent: 100,
        pending_ms: 50,
        ..Default::default()
    };
    cfg.reconcile_interval_ms = 3_600_000;
    let s = common::start_config(cfg).await;
    let data = s.data.clone();
    let c = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=open-one.com&client={c}"
        ))
        .await;
    assert_eq!(a.code(), 1001, "{}", a.body);

    for _ in 0..2 {
        let (ok, out, err) = run(
            &data,
            &[
                "partner",
                "suspend",
                "demo",
                "--note",
                "unpaid invoice 2026-7",
                "--request-id",
                "S1",
            ],
        )
        .await;
        assert!(ok, "{out}{err}");
        assert!(out.contains("suspended:    yes"), "{out}");
        assert!(out.contains("suspension:   unpaid invoice 2026-7"), "{out}");
    }
    // The same request-id for something else: refused.
    let (ok, out, err) = run(
        &data,
        &[
            "partner",
            "resume",
            "demo",
            "--note",
            "paid",
            "--request-id",
            "S1",
        ],
    )
    .await;
    assert!(!ok && err.contains("already used"), "{out}{err}");
    let (ok, out, err) = run(&data, &["partner", "suspend", "demo", "--note", " "]).await;
    assert!(!ok && err.contains("note"), "{out}{err}");

    // Every request of the partner: 2201, saying why; reads and changes alike.
    for body in [
        "command=balance.get".to_string(),
        "command=ledger.list&format=csv".to_string(),
        format!("command=domain.register&request-id=R2&domain=open-two.com&client={c}"),
    ] {
        let a = s.form(&body).await;
        assert_eq!(a.code(), 2201, "{body}: {}", a.body);
        assert!(a.body.contains("suspended"), "{}", a.body);
    }
    // A wrong password is still a wrong password (nothing said about the account).
    let a = s
        .form_as(common::LOGIN, "wrong-password", "command=balance.get")
        .await;
    assert_eq!(a.code(), 2200, "{}", a.body);

    // The open order settles while the partner is suspended.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        s.engine()
            .reconcile::<regway::outcome::Outcome>(Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    let (_, out, _) = run(&data, &["partner", "show", "demo"]).await;
    assert!(out.contains("suspended:    yes"), "{out}");
    assert!(out.contains("domains:      1"), "{out}");
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "acme".into(),
            password: Some("acme-password".into()),
            credit_limit: Some("500".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (ok, out, err) = run(&data, &["partner", "list"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("acme\tactive\t0.00\t500.00\t500.00\tRUB\n"),
        "{out}"
    );
    assert!(out.contains("\ndemo\tsuspended\t"), "{out}");
    assert!(out.ends_with("2 partner(s)\n"), "{out}");

    let (ok, out, err) = run(
        &data,
        &[
            "partner",
            "resume",
            "demo",
            "--note",
            "paid on 3 June",
            "--request-id",
            "S2",
        ],
    )
    .await;
    assert!(ok && !out.contains("suspended:    yes"), "{out}{err}");
    assert!(out.contains("suspension:   paid on 3 June"), "{out}");
    let a = s.form("command=order.info&order=1").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(a.body.contains("state=\"completed\""), "{}", a.body);
    let a = s.form("command=balance.get").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let (ok, out, err) = run(&data, &["partner", "suspend", "nobody", "--note", "x"]).await;
    assert!(!ok && err.contains("no partner"), "{out}{err}");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
