//! Upstream backends: where an accepted order is carried out (a registry, a parent
//! registrar, a licensing service). The engine only sees this trait; the in-process
//! sandbox is the default backend.
//!
//! Every order reaches the backend with a key unique to it (`login:request-id`), so a
//! backend can tell a second delivery of the same order from a new one, and `lookup`
//! can say what became of an order whose answer was lost.
//!
//! What a partner may see of an upstream's trouble is a fixed phrase ([`Trouble`]); the
//! detail (transport errors, the upstream's own words) is for the operator's log, with
//! the upstream's credentials taken out ([`Secrets`]).

pub mod health;
pub mod http;
pub mod ispsystem;
pub mod regway;
pub mod sandbox;

use crate::error::{Code, Result};
use crate::store::records::{Client, OrderKind};
use crate::types::names::Name;
use async_trait::async_trait;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct UpstreamOrder {
    pub key: String,
    pub domain: String,
    pub kind: OrderKind,
    /// The registrant of a registration, for upstreams that keep their own contacts.
    pub contact: Option<Client>,
    /// The upstream's own id of the licence a licence order is about, when it gave one.
    pub service: Option<String>,
    /// The configured name of the upstream the order goes to (the domain's own); None
    /// routes it by zone.
    pub upstream: Option<String>,
}

/// What the upstream did with an order.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamResult {
    /// Carried out.
    Done(Done),
    /// Taken, carried out later: ask again with `lookup`.
    Pending,
    /// Refused; nothing was done. The code is the one the partner gets, and `reason`
    /// is for the partner: it never carries a credential of the upstream.
    Failed { code: Code, reason: String },
    /// The upstream refused the gateway itself, not the order's data (its credentials,
    /// its money at the upstream, a request the upstream could not read): nothing was
    /// done. The partner gets a fixed message ([`REJECTED`]); `code` (the upstream's
    /// own, when it has one) and `detail` go to the operator's log and metrics.
    Rejected { code: u16, detail: String },
    /// The answer is not clear (timeout, garbage): the order may or may not have been
    /// carried out. Never sent again blindly; reconciled with `lookup`.
    Unknown(Trouble),
    /// (`lookup` only) the upstream has never seen this order.
    NotFound,
}

/// The gateway's own balance at an upstream (a parent regway's `balance.get`).
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    pub amount: f64,
    pub currency: String,
}

/// What a partner is told when the upstream refused the gateway itself.
pub const REJECTED: &str =
    "the registry refused the order for a reason on the gateway's side; the money was returned";

/// Why an upstream's answer is not clear: a fixed phrase a partner may see, and the
/// detail, for the operator's log only.
#[derive(Debug, Clone, PartialEq)]
pub struct Trouble {
    pub kind: TroubleKind,
    /// Already stripped of the upstream's credentials by the backend that made it.
    pub detail: String,
}

/// The kinds of unclear answers, each with the phrase a partner sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TroubleKind {
    /// No answer within the time allowed.
    Timeout,
    /// The upstream's address refused the connection.
    Refused,
    /// No connection (name resolution, TLS, a connection closed before any answer).
    Unreachable,
    /// The answer stopped in the middle.
    Cut,
    /// The answer was larger than [`http::MAX_ANSWER_BYTES`].
    TooLarge,
    /// An answer that is not what the upstream's protocol answers.
    BadAnswer,
    /// An HTTP status that is neither success nor a refusal the protocol defines.
    Http(u16),
    /// A result code that says nothing definite about the order.
    Code(u16),
    /// The upstream took the order without naming what it made or changed.
    Unconfirmed,
    /// The upstream cannot be asked what became of an order: an operator settles it.
    NoLookup,
    /// The backend is shutting down, or failed inside the gateway.
    Closed,
}

impl TroubleKind {
    pub fn phrase(self) -> String {
        match self {
            TroubleKind::Timeout => "the registry did not answer in time".into(),
            TroubleKind::Refused => "the registry refused the connection".into(),
            TroubleKind::Unreachable => "the registry could not be reached".into(),
            TroubleKind::Cut => "the registry's answer was cut off".into(),
            TroubleKind::TooLarge => "the registry's answer was too large".into(),
            TroubleKind::BadAnswer => "the registry's answer could not be read".into(),
            TroubleKind::Http(n) => format!("the registry answered HTTP {n}"),
            TroubleKind::Code(n) => format!("the registry answered {n}"),
            TroubleKind::Unconfirmed => "the registry did not confirm the order".into(),
            TroubleKind::NoLookup => {
                "the licensing service cannot be asked about the order; the operator settles it"
                    .into()
            }
            TroubleKind::Closed => "the registry connection is closed".into(),
        }
    }
}

