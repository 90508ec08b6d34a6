//! The operator channel: a second HTTP listener on loopback only, for the `regway
//! partner …` and `regway verify` commands while the gateway runs (sled lets one
//! process open the store, so the CLI must ask the running server).
//!
//! On start the server writes `<data>/admin.json` (mode 0600, atomically, never through
//! a symlink) with the channel's URL, a fresh random token and the store's id, and
//! removes it when it stops. The CLI reads it from the same `--data` directory. The
//! token never travels: whatever listens at the URL must first prove that it knows it,
//! and every request is signed with it.
//!
//! ```text
//! POST /hello   {"challenge":"<64 hex>","store_id":"<the file's>"}          no credentials
//!   → 200 {"store_id":"…","data_dir":"DEV:INODE","nonce":"<hex>","proof":"<hex>"}
//!     proof = HMAC-SHA256(token, "regway-admin-hello\0" challenge "\0" store_id "\0" nonce)
//!   → 409 {"code":2201,…} when the store id is not the gateway's
//! POST /partner/add …   Authorization: Regway-HMAC nonce=<nonce>, mac=<hex>
//!     mac = HMAC-SHA256(token, "regway-admin-request\0" nonce "\0" store_id "\0" path "\0" body)
//! ```
//!
//! The CLI sends nothing else (no password, no amount) before the proof checks out, the
//! store id in the answer is the file's, and the gateway's data directory is the one the
//! CLI was pointed at (a copied directory, whose `admin.json` names the live gateway,
//! never reaches it). A nonce is good for one request, for a minute. Requests and
//! answers are JSON:
//!
//! ```text
//! POST /partner/add     {"login":"acme","currency":"RUB","credit_limit":"0","allow_ips":[]}
//! POST /partner/topup   {"login":"acme","amount":"1000.00","note":"invoice 17","request_id":"T17"}
//! POST /partner/withdraw {"login":"acme","amount":"500.00","note":"…","commission":false,"request_id":"W3"}
//! POST /partner/adjust {"login":"acme","amount":"-150.00","note":"double top-up 12 May","request_id":"A1"}
//! POST /partner/suspend {"login":"acme","note":"unpaid since March","request_id":"S1"}
//! POST /partner/resume  {"login":"acme","note":"paid","request_id":"S2"}
//! POST /partner/show    {"login":"acme"}
//! POST /partner/list    {}
//! POST /demo/remove     {}
//! POST /verify          {}
//! POST /order/list      {"state":"unknown","partner":"acme"}
//! POST /order/settle    {"order":7,"state":"failed","note":"not at the vendor (ticket 12)"}
//! POST /webhook/list    {"state":"failed","partner":"acme"}
//! POST /webhook/retry   {"partner":"acme","event":17,"endpoint":1}
//! error: {"code":2303,"message":"no partner acme"} with the code's HTTP status
//! ```
//!
//! The listener reads a request head within the partner port's `header_timeout_ms` and
//! serves at most [`MAX_CONNECTIONS`] connections at once (more wait to be accepted),
//! so idle connections to it can neither pile up nor take the partner port's sockets.

use crate::engine::operator::NewPartner;
use crate::engine::Engine;
use crate::error::{Error, Result};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminFile {
    pub url: String,
    pub token: String,
    /// The id of the store the gateway serves ([`crate::store::Store::id`]).
    #[serde(default)]
    pub store_id: String,
}

/// Connections the operator channel serves at once.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a nonce from `/hello` stays good.
const NONCE_TTL: Duration = Duration::from_secs(60);

/// Nonces outstanding at once; past this the oldest is dropped.
const MAX_NONCES: usize = 1024;

/// The CLI's time limit on one call, unless `REGWAY_ADMIN_TIMEOUT_S` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

type HmacSha256 = Hmac<Sha256>;

pub fn admin_file(data: &Path) -> PathBuf {
    data.join("admin.json")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn mac(token: &str, parts: &[&[u8]]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            m.update(b"\0");
        }
        m.update(p);
    }
    m
}

fn hello_proof(token: &str, challenge: &str, store_id: &str, nonce: &str) -> HmacSha256 {
    mac(
        token,
        &[
            b"regway-admin-hello",
            challenge.as_bytes(),
            store_id.as_bytes(),
            nonce.as_bytes(),
        ],
    )
}

