//! Dialects: thin codecs between HTTP and the gateway pipeline. Each implements
//! [`Dialect`]: `decode` turns one HTTP request into one [`Envelope`] carrying one
//! command, `encode` the [`crate::gateway::Reply`] back into bytes; the server runs the
//! pipeline once between the two and maps each path to its dialect in one table. A compatible call that needs more than one
//! native command is one composite command (`command::compat`), never a sequence of
//! requests. A dialect never touches the store, money or the upstream.

pub mod form;
pub mod mastername;
pub mod namecheap;
pub mod native;
pub mod xml;

use crate::command::params::Params;
use crate::command::Command;
use crate::engine::auth::Credentials;
use crate::error::Error;
use crate::gateway::{Action, Reply};
use bytes::Bytes;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// One decoded request: who calls, from where, under which request-id, and the one
/// command it asks for. The server runs it through the pipeline
/// ([`crate::gateway::execute`]) between [`Dialect::decode`] and [`Dialect::encode`].
pub type Envelope = crate::gateway::Request;

/// An HTTP request as the server hands it to a dialect.
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub peer: IpAddr,
    pub body: &'a [u8],
    /// When the server began reading it.
    pub received: Instant,
}

impl HttpRequest<'_> {
    /// The first value of a header, when it is text.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header(http::header::CONTENT_TYPE)
    }
}

/// A protocol: a codec between HTTP and the pipeline. `decode` turns one HTTP request
/// into one [`Envelope`] (or answers at once, in the dialect's own shape, when it
/// cannot); `encode` turns the pipeline's [`Reply`] back into the dialect's answer.
/// A dialect never runs the pipeline, touches the store, money or the upstream.
pub trait Dialect: Sync {
    /// The name in logs and metrics.
    const NAME: &'static str;
    /// What `encode` needs to know of the request it answers (its charset, the answer
    /// shape of the command it asked for, when it came).
    type State: Send;

    fn decode(&self, req: &HttpRequest<'_>) -> Result<(Envelope, Self::State), HttpReply>;

    fn encode(&self, state: Self::State, reply: Reply) -> HttpReply;

    /// The answer when the body could not be read (too large, too slow, broken), with
    /// that HTTP status.
    fn refuse(&self, e: Error, status: u16, received: Instant) -> HttpReply;
}

/// An HTTP answer as a dialect builds it.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

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
    fn request(self, action: Action, request_id: Option<String>) -> Envelope {
        Envelope {
            dialect: self.dialect,
            credentials: Some(Credentials {
                login: self.login,
                password: self.password,
            }),
            peer: self.peer,
            action,
            request_id,
            read_only: false,
        }
    }

    /// One native command, by name. The caller is used up: one HTTP request of a
    /// dialect is one request of the pipeline.
    pub fn named(self, command: &str, request_id: Option<String>, fields: Fields) -> Envelope {
        self.request(Action::named(command, Params::new(fields)), request_id)
    }

    /// One command the dialect built.
    pub fn built(self, command: Command, request_id: Option<String>) -> Envelope {
        self.request(Action::Built(command), request_id)
    }
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
