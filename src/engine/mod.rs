//! The engine: the only place with business rules. Every dialect hands it a
//! [`Request`] and gets an [`Outcome`] back; authentication, validation, pricing,
//! idempotency, the ledger and order state all live below this module.

pub mod auth;
pub mod background;
pub mod catalogue;
pub mod clock;
pub mod licenses;
pub mod money;
pub mod names;
pub mod operator;
pub mod orders;

use crate::command::{params::check_request_id, params::Params, Command};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Partner, RequestRecord};
use crate::store::{keys, Store, Tx};
use crate::upstream::Backend;
use auth::{Authenticator, Credentials};
use catalogue::Catalogue;
use clock::Clock;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Engine {
    pub store: Store,
    pub backend: Arc<dyn Backend>,
    pub catalogue: Catalogue,
    pub clock: Clock,
    pub client_suffix: String,
    pub upstream_timeout: Duration,
    auth: Authenticator,
    /// Orders a request is carrying out right now; the reconciler leaves them alone.
    live_orders: Mutex<HashSet<u64>>,
}

/// One decoded request, whatever dialect it came in.
pub struct Request {
    pub credentials: Option<Credentials>,
    pub peer: IpAddr,
    /// An address the caller says it acts for (the Namecheap dialect's `ClientIp`).
    /// When set, it must pass the partner's allow-list as well as `peer`.
    pub declared_ip: Option<IpAddr>,
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
    Replay(Box<RequestRecord>),
}

impl Engine {
    pub fn new(
        cfg: &Config,
        store: Store,
        backend: Arc<dyn Backend>,
        clock: Clock,
    ) -> Result<Engine> {
        Ok(Engine {
            catalogue: Catalogue::new(cfg.builtin_zones, &cfg.zones, &cfg.partner_prices)?,
            store,
            backend,
            clock,
            client_suffix: cfg.client_suffix.clone(),
            upstream_timeout: Duration::from_millis(cfg.upstream_timeout_ms),
            auth: Authenticator::default(),
            live_orders: Mutex::new(HashSet::new()),
        })
    }

    pub async fn execute(&self, req: Request) -> Reply {
        // A malformed request-id is refused, never echoed back.
        let rid = req
            .request_id
            .clone()
            .filter(|r| check_request_id(r).is_ok());
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
            .authenticate(req.credentials.as_ref(), req.peer, req.declared_ip)
            .await?;
        let mut params = req.params;
        let command = Command::parse(&req.command, &mut params, req.request_id.as_deref())?;
        params.finish()?;
        let mutating = command.is_mutating();
        if mutating && req.read_only {
            return Err(Error::syntax(format!(
                "{} changes state: send it with POST",
                command.name()
            )));
        }
        let request_id = if mutating {
            let rid = req.request_id.ok_or_else(|| Error::missing("request-id"))?;
            check_request_id(&rid)?;
            Some(rid)
        } else {
            req.request_id
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
                .get::<RequestRecord>(&keys::request(&ctx.partner.login, rid))?
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

    async fn authenticate(
        &self,
        cred: Option<&Credentials>,
        peer: IpAddr,
        declared: Option<IpAddr>,
    ) -> Result<Partner> {
        let cred = cred.ok_or_else(|| {
            Error::new(
                crate::error::Code::Auth,
                "credentials missing: use HTTP Basic or the login and password fields",
            )
        })?;
        let partner: Partner = match self.store.get(&keys::partner(&cred.login))? {
            Some(p) => p,
            None => return Err(Error::auth()),
        };
        if !self.auth.verify(&partner, &cred.password).await {
            return Err(Error::auth());
        }
        if partner.suspended {
            return Err(Error::forbidden("partner account is suspended"));
        }
        for ip in std::iter::once(peer).chain(declared) {
            if !auth::ip_allowed(&partner, ip) {
                return Err(Error::forbidden(format!(
                    "requests from {ip} are not allowed for this partner"
                )));
            }
        }
        Ok(partner)
    }

    /// The answer for a request-id seen before.
    fn replay(&self, ctx: &Ctx<'_>, rec: RequestRecord) -> Result<Reply> {
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
                if let Some(rec) = tx.get::<RequestRecord>(&keys::request(&login, &rid))? {
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

    fn mark_live(&self, order: u64) -> LiveGuard<'_> {
        self.live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(order);
        LiveGuard { eng: self, order }
    }

    pub fn is_live(&self, order: u64) -> bool {
        self.live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&order)
    }
}

/// Marks an order as driven by a request until dropped.
pub struct LiveGuard<'a> {
    eng: &'a Engine,
    order: u64,
}

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.eng
            .live_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.order);
    }
}
