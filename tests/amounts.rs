//! Amounts: one table of bad amounts, sent to every amount parameter there is —
//! `commission.transfer amount` (form and XML), and the operator's `partner add
//! --credit-limit`, `partner topup`, `partner withdraw` and `partner withdraw
//! --commission`, in the engine and through the real CLI. Each is refused as a value
//! syntax error (2005): nothing is rounded, trimmed or guessed, and nothing moves.

mod common;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use regway::engine::operator::NewPartner;
use regway::error::Code;
use std::path::Path;
use std::process::Command;

/// Amounts no amount parameter may accept, for a currency with two minor digits.
const BAD: &[&str] = &[
    // More digits than the currency has: refused, not rounded.
    "1.000",
    "0.50000000000000000000000000001",
    "12.345",
    "0.001",
    "10.500",
    // Exponents, signs, other notations.
    "1e3",
    "1E3",
    "1e-2",
    "1E+2",
    "+5",
    "-5",
    "-0",
    "+0",
    "\u{2212}5",
    "0x10",
    "NaN",
    "inf",
    "Infinity",
    // Separators, spaces, currency signs.
    "1,000.00",
    "12,50",
    "1 000",
    "1\u{a0}000",
    "1'000",
    "1_000",
    " 12.50",
    "12.50 ",
    "12.50\n",
    "\t12",
    "12.50RUB",
    "12.50 RUB",
    "$12",
    // Shapes that are not a plain decimal.
    "",
    ".",
    ".5",
    "5.",
    "1..0",
    "1.0.0",
    "01",
    "00.50",
    "007",
    // Digits of other scripts.
    "\u{ff11}\u{ff12}",
    "\u{661}\u{662}",
    "\u{bd}",
    // More than 10^12, and more than `Decimal` holds.
    "1000000000000.01",
    "10000000000000",
    "99999999999999999999999999999",
    "79228162514264337593543950336",
];

/// The same amounts are fine in shape; these are the boundaries that pass.
const GOOD: &[&str] = &["0.01", "12.5", "12.50", "1000000000000", "1000000000000.00"];

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

