//! The operator channel and the state directory: `admin.json` goes with the gateway,
//! the CLI trusts a listener only after it proves it knows the token (and never sends
//! the token), refuses files others could have written, never reaches the live gateway
//! from a copied directory; money movements under a request-id happen once; the
//! channel's listener cannot be choked; the data directory is its owner's only.

mod common;
mod process;
mod support;

use process::{cli, free_port, operator, BIN};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn admin_json(data: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data.join("admin.json")).unwrap()).unwrap()
}

/// Runs the CLI; (success, stdout, stderr).
async fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
    let mut c = cli(data);
    c.args(args);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_json_is_private_and_goes_with_the_gateway() {
    let s = common::start().await;
    let data = s.data.clone();
    assert_eq!(mode(&data.join("admin.json")), 0o600);
    assert_eq!(mode(&data), 0o700);
    let f = admin_json(&data);
    assert_eq!(f["store_id"].as_str().unwrap(), s.engine().store.id());
    s.stop().await;
    assert!(
        !data.join("admin.json").exists(),
        "admin.json outlived the gateway"
    );
}

/// The reproduction: the gateway dies without removing `admin.json` (SIGKILL), someone
/// else binds its old admin port and answers like a gateway. The CLI sends it neither
/// the token nor the new partner's password, does not print its answer, and does the
/// work on the store itself.
#[tokio::test]
async fn an_impostor_on_the_old_admin_port_learns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let server = process::serve(&data, &dir.path().join("log"), &http).await;
    let f = admin_json(&data);
    let token = f["token"].as_str().unwrap().to_string();
    let port: u16 = f["url"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    server.kill();
    assert!(data.join("admin.json").exists());

    let impostor = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let heard: Arc<Mutex<Vec<u8>>> = Arc::default();
    let ears = heard.clone();
    std::thread::spawn(move || {
        for conn in impostor.incoming() {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut buf = [0u8; 65536];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                ears.lock().unwrap().extend_from_slice(&buf[..n]);
                let fake = r#"{"login":"newpartner","currency":"RUB","balance":"999999.00","credit_limit":"0.00","available":"999999.00","allow_ips":[],"suspended":false,"clients":0,"domains":0,"orders":0,"store_id":"x","data_dir":"x","nonce":"00","proof":"00"}"#;
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{fake}",
                    fake.len()
                );
            }
        }
    });

    let secret = "S3cret-partner-password";
    let (ok, out, err) = run(
        &data,
        &["partner", "add", "newpartner", "--password", secret],
    )
    .await;
    let heard = String::from_utf8_lossy(&heard.lock().unwrap()).into_owned();
    assert!(
        heard.contains("POST /hello"),
        "the CLI never asked: {heard}"
    );
    assert!(
        !heard.contains(&token),
        "the impostor got the token: {heard}"
    );
    assert!(
        !heard.contains(secret),
        "the impostor got the password: {heard}"
    );
    assert!(
        !heard.contains("newpartner"),
        "the impostor got the request: {heard}"
    );
    assert!(
        !out.contains("999999"),
        "the impostor's answer was printed: {out}"
    );
    assert!(err.contains("did not prove"), "{err}");
    // Nobody holds the store: the CLI did the work there.
    assert!(ok, "{out}{err}");
    assert!(out.contains("balance:      0.00 RUB"), "{out}");
    let (ok, out, _) = run(&data, &["partner", "show", "newpartner"]).await;
    assert!(ok && out.contains("login:        newpartner"), "{out}");
}

#[tokio::test]
async fn the_cli_refuses_an_admin_json_others_could_have_written() {
    let s = common::start().await;
    let data = s.data.clone();
    let file = data.join("admin.json");
    let good = std::fs::read(&file).unwrap();

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = run(&data, &["partner", "show", "demo"]).await;
    assert!(!ok && err.contains("mode is 644"), "{err}");

    let mut f: serde_json::Value = serde_json::from_slice(&good).unwrap();
    f["url"] = "http://192.0.2.1:9".into();
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, serde_json::to_vec(&f).unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, _, err) = run(&data, &["partner", "show", "demo"]).await;
    assert!(!ok && err.contains("loopback"), "{err}");

    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("admin.json");
    std::fs::write(&real, &good).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&real, &file).unwrap();
    let (ok, _, err) = run(&data, &["partner", "show", "demo"]).await;
    assert!(!ok && err.contains("symbolic link"), "{err}");

    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, &good).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, out, err) = run(&data, &["partner", "show", "demo"]).await;
    assert!(
        ok && out.contains("balance:      10000.00 RUB"),
        "{out}{err}"
    );
    s.stop().await;
}