/// Upstream text made fit for one log line: control characters escaped, cut to 512
/// characters (an error page can be long). Redact before, never after: a cut could
/// leave part of a credential.
pub fn log_text(text: &str) -> String {
    const MAX: usize = 512;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Trouble {
    /// `detail` must already be redacted; it is made fit for one log line here.
    pub fn new(kind: TroubleKind, detail: impl AsRef<str>) -> Trouble {
        Trouble {
            kind,
            detail: log_text(detail.as_ref()),
        }
    }

    /// The fixed phrase a partner sees.
    pub fn phrase(&self) -> String {
        self.kind.phrase()
    }
}

/// The forms an upstream's credentials can take in text that comes back from it or
/// from the HTTP stack: the password, `login:password`, their percent-encodings, and
/// the HTTP Basic token. Text holding one of them is redacted before it is logged and
/// never reaches a partner.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Longest first, so a longer form is replaced before a shorter one inside it.
    forms: Vec<String>,
}

impl Secrets {
    pub fn new(login: &str, password: &str) -> Secrets {
        use base64::Engine as _;
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        if password.is_empty() {
            return Secrets::default();
        }
        // What `application/x-www-form-urlencoded` leaves as it is.
        const FORM: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'*');
        let pair = format!("{login}:{password}");
        let mut forms = vec![
            base64::engine::general_purpose::STANDARD.encode(&pair),
            base64::engine::general_purpose::URL_SAFE.encode(&pair),
        ];
        for text in [password, pair.as_str()] {
            forms.push(text.to_string());
            forms.push(utf8_percent_encode(text, NON_ALPHANUMERIC).to_string());
            let form = utf8_percent_encode(text, FORM).to_string();
            forms.push(form.replace("%20", "+"));
            forms.push(form);
        }
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        forms.dedup();
        Secrets { forms }
    }

    /// Whether `text` holds a credential in any of its forms.
    pub fn holds(&self, text: &str) -> bool {
        self.forms.iter().any(|f| text.contains(f.as_str()))
    }

    /// `text` with every form of the credentials replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), "[redacted]");
            }
        }
        out
    }

    /// `text`, for a partner, when it holds no credential; `fallback` otherwise.
    pub fn public(&self, text: &str, fallback: &str) -> String {
        if self.holds(text) {
            fallback.to_string()
        } else {
            text.to_string()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Done {
    /// The expiry date the registry now holds for the domain.
    pub expires: Option<NaiveDate>,
    pub delegated: Option<bool>,
    /// The upstream's own id of a licence it created (an ISPsystem service id).
    pub service: Option<String>,
}

#[async_trait]
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;

    /// For each name, whether the registry would register it now.
    async fn check(&self, names: &[Name]) -> Result<Vec<bool>>;

    /// Carries out an order. Delivering the same key twice does it once.
    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult;

    /// What became of an order submitted earlier (or not at all).
    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult;

    /// Whether the upstream answers and accepts the gateway, by one cheap call
    /// (`/healthz`, through [`health::Probes`]); what is wrong, as a fixed phrase, when
    /// not. The caller bounds it in time.
    async fn probe(&self) -> std::result::Result<Option<Balance>, String> {
        Ok(None)
    }

    /// The configured name of the upstream a new order for `domain` goes to (its
    /// zone's), when this backend routes by name.
    fn upstream_for(&self, _domain: &str) -> Option<String> {
        None
    }

    /// Whether `name` is a configured upstream this backend can send orders to.
    fn knows_upstream(&self, _name: &str) -> bool {
        false
    }
}

/// A backend that counts its calls, errors and latency into the metrics. A call
/// dropped unfinished (the engine's timeout) counts as an error.
pub struct Measured {
    pub inner: std::sync::Arc<dyn Backend>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

struct CallGuard<'a> {
    metrics: &'a crate::metrics::Metrics,
    op: &'static str,
    started: std::time::Instant,
    ok: Option<bool>,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.metrics
            .upstream(self.op, self.ok.unwrap_or(false), self.started.elapsed());
    }
}

impl Measured {
    fn guard(&self, op: &'static str) -> CallGuard<'_> {
        CallGuard {
            metrics: &self.metrics,
            op,
            started: std::time::Instant::now(),
            ok: None,
        }
    }
}

fn clear(r: &UpstreamResult) -> bool {
    !matches!(
        r,
        UpstreamResult::Unknown(_) | UpstreamResult::Rejected { .. }
    )
}

impl Measured {
    fn count_rejection(&self, r: &UpstreamResult) {
        if let UpstreamResult::Rejected { code, .. } = r {
            self.metrics.upstream_rejected(*code);
        }
    }
}

#[async_trait]
impl Backend for Measured {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn check(&self, names: &[Name]) -> Result<Vec<bool>> {
        let mut g = self.guard("check");
        let r = self.inner.check(names).await;
        g.ok = Some(r.is_ok());
        r
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        let mut g = self.guard("submit");
        let r = self.inner.submit(order).await;
        g.ok = Some(clear(&r));
        self.count_rejection(&r);
        r
    }

    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult {
        let mut g = self.guard("lookup");
        let r = self.inner.lookup(order).await;
        g.ok = Some(clear(&r));
        self.count_rejection(&r);
        r
    }

