//! Start-up and operator-command failures: each ends in one line on stderr that names
//! the cause and the fix (never "internal"), and an exit code of its kind (README,
//! "Exit codes"): 3 configuration, 4 store, 5 network. `regway config check` refuses
//! the same configurations `serve` refuses, with the same line and code.

mod common;
mod process;
mod support;

use process::{free_port, BIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `regway ARGS` with a clean environment, from `cwd`.
fn regway(cwd: &Path, data: &Path, args: &[&str], listen: u16) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(cwd)
        .env_remove("REGWAY_CONFIG")
        .env_remove("REGWAY_LOG")
        .env("REGWAY_DATA", data)
        .env("REGWAY_LISTEN", format!("127.0.0.1:{listen}"))
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .args(args)
        .stdin(Stdio::null());
    c.output().expect("regway runs")
}

/// The one `regway: …` line on stderr, checked to be the only one, the last line,
/// free of "internal", with exit code `code`.
fn one_line(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("regway: "))
        .collect();
    assert_eq!(ours.len(), 1, "one line of regway's own:\n{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(ours[0]),
        "the last line:\n{stderr}"
    );
    assert!(!stderr.contains("internal"), "{stderr}");
    assert_eq!(out.status.code(), Some(code), "exit code:\n{stderr}");
    ours[0].to_string()
}

struct Case {
    name: &'static str,
    config: PathBuf,
    /// What the line says, in order.
    says: Vec<String>,
}

/// Configurations `serve` refuses, each with what its error line says.
fn bad_configurations(dir: &Path) -> Vec<Case> {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let missing = dir.join("missing.toml");
    let syntax = write("syntax.toml", "client_suffix = \"RW\"\nlisten = \"x\n");
    let value = write(
        "value.toml",
        "# zones\n[zones.ru]\nperiods = [1, 10]\nprices.RUB = { register = \"590.00\", renew = \"590.00\" }\nupstream = \"nowhere\"\n",
    );
    let suffix = write("suffix.toml", "\n\nclient_suffix = \"lower\"\n");
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    let no_programme = dir.join("conf/no-programme.toml");
    std::fs::write(&no_programme, "programmes = [\"programmes/none.toml\"]\n").unwrap();
    let env = dir.join("env.toml");
    std::fs::write(&env, "").unwrap();
    vec![
        Case {
            name: "missing file",
            says: vec![
                format!(
                    "regway: {}: cannot read the configuration file",
                    missing.display()
                ),
                "No such file".into(),
            ],
            config: missing,
        },
        Case {
            name: "TOML syntax",
            says: vec![format!("regway: {}:2: ", syntax.display())],
            config: syntax,
        },
        Case {
            name: "unknown upstream",
            says: vec![format!(
                "regway: {}:5: zones.ru.upstream = \"nowhere\": no [upstreams.nowhere]",
                value.display()
            )],
            config: value,
        },
        Case {
            name: "bad value",
            says: vec![format!(
                "regway: {}:3: client_suffix \"lower\"",
                suffix.display()
            )],
            config: suffix,
        },
        Case {
            name: "missing programme",
            // Relative to the configuration file's directory, not the working one.
            says: vec![format!(
                "regway: {}: cannot read the programme file",
                dir.join("conf/programmes/none.toml").display()
            )],
            config: no_programme,
        },
    ]
}

#[test]
fn configuration_errors_name_file_and_line_in_serve_and_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    for case in bad_configurations(dir.path()) {
        for cmd in [&["serve"][..], &["config", "check"][..]] {
            let mut args = vec!["--config", case.config.to_str().unwrap()];
            args.extend(cmd);
            let out = regway(cwd.path(), &dir.path().join("data"), &args, free_port());
            let line = one_line(&out, 3);
            for s in &case.says {
                assert!(line.contains(s.as_str()), "{} ({cmd:?}): {line}", case.name);
            }
            assert!(!line.contains(":0:"), "{line}");
        }
    }
    // An environment variable that is not valid says which.
    let mut c = Command::new(BIN);
    let out = c
        .env("REGWAY_DATA", dir.path().join("data"))
        .env("REGWAY_MAX_CONNECTIONS", "many")
        .args(["config", "check"])
        .output()
        .unwrap();
    let line = one_line(&out, 3);
    assert!(line.contains("REGWAY_MAX_CONNECTIONS=\"many\""), "{line}");
}

