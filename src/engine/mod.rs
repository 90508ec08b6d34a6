//! The engine: the only place with business rules. Commands call it with a [`Ctx`]
//! (the authenticated partner and the request-id the gateway checked); validation,
//! pricing, the ledger and order state all live below this module.

pub mod answer;
pub mod auth;
pub mod catalogue;
pub mod demo;
pub mod ledger;
pub mod licenses;
pub mod limits;
pub mod moves;
pub mod operator;
pub mod orders;
pub mod pricing;
pub mod programme;
pub mod renew_window;
pub mod retention;
pub mod services;
pub mod statement;
pub mod webhooks;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::records::{OrderState, Partner, RequestRecord};
use crate::store::{requests, Store, Tx};
use crate::types::clock::Clock;
use crate::upstream::Backend;
pub use answer::{Answer, OrderAnswer};
use auth::Authenticator;
use catalogue::Catalogue;
use std::collections::HashSet;
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
    /// The upstreams `/healthz` probes, by name (`app::open_engine` names each
    /// configured one; by default the backend alone).
    pub probes: crate::upstream::health::Probes,
    /// The reverse proxies whose forwarding headers name the client (`trusted_proxies`).
    pub trusted_proxies: Vec<auth::Cidr>,
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
    /// Delivering partners' events (webhooks).
    pub webhooks: webhooks::deliver::Hub,
}

/// What a command sees of the request that carries it.
pub struct Ctx<'a> {
    pub eng: &'a Engine,
    /// As read when the request was authenticated (shared, not copied).
    pub partner: Arc<Partner>,
    /// Set (and checked) for every mutating command.
    pub request_id: Option<String>,
    /// The command's canonical form, to tell a retry from a reuse of the request-id.
    pub fingerprint: String,
    /// The partner's user that sent the request; `None`: the partner's main login.
    pub user: Option<crate::store::records::User>,
}

impl Ctx<'_> {
    /// The login orders and ledger entries record as having caused them: the user's,
    /// or `None` for the main login.
    pub fn by(&self) -> Option<String> {
        self.user.as_ref().map(|u| u.login.clone())
    }
}

/// What a write guarded by a request-id found.
pub enum Fresh<T, A = T> {
    Done(T),
    /// The request-id was already used with the same parameters.
    Replay(Box<RequestRecord<A>>),
}

/// What the configuration's checks build: the catalogues and the programmes.
pub struct Checked {
    pub trusted_proxies: Vec<auth::Cidr>,
    pub catalogue: Catalogue,
    pub licenses: licenses::Licenses,
    pub programmes: programme::Programmes,
}

