//! README's "Testing against regway" examples, as written: the shell example run by
//! bash with the built `regway` on the `PATH`, and the pytest file run by pytest (pinned,
//! from PyPI, in a virtual environment kept under `target/tmp`) against `regway serve`
//! processes it starts itself. The shell example's log shows every control call at
//! warning level.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_regway");

/// The first block in `lang` after README's "Testing against regway" heading.
fn readme_block(lang: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let at = text
        .find("\n## Testing against regway\n")
        .expect("README has a Testing against regway section");
    let rest = &text[at..];
    let open = format!("\n```{lang}\n");
    let start = rest
        .find(&open)
        .unwrap_or_else(|| panic!("no {lang} block"))
        + open.len();
    let end = rest[start..].find("\n```\n").unwrap() + start;
    rest[start..end].to_string() + "\n"
}

/// A command with no `REGWAY_*` of the test's environment, and `regway` on its PATH.
fn clean(program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    for (k, _) in std::env::vars() {
        if k.starts_with("REGWAY_") {
            c.env_remove(k);
        }
    }
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", bin_dir.display()))
        .kill_on_drop(true);
    c
}

#[tokio::test]
async fn the_shell_example_runs_and_logs_every_call_at_warning_level() {
    let script = readme_block("sh");
    let tmp = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        clean("bash")
            .args(["-e", "-c", &script])
            .env("TMPDIR", tmp.path())
            .output(),
    )
    .await
    .expect("the example ends within 120 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"shop-elsewhere.ru\""), "{stdout}");
    assert!(stdout.contains("\"days\": 30"), "{stdout}");
    assert!(stdout.contains("\"partners_removed\": 1"), "{stdout}");
    // The last state, after the reset: the taken name is gone again.
    let last = &stdout[stdout.rfind("\"clock\"").unwrap()..];
    assert!(!last.contains("shop-elsewhere.ru"), "{last}");
    // The server's log, next to its data directory.
    let log: PathBuf = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("the server's log");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("bye") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text.contains("the sandbox control API is on"), "{text}");
    assert!(
        text.contains("sandbox control API on http://127.0.0.1:"),
        "the address is printed at start:\n{text}"
    );
    for path in ["/state", "/taken", "/faults", "/clock", "/reset"] {
        assert!(
            text.lines().any(|l| l.contains("WARN")
                && l.contains("sandbox control call")
                && l.contains(path)),
            "no warning for {path}:\n{text}"
        );
    }
}

/// The pinned pytest, in a virtual environment made once.
const PYTEST: &str = "pytest==8.3.4";

fn pytest() -> Result<PathBuf, String> {
    common::pinned_venv("pytest-venv", PYTEST).map(|dir| dir.join("bin/python"))
}

#[tokio::test]
async fn the_pytest_example_passes() {
    let python = match tokio::task::spawn_blocking(pytest).await.unwrap() {
        Ok(p) => p,
        Err(why) => {
            common::cannot_run("the_pytest_example_passes", &why);
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("test_regway.py"), readme_block("python")).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        clean(&python)
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_regway.py",
            ])
            .arg(format!("--basetemp={}", dir.path().join("tmp").display()))
            .current_dir(dir.path())
            .env("REGWAY", BIN)
            .output(),
    )
    .await
    .expect("pytest ends within 300 s")
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 passed"), "{text}");
}
