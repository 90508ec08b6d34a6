//! The HTTP server: hyper 1.x on tokio, routing by path only.
//!
//! Limits on what a client may send: a cap on connections (more wait to be accepted),
//! a time limit on the request head and on the body, a body-size cap (HTTP 413 before
//! the body is read past it). Shutdown is graceful: stop accepting, let requests in
//! flight finish, then flush the store.

use crate::dialect::mastername::MasterName;
use crate::dialect::namecheap::Namecheap;
use crate::dialect::native::Native;
use crate::dialect::{Dialect, HttpReply, HttpRequest};
use crate::engine::Engine;
use crate::error::Error;
use crate::gateway;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// The partner requests being carried out and, with the sandbox control API on, a gate
/// that holds new ones back while something must run with none in flight (its reset).
/// Without the gate a request costs one atomic counter, nothing shared to wait on.
#[derive(Default)]
pub struct InFlight {
    gate: Option<tokio::sync::RwLock<()>>,
    count: std::sync::atomic::AtomicUsize,
}

/// One partner request in flight.
pub struct Carried<'a> {
    _pass: Option<tokio::sync::RwLockReadGuard<'a, ()>>,
    count: &'a std::sync::atomic::AtomicUsize,
}

impl Drop for Carried<'_> {
    fn drop(&mut self) {
        self.count
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl InFlight {
    /// With a gate (`gated`) or without.
    pub fn new(gated: bool) -> InFlight {
        InFlight {
            gate: gated.then(|| tokio::sync::RwLock::new(())),
            count: Default::default(),
        }
    }

    /// Waits while the gate is closed, then counts a request in until dropped.
    pub async fn enter(&self) -> Carried<'_> {
        let pass = match &self.gate {
            Some(g) => Some(g.read().await),
            None => None,
        };
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Carried {
            _pass: pass,
            count: &self.count,
        }
    }

    /// Partner requests being carried out now.
    pub fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes the gate when no request is in flight: none starts until the guard is
    /// dropped. `None` while one is, or when there is no gate.
    pub fn quiet(&self) -> Option<tokio::sync::RwLockWriteGuard<'_, ()>> {
        self.gate.as_ref()?.try_write().ok()
    }
}

/// Serves partners on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    limits: Limits,
    in_flight: Arc<InFlight>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        let in_flight = in_flight.clone();
        let svc =
            service_fn(move |req| handle(engine.clone(), limits, in_flight.clone(), peer, req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_headers(100)
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; closing them");
        }
    }
}

fn to_response(r: HttpReply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(r.body));
    *resp.status_mut() = hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::OK);
    for (k, v) in r.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Reads the body within the limits; on failure, the error and its HTTP status.
async fn read_body(
    req: Request<Incoming>,
    limits: Limits,
) -> Result<(http::request::Parts, Bytes), (Error, u16)> {
    let too_large = || {
        (
            Error::syntax(format!(
                "the body is larger than {} bytes",
                limits.max_body_bytes
            )),
            413,
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let collect = Limited::new(body, limits.max_body_bytes).collect();
    tokio::pin!(collect);
    // A body that has already arrived (a small one mostly comes with the head) is
    // taken at once, without arming the timer; the rest waits at most `body_timeout`.
    let read = match std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await {
        Poll::Ready(r) => Ok(r),
        Poll::Pending => tokio::time::timeout(limits.body_timeout, collect).await,
    };
    match read {
        Err(_) => Err((Error::syntax("the body was not received in time"), 408)),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(_)) => Err((Error::syntax("the body could not be read"), 400)),
        Ok(Ok(c)) => Ok((parts, c.to_bytes())),
    }
}

async fn handle(
    engine: Arc<Engine>,
    limits: Limits,
    in_flight: Arc<InFlight>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    // Behind a trusted reverse proxy, the client is the one it names.
    let peer = if engine.trusted_proxies.is_empty() {
        peer
    } else {
        let values = |name: &str| -> Vec<&str> {
            req.headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        };
        let ip = crate::engine::auth::client_address(
            peer.ip(),
            &engine.trusted_proxies,
            &values("forwarded"),
            &values("x-forwarded-for"),
        );
        SocketAddr::new(ip, peer.port())
    };
    let _carried = match path.as_str() {
        "/api" | "/partner_gateway" | "/xml.response" => Some(in_flight.enter().await),
        _ => None,
    };
    let reply = match path.as_str() {
        // The dialects, by path (protocol/native.md, mastername.md, namecheap.md).
        "/api" => exchange(&Native, &engine, limits, peer, req).await,
        "/partner_gateway" => exchange(&MasterName, &engine, limits, peer, req).await,
        "/xml.response" => exchange(&Namecheap, &engine, limits, peer, req).await,
        "/healthz" => healthz(&engine).await,
        "/metrics" if !metrics_allowed(&engine, &req) => HttpReply {
            status: 401,
            headers: vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("www-authenticate", "Bearer".into()),
            ],
            body: Bytes::from_static(b"/metrics asks for its bearer token\n"),
        },
        "/metrics" => HttpReply {
            status: 200,
            headers: vec![("content-type", crate::metrics::CONTENT_TYPE.into())],
            body: Bytes::from(engine.render_metrics()),
        },
        _ => HttpReply {
            status: 404,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: Bytes::from(format!("no such endpoint: {path}; the API is at /api\n")),
        },
    };
    Ok(to_response(reply))
}