impl Engine {
    /// The checks of the configuration that need no store: the zone and licence
    /// catalogues, their categories, the programme files. `regway serve` runs them
    /// before it opens the store, `regway config check` runs them alone.
    pub fn check_config(cfg: &Config) -> Result<Checked> {
        let at = |key: &str, e: Error| cfg.at(None, key, &e.message);
        let catalogue = Catalogue::new(cfg.builtin_zones, &cfg.zones, &cfg.partner_prices)
            .map_err(|e| at(&config_key_of(&e.message, "zones"), e))?;
        for z in catalogue.zones() {
            if !cfg.categories.contains(&z.category) {
                return Err(cfg.at(
                    None,
                    &format!("zones.{}.category", z.name),
                    &format!(
                        "zone {}: unknown category {:?} (configured: {})",
                        z.name,
                        z.category,
                        cfg.categories.join(", ")
                    ),
                ));
            }
        }
        let mut licenses = licenses::Licenses::new(cfg.builtin_licenses, &cfg.licenses)
            .map_err(|e| at(&config_key_of(&e.message, "licenses"), e))?;
        licenses.ip_rules = licenses::IpRules::of(cfg);
        for p in licenses.products() {
            if !cfg.categories.contains(&p.category) {
                return Err(cfg.at(
                    None,
                    &format!("licenses.{}.category", p.id),
                    &format!(
                        "licenses.{}: unknown category {:?} (configured: {})",
                        p.id,
                        p.category,
                        cfg.categories.join(", ")
                    ),
                ));
            }
        }
        let zones: Vec<String> = catalogue.zones().map(|z| z.name.clone()).collect();
        let programmes = pricing::load_programmes(cfg, &zones)?;
        let trusted_proxies = cfg
            .trusted_proxies
            .iter()
            .map(|c| {
                auth::Cidr::parse(c).map_err(|_| {
                    cfg.at(
                        None,
                        "trusted_proxies",
                        &format!("trusted_proxies: {c:?} is not an IP address or CIDR network"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Checked {
            trusted_proxies,
            catalogue,
            licenses,
            programmes,
        })
    }

    pub fn new(
        cfg: &Config,
        store: Store,
        backend: Arc<dyn Backend>,
        clock: Clock,
    ) -> Result<Engine> {
        let Checked {
            trusted_proxies,
            catalogue,
            licenses,
            programmes,
        } = Engine::check_config(cfg)?;
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
        store.watch_orders(Box::new(move |old, new| {
            watch.moved(old.map(OrderState::as_str), new.map(OrderState::as_str))
        }));
        for (id, login) in store.open_orders().flatten() {
            if let Some(o) = store.order(&login, id)? {
                open_orders.count(o.state.as_str());
            }
        }
        let probes = crate::upstream::health::Probes::new(
            vec![(backend.name().to_string(), backend.clone())],
            probe_timeout(cfg),
            metrics.clone(),
        );
        Ok(Engine {
            webhooks: webhooks::deliver::Hub::new(&cfg.webhooks)?,
            trusted_proxies,
            probes,
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
        })
    }

    /// The partner's record as stored now, or `None` when there is no such partner.
    /// Decoding a record is a good part of a small request's cost, so the store keeps
    /// the last decoded copy while the stored record is the same (never stale).
    pub fn partner(&self, login: &str) -> Result<Option<Arc<Partner>>> {
        self.store.partner_shared(login)
    }

    /// The Prometheus exposition: the request and upstream metrics, and the counters
    /// the limiter and the authenticator keep.
    pub fn render_metrics(&self) -> String {
        use crate::metrics::Kind;
        use std::sync::atomic::Ordering;
        let rejected = self
            .limits
            .rejections()
            .into_iter()
            .map(|(a, n)| (vec![("limit", a.name().to_string())], n))
            .collect();
        // Persistent counters: every balance change is one ledger entry, every order
        // takes one number. Open orders are counted as they change (OpenOrders).
        let counter = |name: &str| self.store.counter(name).unwrap_or(0);
        let open = self.open_orders.get();
        let mut extra = vec![
            (
                "regway_orders_created_total",
                "Orders accepted since the store was created.",
                Kind::Counter,
                vec![(vec![], counter("order"))],
            ),
            (
                "regway_open_orders",
                "Orders not yet completed or failed, by state.",
                Kind::Gauge,
                open.into_iter()
                    .map(|(st, n)| (vec![("state", st.to_string())], n))
                    .collect(),
            ),
            (
                "regway_balance_mutations_total",
                "Balance changes (ledger entries: top-ups, charges, refunds, adjustments) since the store was created.",
                Kind::Counter,
                vec![(vec![], counter("ledger"))],
            ),
            (
                "regway_rate_limited_total",
                "Requests refused by a rate limit or the lock-out (code 2502).",
                Kind::Counter,
                rejected,
            ),
            (
                "regway_password_checks_total",
                "Password checks that ran argon2 (cache misses).",
                Kind::Counter,
                vec![(vec![], self.auth.slow_checks.load(Ordering::Relaxed))],
            ),
            (
                "regway_webhook_deliveries_total",
                "Webhook delivery attempts since start, by outcome (retry: failed, tried again later).",
                Kind::Counter,
                [
                    ("delivered", &self.webhooks.counters.delivered),
                    ("retry", &self.webhooks.counters.retried),
                    ("failed", &self.webhooks.counters.failed),
                ]
                .into_iter()
                .map(|(o, n)| (vec![("outcome", o.to_string())], n.load(Ordering::Relaxed)))
                .collect(),
            ),
            (
                "regway_webhook_queue",
                "Webhook deliveries pending (as of the last look at the queue).",
                Kind::Gauge,
                vec![(vec![], self.webhooks.counters.queue.load(Ordering::Relaxed))],
            ),
            (
                "regway_rate_limit_keys",
                "Keys (partners, addresses, logins) the rate limiters remember.",
                Kind::Gauge,
                vec![(vec![], self.limits.keys() as u64)],
            ),
        ];
        if let Some(size) = self.store.size_on_disk() {
            extra.push((
                "regway_store_size_bytes",
                "The store's size on disk, in bytes.",
                Kind::Gauge,
                vec![(vec![], size)],
            ));
        }
        // The gateway's balance at each upstream that tells it (a parent regway), as the
        // last health probe read it.
        let balances: Vec<_> = self
            .probes
            .last()
            .map(|h| {
                h.iter()
                    .filter_map(|h| {
                        let b = h.balance.as_ref()?;
                        Some((
                            vec![
                                ("upstream", h.name.clone()),
                                ("currency", b.currency.clone()),
                            ],
                            b.amount,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.metrics.render(
            &extra,
            &[(
                "regway_upstream_balance",
                "The gateway's own balance at a parent regway, as the last health probe read it",
                balances,
            )],
        )
    }

    /// Runs `f` once per request-id: inside the committer, checks the request-id, runs
    /// `f` and stores its answer with the request-id, all in one atomic write (the
    /// caller's answer type `A`, see [`Answer`]). An
    /// error from `f` stores nothing, so the request-id stays free for a corrected retry.
    pub async fn write_once<A, F>(
        &self,
        ctx: &Ctx<'_>,
        command: &'static str,
        f: F,
    ) -> Result<Fresh<A>>
    where
        A: Answer,
        F: FnOnce(&mut Tx<'_>, &Partner) -> Result<A> + Send + 'static,
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
                    .partner(&login)?
                    .ok_or_else(|| Error::internal("partner vanished"))?;
                if let Some(rec) = requests::claim(tx, &login, &rid)? {
                    return Ok(Fresh::Replay(Box::new(rec)));
                }
                let mut answer = f(tx, &partner)?;
                answer.answers(&rid);
                requests::record(
                    tx,
                    &login,
                    &RequestRecord {
                        request_id: rid,
                        command: command.to_string(),
                        params: fingerprint,
                        created: now,
                        order: None,
                        outcome: Some(answer.clone()),
                    },
                )?;
                Ok(Fresh::Done(answer))
            })
            .await
    }

    /// Claims the order of `login`'s `request_id` for this task until the guard is
    /// dropped; `None` when another task (a request, or the reconciler) holds it.
    /// A request claims before its accepting write, so the reconciler can never take up
    /// an order between that write and its request's upstream call.
    pub(crate) fn claim_order(&self, login: &str, request_id: &str) -> Option<LiveGuard<'_>> {
        let key = format!("{login}\0{request_id}");
        let claimed = self
            .live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        if !claimed {
            return None;
        }
        // A guard is made only when the claim is this task's: dropping one releases it.
        let mut guard = LiveGuard {
            eng: self,
            key,
            lease: None,
        };
        // Other processes on the same store (nodes on PostgreSQL) see the claim as a
        // lease, which outlasts the longest an order is carried out for; a node that
        // dies holding one loses it when it ends, and the order is taken up again.
        let lease = format!("order:{}:{login}:{request_id}", login.len());
        match self.store.lease(&lease, self.order_lease()) {
            Ok(true) => {
                guard.lease = Some(lease);
                Some(guard)
            }
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e.message, "an order's lease could not be taken");
                None
            }
        }
    }

    /// How long an order's claim is leased to other processes on the same store.
    fn order_lease(&self) -> std::time::Duration {
        self.upstream_timeout * 3 + std::time::Duration::from_secs(30)
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
            tokio::select! {
                _ = released => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
    }

    /// The order's claim, or — while another task holds it — the request record as soon
    /// as that task has written it (the order is accepted: the caller answers from the
    /// record and never waits for the other's upstream call).
    async fn claim_or_record<A: Answer>(
        &self,
        login: &str,
        request_id: &str,
    ) -> std::result::Result<LiveGuard<'_>, Box<RequestRecord<A>>> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before trying, so a change between the try and the wait is
            // not missed.
            released.as_mut().enable();
            if let Some(g) = self.claim_order(login, request_id) {
                return Ok(g);
            }
            if let Ok(Some(rec)) = requests::replay(&self.store, login, request_id) {
                return Err(Box::new(rec));
            }
            // A claim held by another process on the same store is let go of without
            // a wake-up here: look again after a while.
            tokio::select! {
                _ = released => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
    }

    /// Wakes the tasks waiting in [`Engine::claim_or_record`].
    fn wake_claim_waiters(&self) {
        self.released.notify_waiters();
    }
}

/// The most one health probe of an upstream may take: its call timeout, at most 5 s.
pub fn probe_timeout(cfg: &Config) -> Duration {
    Duration::from_millis(cfg.upstream_timeout_ms.min(5_000))
}

/// The configuration key an error message of the catalogues is about: its first
/// word when that is a dotted key under `top` (`zones.ru: …`), else `top`.
fn config_key_of(message: &str, top: &str) -> String {
    let word = message
        .split([':', ' '])
        .next()
        .unwrap_or_default()
        .trim_end_matches(',');
    if word.starts_with(&format!("{top}.")) {
        word.to_string()
    } else {
        top.to_string()
    }
}

/// Refuses programmes whose currency is not that of a partner they list.
fn check_programme_currencies(store: &Store, programmes: &programme::Programmes) -> Result<()> {
    for p in programmes.all() {
        for login in &p.partners {
            if let Some(partner) = store.partner(login)? {
                if let Some(e) = programme_currency_error(p, login, partner.currency) {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// The configuration error of programme `p` listing partner `login`, whose account is
/// in `currency`, when the two currencies differ: `FILE:LINE: what`.
pub fn programme_currency_error(
    p: &programme::Programme,
    login: &str,
    currency: crate::types::money::Currency,
) -> Option<Error> {
    (currency != p.currency).then(|| {
        Error::config(format!(
            "{}:{}: programme {}: partner {login} keeps its account in {currency}, the \
             programme is in {}; list the partner in a programme of its currency",
            p.origin.file,
            p.origin.line_of_partner(&p.partners, login),
            p.name,
            p.currency
        ))
    })
}

/// Marks an order (by its partner and request-id) as driven by one task until dropped.
pub struct LiveGuard<'a> {
    eng: &'a Engine,
    key: String,
    /// The lease other processes see (`Backend::lease`).
    lease: Option<String>,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.eng.store.release(&lease);
        }
        self.eng
            .live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        self.eng.released.notify_waiters();
    }
}