fn request_mac(token: &str, nonce: &str, store_id: &str, path: &str, body: &[u8]) -> HmacSha256 {
    mac(
        token,
        &[
            b"regway-admin-request",
            nonce.as_bytes(),
            store_id.as_bytes(),
            path.as_bytes(),
            body,
        ],
    )
}

/// What identifies a data directory on this machine: its device and inode (a copy has
/// others), or its canonical path where there are none.
pub fn data_dir_id(data: &Path) -> Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(data)
            .map_err(|e| Error::internal(format!("{}: {e}", data.display())))?;
        Ok(format!("{}:{}", m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        Ok(std::fs::canonicalize(data)
            .map_err(|e| Error::internal(format!("{}: {e}", data.display())))?
            .display()
            .to_string())
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!("writing {}: {e}", path.display()))
}

/// Writes the channel's address, token and store id for the CLI: readable by the owner
/// only, under a fresh temporary name opened without following symlinks, then renamed
/// over `admin.json` (a rename replaces a symlink there, it never writes through it).
pub fn write_admin_file(data: &Path, f: &AdminFile) -> Result<()> {
    write_channel_file(data, "admin.json", f)
}

/// [`write_admin_file`] for a channel's file of another name (`sandbox.json`).
pub fn write_channel_file(data: &Path, name: &str, f: &AdminFile) -> Result<()> {
    use std::io::Write;
    let path = data.join(name);
    let suffix: u64 = rand::random();
    let tmp = data.join(format!(".{name}.{suffix:016x}"));
    let text = serde_json::to_vec_pretty(f)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let written = opts.open(&tmp).and_then(|mut file| {
        file.write_all(&text)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(&path, e));
    }
    if let Ok(dir) = std::fs::File::open(data) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Removes `admin.json` if it is still this gateway's (carries `token`).
pub fn remove_admin_file(data: &Path, token: &str) {
    remove_channel_file(&admin_file(data), token)
}

/// [`remove_admin_file`] for a channel's file at `path`.
pub fn remove_channel_file(path: &Path, token: &str) {
    let path = path.to_path_buf();
    let ours = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<AdminFile>(&b).ok())
        .is_some_and(|f| f.token == token);
    if ours {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(error = %e, "could not remove {}", path.display());
        }
    }
}

pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// The gateway side of the channel.
pub struct Channel {
    pub token: String,
    pub store_id: String,
    pub data_dir: String,
    /// Nonces handed out by `/hello`, with when.
    nonces: Mutex<HashMap<String, Instant>>,
}