#[tokio::test]
async fn commission_transfer_refuses_every_bad_amount() {
    let s = common::start().await;
    let before = s.form("command=balance.get").await.body;
    for (i, amount) in BAD.iter().enumerate() {
        let a = s
            .form(&format!(
                "command=commission.transfer&request-id=B-{i}&amount={}",
                enc(amount)
            ))
            .await;
        assert_eq!((a.status, a.code()), (400, 2005), "{amount:?}: {}", a.body);
        assert!(a.body.contains("amount: "), "{amount:?}: {}", a.body);
        let a = s
            .xml(&format!(
                r#"<request command="commission.transfer" request-id="X-{i}"><amount>{}</amount></request>"#,
                xml_text(amount)
            ))
            .await;
        assert_eq!(
            (a.status, a.code()),
            (400, 2005),
            "{amount:?} in XML: {}",
            a.body
        );
    }
    // A refused request-id is not used up: the same id with a good amount gets as far
    // as the money (no commission earned: 2104).
    for (i, amount) in GOOD.iter().enumerate() {
        let a = s
            .form(&format!(
                "command=commission.transfer&request-id=B-{i}&amount={}",
                enc(amount)
            ))
            .await;
        assert_eq!(a.code(), 2104, "{amount:?}: {}", a.body);
    }
    for zero in ["0", "0.00", "0.0"] {
        let a = s
            .form(&format!(
                "command=commission.transfer&request-id=Z&amount={zero}"
            ))
            .await;
        assert_eq!(a.code(), 2004, "{zero:?}: {}", a.body);
    }
    assert_eq!(s.form("command=balance.get").await.body, before);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn commission_transfer_checks_the_partners_own_minor_digits() {
    let s = common::start().await;
    s.engine()
        .add_partner(NewPartner {
            login: "yen".into(),
            password: Some("yen-password".into()),
            currency: Some("JPY".into()),
            credit_limit: None,
            allow_ips: vec![],
        })
        .await
        .unwrap();
    for (amount, code) in [("1.5", 2005), ("1.0", 2005), ("1.50", 2005), ("150", 2104)] {
        let a = s
            .form_as(
                "yen",
                "yen-password",
                &format!("command=commission.transfer&request-id=Y&amount={amount}"),
            )
            .await;
        assert_eq!(a.code(), code, "{amount:?}: {}", a.body);
    }
    s.stop().await;
}

#[tokio::test]
async fn operator_money_moves_refuse_every_bad_amount() {
    let s = common::start().await;
    let e = s.engine();
    let shown = || e.show_partner("demo").unwrap();
    let before = shown();
    for amount in BAD {
        let results = [
            (
                "partner add --credit-limit",
                e.add_partner(NewPartner {
                    login: "newcomer".into(),
                    password: Some("newcomer-password".into()),
                    currency: None,
                    credit_limit: Some(amount.to_string()),
                    allow_ips: vec![],
                })
                .await
                .map(|_| ()),
            ),
            ("topup", e.topup("demo", amount, "").await.map(|_| ())),
            (
                "withdraw",
                e.withdraw("demo", amount, "", false).await.map(|_| ()),
            ),
            (
                "withdraw --commission",
                e.withdraw("demo", amount, "", true).await.map(|_| ()),
            ),
        ];
        for (what, r) in results {
            let err = r.expect_err(&format!("{what} accepted {amount:?}"));
            assert_eq!(err.code, Code::ValueSyntax, "{what} {amount:?}: {err}");
        }
    }
    let after = shown();
    assert_eq!(
        (after.balance, after.credit_limit, after.commission),
        (before.balance, before.credit_limit, before.commission)
    );
    assert!(e.show_partner("newcomer").is_err(), "no partner was added");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

fn cli(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_regway"))
        .env_remove("REGWAY_CONFIG")
        .env("REGWAY_DATA", data)
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .env("REGWAY_LOG", "warn")
        .args(args)
        .output()
        .expect("regway runs")
}

fn show(data: &Path) -> String {
    let out = cli(data, &["partner", "show", "acme"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The real CLI, with no gateway running (it opens the store itself): every bad amount
/// of the table, in every amount argument, exits with a failure naming the argument.
#[test]
fn the_cli_refuses_every_bad_amount() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = cli(
        data,
        &["partner", "add", "acme", "--password", "acme-password-1"],
    );
    assert!(out.status.success(), "{out:?}");
    let out = cli(data, &["partner", "topup", "acme", "100.00"]);
    assert!(out.status.success(), "{out:?}");
    let before = show(data);
    assert!(before.contains("balance:      100.00 RUB"), "{before}");
    for amount in BAD {
        let credit = format!("--credit-limit={amount}");
        let runs: [(&str, Vec<&str>); 4] = [
            ("credit-limit", vec!["partner", "add", "newcomer", &credit]),
            ("amount", vec!["partner", "topup", "acme", "--", amount]),
            ("amount", vec!["partner", "withdraw", "acme", "--", amount]),
            (
                "amount",
                vec!["partner", "withdraw", "acme", "--commission", "--", amount],
            ),
        ];
        for (field, args) in runs {
            let out = cli(data, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} succeeded: {out:?}");
            assert!(
                err.contains(&format!("regway: {field}: ")),
                "{args:?}: {err}"
            );
        }
    }
    assert_eq!(show(data), before, "nothing moved");
    let out = cli(data, &["partner", "show", "newcomer"]);
    assert!(!out.status.success(), "no partner was added");
    // The shape is checked before the store is opened; the partner's own currency
    // where the money moves.
    let out = cli(
        data,
        &[
            "partner",
            "add",
            "yen",
            "--currency",
            "JPY",
            "--credit-limit",
            "0.5",
        ],
    );
    assert!(!out.status.success(), "{out:?}");
    let out = cli(data, &["partner", "add", "yen", "--currency", "JPY"]);
    assert!(out.status.success(), "{out:?}");
    let out = cli(data, &["partner", "topup", "yen", "1.5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("regway: amount: "),
        "{err}"
    );
}
