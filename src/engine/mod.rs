//! The engine: the only place with business rules. Every dialect hands it a
//! [`Request`] and gets an [`Outcome`] back; authentication, validation, pricing,
//! idempotency, the ledger and order state all live below this module.

pub mod auth;
pub mod background;
pub mod catalogue;
pub mod demo;
pub mod licenses;
pub mod limits;
pub mod operator;
pub mod orders;
pub mod pricing;
pub mod programme;
pub mod renew_window;
pub mod retention;
pub mod services;
pub mod statement;

use crate::command::{params::check_request_id, params::Params, Command};
use crate::config::Config;
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{OrderState, Partner, RequestRecord};
use crate::store::{keys, Store, Tx};
use crate::types::clock::Clock;
use crate::upstream::Backend;
use auth::{Authenticator, Credentials};
use catalogue::Catalogue;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Engine {
    pub store: Store,
    pub backend: Arc<dyn Backend>,
    pub catalogue: Catalogue,
    pub licenses: licenses::Licenses,
    /// Which category each zone and licence product is in (for the service counts).
    pub categories: Arc<services::Categories>,
    pub programmes: programme::Programmes,
    pub clock: Clock,
    pub client_suffix: String,
    pub upstream_timeout: Duration,
    /// `dialect_renew_window_minutes`; zero when off (`renew_window`).
    pub dialect_renew_window: Duration,
    pub auth: Authenticator,
    pub limits: limits::Limiter,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Open orders by state, for the gauge.
    pub open_orders: Arc<crate::metrics::OpenOrders>,
    /// The bearer token `/metrics` asks for, when set (`metrics_token`).
    pub metrics_token: Option<String>,
    /// Orders a request is carrying out right now; the reconciler leaves them alone.
    live_orders: Mutex<HashSet<String>>,
    /// Woken whenever a claim in `live_orders` is let go of, and whenever an order is
    /// accepted (its request record written).
    released: tokio::sync::Notify,
    /// Open orders the reconciler leaves alone for a while (unclear answers).
    pub backoffs: orders::Backoffs,
    /// Partner records as last decoded, by login, with the bytes they came from.
    partners: Mutex<HashMap<String, (sled::IVec, Arc<Partner>)>>,
}

/// Partner records kept decoded; past this many the cache starts again empty.
const PARTNER_CACHE: usize = 4096;

/// One decoded request, whatever dialect it came in.
pub struct Request {
    /// The dialect it came in (logs and metrics).
    pub dialect: &'static str,
    pub credentials: Option<Credentials>,
    pub peer: IpAddr,
    pub command: String,
    pub request_id: Option<String>,
    pub params: Params,
    /// Sent as `GET`: only read-only commands are allowed.
    pub read_only: bool,
}

pub struct Reply {
    pub outcome: Outcome,
    /// The outcome is a stored one, given again for a repeated request-id.
    pub replayed: bool,
}

/// What a command sees of the request that carries it.
pub struct Ctx<'a> {
    pub eng: &'a Engine,
    pub partner: Partner,
    /// Set (and checked) for every mutating command.
    pub request_id: Option<String>,
    /// The command's canonical form, to tell a retry from a reuse of the request-id.
    pub fingerprint: String,
}

/// What a write guarded by a request-id found.
pub enum Fresh<T> {
    Done(T),
    /// The request-id was already used with the same parameters.
    Replay(Box<RequestRecord<Outcome>>),
}