    fn upstream_for(&self, domain: &str) -> Option<String> {
        self.inner.upstream_for(domain)
    }

    fn knows_upstream(&self, name: &str) -> bool {
        self.inner.knows_upstream(name)
    }
}

/// Chooses the backend of each order by the zone of its domain: the zone's own, else
/// the default one.
pub struct Router {
    default: Arc<dyn Backend>,
    /// Zone (ASCII, without the leading dot) → backend.
    zones: BTreeMap<String, Arc<dyn Backend>>,
    /// Where licence orders go.
    licenses: Arc<dyn Backend>,
    /// The configured upstreams by name, for orders that name theirs (a domain keeps
    /// the upstream it was registered with); the default's and each zone's names.
    names: Names,
}

/// The names of a [`Router`]'s upstreams.
#[derive(Default)]
pub struct Names {
    pub named: BTreeMap<String, Arc<dyn Backend>>,
    pub default: String,
    /// Zone → the name of its upstream, for zones that name one.
    pub zones: BTreeMap<String, String>,
}

impl Router {
    pub fn new(
        default: Arc<dyn Backend>,
        zones: BTreeMap<String, Arc<dyn Backend>>,
        licenses: Arc<dyn Backend>,
    ) -> Router {
        Router {
            default,
            zones,
            licenses,
            names: Names::default(),
        }
    }

    /// The same router, knowing its upstreams by name.
    pub fn with_names(mut self, names: Names) -> Router {
        self.names = names;
        self
    }

    /// The name of the upstream a new order for `domain` goes to by its zone.
    fn name_of(&self, domain: &str) -> Option<String> {
        if self.names.named.is_empty() {
            return None;
        }
        let mut rest = domain;
        while let Some((_, tail)) = rest.split_once('.') {
            if self.zones.contains_key(tail) {
                return self.names.zones.get(tail).cloned();
            }
            rest = tail;
        }
        Some(self.names.default.clone())
    }

    /// The backend of an order: the licences', the one it names, or its zone's. An
    /// order naming an upstream no longer configured has none.
    fn route_order(&self, order: &UpstreamOrder) -> Option<&Arc<dyn Backend>> {
        match (order.kind.license(), &order.upstream) {
            (Some(_), _) => Some(&self.licenses),
            (None, Some(name)) if !self.names.named.is_empty() => self.names.named.get(name),
            (None, _) => Some(self.route(&order.domain)),
        }
    }

    /// What an order naming an upstream that is no longer configured gets.
    fn unroutable(order: &UpstreamOrder) -> Trouble {
        Trouble::new(
            TroubleKind::Closed,
            format!(
                "the upstream {:?} this domain was registered with is not configured: \
                 configure it again, or move the domain (`regway domain move`)",
                order.upstream.as_deref().unwrap_or_default()
            ),
        )
    }

    /// The backend of a domain name: the longest configured zone it ends in.
    pub fn route(&self, domain: &str) -> &Arc<dyn Backend> {
        let mut rest = domain;
        while let Some((_, tail)) = rest.split_once('.') {
            if let Some(b) = self.zones.get(tail) {
                return b;
            }
            rest = tail;
        }
        &self.default
    }
}

#[async_trait]
impl Backend for Router {
    /// `sandbox` only when every zone and the licences go to the sandbox (the demo
    /// partner, with its free money, is created only then).
    fn name(&self) -> &'static str {
        let name = self.default.name();
        let mut all = self.zones.values().chain(std::iter::once(&self.licenses));
        if all.all(|b| b.name() == name) {
            name
        } else {
            "mixed"
        }
    }

    async fn check(&self, names: &[Name]) -> Result<Vec<bool>> {
        // One call per backend, with that backend's names; answers go back in order.
        let mut groups: Vec<(&Arc<dyn Backend>, Vec<usize>)> = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let b = self.route(n.ascii());
            match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, b)) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((b, vec![i])),
            }
        }
        let mut out = vec![false; names.len()];
        for (b, idx) in groups {
            let these: Vec<Name> = idx.iter().map(|&i| names[i].clone()).collect();
            for (i, free) in idx.into_iter().zip(b.check(&these).await?) {
                out[i] = free;
            }
        }
        Ok(out)
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        match self.route_order(order) {
            Some(b) => b.submit(order).await,
            None => {
                let t = Router::unroutable(order);
                tracing::error!(domain = %order.domain, detail = %t.detail, "order not sent");
                UpstreamResult::Failed {
                    code: Code::Failed,
                    reason: "the domain's registry is not available here; the money was returned"
                        .into(),
                }
            }
        }
    }

    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult {
        match self.route_order(order) {
            Some(b) => b.lookup(order).await,
            None => UpstreamResult::Unknown(Router::unroutable(order)),
        }
    }

    fn upstream_for(&self, domain: &str) -> Option<String> {
        self.name_of(domain)
    }

    fn knows_upstream(&self, name: &str) -> bool {
        self.names.named.contains_key(name)
    }
}
