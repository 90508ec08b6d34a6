//! The gateway pipeline, the one way every request goes whatever dialect carried it:
//!
//! ```text
//! Request ─▶ authenticate ─▶ parse ─▶ limits ─▶ idempotency (replay?) ─▶ execute ─▶ log ─▶ Reply
//! ```
//!
//! Commands below it never authenticate, count or log a request; the request record a
//! mutating command leaves is written inside the command's own write (so it is atomic
//! with the money), and read back here when the request-id comes again.

pub mod background;
#[cfg(test)]
mod tests;

use crate::command::{params::Params, Command};
use crate::engine::auth::{self, Credentials};
use crate::engine::{limits, Ctx, Engine, Fresh};
use crate::error::{Error, Object, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Order, Partner, RequestRecord};
use crate::store::requests;
use crate::types::request_id::RequestId;
use std::net::IpAddr;
use std::sync::Arc;

/// One decoded request, whatever dialect it came in.
pub struct Request {
    /// The dialect it came in (logs and metrics).
    pub dialect: &'static str,
    pub credentials: Option<Credentials>,
    pub peer: IpAddr,
    pub action: Action,
    /// As sent; checked once, by [`execute`].
    pub request_id: Option<String>,
    /// Sent as `GET`: only read-only commands are allowed.
    pub read_only: bool,
}

/// What a request asks for.
pub enum Action {
    /// A native command by name, with its parameters, parsed once the caller is
    /// authenticated (a stranger learns nothing from parameter errors).
    Named { command: String, params: Params },
    /// A command a dialect built; its parameters are checked when it runs.
    Built(Command),
}

impl Action {
    pub fn named(command: &str, params: Params) -> Action {
        Action::Named {
            command: command.to_string(),
            params,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Action::Named { command, .. } => crate::command::label(command),
            Action::Built(c) => crate::command::label(c.name()),
        }
    }
}

pub struct Reply {
    pub outcome: Outcome,
    /// The outcome is a stored one, given again for a repeated request-id.
    pub replayed: bool,
}

impl Reply {
    pub fn error(e: Error, request_id: Option<String>) -> Reply {
        let mut outcome = Outcome::error(e);
        outcome.request_id = request_id;
        Reply {
            outcome,
            replayed: false,
        }
    }
}

/// Runs one request through the pipeline, measures it and logs it.
pub async fn execute(eng: &Engine, req: Request) -> Reply {
    let started = std::time::Instant::now();
    let dialect = req.dialect;
    let command = req.action.label();
    // The login as claimed (it may not exist); never the password. Only built when
    // the request log is on.
    let login: Option<String> = tracing::enabled!(tracing::Level::INFO).then(|| {
        req.credentials
            .as_ref()
            .map(|c| c.login.chars().take(64).collect())
            .unwrap_or_default()
    });
    // The one place a request-id is checked. A malformed one is refused (after the
    // command's own parameters, see `run`), never echoed back.
    let rid = req.request_id.as_deref().map(RequestId::parse);
    let echo = rid
        .as_ref()
        .and_then(|r| r.as_ref().ok())
        .map(|r| r.as_str().to_string());
    let reply = match run(eng, req, rid).await {
        Ok(mut reply) => {
            if reply.outcome.request_id.is_none() && !reply.replayed {
                reply.outcome.request_id = echo.clone();
            }
            reply
        }
        Err(e) => Reply::error(e, echo.clone()),
    };
    let code = reply.outcome.code.number();
    let took = started.elapsed();
    eng.metrics.request(dialect, command, code, took);
    if let Some(login) = login {
        tracing::info!(
            dialect,
            partner = %login,
            command,
            request_id = echo.as_deref().unwrap_or(""),
            code,
            replayed = reply.replayed,
            ms = took.as_millis() as u64,
            "request"
        );
    }
    reply
}

