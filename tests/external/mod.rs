//! Helpers for the tests that run programs of other languages against a gateway: the
//! panel modules (`php`), the client libraries (`php`, `python3`), a stand-in `mgrctl`,
//! and a proxy that loses answers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `program` runs (`program --version` exits 0). When it does not, the test
/// fails as `common::cannot_run` says: under CI always, elsewhere unless
/// `REGWAY_ALLOW_SKIP=1`, which makes it return false so the caller skips loudly.
pub fn require(program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        crate::common::cannot_run(
            &format!("a test needing {program}"),
            &format!("{program} does not run; .ci/run installs it"),
        );
    }
    ok
}

/// Runs a command to its end on a blocking thread (the gateway under test runs on this
/// runtime's workers), feeding `stdin`.
pub async fn run(mut cmd: Command, stdin: &str) -> Output {
    let input = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the program starts");
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
        drop(pipe);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One call the module made to `mgrctl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub func: String,
    pub params: BTreeMap<String, String>,
}

impl Call {
    pub fn get(&self, k: &str) -> &str {
        self.params
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} missing in {self:?}"))
    }
}

/// A stand-in `mgrctl` (`tests/harness/mgrctl`): canned answers in a directory, every
/// call recorded.
pub struct Mgrctl {
    pub dir: tempfile::TempDir,
}

impl Mgrctl {
    pub fn new() -> Mgrctl {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("canned")).unwrap();
        std::fs::write(
            dir.path().join("canned/task.gettype.xml"),
            "<doc><task_type>registrar</task_type></doc>\n",
        )
        .unwrap();
        Mgrctl { dir }
    }

    /// The answer to `func` (for `elid`, when given).
    pub fn answer(&self, func: &str, elid: Option<&str>, xml: &str) {
        let name = match elid {
            Some(e) => format!("{func}.{e}.xml"),
            None => format!("{func}.xml"),
        };
        std::fs::write(self.dir.path().join("canned").join(name), xml).unwrap();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    pub fn module_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("module.log")).unwrap_or_default()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                Call {
                    func: v["func"].as_str().unwrap().to_string(),
                    params: v["params"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect(),
                }
            })
            .collect()
    }

    /// The calls so far, then forgets them.
    pub fn take(&self) -> Vec<Call> {
        let calls = self.calls();
        let _ = std::fs::remove_file(self.log_path());
        calls
    }

    /// The raw log (JSON lines), for checking that a secret appears nowhere.
    pub fn raw(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `integrations/billmanager/processing/pmregway ARGS` as BILLmanager runs it.
    pub async fn pmregway(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new("php");
        cmd.arg(root().join("integrations/billmanager/processing/pmregway"))
            .args(args)
            .env("REGWAY_MGRCTL", root().join("tests/harness/mgrctl"))
            .env("MGRCTL_LOG", self.log_path())
            .env("MGRCTL_CANNED", self.dir.path().join("canned"))
            .env("REGWAY_BM_LOG", self.dir.path().join("module.log"))
            .env("REGWAY_BM_CRYPT_KEY", self.dir.path().join("no-key.pem"));
        run(cmd, stdin).await
    }
}

/// The functions BILLmanager was asked to run, in order.
pub fn funcs(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|c| c.func.as_str()).collect()
}

/// Calls one function of the WHMCS module through `tests/harness/whmcs.php`; returns
/// the function's result and WHMCS's module log.
pub async fn whmcs(
    function: &str,
    params: &serde_json::Value,
    expirydate: Option<&str>,
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let input = serde_json::json!({
        "function": function,
        "params": params,
        "expirydate": expirydate,
    });
    let mut cmd = Command::new("php");
    cmd.arg(root().join("tests/harness/whmcs.php"))
        .arg(root().join("integrations/whmcs/modules/registrars/regway/regway.php"));
    let out = run(cmd, &input.to_string()).await;
    assert!(
        out.status.success(),
        "{function}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{function}: {e}: {}\n{}", stdout(&out), stderr(&out)));
    (
        v["result"].clone(),
        v["log"].as_array().cloned().unwrap_or_default(),
    )
}

/// A TCP proxy in front of `upstream` that loses answers: for the first `drops`
/// connections whose request contains `needle`, it waits until the gateway has
/// answered (so the request was carried out) and then cuts the connection without
/// passing the answer on. Everything else goes through unchanged.
pub struct LossyProxy {
    pub addr: std::net::SocketAddr,
    pub lost: Arc<AtomicUsize>,
}

impl LossyProxy {
    pub async fn start(upstream: std::net::SocketAddr, needle: &str, drops: usize) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lost = Arc::new(AtomicUsize::new(0));
        let counter = lost.clone();
        let needle = needle.as_bytes().to_vec();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let needle = needle.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = relay(client, upstream, &needle, drops, &counter).await;
                });
            }
        });
        LossyProxy { addr, lost }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    needle: &[u8],
    drops: usize,
    lost: &AtomicUsize,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    let mut seen = Vec::new();
    let mut up = vec![0u8; 65536];
    let mut down = vec![0u8; 65536];
    loop {
        tokio::select! {
            n = client.read(&mut up) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                seen.extend_from_slice(&up[..n]);
                server.write_all(&up[..n]).await?;
            }
            n = server.read(&mut down) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                let matches = seen.windows(needle.len()).any(|w| w == needle);
                seen.clear();
                if matches
                    && lost
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| (k < drops).then_some(k + 1))
                        .is_ok()
                {
                    // The gateway answered: the request was carried out. Lose the answer.
                    return Ok(());
                }
                client.write_all(&down[..n]).await?;
            }
        }
    }
}

/// The request-ids of the partner's orders of one command, oldest first.
pub fn orders_of<'a>(
    orders: &'a [crate::support::El],
    command: &str,
) -> Vec<&'a crate::support::El> {
    let mut v: Vec<_> = orders
        .iter()
        .filter(|o| o.get("command") == command)
        .collect();
    v.reverse();
    v
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
