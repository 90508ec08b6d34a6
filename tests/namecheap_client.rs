//! A real Namecheap client, unchanged, against regway: PyNamecheap from PyPI in a
//! throw-away virtual environment runs `tests/clients/namecheap_client.py`.
//!
//! When Python or pip cannot install the package (no network access, no python3), the
//! test fails: under CI always, elsewhere unless `REGWAY_ALLOW_SKIP=1` lets it be skipped
//! loudly (`common::cannot_run`). `.ci/run` makes sure they can.

mod common;

use std::path::Path;
use std::process::Command;

fn venv_python(dir: &Path) -> Option<std::path::PathBuf> {
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let py = dir.join("bin/python");
    let ok = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("PyNamecheap==0.0.3")
        .status()
        .ok()?
        .success();
    ok.then_some(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pynamecheap_drives_regway() {
    let venv = tempfile::tempdir().unwrap();
    let dir = venv.path().to_path_buf();
    let Some(python) = tokio::task::spawn_blocking(move || venv_python(&dir))
        .await
        .unwrap()
    else {
        common::cannot_run(
            "pynamecheap_drives_regway",
            "python3 -m venv or pip install PyNamecheap==0.0.3 failed (see pip's output above)",
        );
        return;
    };
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
    let base = s.url.trim_end_matches("/api").to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/namecheap_client.py");
    // The server runs on this runtime's workers; the client waits on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script)
            .arg(&base)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 210000 − 105 × 590 − 1290 − 1490
    assert!(stdout.contains("BALANCE 145270.00"), "{stdout}");
    assert!(stdout.contains("DOMAINS 106"), "{stdout}");
    assert!(stdout.contains("OK"));
    s.stop().await;
}

/// The test above, run with no `python3` on its `PATH`: it fails under CI and by
/// default, and passes (loudly) only when `REGWAY_ALLOW_SKIP=1` allows it outside CI.
#[test]
fn a_client_that_cannot_be_installed_fails_unless_a_skip_is_allowed() {
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "pynamecheap_drives_regway", "--nocapture"])
            .env("PATH", "")
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
