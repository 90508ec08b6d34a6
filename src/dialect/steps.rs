//! Engine requests built by the compatible dialects, and the few sequences of them one
//! compatible call needs (a renew that reads the current expiry first).
//!
//! Everything here goes through [`Engine::execute`], so authentication, validation,
//! idempotency and money stay in the engine.

use crate::command::params::Params;
use crate::engine::auth::Credentials;
use crate::engine::{Engine, Reply, Request};
use crate::error::{Code, Error};
use crate::outcome::{Data, Outcome};
use crate::store::records::OrderKind;
use crate::types::names::parse_name;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

/// Who is calling, as the dialect decoded it. Only the connection's address counts
/// for the partner's allow-list: an address a dialect carries as data (Namecheap's
/// `ClientIp`) is not the caller's.
pub struct Caller {
    pub login: String,
    pub password: String,
    pub peer: IpAddr,
    pub dialect: &'static str,
}

pub type Fields = Vec<(String, String)>;

pub fn field(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

impl Caller {
    fn request(&self, command: &str, request_id: Option<String>, fields: Fields) -> Request {
        Request {
            dialect: self.dialect,
            credentials: Some(Credentials {
                login: self.login.clone(),
                password: self.password.clone(),
            }),
            peer: self.peer,
            command: command.to_string(),
            request_id,
            params: Params::new(fields),
            read_only: false,
        }
    }

    /// One engine command.
    pub async fn run(
        &self,
        eng: &Engine,
        command: &str,
        request_id: Option<String>,
        fields: Fields,
    ) -> Reply {
        eng.execute(self.request(command, request_id, fields)).await
    }
}

fn error_reply(e: Error, rid: Option<String>) -> Reply {
    let mut outcome = Outcome::error(e);
    outcome.request_id = rid;
    Reply {
        outcome,
        replayed: false,
    }
}

/// The domain and the period of a renewal, from its stored answer.
fn renewal_of(o: &Outcome) -> Option<(&str, u32)> {
    let order = match &o.data {
        Data::DomainOrder { order, .. } => order,
        Data::Order(order) => order,
        _ => return None,
    };
    match order.kind {
        OrderKind::Renew { period, .. } => Some((&order.domain, period)),
        _ => None,
    }
}

/// Renews `domain` by `period` years from the expiry the engine holds now, for
/// dialects whose renew does not name the current expiry.
///
/// The engine's renew names the current expiry so that a repeat cannot add a second
/// year. Here the request-id carries that guarantee instead: a request-id seen before
/// gets the stored answer of its renew (`request.status`) when it was a renewal of the
/// same domain for the same period, and 2308 otherwise — never a second read and
/// renew. A new request-id is refused (2105) while another renewal of the domain is
/// younger than the duplicate window (`dialect_renew_window_minutes`), since a panel's
/// retry after a lost answer comes with a new request-id. Between the read and the
/// renew another renew may land; the engine then refuses this one (2105 or 2304), so
/// nothing is renewed twice.
pub async fn renew_from_current(
    eng: &Engine,
    caller: &Caller,
    request_id: String,
    domain: &str,
    period: Option<String>,
) -> Reply {
    let rid = Some(request_id.clone());
    let status = caller
        .run(eng, "request.status", rid.clone(), Vec::new())
        .await;
    let o = status.outcome;
    match o.code {
        Code::Completed => {
            let Data::Request {
                command, response, ..
            } = o.data
            else {
                return error_reply(Error::internal("request.status without a request"), rid);
            };
            // The whole request: the command, the domain and the period (1 when not
            // given, as the engine's default).
            let wanted_name = parse_name("domain", domain).ok();
            let wanted_period = match period.as_deref() {
                None => Some(1),
                Some(p) => p.parse::<u32>().ok(),
            };
            let same = command == "domain.renew"
                && response
                    .as_deref()
                    .and_then(renewal_of)
                    .is_some_and(|(d, p)| {
                        Some(d) == wanted_name.as_ref().map(|n| n.ascii())
                            && Some(p) == wanted_period
                    });
            return match response {
                Some(r) if same => Reply {
                    outcome: *r,
                    replayed: true,
                },
                _ => error_reply(Error::reused(&request_id), rid),
            };
        }
        Code::NotFound => {}
        _ => {
            return Reply {
                outcome: Outcome {
                    data: Data::None,
                    request_id: rid,
                    ..o
                },
                replayed: false,
            }
        }
    }
    let info = caller
        .run(eng, "domain.info", None, vec![field("domain", domain)])
        .await;
    let (name, expires) = match &info.outcome.data {
        Data::Domain(d) if info.outcome.code == Code::Completed => (d.name.clone(), d.expires),
        _ => {
            let mut info = info;
            info.outcome.request_id = rid;
            return info;
        }
    };
    // domain.info has just authenticated the caller and shown the domain is its own.
    if let Err(e) = eng.check_renew_window(&caller.login, &name) {
        return error_reply(e, rid);
    }
    let mut fields = vec![field("domain", domain), field("expires", expires)];
    if let Some(p) = period {
        fields.push(field("period", p));
    }
    caller.run(eng, "domain.renew", rid, fields).await
}

/// Key names a compatible dialect ignored and has already logged, by dialect.
static IGNORED: OnceLock<Mutex<HashSet<(&'static str, String)>>> = OnceLock::new();

/// Most distinct ignored key names remembered; past this, new ones are not logged.
const IGNORED_NAMES: usize = 1024;

/// Logs a key a compatible dialect does not know and ignores (`protocol/mastername.md`,
/// `protocol/namecheap.md`: "Keys nobody documented"), once per dialect and key name,
/// so an operator learns what real clients send without a log line per request.
pub fn ignored_key(dialect: &'static str, place: &str, key: &str) {
    let key: String = key.chars().take(64).collect();
    let mut seen = IGNORED
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.len() >= IGNORED_NAMES {
        return;
    }
    if seen.insert((dialect, key.clone())) {
        let last = seen.len() == IGNORED_NAMES;
        drop(seen);
        // Debug formatting escapes what the client sent (control characters, quotes).
        tracing::warn!(
            dialect,
            place = ?place,
            key = ?key,
            "ignored a key this dialect does not know (logged once per key name)"
        );
        if last {
            tracing::warn!(
                dialect,
                "further unknown keys are ignored without a log line"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_keys_are_remembered_once() {
        ignored_key("test", "[domain]", "colour");
        ignored_key("test", "[domain]", "colour");
        let seen = IGNORED.get().unwrap().lock().unwrap();
        let n = seen
            .iter()
            .filter(|(d, k)| *d == "test" && k == "colour")
            .count();
        assert_eq!(n, 1);
    }
}