/// Whether a scrape may read `/metrics`: always without `metrics_token`, with it only
/// with one `Authorization: Bearer <token>` (compared in constant time).
fn metrics_allowed(engine: &Engine, req: &Request<Incoming>) -> bool {
    let Some(token) = &engine.metrics_token else {
        return true;
    };
    let mut all = req.headers().get_all(hyper::header::AUTHORIZATION).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return false;
    };
    let Some(given) = v.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    use sha2::{Digest, Sha256};
    // Digests first, so the comparison takes the same time whatever the lengths.
    let (a, b) = (Sha256::digest(given), Sha256::digest(token.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Whether the store answers and every upstream answers and accepts the gateway
/// (each probed with a timeout, at most once per `upstream::health::HEALTH_TTL`): HTTP
/// 200 when all do, 503 otherwise, with a JSON body naming what fails.
///
/// ```text
/// {"status":"ok","store":"ok","upstream":"ok","backend":"sandbox","upstreams":{"sandbox":"ok"}}
/// ```
async fn healthz(engine: &Engine) -> HttpReply {
    let store = match engine.has_partners() {
        Ok(_) => "ok".to_string(),
        Err(_) => "unreachable".to_string(),
    };
    let probed = engine.probes.health().await;
    let failing: Vec<String> = probed
        .iter()
        .filter_map(|h| h.problem.as_ref().map(|p| format!("{}: {p}", h.name)))
        .collect();
    let upstream = if failing.is_empty() {
        "ok".to_string()
    } else {
        failing.join("; ")
    };
    let upstreams: std::collections::BTreeMap<&str, &str> = probed
        .iter()
        .map(|h| (h.name.as_str(), h.problem.as_deref().unwrap_or("ok")))
        .collect();
    let ok = store == "ok" && failing.is_empty();
    // A struct, not a map: the fields come in the order the documents show.
    #[derive(serde::Serialize)]
    struct Health<'a> {
        status: &'a str,
        store: String,
        upstream: String,
        backend: &'a str,
        upstreams: std::collections::BTreeMap<&'a str, &'a str>,
    }
    let body = serde_json::to_string(&Health {
        status: if ok { "ok" } else { "degraded" },
        store,
        upstream,
        backend: engine.backend.name(),
        upstreams,
    })
    .unwrap_or_default();
    HttpReply {
        status: if ok { 200 } else { 503 },
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::from(format!("{body}\n")),
    }
}

/// One request of a dialect: the body read within the limits, decoded into one
/// envelope, run once through the pipeline, and the reply encoded.
async fn exchange<D: Dialect>(
    dialect: &D,
    engine: &Engine,
    limits: Limits,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> HttpReply {
    let received = Instant::now();
    let (parts, body) = match read_body(req, limits).await {
        Ok(x) => x,
        Err((e, status)) => return dialect.refuse(e, status, received),
    };
    let http_req = HttpRequest {
        method: parts.method.as_str(),
        query: parts.uri.query(),
        headers: &parts.headers,
        peer: peer.ip(),
        body: &body,
        received,
    };
    match dialect.decode(&http_req) {
        Ok((envelope, state)) => dialect.encode(state, gateway::execute(engine, envelope).await),
        Err(answer) => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::time::Duration;

    #[tokio::test]
    async fn the_gate_closes_only_when_nothing_is_in_flight() {
        assert!(InFlight::default().quiet().is_none(), "no gate to close");
        let f = std::sync::Arc::new(InFlight::new(true));
        let one = f.enter().await;
        assert_eq!(f.count(), 1);
        assert!(f.quiet().is_none(), "a request is in flight");
        drop(one);
        assert_eq!(f.count(), 0);
        let quiet = f.quiet().expect("nothing in flight");
        // A request arriving now waits until the gate opens again.
        let g = f.clone();
        let waiting = tokio::spawn(async move {
            let _c = g.enter().await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        assert_eq!(f.count(), 0);
        drop(quiet);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.count(), 0);
    }
}