impl Engine {
    pub fn new(
        cfg: &Config,
        store: Store,
        backend: Arc<dyn Backend>,
        clock: Clock,
    ) -> Result<Engine> {
        let catalogue = Catalogue::new(cfg.builtin_zones, &cfg.zones, &cfg.partner_prices)?;
        for z in catalogue.zones() {
            if !cfg.categories.contains(&z.category) {
                return Err(Error::syntax(format!(
                    "zone {}: unknown category {:?} (configured: {})",
                    z.name,
                    z.category,
                    cfg.categories.join(", ")
                )));
            }
        }
        let mut licenses = licenses::Licenses::new(cfg.builtin_licenses, &cfg.licenses)?;
        licenses.ip_rules = licenses::IpRules::of(cfg);
        for p in licenses.products() {
            if !cfg.categories.contains(&p.category) {
                return Err(Error::syntax(format!(
                    "licenses.{}: unknown category {:?} (configured: {})",
                    p.id,
                    p.category,
                    cfg.categories.join(", ")
                )));
            }
        }
        let zones: Vec<String> = catalogue.zones().map(|z| z.name.clone()).collect();
        let programmes = pricing::load_programmes(cfg, &zones)?;
        pricing::build_day_totals(&store)?;
        let categories = Arc::new(services::Categories::new(&catalogue, &licenses));
        services::rebuild_if_needed(&store, &categories)?;
        services::build_expiry_index(&store)?;
        check_programme_currencies(&store, &programmes)?;
        let metrics = Arc::new(crate::metrics::Metrics::default());
        // Open orders by state: watched from every write, then counted once (nothing
        // else writes while the engine is being made).
        let open_orders = Arc::new(crate::metrics::OpenOrders::default());
        let watch = open_orders.clone();
        store.observe(
            keys::all_orders(),
            Box::new(move |_, old, new| {
                let state = |v: Option<&[u8]>| v.and_then(OrderState::of_stored);
                watch.moved(
                    state(old).map(OrderState::as_str),
                    state(new).map(OrderState::as_str),
                )
            }),
        );
        for (k, login) in store
            .scan::<String>(&keys::open_orders(), None, false)
            .flatten()
        {
            let key = keys::order(&login, keys::trailing_id(&k));
            if let Some(o) = store.get::<crate::store::records::Order>(&key)? {
                open_orders.count(o.state.as_str());
            }
        }
        Ok(Engine {
            open_orders,
            metrics_token: cfg.metrics_token.clone(),
            catalogue,
            licenses,
            categories,
            programmes,
            store,
            backend: Arc::new(crate::upstream::Measured {
                inner: backend,
                metrics: metrics.clone(),
            }),
            metrics,
            clock,
            client_suffix: cfg.client_suffix.clone(),
            upstream_timeout: Duration::from_millis(cfg.upstream_timeout_ms),
            dialect_renew_window: Duration::from_secs(
                u64::from(cfg.dialect_renew_window_minutes) * 60,
            ),
            auth: Authenticator::default(),
            limits: limits::Limiter::new(&cfg.limits),
            live_orders: Mutex::new(HashSet::new()),
            released: tokio::sync::Notify::new(),
            backoffs: orders::Backoffs::default(),
            partners: Mutex::new(HashMap::new()),
        })
    }

    pub async fn execute(&self, req: Request) -> Reply {
        let started = std::time::Instant::now();
        let dialect = req.dialect;
        let command = crate::command::label(&req.command);
        // The login as claimed (it may not exist); never the password. Only built when
        // the request log is on.
        let login: Option<String> = tracing::enabled!(tracing::Level::INFO).then(|| {
            req.credentials
                .as_ref()
                .map(|c| c.login.chars().take(64).collect())
                .unwrap_or_default()
        });
        // A malformed request-id is refused, never echoed back.
        let rid = req
            .request_id
            .clone()
            .filter(|r| check_request_id(r).is_ok());
        let reply = self.execute_inner(req, rid.clone()).await;
        let code = reply.outcome.code.number();
        let took = started.elapsed();
        self.metrics.request(dialect, command, code, took);
        if let Some(login) = login {
            tracing::info!(
                dialect,
                partner = %login,
                command,
                request_id = rid.as_deref().unwrap_or(""),
                code,
                replayed = reply.replayed,
                ms = took.as_millis() as u64,
                "request"
            );
        }
        reply
    }

