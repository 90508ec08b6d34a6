//! A real Namecheap client, unchanged, against regway: PyNamecheap from PyPI in a
//! throw-away virtual environment runs `tests/clients/namecheap_client.py`.
//!
//! Skips (passes with a message) only when Python or pip cannot install the package,
//! e.g. on a machine without network access; `.ci/run` makes sure they can.

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
        eprintln!(
            "SKIPPED pynamecheap_drives_regway: python3 -m venv or pip install PyNamecheap failed"
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
