//! `regway verify` proves the ledger and order rules, and names a mismatch when one breaks.

mod common;

use regway::store::records::Partner;
use regway::store::{Expiry, Migration, Store};
use std::process::Command;

fn verify_cli(data: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regway"))
        .arg("verify")
        .env("REGWAY_DATA", data)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

// The CLI is a blocking child process talking to the in-process server: the server
// needs threads of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_a_live_gateway_and_names_a_tampered_balance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let s = common::start_config(common::test_config(&data)).await;
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=verify-me.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);

    // Through the operator channel of the running gateway.
    let (ok, text) = verify_cli(&s.data);
    assert!(ok, "{text}");
    assert!(text.contains("verify: OK"), "{text}");
    assert!(text.contains("orders: 1 (0 open)"), "{text}");

    // Stop the gateway, change a balance behind the ledger's back, check again: the
    // CLI opens the store itself and names the partner.
    s.stop().await;
    let copy = data;
    {
        let store = Store::open(&copy).unwrap();
        store
            .write(|tx| {
                let mut p: Partner = tx.partner("demo")?.unwrap();
                p.balance += rust_decimal::Decimal::ONE;
                tx.put_partner(&p)
            })
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    let (ok, text) = verify_cli(&copy);
    assert!(!ok, "verify passed on a tampered store: {text}");
    assert!(
        text.contains("MISMATCH: demo: balance 9411.00 but ledger sums to 9410.00"),
        "{text}"
    );
}

/// A store written before per-day totals, service counts and the expiry index were kept
/// gets them built at start-up; totals that disagree with the ledger are named.
#[tokio::test]
async fn per_day_totals_are_built_once_and_checked_against_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let s = common::start_config(common::test_config(&data)).await;
    s.engine().topup("demo", "250.00", "").await.unwrap();
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=totals.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    s.stop().await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
    let read = |store: &Store| -> regway::store::records::DayTotals {
        store.day_totals("demo", day).unwrap().unwrap()
    };
    {
        let store = Store::open(&data).unwrap();
        let t = read(&store);
        assert_eq!(
            (t.payments.to_string(), t.turnover.to_string()),
            ("10250.00".into(), "590.00".into())
        );
        // As an older store: no totals, no counts, no expiry index, no markers.
        let expires = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let expiry = Expiry {
            date: expires,
            login: "demo".into(),
            object: "totals.ru".into(),
        };
        assert!(store.has_expiry(&expiry).unwrap());
        store
            .write(move |tx| {
                tx.remove_day_totals("demo", day);
                tx.set_migrated(Migration::DayTotals, None)?;
                tx.remove_service_counts("demo");
                tx.set_migrated(Migration::ServiceCounts, None)?;
                tx.remove_expiry(&expiry);
                tx.set_migrated(Migration::ExpiryIndex, None)?;
                Ok(())
            })
            .await
            .unwrap();
        store.flush().await.unwrap();
        assert!(store.day_totals("demo", day).unwrap().is_none());
    }
    let s = common::start_config(common::test_config(&data)).await;
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
    {
        let store = Store::open(&data).unwrap();
        assert_eq!(read(&store).payments.to_string(), "10250.00");
        store
            .write(move |tx| {
                let mut t: regway::store::records::DayTotals = tx.day_totals("demo", day)?.unwrap();
                t.payments += rust_decimal::Decimal::ONE;
                tx.put_day_totals("demo", day, &t)
            })
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    let s = common::start_config(common::test_config(&data)).await;
    let problems = s.verify().await.problems;
    assert_eq!(
        problems,
        ["demo: the per-day payment and turnover totals disagree with the ledger"]
    );
    s.stop().await;
}