    /// The partner's record as stored now, or `None` when there is no such partner.
    /// Decoding a record is a good part of a small request's cost, so the last decoded
    /// copy is kept with the bytes it came from and used again while the stored bytes
    /// are the same; they are read and compared on every call, so it is never stale.
    pub fn partner(&self, login: &str) -> Result<Option<Arc<Partner>>> {
        let Some(bytes) = self.store.get_bytes(&keys::partner(login))? else {
            return Ok(None);
        };
        if let Some((b, p)) = self
            .partners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(login)
        {
            if *b == bytes {
                return Ok(Some(p.clone()));
            }
        }
        let p: Arc<Partner> = Arc::new(Store::decode(&bytes)?);
        let mut cache = self.partners.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= PARTNER_CACHE && !cache.contains_key(login) {
            cache.clear();
        }
        cache.insert(login.to_string(), (bytes, p.clone()));
        Ok(Some(p))
    }

    async fn execute_inner(&self, req: Request, rid: Option<String>) -> Reply {
        match self.run(req).await {
            Ok(mut reply) => {
                if reply.outcome.request_id.is_none() && !reply.replayed {
                    reply.outcome.request_id = rid;
                }
                reply
            }
            Err(e) => {
                let mut outcome = Outcome::error(e);
                outcome.request_id = rid;
                Reply {
                    outcome,
                    replayed: false,
                }
            }
        }
    }

    async fn run(&self, req: Request) -> Result<Reply> {
        let partner = self
            .authenticate(req.credentials.as_ref(), req.peer)
            .await?;
        let mut params = req.params;
        let command = Command::parse(&req.command, &mut params, req.request_id.as_deref())?;
        params.finish()?;
        let mutating = command.is_mutating();
        // Before the request-id is looked at: a limited request takes nothing.
        let action = if mutating {
            limits::Action::Order
        } else {
            limits::Action::Read
        };
        self.limits.partner(&partner.login, action)?;
        if mutating && req.read_only {
            return Err(Error::syntax(format!(
                "{} changes state: send it with POST",
                command.name()
            )));
        }
        // The envelope's request-id is checked after the command's own parameters, on
        // every command: a read-only command echoes it, so a malformed one is refused
        // there too (`protocol/native.md`, "Request").
        let request_id = match req.request_id {
            None if mutating => return Err(Error::missing("request-id")),
            None => None,
            Some(rid) => {
                check_request_id(&rid)?;
                Some(rid)
            }
        };
        let ctx = Ctx {
            eng: self,
            fingerprint: command.fingerprint(),
            partner,
            request_id,
        };
        if mutating {
            // Fast path for a retry: answer from the record without queueing a write.
            // The write itself checks again, atomically.
            let rid = ctx.request_id.as_deref().unwrap_or_default();
            if let Some(rec) = self
                .store
                .get::<RequestRecord<Outcome>>(&keys::request(&ctx.partner.login, rid))?
            {
                return self.replay(&ctx, rec);
            }
        }
        match command.apply(&ctx).await? {
            Fresh::Done(outcome) => Ok(Reply {
                outcome,
                replayed: false,
            }),
            Fresh::Replay(rec) => self.replay(&ctx, *rec),
        }
    }

