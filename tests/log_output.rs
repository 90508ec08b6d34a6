//! What the gateway writes, as an operator's log shipper sees it: no colour escape
//! through a pipe (unless asked for), only JSON lines with `--json-logs`, regway's own
//! debug lines (and not the libraries') with `REGWAY_LOG=debug`, and a failed order's
//! line with its id and reason.

mod common;
mod process;
mod support;

use process::{free_port, BIN};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `regway serve` with stdout and stderr through pipes.
fn spawn(data: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(BIN)
        .env_remove("REGWAY_CONFIG")
        .env_remove("REGWAY_LOG")
        .env("REGWAY_DATA", data)
        .env("REGWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("regway serve starts")
}

async fn ready(http: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if r.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "no answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM, then everything the process wrote: (stdout, stderr).
fn finish(mut child: Child) -> (String, String) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(child.wait().unwrap().success());
    (out, err)
}

#[tokio::test]
async fn a_log_through_a_pipe_has_no_escape_byte() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    for (i, (args, coloured)) in [
        (&[][..], false),
        (&["--color", "never"][..], false),
        (&["--color", "auto"][..], false),
        (&["--color", "always"][..], true),
    ]
    .into_iter()
    .enumerate()
    {
        let port = free_port();
        let child = spawn(&dir.path().join(format!("d{i}")), port, args, &[]);
        ready(&http, port).await;
        let (out, err) = finish(child);
        assert!(err.contains("regway is serving"), "{err}");
        assert_eq!(err.contains('\u{1b}'), coloured, "{args:?}: {err:?}");
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }
}

#[tokio::test]
async fn json_logs_are_all_json_and_debug_is_regways_own() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let child = spawn(
        &dir.path().join("d"),
        port,
        &["--json-logs"],
        &[
            ("REGWAY_LOG", "debug"),
            ("REGWAY_RECONCILE_INTERVAL_MS", "50"),
            ("REGWAY_SANDBOX_FAIL_PERCENT", "100"),
        ],
    );
    ready(&http, port).await;
    let api = format!("http://127.0.0.1:{port}/api");
    let client = process::post(
        &http,
        &api,
        "command=client.create&request-id=C1&type=person&name=Ivan%20Petrov&email=a%40b.ru&phone=%2B7.4951234567&country=RU&address=Moscow".into(),
    )
    .await
    .unwrap();
    let handle = support::expect(client, 1000).attr("id").expect("client id");
    let failed = process::post(
        &http,
        &api,
        support::register_form("R1", "failing-order.ru", &handle, ""),
    )
    .await
    .unwrap();
    assert_eq!(failed.code(), 2400, "{}", failed.body);
    let order = support::elem(&failed.body, "order").get("id").to_string();
    // A few reconciler rounds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (out, err) = finish(child);
    let mut lines = Vec::new();
    for line in out.lines().chain(err.lines()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        lines.push(v);
    }
    // The demo partner's notice on stdout is JSON too.
    assert!(out.contains("created the demo partner"), "{out}");
    let target = |v: &serde_json::Value| v["target"].as_str().unwrap_or_default().to_string();
    assert!(
        lines
            .iter()
            .all(|v| target(v).starts_with("regway") || v.get("notice").is_some()),
        "only regway's own lines at debug: {err}"
    );
    let message = |v: &serde_json::Value| {
        v["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        lines
            .iter()
            .any(|v| v["level"] == "DEBUG" && message(v).starts_with("reconciling open orders")),
        "the reconciler's debug lines: {err}"
    );
    let failed_line = lines
        .iter()
        .find(|v| message(v).starts_with("order failed"))
        .unwrap_or_else(|| panic!("a failed order's line: {err}"));
    assert_eq!(failed_line["fields"]["order"].to_string(), order);
    assert!(
        !failed_line["fields"]["reason"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{failed_line}"
    );
}