impl Channel {
    pub fn new(token: String, store_id: String, data_dir: String) -> Channel {
        Channel {
            token,
            store_id,
            data_dir,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    fn issue_nonce(&self) -> String {
        let n = new_token();
        let now = Instant::now();
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if nonces.len() >= MAX_NONCES {
            nonces.retain(|_, t| now.duration_since(*t) < NONCE_TTL);
        }
        if nonces.len() >= MAX_NONCES {
            if let Some(oldest) = nonces
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            {
                nonces.remove(&oldest);
            }
        }
        nonces.insert(n.clone(), now);
        n
    }

    /// Takes a nonce: true once for each one issued in the last minute.
    fn take_nonce(&self, n: &str) -> bool {
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonces.remove(n).is_some_and(|t| t.elapsed() < NONCE_TTL)
    }

    /// Whether a request to `path` with `body` carries a good signature in its one
    /// `Authorization` header (`auth`). The nonce is taken whatever the outcome: one
    /// try each.
    pub fn signed(&self, auth: Option<&str>, path: &str, body: &[u8]) -> bool {
        auth.and_then(signature).is_some_and(|(nonce, m)| {
            let Some(m) = unhex(m) else {
                return false;
            };
            self.take_nonce(nonce)
                && request_mac(&self.token, nonce, &self.store_id, path, body)
                    .verify_slice(&m)
                    .is_ok()
        })
    }
}

pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    channel: Arc<Channel>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let engine = engine.clone();
        let channel = channel.clone();
        let svc = service_fn(move |req| {
            let engine = engine.clone();
            let channel = channel.clone();
            async move {
                Ok::<_, std::convert::Infallible>(
                    handle(&engine, &channel, header_timeout, req).await,
                )
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_headers(32)
            .serve_connection(TokioIo::new(stream), svc);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct OrderList {
    #[serde(default = "unknown_state")]
    state: String,
    #[serde(default)]
    partner: Option<String>,
}

#[derive(Deserialize)]
struct WebhookList {
    state: String,
    #[serde(default)]
    partner: Option<String>,
}

#[derive(Deserialize)]
struct WebhookRetry {
    partner: String,
    event: u64,
    endpoint: u64,
}

fn unknown_state() -> String {
    "unknown".into()
}

#[derive(Deserialize)]
struct MoneyMove {
    login: String,
    amount: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    commission: bool,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct Suspension {
    login: String,
    note: String,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Hello {
    challenge: String,
    store_id: String,
}

#[derive(Serialize, Deserialize)]
struct HelloAnswer {
    store_id: String,
    data_dir: String,
    nonce: String,
    proof: String,
}

pub fn json_response(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

pub fn error_response(e: &Error) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"code": e.code.number(), "message": e.message});
    json_response(e.http(), body.to_string().into_bytes())
}

/// `Regway-HMAC nonce=N, mac=M` → (N, M).
fn signature(header: &str) -> Option<(&str, &str)> {
    let rest = header.strip_prefix("Regway-HMAC ")?;
    let mut nonce = None;
    let mut mac = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("nonce", v)) => nonce = Some(v),
            Some(("mac", v)) => mac = Some(v),
            _ => return None,
        }
    }
    Some((nonce?, mac?))
}

/// `read_timeout` bounds the body as the head's timeout bounds the head: operator
/// requests are small.
async fn handle(
    engine: &Engine,
    channel: &Channel,
    read_timeout: Duration,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let auth: Option<String> = {
        let mut all = req.headers().get_all(hyper::header::AUTHORIZATION).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => v.to_str().ok().map(String::from),
            _ => None,
        }
    };
    let body = match tokio::time::timeout(
        read_timeout,
        Limited::new(req.into_body(), 64 * 1024).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return error_response(&Error::syntax("body too large or cut")),
        Err(_) => return error_response(&Error::syntax("the body was not received in time")),
    };
    if path == "/hello" {
        return hello(channel, &body);
    }
    if !channel.signed(auth.as_deref(), &path, &body) {
        return error_response(&Error::auth());
    }
    let result: Result<Vec<u8>> = async {
        let v: serde_json::Value =
            serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
                .map_err(|e| Error::syntax(format!("JSON: {e}")))?;
        Ok(match path.as_str() {
            "/partner/add" => {
                let p: NewPartner =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.add_partner(p).await?)?
            }
            "/partner/topup" => {
                let t: MoneyMove =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(
                    &engine
                        .topup_once(&t.login, &t.amount, &t.note, t.request_id.as_deref())
                        .await?,
                )?
            }
            "/partner/withdraw" => {
                let w: MoneyMove =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(
                    &engine
                        .withdraw_once(
                            &w.login,
                            &w.amount,
                            &w.note,
                            w.commission,
                            w.request_id.as_deref(),
                        )
                        .await?,
                )?
            }
            "/partner/adjust" => {
                let a: MoneyMove =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(
                    &engine
                        .adjust_once(&a.login, &a.amount, &a.note, a.request_id.as_deref())
                        .await?,
                )?
            }
            "/partner/suspend" | "/partner/resume" => {
                let s: Suspension =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                let suspend = path == "/partner/suspend";
                serde_json::to_vec(
                    &engine
                        .set_suspended(&s.login, suspend, &s.note, s.request_id.as_deref())
                        .await?,
                )?
            }
            "/partner/show" => {
                let l: Login =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.show_partner(&l.login)?)?
            }
            "/partner/list" => serde_json::to_vec(&engine.list_partners()?)?,
            "/demo/remove" => serde_json::to_vec(&engine.remove_demo().await?)?,
            "/verify" => serde_json::to_vec(&engine.verify().await?)?,
            "/domain/move" => {
                let m: crate::engine::moves::MoveDomains =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.move_domains(m).await?)?
            }
            "/order/list" => {
                let l: OrderList =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.list_open_orders(&l.state, l.partner.as_deref())?)?
            }
            "/order/settle" => {
                let s: crate::engine::operator::Settle =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.settle_order::<crate::outcome::Outcome>(s).await?)?
            }
            "/webhook/list" => {
                let l: WebhookList =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.list_deliveries(&l.state, l.partner.as_deref())?)?
            }
            "/webhook/retry" => {
                let r: WebhookRetry =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(
                    &engine
                        .retry_delivery(&r.partner, r.event, r.endpoint)
                        .await?,
                )?
            }
            other => return Err(Error::unknown_command(other)),
        })
    }
    .await;
    match result {
        Ok(b) => json_response(200, b),
        Err(e) => error_response(&e),
    }
}

