//! `regway config show`: the effective configuration, never a secret. Every key that
//! holds one is set (in the file and through the environment) to a value that must
//! not appear in the output.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_regway");

#[test]
fn config_show_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("regway.toml");
    std::fs::write(
        &config,
        r#"
metrics_token = "SECRET-metrics-token"
database_url = "postgres://regway:SECRET-db-password@db.example.net:5432/regway"
upstream = "parent"
license_upstream = "licences"
[demo]
enabled = false
password = "SECRET-demo-password"
[upstreams.parent]
type = "regway"
url = "https://parent.example.net/api"
login = "reseller"
password = "SECRET-parent-password"
[upstreams.licences]
type = "ispsystem"
url = "https://user:SECRET-url-password@billing.example.net/billmgr"
login = "reseller"
password = "SECRET-licences-password"
"#,
    )
    .unwrap();
    let show = |env: &[(&str, &str)]| {
        let out = Command::new(BIN)
            .env_remove("REGWAY_CONFIG")
            .env_remove("REGWAY_METRICS_TOKEN")
            .env_remove("REGWAY_DEMO_PASSWORD")
            .env_remove("REGWAY_DATABASE_URL")
            .envs(env.iter().copied())
            .args(["--config", config.to_str().unwrap(), "--data"])
            .arg(dir.path().join("data"))
            .args(["config", "show"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let out = show(&[]);
    assert!(!out.contains("SECRET"), "{out}");
    // The rest is there, and it is TOML that reads back.
    let v: toml::Value = toml::from_str(&out).expect("TOML");
    assert_eq!(v["metrics_token"].as_str(), Some("***"));
    assert_eq!(v["demo"]["password"].as_str(), Some("***"));
    assert_eq!(v["upstreams"]["parent"]["password"].as_str(), Some("***"));
    assert_eq!(v["upstreams"]["parent"]["login"].as_str(), Some("reseller"));
    assert_eq!(
        v["upstreams"]["licences"]["url"].as_str(),
        Some("https://user:***@billing.example.net/billmgr")
    );
    assert_eq!(
        v["database_url"].as_str(),
        Some("postgres://regway:***@db.example.net:5432/regway")
    );
    assert_eq!(v["upstream"].as_str(), Some("parent"));
    assert!(v["zones"].is_table() && v["limits"]["read"]["per_minute"].is_integer());
    // The same secrets from the environment.
    let out = show(&[
        ("REGWAY_METRICS_TOKEN", "SECRET-from-env-1"),
        ("REGWAY_DEMO_PASSWORD", "SECRET-from-env-2"),
        (
            "REGWAY_DATABASE_URL",
            "postgres://regway:SECRET-from-env-3@db.example.net/regway",
        ),
    ]);
    assert!(!out.contains("SECRET"), "{out}");
    assert!(
        out.contains(&format!("# from {}", config.display())),
        "{out}"
    );
}

/// `--json`: the operator commands answer one JSON document each.
#[test]
fn operator_commands_answer_json() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .env_remove("REGWAY_CONFIG")
            .env("REGWAY_DATA", dir.path().join("data"))
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} answers JSON: {e}: {out:?}"))
    };
    let added = run(&["partner", "add", "acme", "--currency", "EUR"]);
    assert_eq!(added["login"], "acme");
    assert_eq!(added["currency"], "EUR");
    assert!(added["password"].as_str().is_some_and(|p| p.len() >= 12));
    let topped = run(&["partner", "topup", "acme", "15.50", "--request-id", "T1"]);
    assert_eq!(topped["balance"], "15.50");
    let shown = run(&["partner", "show", "acme"]);
    assert_eq!(shown["balance"], "15.50");
    assert!(shown.get("password").is_none_or(|p| p.is_null()), "{shown}");
    assert_eq!(
        run(&["order", "list", "--state", "open"]),
        serde_json::json!([])
    );
    let verified = run(&["verify"]);
    assert_eq!(verified["partners"], 1);
    assert_eq!(verified["problems"], serde_json::json!([]));
}
