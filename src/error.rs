//! The one error type: every failure a partner can see, with its stable protocol code.
//!
//! Errors are created where the problem is found, with a message that says what was
//! wrong; the dialects turn them into bytes. Internal causes are logged, never shown.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Protocol result codes (native protocol v1, `protocol/native.md`, "Result codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
pub enum Code {
    Completed = 1000,
    Pending = 1001,
    UnknownCommand = 2000,
    Syntax = 2001,
    Missing = 2003,
    Range = 2004,
    ValueSyntax = 2005,
    Billing = 2104,
    NotRenewable = 2105,
    Auth = 2200,
    Forbidden = 2201,
    Exists = 2302,
    NotFound = 2303,
    StatusProhibits = 2304,
    Policy = 2306,
    RequestIdReused = 2308,
    Failed = 2400,
    RateLimited = 2502,
}

impl Code {
    pub const ALL: [Code; 18] = [
        Code::Completed,
        Code::Pending,
        Code::UnknownCommand,
        Code::Syntax,
        Code::Missing,
        Code::Range,
        Code::ValueSyntax,
        Code::Billing,
        Code::NotRenewable,
        Code::Auth,
        Code::Forbidden,
        Code::Exists,
        Code::NotFound,
        Code::StatusProhibits,
        Code::Policy,
        Code::RequestIdReused,
        Code::Failed,
        Code::RateLimited,
    ];

    pub fn number(self) -> u16 {
        self as u16
    }

    pub fn is_success(self) -> bool {
        matches!(self, Code::Completed | Code::Pending)
    }

    /// The HTTP status that goes with the code, so plain HTTP tooling sees failures.
    /// 2400 has three: see [`Error::http`].
    pub fn http_status(self) -> u16 {
        match self {
            Code::Completed => 200,
            Code::Pending => 202,
            Code::UnknownCommand
            | Code::Syntax
            | Code::Missing
            | Code::Range
            | Code::ValueSyntax
            | Code::Policy => 400,
            Code::Billing => 402,
            Code::NotRenewable | Code::Exists | Code::StatusProhibits | Code::RequestIdReused => {
                409
            }
            Code::Auth => 401,
            Code::Forbidden => 403,
            Code::NotFound => 404,
            Code::Failed => 500,
            Code::RateLimited => 429,
        }
    }

    /// The fixed text of a success code.
    pub fn text(self) -> &'static str {
        match self {
            Code::Completed => "Command completed successfully",
            Code::Pending => "Command accepted; action pending",
            Code::UnknownCommand => "Unknown command",
            Code::Syntax => "Syntax error",
            Code::Missing => "Required parameter missing",
            Code::Range => "Parameter value out of range",
            Code::ValueSyntax => "Parameter value syntax error",
            Code::Billing => "Billing failure",
            Code::NotRenewable => "Object is not eligible for renewal",
            Code::Auth => "Authentication error",
            Code::Forbidden => "Authorization error",
            Code::Exists => "Object exists",
            Code::NotFound => "Object does not exist",
            Code::StatusProhibits => "Object status prohibits operation",
            Code::Policy => "Parameter value policy error",
            Code::RequestIdReused => "Request-id already used with different parameters",
            Code::Failed => "Command failed",
            Code::RateLimited => "Rate limit exceeded",
        }
    }
}

impl From<Code> for u16 {
    fn from(c: Code) -> u16 {
        c as u16
    }
}

impl TryFrom<u16> for Code {
    type Error = String;
    fn try_from(n: u16) -> Result<Code, String> {
        Code::ALL
            .into_iter()
            .find(|c| *c as u16 == n)
            .ok_or_else(|| format!("unknown result code {n}"))
    }
}

/// What a 2303, 2201 or 2304 is about: one code covers several objects, and a panel tells
/// "no such domain" from "no such request-id" by this, not by the text (the native
/// protocol's `<result object="…">`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Object {
    Domain,
    Client,
    Order,
    Request,
    License,
    Statement,
    Partner,
    /// The address a request came from (2201: not allowed for this partner).
    Address,
    /// The partner's own account (2201: suspended; 2304: not on postpay terms).
    Account,
    /// A partner's user (2302, 2303; 2201: not the partner's login).
    User,
    /// The rights groups of the user that sent the request (2201: a group is missing).
    Rights,
    /// A webhook endpoint (2303: no such endpoint; 2304: disabled, or five already).
    Endpoint,
}

impl Object {
    pub const ALL: [Object; 12] = [
        Object::Domain,
        Object::Client,
        Object::Order,
        Object::Request,
        Object::License,
        Object::Statement,
        Object::Partner,
        Object::Address,
        Object::Account,
        Object::User,
        Object::Rights,
        Object::Endpoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Object::Domain => "domain",
            Object::Client => "client",
            Object::Order => "order",
            Object::Request => "request",
            Object::License => "license",
            Object::Statement => "statement",
            Object::Partner => "partner",
            Object::Address => "address",
            Object::Account => "account",
            Object::User => "user",
            Object::Rights => "rights",
            Object::Endpoint => "endpoint",
        }
    }
}

/// Why a 2400 happened: decides the HTTP status (500, 502, 503 or 504).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FailKind {
    #[default]
    Internal,
    Upstream,
    UpstreamTimeout,
    /// The store's database could not be reached: nothing was done.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub code: Code,
    pub message: String,
    #[serde(default, skip_serializing_if = "is_internal")]
    pub fail: FailKind,
    /// Seconds a rate-limited caller should wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// What the error is about, where the code covers several objects (2303, 2201, 2304).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Object>,
    /// Set on a failure that stops a process (start-up, an operator command): its kind
    /// decides the exit code. Never sent over the wire.
    #[serde(skip)]
    pub fault: Option<Fault>,
    /// The logged cause of an internal failure, for the operator's one line on stderr;
    /// never sent over the wire, never shown to a partner.
    #[serde(skip)]
    pub cause: Option<String>,
}