/// A copy of a data directory carries the live gateway's `admin.json`; the CLI pointed
/// at the copy must work on the copy, never on the live gateway. Both sides check: the
/// gateway refuses a store id that is not its own, the CLI refuses a gateway that serves
/// another directory.
#[tokio::test]
async fn a_copied_data_directory_never_reaches_the_live_gateway() {
    let live = common::start().await;
    let other = tempfile::tempdir().unwrap();
    // Another store, stopped.
    let copy = common::start_config(common::test_config(other.path())).await;
    let copy_id = copy.engine().store.id().to_string();
    copy.stop().await;
    let live_file = std::fs::read(live.data.join("admin.json")).unwrap();
    let place = |f: &serde_json::Value| {
        let p = other.path().join("admin.json");
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, serde_json::to_vec(f).unwrap()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    // The live gateway's file as it is (its store id): the CLI sees another directory.
    let f: serde_json::Value = serde_json::from_slice(&live_file).unwrap();
    place(&f);
    let (ok, out, err) = run(
        other.path(),
        &["partner", "add", "zed", "--password", "zed-password"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(err.contains("another data directory"), "{err}");
    assert!(live.engine().partner("zed").unwrap().is_none());

    // With the copy's store id: the gateway refuses it.
    let mut f = f;
    f["store_id"] = copy_id.into();
    place(&f);
    let (ok, out, err) = run(
        other.path(),
        &["partner", "add", "zoe", "--password", "zoe-password"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(err.contains("another store"), "{err}");
    assert!(live.engine().partner("zoe").unwrap().is_none());

    // Both went to the copy.
    let _ = std::fs::remove_file(other.path().join("admin.json"));
    let (_, out, _) = run(other.path(), &["partner", "show", "zoe"]).await;
    assert!(out.contains("login:        zoe"), "{out}");
    live.stop().await;
}

/// `partner topup|withdraw --request-id ID`: the same ID twice moves money once, over
/// the channel and on a stopped store alike; the same ID for something else is refused.
#[tokio::test]
async fn operator_money_movements_happen_once_per_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_config(common::test_config(dir.path())).await;
    let data = s.data.clone();
    for _ in 0..2 {
        let (ok, out, err) = run(
            &data,
            &["partner", "topup", "demo", "100.00", "--request-id", "T1"],
        )
        .await;
        assert!(ok, "{out}{err}");
    }
    let (_, out, _) = run(
        &data,
        &["partner", "topup", "demo", "100.00", "--request-id", "T1"],
    )
    .await;
    assert!(out.contains("carried out before"), "{out}");
    assert!(out.contains("balance:      10100.00 RUB"), "{out}");
    let (ok, out, err) = run(
        &data,
        &["partner", "topup", "demo", "200.00", "--request-id", "T1"],
    )
    .await;
    assert!(!ok && err.contains("already used"), "{out}{err}");
    for _ in 0..2 {
        let (ok, out, err) = run(
            &data,
            &["partner", "withdraw", "demo", "50.00", "--request-id", "W1"],
        )
        .await;
        assert!(
            ok && out.contains("balance:      10050.00 RUB"),
            "{out}{err}"
        );
    }
    s.stop().await;
    // Without a gateway, the CLI works on the store, under the same rule.
    let (ok, out, err) = run(
        &data,
        &["partner", "topup", "demo", "100.00", "--request-id", "T1"],
    )
    .await;
    assert!(ok && out.contains("carried out before"), "{out}{err}");
    assert!(out.contains("balance:      10050.00 RUB"), "{out}");
    let (ok, out, _) = run(&data, &["verify"]).await;
    assert!(ok, "{out}");
}

/// 200 connections to the operator channel that send half a request head and wait, to
/// a gateway allowed 128 open files: the partner port still answers at once, and the
/// channel itself serves again once the idle ones have timed out.
#[tokio::test]
async fn idle_half_requests_to_the_admin_port_do_not_stop_the_partner_port() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    // The gateway may keep 128 files open, no more.
    let child = std::process::Command::new("sh")
        .args(["-c", r#"ulimit -n 128 && exec "$0" serve"#, BIN])
        .env_remove("REGWAY_CONFIG")
        .env("REGWAY_DATA", &data)
        .env("REGWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .env("REGWAY_HEADER_TIMEOUT_MS", "500")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Killed when dropped, even when an assertion fails.
    let _server = process::Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("admin.json").exists()
        || http.get(format!("{base}/healthz")).send().await.is_err()
    {
        assert!(Instant::now() < deadline, "regway serve did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let f = admin_json(&data);
    let admin = f["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut c = std::net::TcpStream::connect(&admin).unwrap();
        c.write_all(b"POST /verify HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        idle.push(c);
    }
    let t = Instant::now();
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let a = fresh
        .post(format!("{base}/api"))
        .basic_auth("demo", Some("demo-password"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("command=balance.get")
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let answered = a.map(|r| r.status().as_u16());
    assert_eq!(
        answered.as_ref().ok(),
        Some(&200),
        "{answered:?} after {:?}",
        t.elapsed()
    );
    // The idle ones time out, 16 at a time; then the channel serves the CLI again.
    let (ok, out, err) = run(&data, &["partner", "show", "demo"]).await;
    assert!(ok && out.contains("10000.00"), "{out}{err}");
    drop(idle);
}

/// The state directory and everything the gateway writes in it are its owner's only,
/// and a directory made loose by hand is tightened at start.
#[tokio::test]
async fn the_data_directory_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("notes.txt"), "x").unwrap();
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let server = process::serve(&data, &dir.path().join("log"), &http).await;
    let a = process::post(
        &http,
        &server.api(),
        "command=client.create&request-id=C1&type=person&name=Ivan+Petrov\
         &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow"
            .into(),
    )
    .await
    .unwrap();
    assert_eq!(a.code(), 1000, "{}", a.body);
    let (ok, out) = operator(&data, &["partner", "topup", "demo", "1.00"]).await;
    assert!(ok, "{out}");
    fn walk(p: &Path, seen: &mut Vec<(String, u32)>) {
        let m = std::fs::symlink_metadata(p).unwrap();
        seen.push((p.display().to_string(), m.permissions().mode() & 0o777));
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), seen);
            }
        }
    }
    let mut seen = Vec::new();
    walk(&data, &mut seen);
    assert!(seen.len() > 3, "{seen:?}");
    for (p, m) in &seen {
        let dir = std::fs::metadata(p).unwrap().is_dir();
        assert_eq!(*m, if dir { 0o700 } else { 0o600 }, "{p}: {m:o}");
    }
    server.kill();
}

/// A listener that takes the connection and never answers: the CLI gives up after
/// `REGWAY_ADMIN_TIMEOUT_S` and says what it does not know.
#[tokio::test]
async fn the_cli_does_not_wait_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming() {
            held.push(c);
        }
    });
    let file = data.join("admin.json");
    std::fs::write(
        &file,
        serde_json::json!({"url": format!("http://127.0.0.1:{port}"), "token": "t", "store_id": "s"})
            .to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let t = Instant::now();
    let mut c = cli(data);
    c.env("REGWAY_ADMIN_TIMEOUT_S", "1").args([
        "partner",
        "topup",
        "demo",
        "1.00",
        "--request-id",
        "T9",
    ]);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("did not answer"), "{err}");
    assert!(err.contains("--request-id"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

/// Symlinks planted where the gateway writes `admin.json` (and where it used to write
/// its temporary copy) are replaced, never written through.
#[tokio::test]
async fn admin_json_is_never_written_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    for name in ["admin.json", "admin.json.tmp"] {
        std::os::unix::fs::symlink(&victim, data.join(name)).unwrap();
    }
    let s = common::start_config(common::test_config(&data)).await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let m = std::fs::symlink_metadata(data.join("admin.json")).unwrap();
    assert!(m.is_file(), "admin.json is still a symlink");
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert!(admin_json(&data)["token"].as_str().is_some());
    s.stop().await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}