/// The answer to `POST /hello`: the proof that this listener knows the token.
pub fn hello(channel: &Channel, body: &[u8]) -> Response<Full<Bytes>> {
    let Ok(h) = serde_json::from_slice::<Hello>(body) else {
        return error_response(&Error::syntax("hello: expected challenge and store_id"));
    };
    if h.challenge.len() != 64 || unhex(&h.challenge).is_none() {
        return error_response(&Error::syntax("hello: the challenge is 32 bytes in hex"));
    }
    if h.store_id != channel.store_id {
        return error_response(&Error::new(
            crate::error::Code::Forbidden,
            "this gateway serves another store",
        ));
    }
    let nonce = channel.issue_nonce();
    let proof = hello_proof(&channel.token, &h.challenge, &channel.store_id, &nonce);
    let answer = HelloAnswer {
        store_id: channel.store_id.clone(),
        data_dir: channel.data_dir.clone(),
        nonce,
        proof: hex(&proof.finalize().into_bytes()),
    };
    json_response(200, serde_json::to_vec(&answer).unwrap_or_default())
}

/// Why the CLI will not use an `admin.json` at all, from its owner and mode: `None`
/// when it may.
pub fn refuse_file(owner: u32, mode: u32, me: u32) -> Option<String> {
    if owner != me {
        return Some(format!(
            "it belongs to user {owner}, not to you (user {me})"
        ));
    }
    if mode & 0o777 != 0o600 {
        return Some(format!("its mode is {:o}, not 600", mode & 0o777));
    }
    None
}

/// Reads `admin.json` as the CLI may trust it: not through a symlink, owned by the
/// current user, mode 0600, naming a loopback address. `Ok(None)` when there is none.
fn read_admin_file(path: &Path) -> Result<Option<AdminFile>> {
    use std::io::Read;
    let path = path.to_path_buf();
    let refuse = |why: String| {
        Error::internal(format!(
            "{}: {why}; not using it. Remove it: a running gateway writes a new one when it starts",
            path.display()
        ))
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    let file = match opts.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refuse("it is a symbolic link".into()))
        }
        Err(e) => return Err(refuse(e.to_string())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().map_err(|e| refuse(e.to_string()))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if let Some(why) = refuse_file(m.uid(), m.mode(), me) {
            return Err(refuse(why));
        }
    }
    let mut text = Vec::new();
    file.take(64 * 1024)
        .read_to_end(&mut text)
        .map_err(|e| refuse(e.to_string()))?;
    let f: AdminFile =
        serde_json::from_slice(&text).map_err(|e| refuse(format!("not readable: {e}")))?;
    let url = reqwest::Url::parse(&f.url).map_err(|e| refuse(format!("url: {e}")))?;
    let loopback = url.scheme() == "http"
        && url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback())
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty();
    if !loopback {
        return Err(refuse(format!(
            "its url {} is not http:// on a loopback address",
            f.url
        )));
    }
    Ok(Some(f))
}

