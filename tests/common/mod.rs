//! Test harness: a real gateway on 127.0.0.1:0 with a temporary data directory, a fixed
//! clock (so dates and times in answers are known), and the demo partner.
#![allow(dead_code)]

pub mod postgres;

use regway::app::{self, Running};
use regway::config::Config;
use std::path::{Path, PathBuf};

/// The instant every test server lives at.
pub const NOW: &str = "2026-01-15T10:00:00Z";
pub const LOGIN: &str = "demo";
pub const PASSWORD: &str = "demo-password";

pub struct TestServer {
    pub running: Option<Running>,
    pub url: String,
    pub data: PathBuf,
    pub client: reqwest::Client,
    /// Keeps the temporary directory alive (None when the caller owns `data`).
    _dir: Option<tempfile::TempDir>,
    /// The database of its own, when the tests run on PostgreSQL
    /// (`REGWAY_TEST_STORE=postgres`); dropped with the last server on it.
    pub db: Option<std::sync::Arc<postgres::TestDatabase>>,
}

pub struct Answer {
    pub status: u16,
    pub replayed: bool,
    pub retry_after: Option<String>,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    /// The `code` attribute of `<result>`.
    pub fn code(&self) -> u16 {
        let i = self
            .body
            .find("<result code=\"")
            .expect("a <result> element")
            + 14;
        self.body[i..i + 4].parse().expect("a four-digit code")
    }

    /// The value of the first `name="…"` attribute in the body.
    pub fn attr(&self, name: &str) -> Option<String> {
        let pat = format!(" {name}=\"");
        let i = self.body.find(&pat)? + pat.len();
        let j = self.body[i..].find('"')? + i;
        Some(self.body[i..j].to_string())
    }
}

/// The configuration every test server starts from.
pub fn test_config(data: &Path) -> Config {
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data: data.to_path_buf(),
        ..Config::default()
    };
    cfg.sandbox.clock = Some(NOW.parse().unwrap());
    // Tests of other things send bursts no partner quota would allow; the tests of
    // the limits set their own.
    cfg.limits = regway::config::LimitsConfig::off();
    cfg
}

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    f(&mut cfg);
    let mut s = start_config(cfg).await;
    s._dir = Some(dir);
    s
}

pub async fn start_config(cfg: Config) -> TestServer {
    start_on(cfg, None).await
}

/// Starts a server on `cfg`. When the tests run on PostgreSQL
/// (`REGWAY_TEST_STORE=postgres`) and `cfg` names no database, it gets `db`, or a new
/// database of its own.
pub async fn start_on(
    mut cfg: Config,
    db: Option<std::sync::Arc<postgres::TestDatabase>>,
) -> TestServer {
    let db = match db {
        Some(db) => Some(db),
        None if postgres::shared_tests_on_postgres() && cfg.database_url.is_none() => {
            Some(postgres::for_data(&cfg.data))
        }
        None => None,
    };
    if let Some(db) = &db {
        cfg.database_url = Some(regway::config::DatabaseUrl(db.url.clone()));
    }
    let data = cfg.data.clone();
    let running = app::start(cfg).await.expect("server starts");
    TestServer {
        url: format!("http://{}/api", running.addr),
        running: Some(running),
        data,
        client: reqwest::Client::new(),
        _dir: None,
        db,
    }
}