    async fn authenticate(&self, cred: Option<&Credentials>, peer: IpAddr) -> Result<Partner> {
        let Some(cred) = cred else {
            self.limits.anonymous(peer)?;
            return Err(Error::new(
                crate::error::Code::Auth,
                "credentials missing: use HTTP Basic or the login and password fields",
            ));
        };
        // The order matters (README, "Limits and security"): a locked-out address or
        // (address, login) pair is refused before anything else; a partner's allow-list
        // is checked before its password, so a refused address learns nothing of the
        // password and is not counted as a failed login; a login under attack waits its
        // turn; then the password is checked, against a dummy hash when the login does
        // not exist, so that takes as long as a wrong password.
        let attempt = self.limits.attempt(peer, &cred.login);
        self.limits.check_locked(&attempt)?;
        let partner = self.partner(&cred.login)?;
        if let Some(p) = &partner {
            if !auth::ip_allowed(p, peer) {
                return Err(Error::forbidden(format!(
                    "requests from {peer} are not allowed for this partner"
                ))
                .about(Object::Address));
            }
        }
        let wait = self.limits.login_turn(&attempt)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let hash = partner
            .as_ref()
            .map_or(auth::dummy_hash(), |p| p.password_hash.as_str());
        let still_allowed = || self.limits.check_locked(&attempt);
        let ok = self
            .auth
            .verify(&cred.login, hash, &cred.password, still_allowed)
            .await?;
        let partner = match partner {
            Some(p) if ok => p,
            _ => {
                self.limits.failed_login(&attempt, &cred.login)?;
                return Err(Error::auth());
            }
        };
        self.limits.logged_in(&attempt);
        if partner.suspended {
            return Err(Error::forbidden("partner account is suspended").about(Object::Account));
        }
        Ok(Partner::clone(&partner))
    }

    /// The Prometheus exposition: the request and upstream metrics, and the counters
    /// the limiter and the authenticator keep.
    pub fn render_metrics(&self) -> String {
        use std::sync::atomic::Ordering;
        let rejected = self
            .limits
            .rejections()
            .into_iter()
            .map(|(a, n)| (format!("limit=\"{}\"", a.name()), n))
            .collect();
        // Persistent counters: every balance change is one ledger entry, every order
        // takes one number. Open orders are counted as they change (OpenOrders).
        let counter = |name: &str| {
            self.store
                .get::<u64>(&keys::counter(name))
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        let open = self.open_orders.get();
        self.metrics.render(&[
            (
                "regway_orders_created_total",
                "Orders accepted since the store was created.",
                "counter",
                vec![(String::new(), counter("order"))],
            ),
            (
                "regway_open_orders",
                "Orders not yet completed or failed, by state.",
                "gauge",
                open.into_iter()
                    .map(|(st, n)| (format!("state=\"{st}\""), n))
                    .collect(),
            ),
            (
                "regway_balance_mutations_total",
                "Balance changes (ledger entries: top-ups, charges, refunds, adjustments) since the store was created.",
                "counter",
                vec![(String::new(), counter("ledger"))],
            ),
            (
                "regway_rate_limited_total",
                "Requests refused by a rate limit or the lock-out (code 2502).",
                "counter",
                rejected,
            ),
            (
                "regway_password_checks_total",
                "Password checks that ran argon2 (cache misses).",
                "counter",
                vec![(String::new(), self.auth.slow_checks.load(Ordering::Relaxed))],
            ),
            (
                "regway_rate_limit_keys",
                "Keys (partners, addresses, logins) the rate limiters remember.",
                "gauge",
                vec![(String::new(), self.limits.keys() as u64)],
            ),
        ])
    }

    /// The answer for a request-id seen before.
    fn replay(&self, ctx: &Ctx<'_>, rec: RequestRecord<Outcome>) -> Result<Reply> {
        if rec.params != ctx.fingerprint {
            return Err(Error::reused(&rec.request_id));
        }
        let outcome = match rec.outcome {
            Some(o) => o,
            None => {
                let order = self.order_of(&ctx.partner.login, rec.order)?;
                let mut o = Outcome::pending(Data::Order(Box::new(order)));
                o.request_id = Some(rec.request_id);
                o
            }
        };
        Ok(Reply {
            outcome,
            replayed: true,
        })
    }

    fn order_of(&self, login: &str, id: Option<u64>) -> Result<crate::store::records::Order> {
        let id = id.ok_or_else(|| Error::internal("pending request without an order"))?;
        self.store
            .get(&keys::order(login, id))?
            .ok_or_else(|| Error::internal(format!("order {id} is missing")))
    }

    /// Runs `f` once per request-id: inside the committer, checks the request-id, runs
    /// `f` and stores its outcome with the request-id, all in one atomic write. An
    /// error from `f` stores nothing, so the request-id stays free for a corrected retry.
    pub async fn write_once<F>(
        &self,
        ctx: &Ctx<'_>,
        command: &'static str,
        f: F,
    ) -> Result<Fresh<Outcome>>
    where
        F: FnOnce(&mut Tx<'_>, &Partner) -> Result<Outcome> + Send + 'static,
    {
        let login = ctx.partner.login.clone();
        let rid = ctx
            .request_id
            .clone()
            .ok_or_else(|| Error::internal("mutating command without request-id"))?;
        let fingerprint = ctx.fingerprint.clone();
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let partner: Partner = tx
                    .get(&keys::partner(&login))?
                    .ok_or_else(|| Error::internal("partner vanished"))?;
                if let Some(rec) = tx.get::<RequestRecord<Outcome>>(&keys::request(&login, &rid))? {
                    return Ok(Fresh::Replay(Box::new(rec)));
                }
                let mut outcome = f(tx, &partner)?;
                outcome.request_id = Some(rid.clone());
                tx.put(
                    keys::request(&login, &rid),
                    &RequestRecord {
                        request_id: rid,
                        command: command.to_string(),
                        params: fingerprint,
                        created: now,
                        order: None,
                        outcome: Some(outcome.clone()),
                    },
                )?;
                Ok(Fresh::Done(outcome))
            })
            .await
    }