/// The kind of a failure that stops the `regway` process; each has its exit code
/// (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The configuration (a file, a variable, a flag) is wrong.
    Config,
    /// The store: held by another process, not writable, of an unknown format.
    Store,
    /// The network: a port in use, no gateway at the address the CLI was given.
    Network,
    /// Anything else that went wrong while running.
    Runtime,
}

impl Fault {
    /// The process's exit code for this kind of failure.
    pub fn exit_code(self) -> u8 {
        match self {
            Fault::Config => 3,
            Fault::Store => 4,
            Fault::Network => 5,
            Fault::Runtime => 6,
        }
    }
}

fn is_internal(k: &FailKind) -> bool {
    *k == FailKind::Internal
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            fail: FailKind::Internal,
            retry_after: None,
            object: None,
            fault: None,
            cause: None,
        }
    }
    /// A failure that stops the process, of kind `fault`, with a message that names the
    /// cause and the fix.
    pub fn fatal(fault: Fault, message: impl Into<String>) -> Error {
        Error {
            fault: Some(fault),
            ..Error::new(Code::Failed, message)
        }
    }
    /// A configuration error (`FILE:LINE: what` where the file is known).
    pub fn config(message: impl Into<String>) -> Error {
        Error {
            fault: Some(Fault::Config),
            ..Error::new(Code::Syntax, message)
        }
    }
    /// The same error, of kind `fault` when it stops the process.
    pub fn with_fault(mut self, fault: Fault) -> Error {
        self.fault = Some(fault);
        self
    }
    /// The same error, about `object`.
    pub fn about(mut self, object: Object) -> Error {
        self.object = Some(object);
        self
    }
    pub fn unknown_command(name: &str) -> Error {
        Error::new(Code::UnknownCommand, format!("unknown command {name:?}"))
    }
    pub fn syntax(msg: impl Into<String>) -> Error {
        Error::new(Code::Syntax, msg)
    }
    pub fn missing(field: &str) -> Error {
        Error::new(
            Code::Missing,
            format!("{field}: required parameter missing"),
        )
    }
    pub fn range(field: &str, msg: impl fmt::Display) -> Error {
        Error::new(Code::Range, format!("{field}: {msg}"))
    }
    pub fn value(field: &str, msg: impl fmt::Display) -> Error {
        Error::new(Code::ValueSyntax, format!("{field}: {msg}"))
    }
    pub fn billing(msg: impl Into<String>) -> Error {
        Error::new(Code::Billing, msg)
    }
    pub fn not_renewable(msg: impl Into<String>) -> Error {
        Error::new(Code::NotRenewable, msg)
    }
    pub fn auth() -> Error {
        Error::new(Code::Auth, "authentication failed")
    }
    pub fn forbidden(msg: impl Into<String>) -> Error {
        Error::new(Code::Forbidden, msg)
    }
    pub fn exists(msg: impl Into<String>) -> Error {
        Error::new(Code::Exists, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> Error {
        Error::new(Code::NotFound, msg)
    }
    pub fn prohibited(msg: impl Into<String>) -> Error {
        Error::new(Code::StatusProhibits, msg)
    }
    pub fn policy(field: &str, msg: impl fmt::Display) -> Error {
        Error::new(Code::Policy, format!("{field}: {msg}"))
    }
    pub fn reused(rid: &str) -> Error {
        Error::new(
            Code::RequestIdReused,
            format!("request-id {rid} was already used with different parameters"),
        )
    }
    /// An internal failure: the cause is logged here and never shown to the caller.
    pub fn internal(cause: impl fmt::Display) -> Error {
        tracing::error!(%cause, "internal error");
        Error {
            cause: Some(cause.to_string()),
            ..Error::new(Code::Failed, "internal error; nothing was charged")
        }
    }
    /// The store's database could not be reached (its cause is logged, never shown):
    /// nothing was done, and a retry may succeed.
    pub fn unavailable(cause: impl fmt::Display) -> Error {
        tracing::error!(%cause, "store unavailable");
        Error {
            fail: FailKind::Unavailable,
            ..Error::new(
                Code::Failed,
                "the store is unavailable; nothing was charged",
            )
        }
    }
    pub fn upstream(msg: impl Into<String>) -> Error {
        Error {
            fail: FailKind::Upstream,
            ..Error::new(Code::Failed, msg)
        }
    }
    pub fn upstream_timeout(msg: impl Into<String>) -> Error {
        Error {
            fail: FailKind::UpstreamTimeout,
            ..Error::new(Code::Failed, msg)
        }
    }
    pub fn rate_limited(retry_after: u64) -> Error {
        Error {
            retry_after: Some(retry_after),
            ..Error::new(Code::RateLimited, "rate limit exceeded")
        }
    }

    /// The logged cause of an internal failure, or the message: for the operator.
    pub fn cause_or_message(&self) -> &str {
        self.cause.as_deref().unwrap_or(&self.message)
    }

    pub fn http(&self) -> u16 {
        match (self.code, self.fail) {
            (Code::Failed, FailKind::Upstream) => 502,
            (Code::Failed, FailKind::UpstreamTimeout) => 504,
            (Code::Failed, FailKind::Unavailable) => 503,
            (c, _) => c.http_status(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.number(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::internal(format!("record encoding: {e}"))
    }
}