/// Starts a server on a store another handle has just let go of: sled releases its
/// lock a moment after the last handle is dropped, so starting is retried (at most 10 s).
pub async fn start_when_free(mut cfg: Config) -> TestServer {
    if postgres::shared_tests_on_postgres() && cfg.database_url.is_none() {
        let db = postgres::for_data(&cfg.data);
        cfg.database_url = Some(regway::config::DatabaseUrl(db.url.clone()));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let data = cfg.data.clone();
    let running = loop {
        match app::start(cfg.clone()).await {
            Ok(r) => break r,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => panic!("the server does not start: {e}"),
        }
    };
    TestServer {
        url: format!("http://{}/api", running.addr),
        running: Some(running),
        data,
        client: reqwest::Client::new(),
        _dir: None,
        db: None,
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let h = resp.headers().clone();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(String::from);
    Answer {
        status: resp.status().as_u16(),
        replayed: get("idempotent-replayed").as_deref() == Some("true"),
        retry_after: get("retry-after"),
        content_type: get("content-type").unwrap_or_default(),
        body: resp.text().await.unwrap(),
    }
}

impl TestServer {
    /// A form request as the demo partner (HTTP Basic).
    pub async fn form(&self, body: &str) -> Answer {
        self.form_as(LOGIN, PASSWORD, body).await
    }

    pub async fn form_as(&self, login: &str, password: &str, body: &str) -> Answer {
        let resp = self
            .client
            .post(&self.url)
            .basic_auth(login, Some(password))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(resp).await
    }

    /// An XML request as the demo partner (HTTP Basic).
    pub async fn xml(&self, body: &str) -> Answer {
        let resp = self
            .client
            .post(&self.url)
            .basic_auth(LOGIN, Some(PASSWORD))
            .header("content-type", "application/xml")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(resp).await
    }

    /// Any request, as given.
    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Answer {
        answer(req.send().await.unwrap()).await
    }

    /// Creates a client for the demo partner and returns its handle.
    pub async fn client(&self, rid: &str) -> String {
        let a = self
            .form(&format!(
                "command=client.create&request-id={rid}&type=person&name=Ivan+Petrov\
                 &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
        a.attr("id").unwrap()
    }

    pub fn engine(&self) -> &regway::engine::Engine {
        &self.running.as_ref().unwrap().engine
    }

    pub async fn verify(&self) -> regway::engine::operator::VerifyReport {
        self.engine().verify().await.unwrap()
    }

    /// Stops gracefully and starts again on the same data directory.
    pub async fn restart(mut self) -> TestServer {
        let dir = self._dir.take();
        self.running.take().unwrap().shutdown().await;
        let mut s = start_on(test_config(&self.data), self.db.take()).await;
        s._dir = dir;
        s
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// A parent gateway for chain tests: `f` adjusts its configuration, and it gets a
/// partner `child` (password `child-password`) with `balance` RUB.
pub async fn start_parent(balance: &str, f: impl FnOnce(&mut Config)) -> TestServer {
    let s = start_with(f).await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "child".into(),
            password: Some("child-password".into()),
            currency: Some("RUB".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    s.engine()
        .topup("child", balance, "chain test")
        .await
        .unwrap();
    s
}

/// A configuration whose every zone goes to the regway parent at `url` (as `child`).
pub fn child_config(data: &Path, url: &str, timeout_ms: u64) -> Config {
    let mut cfg = test_config(data);
    cfg.upstreams.insert(
        "parent".into(),
        regway::config::UpstreamConfig {
            kind: regway::config::UpstreamKind::Regway,
            url: url.into(),
            login: "child".into(),
            password: "child-password".into(),
            timeout_ms,
            concurrency: 8,
            products: Default::default(),
            allow_insecure_http: false,
        },
    );
    cfg.upstream = Some("parent".into());
    cfg
}

/// A child gateway in front of the parent at `url`, with the demo partner created by
/// hand (the demo is automatic only in front of the sandbox) holding `balance` RUB.
pub async fn start_child(
    url: &str,
    balance: &str,
    timeout_ms: u64,
    f: impl FnOnce(&mut Config),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = child_config(dir.path(), url, timeout_ms);
    f(&mut cfg);
    let mut s = start_config(cfg).await;
    s._dir = Some(dir);
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: LOGIN.into(),
            password: Some(PASSWORD.into()),
            currency: Some("RUB".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    s.engine()
        .topup(LOGIN, balance, "chain test")
        .await
        .unwrap();
    s
}

impl TestServer {
    /// Stops gracefully and starts again on the same data with the clock at `now`.
    pub async fn restart_at(mut self, now: &str) -> TestServer {
        let dir = self._dir.take();
        self.running.take().unwrap().shutdown().await;
        let mut cfg = test_config(&self.data);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        let mut s = start_on(cfg, self.db.take()).await;
        s._dir = dir;
        s
    }
}

/// A shipped example programme (`examples/programmes/FILE`) with `login` as its only
/// partner, written under `dir`.
pub fn programme_for(dir: &Path, file: &str, login: &str) -> std::path::PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/programmes")
        .join(file);
    let text = std::fs::read_to_string(&shipped).unwrap();
    assert!(
        text.contains("\npartners = []\n"),
        "{file} lists no partner"
    );
    let path = dir.join(file);
    std::fs::write(
        &path,
        text.replace("\npartners = []\n", &format!("\npartners = [{login:?}]\n")),
    )
    .unwrap();
    path
}
/// A Python virtual environment under the test target's temporary directory, made once
/// with `package` (a pinned `name==version`) installed; made again when the pin changes.
/// Returns its directory. The error says what could not be installed (`cannot_run`).
pub fn pinned_venv(name: &str, package: &str) -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = dir.join("bin/python");
    let marker = dir.join("regway-packages.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(package) && python.exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !made.success() {
        return Err("python3 -m venv failed".into());
    }
    let out = std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ])
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install {package} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&marker, package).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Called by a test that cannot run what it proves (a tool or a package it needs cannot
/// be installed): the test fails under CI (`CI` set to anything but `false` or `0`), and
/// elsewhere too unless `REGWAY_ALLOW_SKIP=1` allows the skip, which is then announced
/// loudly. A test never passes quietly without having run.
pub fn cannot_run(test: &str, why: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "false" | "0"));
    let allowed = std::env::var("REGWAY_ALLOW_SKIP").is_ok_and(|v| v == "1");
    if ci {
        panic!("{test} cannot run under CI: {why}");
    }
    if !allowed {
        panic!(
            "{test} cannot run: {why}. Install what it needs, or set REGWAY_ALLOW_SKIP=1 to \
             let it pass without running"
        );
    }
    let line = "!".repeat(78);
    eprintln!(
        "{line}\n!! NOT RUN: {test}\n!! {why}\n!! It passes only because REGWAY_ALLOW_SKIP=1; \
         it proves nothing.\n{line}"
    );
}

/// A gateway node on the database `db`, with a data directory of its own (several
/// nodes on one database). `f` adjusts its configuration.
pub async fn start_node(
    db: &std::sync::Arc<postgres::TestDatabase>,
    f: impl FnOnce(&mut Config),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    f(&mut cfg);
    let mut s = start_on(cfg, Some(db.clone())).await;
    s._dir = Some(dir);
    s
}
