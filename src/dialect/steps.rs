//! Engine requests built by the compatible dialects, and the few sequences of them one
//! compatible call needs (a renew that reads the current expiry first).
//!
//! Everything here goes through [`Engine::execute`], so authentication, validation,
//! idempotency and money stay in the engine.

use crate::command::params::Params;
use crate::engine::auth::Credentials;
use crate::engine::names::parse_name;
use crate::engine::{Engine, Reply, Request};
use crate::error::{Code, Error};
use crate::outcome::{Data, Outcome};
use std::net::IpAddr;

/// Who is calling, as the dialect decoded it.
pub struct Caller {
    pub login: String,
    pub password: String,
    pub peer: IpAddr,
    pub declared_ip: Option<IpAddr>,
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
            declared_ip: self.declared_ip,
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

/// The domain an order-shaped outcome is about.
fn domain_of(o: &Outcome) -> Option<&str> {
    match &o.data {
        Data::DomainOrder { name, .. } => Some(name),
        Data::Order(order) => Some(&order.domain),
        Data::Domain(d) => Some(&d.name),
        _ => None,
    }
}

/// Renews `domain` by `period` years from the expiry the engine holds now, for
/// dialects whose renew does not name the current expiry.
///
/// The engine's renew names the current expiry so that a repeat cannot add a second
/// year. Here the request-id carries that guarantee instead: a request-id seen before
/// gets the stored answer of its renew (`request.status`), never a second read and
/// renew. Between the read and the renew another renew may land; the engine then
/// refuses this one (2105), so nothing is renewed twice.
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
            let wanted = parse_name("domain", domain).ok();
            let same = command == "domain.renew"
                && response.as_deref().and_then(domain_of) == wanted.as_ref().map(|n| n.ascii());
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
    let expires = match &info.outcome.data {
        Data::Domain(d) if info.outcome.code == Code::Completed => d.expires,
        _ => {
            let mut info = info;
            info.outcome.request_id = rid;
            return info;
        }
    };
    let mut fields = vec![field("domain", domain), field("expires", expires)];
    if let Some(p) = period {
        fields.push(field("period", p));
    }
    caller.run(eng, "domain.renew", rid, fields).await
}
