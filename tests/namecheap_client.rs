//! Real Namecheap clients, unchanged but for their base URL, against regway: three
//! public clients from PyPI, installed in one virtual environment, each run its whole
//! flow from `tests/clients/` (the scripts list the commands each one runs).
//!
//! | client | script |
//! |---|---|
//! | PyNamecheap 0.0.3 | `namecheap_client.py` |
//! | namecheapapi 0.2.1 | `namecheapapi_client.py` |
//! | namecheap-sdk 0.1.1 | `namecheap_sdk_client.py` |
//!
//! The environment is made once under `target/tmp` and kept for later runs. When it
//! cannot be made (no Python, no network to PyPI), the tests fail: under CI always,
//! elsewhere unless `REGWAY_ALLOW_SKIP=1` lets them be skipped loudly
//! (`common::cannot_run`). `scripts/test` makes sure Python, venv and pip are there.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The clients, pinned; a change here makes a fresh environment.
const PACKAGES: [&str; 3] = [
    "PyNamecheap==0.0.3",
    "namecheapapi==0.2.1",
    "namecheap-sdk==0.1.1",
];

fn make_venv(dir: &Path) -> Result<PathBuf, String> {
    let py = dir.join("bin/python");
    let marker = dir.join("regway-packages.txt");
    let wanted = PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && py.exists() {
        return Ok(py);
    }
    let _ = std::fs::remove_dir_all(dir);
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !status.success() {
        return Err(format!("python3 -m venv {} failed", dir.display()));
    }
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PACKAGES)
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install {} failed:\n{}",
            PACKAGES.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
    Ok(py)
}

/// Where the environment lives: under `target/tmp`, kept between runs, unless
/// `REGWAY_TEST_VENV` names another directory (the test at the end uses an empty one).
fn venv_dir() -> PathBuf {
    std::env::var_os("REGWAY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("namecheap-clients-venv"))
}

/// The environment's Python, made at most once per test run.
fn python() -> Result<PathBuf, String> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| make_venv(&venv_dir())).clone()
}

/// `None` when the clients cannot run and a skip was allowed (`common::cannot_run`
/// fails the test otherwise).
async fn python_or_skip(test: &str) -> Option<PathBuf> {
    match tokio::task::spawn_blocking(python).await.unwrap() {
        Ok(py) => Some(py),
        Err(why) => {
            common::cannot_run(test, &why);
            None
        }
    }
}

/// A server whose demo partner has 105 domains already (clients page through them)
/// and money for the flow.
async fn server_with_domains() -> common::TestServer {
    let s = common::start().await;
    s.engine().topup("demo", "200000.00", "test").await.unwrap();
    let client = s.client("C1").await;
    for n in 0..105 {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R{n}&domain=bulk{n:03}.ru&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    s
}

/// Runs `tests/clients/SCRIPT BASE_URL` and returns its standard output.
async fn run(python: PathBuf, script: &str, s: &common::TestServer) -> String {
    let base = s.url.trim_end_matches("/api").to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    // A directory of its own: namecheap-sdk reads a `.env` file from where it runs.
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().to_path_buf();
    // The server runs on this runtime's workers; the client waits on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script)
            .arg(&base)
            .current_dir(dir)
            .env_remove("NAMECHEAP_API_KEY")
            .env_remove("NAMECHEAP_USERNAME")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pynamecheap_drives_regway() {
    let Some(py) = python_or_skip("pynamecheap_drives_regway").await else {
        return;
    };
    let s = server_with_domains().await;
    let stdout = run(py, "namecheap_client.py", &s).await;
    // 210000 − 105 × 590 − 1290 − 1490
    assert!(stdout.contains("BALANCE 145270.00"), "{stdout}");
    assert!(stdout.contains("DOMAINS 106"), "{stdout}");
    assert!(stdout.contains("OK"));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namecheapapi_drives_regway() {
    let Some(py) = python_or_skip("namecheapapi_drives_regway").await else {
        return;
    };
    let s = server_with_domains().await;
    let stdout = run(py, "namecheapapi_client.py", &s).await;
    assert!(stdout.contains("RESULT DOMAINS 106"), "{stdout}");
    assert!(stdout.contains("RESULT OK"), "{stdout}");
    // What the client did, seen through the native protocol.
    let info = s.form("command=domain.info&domain=apiclient.com").await;
    assert_eq!(info.attr("expires").as_deref(), Some("2028-01-15"));
    assert!(
        info.body.contains("<ns>ns1.example.net</ns>"),
        "{}",
        info.body
    );
    let bal = s.form("command=balance.get").await;
    // 210000 − 105 × 590 − 1290 − 1490
    assert!(bal.body.contains(">145270.00</balance>"), "{}", bal.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namecheap_sdk_drives_regway() {
    let Some(py) = python_or_skip("namecheap_sdk_drives_regway").await else {
        return;
    };
    let s = server_with_domains().await;
    let stdout = run(py, "namecheap_sdk_client.py", &s).await;
    assert!(stdout.contains("RESULT BALANCE 145270.00"), "{stdout}");
    assert!(stdout.contains("RESULT DOMAINS 106"), "{stdout}");
    assert!(stdout.contains("RESULT OK"), "{stdout}");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// `pynamecheap_drives_regway`, run with no `python3` on its `PATH` and an empty
/// environment directory: it fails under CI and by
/// default, and passes (loudly) only when `REGWAY_ALLOW_SKIP=1` allows it outside CI.
#[test]
fn a_client_that_cannot_be_installed_fails_unless_a_skip_is_allowed() {
    let venv = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "pynamecheap_drives_regway", "--nocapture"])
            .env("PATH", "")
            .env("REGWAY_TEST_VENV", venv.path().join("venv"))
            .env_remove("CI")
            .env_remove("REGWAY_ALLOW_SKIP");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = run(&[("CI", "true")]);
    assert!(!ok, "passed under CI without running:\n{text}");
    assert!(text.contains("cannot run under CI"), "{text}");
    let (ok, text) = run(&[("CI", "true"), ("REGWAY_ALLOW_SKIP", "1")]);
    assert!(!ok, "CI must not allow a skip:\n{text}");
    let (ok, text) = run(&[]);
    assert!(!ok, "passed without running:\n{text}");
    assert!(text.contains("REGWAY_ALLOW_SKIP=1"), "{text}");
    let (ok, text) = run(&[("REGWAY_ALLOW_SKIP", "1"), ("CI", "false")]);
    assert!(ok, "{text}");
    assert!(
        text.contains("NOT RUN: pynamecheap_drives_regway"),
        "{text}"
    );
    assert!(!text.contains("SKIPPED"), "{text}");
}
