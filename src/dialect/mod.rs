//! Dialects: thin codecs between HTTP and the gateway pipeline. Each turns one HTTP
//! request into one [`crate::gateway::Request`] carrying one command, and the
//! [`crate::gateway::Reply`] back into bytes. A compatible call that needs more than one
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
use crate::engine::Engine;
use crate::gateway::{execute, Action, Reply, Request};
use bytes::Bytes;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

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
    fn request(self, action: Action, request_id: Option<String>) -> Request {
        Request {
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
    pub async fn run(
        self,
        eng: &Engine,
        command: &str,
        request_id: Option<String>,
        fields: Fields,
    ) -> Reply {
        let action = Action::named(command, Params::new(fields));
        execute(eng, self.request(action, request_id)).await
    }

    /// One command the dialect built.
    pub async fn run_built(
        self,
        eng: &Engine,
        command: Command,
        request_id: Option<String>,
    ) -> Reply {
        execute(eng, self.request(Action::Built(command), request_id)).await
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
