//! `regway partner adjust LOGIN AMOUNT --note`: a signed `adjustment` ledger entry over
//! the operator channel, at most once per `--request-id`, never below the credit limit,
//! and `verify` checks what it wrote.

mod common;
mod process;
mod support;

use process::cli;
use std::path::Path;

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
async fn adjustments_are_signed_once_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_config(common::test_config(dir.path())).await;
    let data = s.data.clone();
    // Twice with the same request-id over the channel: one entry.
    for _ in 0..2 {
        let (ok, out, err) = run(
            &data,
            &[
                "partner",
                "adjust",
                "demo",
                "-150.00",
                "--note",
                "double top-up on 12 May",
                "--request-id",
                "A1",
            ],
        )
        .await;
        assert!(ok, "{out}{err}");
        assert!(out.contains("balance:      9850.00 RUB"), "{out}");
    }
    let (ok, out, err) = run(
        &data,
        &[
            "partner",
            "adjust",
            "demo",
            "25.50",
            "--note",
            "goodwill",
            "--request-id",
            "A2",
        ],
    )
    .await;
    assert!(
        ok && out.contains("balance:      9875.50 RUB"),
        "{out}{err}"
    );
    // The same request-id for another amount: refused.
    let (ok, out, err) = run(
        &data,
        &[
            "partner",
            "adjust",
            "demo",
            "-1.00",
            "--note",
            "goodwill",
            "--request-id",
            "A2",
        ],
    )
    .await;
    assert!(!ok && err.contains("already used"), "{out}{err}");

    let ledger = s.form("command=ledger.list&limit=3").await;
    assert!(
        ledger.body.contains(
            "kind=\"adjustment\" amount=\"25.50\" balance-after=\"9875.50\" currency=\"RUB\" note=\"goodwill\""
        ),
        "{}",
        ledger.body
    );
    assert!(ledger.body.contains(
        "kind=\"adjustment\" amount=\"-150.00\" balance-after=\"9850.00\" currency=\"RUB\" note=\"double top-up on 12 May\""
    ));
    assert_eq!(ledger.body.matches("kind=\"adjustment\"").count(), 2);

    // A note is required; amounts as partners write them; not below the credit limit
    // (demo has none: not below zero).
    for (args, why) in [
        (
            vec!["partner", "adjust", "demo", "10.00", "--note", "  "],
            "note",
        ),
        (
            vec!["partner", "adjust", "demo", "10.005", "--note", "x"],
            "amount",
        ),
        (
            vec!["partner", "adjust", "demo", "0", "--note", "x"],
            "more than zero",
        ),
        (
            vec!["partner", "adjust", "demo", "-9875.51", "--note", "x"],
            "credit limit",
        ),
        (
            vec!["partner", "adjust", "nobody", "1.00", "--note", "x"],
            "no partner",
        ),
    ] {
        let (ok, out, err) = run(&data, &args).await;
        assert!(!ok && err.contains(why), "{args:?}: {out}{err}");
    }
    let (ok, out, err) = run(
        &data,
        &[
            "partner",
            "adjust",
            "demo",
            "-9875.50",
            "--note",
            "closing the account",
        ],
    )
    .await;
    assert!(ok && out.contains("balance:      0.00 RUB"), "{out}{err}");
    let report = s.verify().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    s.stop().await;
    let (ok, out, _) = run(&data, &["verify"]).await;
    assert!(ok, "{out}");
}

#[tokio::test]
async fn racing_adjustments_under_one_request_id_move_money_once() {
    let s = common::start().await;
    let eng = s.engine();
    let one = || eng.adjust_once("demo", "-10.00", "fee", Some("R1"));
    let (a, b, c, d) = tokio::join!(one(), one(), one(), one());
    let results = [a, b, c, d];
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|r| !r.as_ref().unwrap().replayed)
            .count(),
        1
    );
    let v = eng.show_partner("demo").unwrap();
    assert_eq!(v.balance, "9990.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
