//! The systemd unit in `contrib/regway.service`: it has what README "Running in
//! production" says (a dedicated user, `Restart=on-failure`, `ReadWritePaths`,
//! `NoNewPrivileges`, the working directory), and `systemd-analyze verify` finds
//! nothing to say about it.

mod common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_regway");

fn unit() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/regway.service"))
        .unwrap()
}

/// `systemd-analyze verify` of `text` (as `regway.service`): its success and what it said.
fn verify(text: &str) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regway.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .ok()?;
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn the_systemd_unit_has_what_the_readme_says_and_verifies() {
    let text = unit();
    for want in [
        "\nUser=regway\n",
        "\nRestart=on-failure\n",
        "\nReadWritePaths=/var/lib/regway\n",
        "\nNoNewPrivileges=yes\n",
        "\nWorkingDirectory=/var/lib/regway\n",
        "\nExecStart=/usr/local/bin/regway serve --config /etc/regway/regway.toml --data /var/lib/regway\n",
    ] {
        assert!(text.contains(want), "the unit lacks {want:?}");
    }
    // Its command line is one this build takes.
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    // The binary where this build is.
    let here = text.replace("/usr/local/bin/regway", BIN);
    let Some((ok, said)) = verify(&here) else {
        common::cannot_run(
            "the_systemd_unit_has_what_the_readme_says_and_verifies",
            "systemd-analyze is not installed (apt-get install systemd)",
        );
        return;
    };
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    // It would say so about a mistake.
    let (_, said) = verify(&here.replace("NoNewPrivileges=", "NoNewPrivilege=")).unwrap();
    assert!(said.contains("Unknown key"), "{said}");
}