    /// Claims the order of `login`'s `request_id` for this task until the guard is
    /// dropped; `None` when another task (a request, or the reconciler) holds it.
    /// A request claims before its accepting write, so the reconciler can never take up
    /// an order between that write and its request's upstream call.
    fn claim_order(&self, login: &str, request_id: &str) -> Option<LiveGuard<'_>> {
        let key = format!("{login}\0{request_id}");
        let claimed = self
            .live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        // A guard is made only when the claim is this task's: dropping one releases it.
        claimed.then(|| LiveGuard { eng: self, key })
    }

    /// Claims like [`Engine::claim_order`], waiting while another task holds the claim
    /// (a request with the same request-id, or the reconciler asking about its order).
    /// The holder's upstream call is bounded by the upstream timeout, so is the wait.
    async fn claim_order_wait(&self, login: &str, request_id: &str) -> LiveGuard<'_> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(g) = self.claim_order(login, request_id) {
                return g;
            }
            released.await;
        }
    }

    /// The order's claim, or — while another task holds it — the request record as soon
    /// as that task has written it (the order is accepted: the caller answers from the
    /// record and never waits for the other's upstream call).
    async fn claim_or_record(
        &self,
        login: &str,
        request_id: &str,
    ) -> std::result::Result<LiveGuard<'_>, Box<RequestRecord<Outcome>>> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before trying, so a change between the try and the wait is
            // not missed.
            released.as_mut().enable();
            if let Some(g) = self.claim_order(login, request_id) {
                return Ok(g);
            }
            if let Ok(Some(rec)) = self
                .store
                .get::<RequestRecord<Outcome>>(&keys::request(login, request_id))
            {
                return Err(Box::new(rec));
            }
            released.await;
        }
    }

    /// Wakes the tasks waiting in [`Engine::claim_or_record`].
    fn wake_claim_waiters(&self) {
        self.released.notify_waiters();
    }
}

/// Refuses programmes whose currency is not that of a partner they list.
fn check_programme_currencies(store: &Store, programmes: &programme::Programmes) -> Result<()> {
    for p in programmes.all() {
        for login in &p.partners {
            if let Some(partner) = store.get::<Partner>(&keys::partner(login))? {
                if partner.currency != p.currency {
                    return Err(Error::syntax(format!(
                        "programme {}: partner {login} keeps its account in {}, the programme is in {}",
                        p.name, partner.currency, p.currency
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Marks an order (by its partner and request-id) as driven by one task until dropped.
pub struct LiveGuard<'a> {
    eng: &'a Engine,
    key: String,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.eng
            .live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        self.eng.released.notify_waiters();
    }
}