/// A programme in EUR that lists a RUB partner: `serve` refuses it with the programme
/// file's line, and so does `config check`, which also warns about a login that has no
/// partner. The programme's path is relative to the configuration file's directory,
/// and the commands run from elsewhere.
#[test]
fn programme_currency_against_partners() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let add = regway(
        elsewhere.path(),
        &data,
        &["partner", "add", "acme", "--password", "acme-password-1"],
        free_port(),
    );
    assert!(add.status.success(), "{add:?}");
    let conf = dir.path().join("etc");
    std::fs::create_dir_all(conf.join("programmes")).unwrap();
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/programmes/d-licences.toml"),
    )
    .unwrap();
    let line = shipped
        .lines()
        .position(|l| l == "partners = []")
        .expect("partners line")
        + 1;
    let programme = conf.join("programmes/eur.toml");
    std::fs::write(
        &programme,
        shipped.replace("\npartners = []\n", "\npartners = [\"acme\"]\n"),
    )
    .unwrap();
    let config = conf.join("regway.toml");
    std::fs::write(&config, "programmes = [\"programmes/eur.toml\"]\n").unwrap();
    let want = format!(
        "regway: {}:{line}: programme ",
        conf.join("programmes/eur.toml").display()
    );
    for cmd in [&["serve"][..], &["config", "check"][..]] {
        let mut args = vec!["--config", config.to_str().unwrap()];
        args.extend(cmd);
        let out = regway(elsewhere.path(), &data, &args, free_port());
        let l = one_line(&out, 3);
        assert!(l.starts_with(&want), "{cmd:?}: {l}");
        assert!(
            l.contains("partner acme keeps its account in RUB, the programme is in EUR"),
            "{l}"
        );
    }
    // A login with no partner: a warning, with the file and line, and exit 0.
    std::fs::write(
        &programme,
        shipped.replace("\npartners = []\n", "\npartners = [\"nobody\"]\n"),
    )
    .unwrap();
    let out = regway(
        elsewhere.path(),
        &data,
        &["--config", config.to_str().unwrap(), "config", "check"],
        free_port(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains(&format!(
            "warning: {}:{line}: programme ",
            programme.display()
        )) && stdout.contains("lists partner \"nobody\", which does not exist"),
        "{stdout}"
    );
    assert!(
        stdout.contains("configuration OK (1 warning(s))"),
        "{stdout}"
    );
    assert!(stdout.contains("programmes: "), "{stdout}");
}

#[tokio::test]
async fn port_in_use_store_held_data_not_writable_no_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // The port in use: serve and config check.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for cmd in [&["serve"][..], &["config", "check"][..]] {
        let out = regway(cwd, &dir.path().join("d1"), cmd, port);
        let line = one_line(&out, 5);
        assert!(
            line.starts_with(&format!("regway: cannot listen on 127.0.0.1:{port}: ")),
            "{line}"
        );
        assert!(
            line.contains("stop what uses it or choose another address"),
            "{line}"
        );
    }
    drop(taken);
    // The store held by another process.
    let data = dir.path().join("d2");
    let http = reqwest::Client::new();
    let server = process::serve(&data, &dir.path().join("log"), &http).await;
    let out = regway(cwd, &data, &["serve"], free_port());
    let line = one_line(&out, 4);
    assert_eq!(
        line,
        format!(
            "regway: another regway process holds {}; stop it or use another --data",
            data.display()
        )
    );
    // The CLI without the operator channel's file meets the same lock.
    std::fs::rename(data.join("admin.json"), dir.path().join("admin.json")).unwrap();
    let out = regway(cwd, &data, &["verify"], free_port());
    assert!(one_line(&out, 4).contains("another regway process holds"));
    std::fs::rename(dir.path().join("admin.json"), data.join("admin.json")).unwrap();
    assert!(server.stop());
    // A data directory that cannot be made (its parent is a file).
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let bad = file.join("data");
    let out = regway(cwd, &bad, &["serve"], free_port());
    let line = one_line(&out, 4);
    assert!(
        line.starts_with(&format!(
            "regway: the data directory {} is not writable",
            bad.display()
        )) && line.contains("use another --data"),
        "{line}"
    );
    // An operator command pointed at a directory with no gateway and no store.
    let nowhere = dir.path().join("nowhere");
    let out = regway(cwd, &nowhere, &["partner", "show", "acme"], free_port());
    assert_eq!(
        one_line(&out, 5),
        format!(
            "regway: no running gateway found at {} (and no store there); is it started \
             with the same --data?",
            nowhere.display()
        )
    );
    assert!(!nowhere.exists(), "no store made where none was");
}

/// A store of a format newer than this build knows is refused, by `serve` and by the
/// operator commands alike, and left as it is.
#[test]
fn a_store_of_a_future_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let add = regway(
        dir.path(),
        &data,
        &["partner", "add", "acme", "--password", "acme-password-1"],
        free_port(),
    );
    assert!(add.status.success(), "{add:?}");
    let set_format = |n: u32| {
        let db = sled::open(data.join("store")).unwrap();
        let state = db.open_tree("state").unwrap();
        let old = state
            .insert(regway::store::format_key(), serde_json::to_vec(&n).unwrap())
            .unwrap();
        db.flush().unwrap();
        old.map(|v| serde_json::from_slice::<u32>(&v).unwrap())
    };
    // A store written by this build says its format.
    assert_eq!(
        set_format(regway::store::FORMAT + 1),
        Some(regway::store::FORMAT)
    );
    for cmd in [
        &["serve"][..],
        &["verify"][..],
        &["partner", "show", "acme"][..],
    ] {
        let out = regway(dir.path(), &data, cmd, free_port());
        let line = one_line(&out, 4);
        assert_eq!(
            line,
            format!(
                "regway: the store in {} is of format {}, newer than this regway knows ({}): \
                 run the regway that wrote it (or a newer one), or restore a backup made \
                 before the upgrade",
                data.display(),
                regway::store::FORMAT + 1,
                regway::store::FORMAT
            ),
            "{cmd:?}"
        );
    }
    // Untouched: back to this build's format, it opens again.
    assert_eq!(
        set_format(regway::store::FORMAT),
        Some(regway::store::FORMAT + 1)
    );
    let out = regway(dir.path(), &data, &["verify"], free_port());
    assert!(out.status.success(), "{out:?}");
}