async fn run(eng: &Engine, req: Request, rid: Option<Result<RequestId>>) -> Result<Reply> {
    let partner = authenticate(eng, req.credentials.as_ref(), req.peer).await?;
    let command = match req.action {
        Action::Named {
            command,
            mut params,
        } => {
            let command = Command::parse(&command, &mut params, rid.as_ref())?;
            params.finish()?;
            command
        }
        Action::Built(command) => command,
    };
    let mutating = command.is_mutating();
    // Before the request-id is looked at: a limited request takes nothing.
    let action = if mutating {
        limits::Action::Order
    } else {
        limits::Action::Read
    };
    eng.limits.partner(&partner.login, action)?;
    if mutating && req.read_only {
        return Err(Error::syntax(format!(
            "{} changes state: send it with POST",
            command.name()
        )));
    }
    // The envelope's request-id is refused after the command's own parameters, on
    // every command: a read-only command echoes it, so a malformed one is refused
    // there too (`protocol/native.md`, "Request").
    let request_id = match rid {
        None if mutating => return Err(Error::missing("request-id")),
        None => None,
        Some(r) => Some(r?.into_string()),
    };
    let ctx = Ctx {
        eng,
        fingerprint: command.fingerprint(),
        partner,
        request_id,
    };
    let own_replays = command.replays_itself();
    if mutating && !own_replays {
        // Fast path for a retry: answer from the record without queueing a write.
        // The write itself claims the request-id again, atomically.
        let rid = ctx.request_id.as_deref().unwrap_or_default();
        if let Some(rec) = requests::replay(&eng.store, &ctx.partner.login, rid)? {
            return replay(eng, &ctx, rec, true);
        }
    }
    match command.apply(&ctx).await? {
        Fresh::Done(outcome) => Ok(Reply {
            outcome,
            replayed: false,
        }),
        Fresh::Replay(rec) => replay(eng, &ctx, *rec, !own_replays),
    }
}

async fn authenticate(
    eng: &Engine,
    cred: Option<&Credentials>,
    peer: IpAddr,
) -> Result<Arc<Partner>> {
    let Some(cred) = cred else {
        eng.limits.anonymous(peer)?;
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
    let attempt = eng.limits.attempt(peer, &cred.login);
    eng.limits.check_locked(&attempt)?;
    let partner = eng.partner(&cred.login)?;
    if let Some(p) = &partner {
        if !auth::ip_allowed(p, peer) {
            return Err(Error::forbidden(format!(
                "requests from {peer} are not allowed for this partner"
            ))
            .about(Object::Address));
        }
    }
    let wait = eng.limits.login_turn(&attempt)?;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let hash = partner
        .as_ref()
        .map_or(auth::dummy_hash(), |p| p.password_hash.as_str());
    let still_allowed = || eng.limits.check_locked(&attempt);
    let ok = eng
        .auth
        .verify(&cred.login, hash, &cred.password, still_allowed)
        .await?;
    let partner = match partner {
        Some(p) if ok => p,
        _ => {
            eng.limits.failed_login(&attempt, &cred.login)?;
            return Err(Error::auth());
        }
    };
    eng.limits.logged_in(&attempt);
    if partner.suspended {
        return Err(Error::forbidden("partner account is suspended").about(Object::Account));
    }
    Ok(partner)
}

/// The answer for a request-id seen before; `compare`: refused (2308) when it carried
/// other parameters.
fn replay(
    eng: &Engine,
    ctx: &Ctx<'_>,
    rec: RequestRecord<Outcome>,
    compare: bool,
) -> Result<Reply> {
    if compare && rec.params != ctx.fingerprint {
        return Err(Error::reused(&rec.request_id));
    }
    let outcome = match rec.outcome {
        Some(o) => o,
        None => {
            let order = order_of(eng, &ctx.partner.login, &rec)?;
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

fn order_of(eng: &Engine, login: &str, rec: &RequestRecord<Outcome>) -> Result<Order> {
    let id = rec
        .order
        .ok_or_else(|| Error::internal("pending request without an order"))?;
    requests::order_of(&eng.store, login, rec)?
        .ok_or_else(|| Error::internal(format!("order {id} is missing")))
}
