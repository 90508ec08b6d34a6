//! Backup and restore as README "Running in production" describes them: stop, copy the
//! data directory without `admin.json`, start. The copy passes `verify` and holds the
//! same balances; and even a copy that carries the live gateway's `admin.json` (a copy
//! made the wrong way) never reaches the live gateway.

mod common;
mod process;
mod support;

use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "admin.json" {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn balance_line(shown: &str) -> String {
    shown
        .lines()
        .find(|l| l.starts_with("balance:"))
        .unwrap_or_else(|| panic!("{shown}"))
        .to_string()
}

#[tokio::test]
async fn a_stopped_copy_restores_and_never_reaches_the_live_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let copy = dir.path().join("copy");
    let log = dir.path().join("log");
    let http = reqwest::Client::new();
    let server = process::serve(&live, &log, &http).await;
    let (ok, out) = process::operator(
        &live,
        &["partner", "add", "acme", "--password", "acme-password-1"],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = process::operator(&live, &["partner", "topup", "acme", "1500.00"]).await;
    assert!(ok, "{out}");
    let client = process::post(
        &http,
        &server.api(),
        "command=client.create&request-id=C1&type=person&name=Ivan%20Petrov&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=Moscow".into(),
    )
    .await
    .unwrap();
    let handle = support::expect(client, 1000).attr("id").unwrap();
    let a = process::post(
        &http,
        &server.api(),
        support::register_form("R1", "backed-up.ru", &handle, ""),
    )
    .await
    .unwrap();
    assert_eq!(a.code(), 1000, "{}", a.body);
    let (_, before) = process::operator(&live, &["partner", "show", "demo"]).await;

    // Stop, copy, start.
    assert!(server.stop());
    assert!(
        !live.join("admin.json").exists(),
        "a stopped gateway leaves no admin.json"
    );
    copy_dir(&live, &copy);
    let server = process::serve(&live, &log, &http).await;

    // The copy: verify passes, the balances are the same.
    let (ok, out) = process::operator(&copy, &["verify"]).await;
    assert!(ok && out.contains("verify: OK"), "{out}");
    let (ok, after) = process::operator(&copy, &["partner", "show", "demo"]).await;
    assert!(ok, "{after}");
    assert_eq!(balance_line(&after), balance_line(&before));
    let (_, acme) = process::operator(&copy, &["partner", "show", "acme"]).await;
    assert!(balance_line(&acme).contains("1500.00"), "{acme}");

    // A copy carrying the live gateway's admin.json: its CLI does not reach the live
    // gateway; a top-up on the copy moves the copy's money only.
    std::fs::copy(live.join("admin.json"), copy.join("admin.json")).unwrap();
    let (ok, out) = process::operator(&copy, &["partner", "topup", "acme", "1.00"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("nothing was sent to it"), "{out}");
    assert!(balance_line(&out).contains("1501.00"), "{out}");
    let (_, live_acme) = process::operator(&live, &["partner", "show", "acme"]).await;
    assert!(balance_line(&live_acme).contains("1500.00"), "{live_acme}");
    assert!(server.stop());
}
