//! The operator channel: a second HTTP listener on loopback only, for the `regway
//! partner …` and `regway verify` commands while the gateway runs (sled lets one
//! process open the store, so the CLI must ask the running server).
//!
//! On start the server writes `<data>/admin.json` (mode 0600) with the channel's URL
//! and a fresh random token; the CLI reads it from the same `--data` directory and
//! sends the token as `Authorization: Bearer …`. Requests and answers are JSON:
//!
//! ```text
//! POST /partner/add     {"login":"acme","currency":"RUB","credit_limit":"0","allow_ips":[]}
//! POST /partner/topup   {"login":"acme","amount":"1000.00","note":"invoice 17"}
//! POST /partner/withdraw {"login":"acme","amount":"500.00","note":"…","commission":false}
//! POST /partner/show    {"login":"acme"}
//! POST /verify          {}
//! POST /order/list      {"state":"unknown","partner":"acme"}
//! POST /order/settle    {"order":7,"state":"failed","note":"not at the vendor (ticket 12)"}
//! error: {"code":2303,"message":"no partner acme"} with the code's HTTP status
//! ```

use crate::engine::operator::NewPartner;
use crate::engine::Engine;
use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminFile {
    pub url: String,
    pub token: String,
}

pub fn admin_file(data: &Path) -> PathBuf {
    data.join("admin.json")
}

/// Writes the channel's address and token for the CLI, readable by the owner only.
pub fn write_admin_file(data: &Path, f: &AdminFile) -> Result<()> {
    let path = admin_file(data);
    let tmp = data.join("admin.json.tmp");
    let text = serde_json::to_vec_pretty(f)?;
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(&tmp)
            .map_err(|e| Error::internal(format!("writing {}: {e}", tmp.display())))?;
        file.write_all(&text)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::internal(format!("writing {}: {e}", tmp.display())))?;
    }
    std::fs::rename(&tmp, &path)
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
}

pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    token: String,
    shutdown: impl Future<Output = ()>,
) {
    let token = Arc::new(token);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let engine = engine.clone();
        let token = token.clone();
        let svc = service_fn(move |req| {
            let engine = engine.clone();
            let token = token.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&engine, &token, req).await) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
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

fn unknown_state() -> String {
    "unknown".into()
}

#[derive(Deserialize)]
struct Topup {
    login: String,
    amount: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
struct Withdraw {
    login: String,
    amount: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    commission: bool,
}

fn json_response(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &Error) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"code": e.code.number(), "message": e.message});
    json_response(e.http(), body.to_string().into_bytes())
}

async fn handle(engine: &Engine, token: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = auth.len() == token.len()
        && auth
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !ok {
        return error_response(&Error::auth());
    }
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_response(&Error::syntax("body too large")),
    };
    let result: Result<Vec<u8>> = async {
        let parse = |b: &[u8]| -> Result<serde_json::Value> {
            serde_json::from_slice(if b.is_empty() { b"{}" } else { b })
                .map_err(|e| Error::syntax(format!("JSON: {e}")))
        };
        let v = parse(&body)?;
        Ok(match path.as_str() {
            "/partner/add" => {
                let p: NewPartner =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.add_partner(p).await?)?
            }
            "/partner/topup" => {
                let t: Topup =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.topup(&t.login, &t.amount, &t.note).await?)?
            }
            "/partner/withdraw" => {
                let w: Withdraw =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(
                    &engine
                        .withdraw(&w.login, &w.amount, &w.note, w.commission)
                        .await?,
                )?
            }
            "/partner/show" => {
                let l: Login =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.show_partner(&l.login)?)?
            }
            "/verify" => serde_json::to_vec(&engine.verify().await?)?,
            "/order/list" => {
                let l: OrderList =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.list_open_orders(&l.state, l.partner.as_deref())?)?
            }
            "/order/settle" => {
                let s: crate::engine::operator::Settle =
                    serde_json::from_value(v).map_err(|e| Error::syntax(e.to_string()))?;
                serde_json::to_vec(&engine.settle_order(s).await?)?
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

/// The CLI side: finds the running server through `<data>/admin.json` and calls it.
/// `Ok(None)` when no server answers there (then the CLI may open the store itself).
pub async fn call(
    data: &Path,
    path: &str,
    body: serde_json::Value,
) -> Result<Option<serde_json::Value>> {
    let Ok(text) = std::fs::read(admin_file(data)) else {
        return Ok(None);
    };
    let f: AdminFile = serde_json::from_slice(&text)
        .map_err(|e| Error::internal(format!("{}: {e}", admin_file(data).display())))?;
    let client = reqwest::Client::new();
    let resp = match client
        .post(format!("{}{path}", f.url))
        .bearer_auth(&f.token)
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) => return Err(Error::internal(format!("operator channel: {e}"))),
    };
    let status = resp.status();
    let v: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| Error::internal(format!("operator channel: {e}")))?;
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