/// The CLI's time limit on one call: `REGWAY_ADMIN_TIMEOUT_S` or [`DEFAULT_TIMEOUT`].
pub fn timeout() -> Duration {
    std::env::var("REGWAY_ADMIN_TIMEOUT_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

/// Says why the CLI will not use the listener in `admin.json`, and that it sent it
/// nothing; the caller then works on the store directly (which fails while a gateway
/// holds it).
fn distrust(url: &str, why: &str) -> Result<Option<serde_json::Value>> {
    eprintln!(
        "regway: warning: the operator channel at {url} (admin.json) {why}; nothing was sent to it"
    );
    tracing::warn!(url, why, "operator channel not trusted");
    Ok(None)
}

/// The CLI side: finds the running server through `<data>/admin.json`, checks that it
/// is the gateway of this store, and calls it. `Ok(None)` when no such gateway answers
/// there (then the CLI may open the store itself).
pub async fn call(
    data: &Path,
    path: &str,
    body: serde_json::Value,
) -> Result<Option<serde_json::Value>> {
    call_channel(&admin_file(data), data, path, body).await
}

/// [`call`] through the channel file at `file` (`admin.json`, `sandbox.json`) for the
/// gateway of the store in `data`.
pub async fn call_channel(
    file: &Path,
    data: &Path,
    path: &str,
    body: serde_json::Value,
) -> Result<Option<serde_json::Value>> {
    let Some(f) = read_admin_file(file)? else {
        return Ok(None);
    };
    let limit = timeout();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5).min(limit))
        .timeout(limit)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::internal(format!("operator channel: {e}")))?;
    let base = f.url.trim_end_matches('/');
    let took_too_long = |what: &str| {
        Error::internal(format!(
            "the gateway did not answer {what} within {} s (REGWAY_ADMIN_TIMEOUT_S); the \
             command may or may not have been carried out: check, or repeat a top-up or \
             withdrawal with the same --request-id",
            limit.as_secs()
        ))
    };
    // 1. The listener proves it knows the token, for this store.
    let challenge = new_token();
    let hello = Hello {
        challenge: challenge.clone(),
        store_id: f.store_id.clone(),
    };
    let resp = match client
        .post(format!("{base}/hello"))
        .json(&hello)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) if e.is_timeout() => return Err(took_too_long("the hello")),
        Err(_) => return distrust(&f.url, "did not answer as a gateway"),
    };
    let status = resp.status();
    let answer = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<HelloAnswer>(&b).ok());
    let Some(answer) = answer.filter(|_| status.is_success()) else {
        if status == reqwest::StatusCode::FORBIDDEN {
            return distrust(&f.url, "is a gateway of another store");
        }
        return distrust(&f.url, "did not answer as a gateway");
    };
    let proven = unhex(&answer.proof).is_some_and(|p| {
        hello_proof(&f.token, &challenge, &answer.store_id, &answer.nonce)
            .verify_slice(&p)
            .is_ok()
    });
    if !proven {
        return distrust(&f.url, "did not prove it holds this store's token");
    }
    if answer.store_id != f.store_id {
        return distrust(&f.url, "serves another store");
    }
    if answer.data_dir != data_dir_id(data)? {
        return distrust(
            &f.url,
            &format!(
                "serves another data directory than {} (a copy?)",
                data.display()
            ),
        );
    }
    // 2. The request, signed.
    let body = serde_json::to_vec(&body)?;
    let m = request_mac(&f.token, &answer.nonce, &f.store_id, path, &body);
    let resp = match client
        .post(format!("{base}{path}"))
        .header(
            reqwest::header::AUTHORIZATION,
            format!(
                "Regway-HMAC nonce={}, mac={}",
                answer.nonce,
                hex(&m.finalize().into_bytes())
            ),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(took_too_long("in time")),
        Err(e) => return Err(Error::internal(format!("operator channel: {e}"))),
    };
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.map_err(|e| {
        if e.is_timeout() {
            took_too_long("in time")
        } else {
            Error::internal(format!("operator channel: {e}"))
        }
    })?;
    if !status.is_success() {
        let code = v["code"].as_u64().unwrap_or(2400) as u16;
        let code = crate::error::Code::try_from(code).unwrap_or(crate::error::Code::Failed);
        return Err(Error::new(
            code,
            v["message"].as_str().unwrap_or("failed").to_string(),
        ));
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_others_or_readable_by_others_are_refused() {
        assert_eq!(refuse_file(1000, 0o100600, 1000), None);
        assert!(refuse_file(0, 0o100600, 1000).unwrap().contains("user 0"));
        assert!(refuse_file(1000, 0o100644, 1000).unwrap().contains("644"));
        assert!(refuse_file(1000, 0o100400, 1000).is_some());
    }

    #[test]
    fn signatures() {
        assert_eq!(
            signature("Regway-HMAC nonce=ab, mac=cd"),
            Some(("ab", "cd"))
        );
        assert_eq!(signature("Bearer x"), None);
        assert_eq!(signature("Regway-HMAC nonce=ab"), None);
        let c = Channel::new("t".into(), "s".into(), "d".into());
        let n = c.issue_nonce();
        assert!(c.take_nonce(&n));
        assert!(!c.take_nonce(&n), "a nonce is good once");
    }
}
