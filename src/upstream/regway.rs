//! The `regway` backend: a parent regway, spoken to in the native protocol
//! (`protocol/native.md`), so that resellers can chain gateways.
//!
//! Every order goes up under a request-id derived from its key (`login:request-id`),
//! so the parent's idempotency makes a second delivery harmless, and `lookup` is the
//! parent's `request.status` for that request-id. A registrant goes up once, as a
//! `client.create` under a request-id derived from its handle.
//!
//! ```text
//! POST {url}  (HTTP Basic login:password)
//! command=domain.register&request-id=shop:R1&domain=example.ru&period=1&client=1000/RW-P
//! ```
//!
//! Answers: 1000 → done, 1001 → pending, a definite refusal → failed (nothing done),
//! the parent refusing the gateway itself (its credentials, its money there, a request
//! it could not read) → rejected (the partner gets a fixed message, the operator the
//! parent's), anything unclear (timeout, 5xx without a refusal, garbage, 2308, 2502) →
//! unknown. An answer is read up to [`super::http::MAX_ANSWER_BYTES`].
//!
//! Registrations always go up with `auto-renew=false`: the gateway's own daily work is
//! the only thing that renews, so the partner pays for every renewal and the expiry
//! here stays the parent's.

use super::http::{exchange, MAX_ANSWER_BYTES};
use super::{Backend, Done, Secrets, Trouble, TroubleKind, UpstreamOrder, UpstreamResult};
use crate::config::UpstreamConfig;
use crate::error::{Code, Error, Result};
use crate::store::records::Client;
use crate::types::names::Name;
use crate::types::request_id::RequestId;
use async_trait::async_trait;
use quick_xml::events::Event;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The request-id the parent gateway gets for `raw` (an order key, a client).
fn protocol_id(raw: &str) -> String {
    RequestId::derived(raw).into_string()
}
use tokio::sync::Semaphore;

pub struct Regway {
    http: reqwest::Client,
    url: String,
    login: String,
    password: String,
    secrets: Secrets,
    /// Bounds the requests in flight to the parent.
    permits: Semaphore,
    /// Registrant handle here → handle on the parent. Held for a map lookup only.
    clients: Mutex<HashMap<String, String>>,
}

/// The parts of a native answer this backend reads.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// Every `<result code>` in document order: the answer's own first, then those of
    /// nested responses (`request.status`).
    pub codes: Vec<u16>,
    /// The text of each `<result>`, as `codes`.
    pub messages: Vec<String>,
    /// Every element with its attributes, in document order.
    pub elements: Vec<(String, Vec<(String, String)>)>,
    /// The text of the first `<balance>` (`balance.get`).
    pub balance: Option<String>,
}

impl Answer {
    /// The first element called `name`, and its attribute `attr`.
    pub fn attr(&self, name: &str, attr: &str) -> Option<&str> {
        self.elements
            .iter()
            .filter(|(n, _)| n == name)
            .find_map(|(_, a)| a.iter().find(|(k, _)| k == attr).map(|(_, v)| v.as_str()))
    }
}

/// Reads a native answer, tolerating what it does not know. `Err` when it is not one.
pub fn parse_answer(status: u16, body: &str) -> std::result::Result<Answer, String> {
    let mut r = quick_xml::Reader::from_str(body);
    let mut a = Answer {
        status,
        ..Answer::default()
    };
    let mut in_result = false;
    let mut in_balance = false;
    let mut root = None;
    loop {
        match r.read_event() {
            Err(e) => return Err(format!("the answer is not XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = AsRef::<str>::as_ref(&e.local_name()).to_string();
                let mut attrs = Vec::new();
                for at in e.attributes().flatten() {
                    let k = AsRef::<str>::as_ref(&at.key.local_name()).to_string();
                    let v = at
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| at.value.to_string());
                    attrs.push((k, v));
                }
                if root.is_none() {
                    root = Some(name.clone());
                }
                if name == "result" {
                    let code = attrs
                        .iter()
                        .find(|(k, _)| k == "code")
                        .and_then(|(_, v)| v.trim().parse::<u16>().ok())
                        .ok_or("a <result> without a numeric code")?;
                    in_result = true;
                    a.codes.push(code);
                    a.messages.push(String::new());
                }
                in_balance = name == "balance" && a.balance.is_none();
                a.elements.push((name, attrs));
            }
            Ok(Event::Text(t)) if in_result => {
                if let Some(m) = a.messages.last_mut() {
                    m.push_str(&t.xml10_content());
                }
            }
            Ok(Event::Text(t)) if in_balance => {
                a.balance = Some(t.xml10_content().trim().to_string());
                in_balance = false;
            }
            Ok(Event::End(_)) => {
                in_result = false;
                in_balance = false;
            }
            Ok(_) => {}
        }
    }
    if root.as_deref() != Some("response") || a.codes.is_empty() {
        return Err("the answer is not a <response> with a <result>".into());
    }
    Ok(a)
}

/// What the `i`th result of an answer about an order means. `definite_2400`: a 2400
/// there is a refusal (a stored outcome, or HTTP 502); otherwise it may be the parent's
/// own trouble. The parent's words reach the partner only in a refusal of the order
/// itself, and only when they carry no credential.
fn order_result(a: &Answer, i: usize, definite_2400: bool, secrets: &Secrets) -> UpstreamResult {
    let code = a.codes[i];
    let message = secrets.redact(a.messages[i].trim());
    let fail = |code: Code| UpstreamResult::Failed {
        code,
        reason: secrets.public(a.messages[i].trim(), code.text()),
    };
    let refused = |why: &str| UpstreamResult::Rejected {
        code,
        detail: super::log_text(&format!("the parent refused the gateway ({code}: {why})")),
    };
    match Code::try_from(code) {
        Ok(Code::Completed) => UpstreamResult::Done(Done {
            expires: a.attr("domain", "expires").and_then(|d| d.parse().ok()),
            delegated: a.attr("domain", "delegated").and_then(|d| d.parse().ok()),
            service: None,
        }),
        Ok(Code::Pending) => UpstreamResult::Pending,
        Ok(
            c @ (Code::Exists
            | Code::NotFound
            | Code::NotRenewable
            | Code::StatusProhibits
            | Code::Policy
            | Code::Range
            | Code::ValueSyntax),
        ) => fail(c),
        Ok(Code::Failed) if definite_2400 => fail(Code::Failed),
        Ok(
            Code::UnknownCommand
            | Code::Syntax
            | Code::Missing
            | Code::Billing
            | Code::Auth
            | Code::Forbidden,
        ) => refused(&message),
        _ => UpstreamResult::Unknown(Trouble::new(
            TroubleKind::Code(code),
            format!("the parent answered {code} (HTTP {}): {message}", a.status),
        )),
    }
}

/// Registrants' handles on the parent kept in memory.
const CLIENTS_KEPT: usize = 10_000;

impl Regway {
    pub fn new(cfg: &UpstreamConfig) -> Result<Regway> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .pool_max_idle_per_host(cfg.concurrency)
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        Ok(Regway {
            http,
            url: cfg.url.clone(),
            login: cfg.login.clone(),
            password: cfg.password.clone(),
            secrets: Secrets::new(&cfg.login, &cfg.password),
            permits: Semaphore::new(cfg.concurrency),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// One exchange with the parent. `Err` when there is no readable answer.
    async fn call(&self, fields: &[(&str, String)]) -> std::result::Result<Answer, Trouble> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Trouble::new(TroubleKind::Closed, "the parent's backend is closed"))?;
        let reply = exchange(
            self.http
                .post(&self.url)
                .basic_auth(&self.login, Some(&self.password))
                .form(fields),
            &self.secrets,
            MAX_ANSWER_BYTES,
        )
        .await?;
        parse_answer(reply.status, &reply.body).map_err(|e| {
            let kind = if reply.status >= 400 {
                TroubleKind::Http(reply.status)
            } else {
                TroubleKind::BadAnswer
            };
            Trouble::new(
                kind,
                self.secrets.redact(&format!("HTTP {}: {e}", reply.status)),
            )
        })
    }

    /// Remembers a registrant's handle on the parent. The cache holds at most
    /// [`CLIENTS_KEPT`] handles and starts again empty past that: a forgotten one is
    /// asked for again under the same request-id, which the parent answers from its
    /// record without creating a second client.
    fn remember_client(&self, id: &str, handle: &str) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= CLIENTS_KEPT && !clients.contains_key(id) {
            clients.clear();
        }
        clients.insert(id.to_string(), handle.to_string());
    }

    /// The registrant's handle on the parent, created there the first time.
    async fn parent_client(&self, c: &Client) -> std::result::Result<String, UpstreamResult> {
        let cached = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&c.id)
            .cloned();
        if let Some(h) = cached {
            return Ok(h);
        }
        let mut f = vec![
            ("command", "client.create".to_string()),
            (
                "request-id",
                protocol_id(&format!("client:{}", c.id.replace('/', "."))),
            ),
            ("type", c.kind.as_str().to_string()),
            ("name", c.name.clone()),
            ("email", c.email.clone()),
            ("phone", c.phone.clone()),
            ("country", c.country.clone()),
            ("address", c.address.clone()),
        ];
        for (k, v) in &c.extra {
            f.push((k.as_str(), v.clone()));
        }
        let a = self.call(&f).await.map_err(UpstreamResult::Unknown)?;
        let code = a.codes[0];
        match (code, a.attr("client", "id")) {
            (1000, Some(h)) => {
                let h = h.to_string();
                self.remember_client(&c.id, &h);
                Ok(h)
            }
            (1000, None) => Err(UpstreamResult::Unknown(Trouble::new(
                TroubleKind::Unconfirmed,
                "the parent created the registrant without naming it",
            ))),
            _ => Err(match order_result(&a, 0, a.status == 502, &self.secrets) {
                UpstreamResult::Done(_) | UpstreamResult::Pending => {
                    UpstreamResult::Unknown(Trouble::new(
                        TroubleKind::Code(code),
                        format!("client.create answered {code}"),
                    ))
                }
                r => r,
            }),
        }
    }
}

#[async_trait]
impl Backend for Regway {
    fn name(&self) -> &'static str {
        "regway"
    }

    /// `balance.get` at the parent: it answers, and it accepts the gateway's login; the
    /// balance it holds for the gateway comes with the answer.
    async fn probe(&self) -> std::result::Result<Option<super::Balance>, String> {
        let a = self
            .call(&[("command", "balance.get".to_string())])
            .await
            .map_err(|t| t.phrase())?;
        match a.codes[0] {
            1000 => Ok(a
                .balance
                .as_deref()
                .and_then(|b| b.parse::<f64>().ok())
                .map(|amount| super::Balance {
                    amount,
                    currency: a
                        .attr("balance", "currency")
                        .unwrap_or_default()
                        .to_string(),
                })),
            c => {
                tracing::warn!(upstream = "regway", code = c, "the parent refused the gateway's balance.get: check the gateway's login, password and allow-list there");
                Err(TroubleKind::Code(c).phrase())
            }
        }
    }

    async fn check(&self, names: &[Name]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(50) {
            let mut f = vec![("command", "domain.check".to_string())];
            f.extend(chunk.iter().map(|n| ("domain", n.ascii().to_string())));
            let a = self.call(&f).await.map_err(|t| {
                tracing::warn!(upstream = "regway", detail = %t.detail, "domain.check at the parent failed");
                Error::upstream(t.phrase())
            })?;
            if a.codes[0] != 1000 {
                tracing::warn!(upstream = "regway", code = a.codes[0],
                    detail = %super::log_text(&self.secrets.redact(a.messages[0].trim())),
                    "the parent refused a domain.check");
                return Err(Error::upstream(TroubleKind::Code(a.codes[0]).phrase()));
            }
            for n in chunk {
                let row = a.elements.iter().find(|(e, attrs)| {
                    e == "domain" && attrs.iter().any(|(k, v)| k == "name" && v == n.ascii())
                });
                let free = row
                    .and_then(|(_, attrs)| attrs.iter().find(|(k, _)| k == "available"))
                    .map(|(_, v)| v == "true")
                    .ok_or_else(|| {
                        Error::upstream(format!("the registry did not answer for {}", n.ascii()))
                    })?;
                out.push(free);
            }
        }
        Ok(out)
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        let mut f = vec![
            ("command", order.kind.command().to_string()),
            ("request-id", protocol_id(&order.key)),
            ("domain", order.domain.clone()),
        ];
        let Some(fields) = order.kind.upstream_fields() else {
            return UpstreamResult::Failed {
                code: Code::Failed,
                reason: "licences are not carried by a regway upstream".into(),
            };
        };
        for (name, value) in fields {
            // The registrant is sent as the parent's own client for the same contact.
            let value = if name == "client" {
                let Some(contact) = &order.contact else {
                    return UpstreamResult::Failed {
                        code: Code::Failed,
                        reason: "an order without its registrant".into(),
                    };
                };
                match self.parent_client(contact).await {
                    Ok(h) => h,
                    Err(r) => return r,
                }
            } else {
                value
            };
            f.push((name, value));
        }
        match self.call(&f).await {
            Ok(a) => order_result(&a, 0, a.status == 502, &self.secrets),
            Err(t) => UpstreamResult::Unknown(t),
        }
    }

    async fn lookup(&self, order: &UpstreamOrder) -> UpstreamResult {
        let f = [
            ("command", "request.status".to_string()),
            ("request-id", protocol_id(&order.key)),
        ];
        let a = match self.call(&f).await {
            Ok(a) => a,
            Err(t) => return UpstreamResult::Unknown(t),
        };
        // Only the nested outcome speaks about the order: a refused `request.status`
        // (credentials, rate limit) says nothing about it.
        match a.codes[0] {
            1000 => {}
            2303 => return UpstreamResult::NotFound,
            c => {
                return UpstreamResult::Unknown(Trouble::new(
                    TroubleKind::Code(c),
                    format!(
                        "request.status answered {c}: {}",
                        self.secrets.redact(a.messages[0].trim())
                    ),
                ))
            }
        }
        match (a.attr("request", "state"), a.codes.len()) {
            (Some("pending"), _) => UpstreamResult::Pending,
            // A stored outcome is final: a 2400 in it is a refusal.
            (Some("done"), 2..) => order_result(&a, 1, true, &self.secrets),
            _ => UpstreamResult::Unknown(Trouble::new(
                TroubleKind::BadAnswer,
                "request.status: an answer without a state",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registrant_cache_is_bounded() {
        let r = Regway::new(&UpstreamConfig {
            kind: crate::config::UpstreamKind::Regway,
            url: "http://127.0.0.1:9/api".into(),
            login: "child".into(),
            password: "x".into(),
            timeout_ms: 1000,
            concurrency: 1,
            products: Default::default(),
            allow_insecure_http: false,
        })
        .unwrap();
        for i in 0..CLIENTS_KEPT * 3 {
            r.remember_client(&format!("{i}/RW-P"), "1/RW-P");
        }
        let n = r.clients.lock().unwrap().len();
        assert!((1..=CLIENTS_KEPT).contains(&n), "{n}");
    }

    #[test]
    fn request_ids_stay_protocol_safe() {
        assert_eq!(protocol_id("shop:R-1.a_b"), "shop:R-1.a_b");
        let long = format!("shop:{}", "x".repeat(64));
        let h = protocol_id(&long);
        assert_eq!(h.len(), 64);
        assert!(h.starts_with("h-") && !h.contains(':'));
        assert_ne!(h, protocol_id(&format!("shop:{}", "y".repeat(64))));
        assert!(protocol_id("client:1000/RW-P").starts_with("h-"));
    }

    #[test]
    fn answers_map_to_results() {
        let done = parse_answer(
            200,
            r#"<?xml version="1.0"?><response><result code="1000">ok</result>
            <data><domain name="a.ru" expires="2027-01-15" state="active"/><order id="1" state="completed"/></data></response>"#,
        )
        .unwrap();
        assert_eq!(
            order_result(&done, 0, false, &Secrets::default()),
            UpstreamResult::Done(Done {
                expires: Some("2027-01-15".parse().unwrap()),
                delegated: None,
                service: None,
            })
        );
        let taken = parse_answer(
            409,
            r#"<response><result code="2302">taken</result></response>"#,
        )
        .unwrap();
        assert!(matches!(
            order_result(&taken, 0, false, &Secrets::default()),
            UpstreamResult::Failed {
                code: Code::Exists,
                ..
            }
        ));
        let internal = parse_answer(
            500,
            r#"<response><result code="2400">oops</result></response>"#,
        )
        .unwrap();
        assert!(matches!(
            order_result(&internal, 0, false, &Secrets::default()),
            UpstreamResult::Unknown(_)
        ));
        let reused = parse_answer(
            409,
            r#"<response><result code="2308">x</result></response>"#,
        )
        .unwrap();
        assert!(matches!(
            order_result(&reused, 0, false, &Secrets::default()),
            UpstreamResult::Unknown(_)
        ));
        // The parent refusing the gateway itself: the partner never sees its words
        // (here the reseller's balance at the parent).
        let broke = parse_answer(
            402,
            r#"<response><result code="2104">not enough funds: available 410.00 RUB</result></response>"#,
        )
        .unwrap();
        match order_result(&broke, 0, false, &Secrets::default()) {
            UpstreamResult::Rejected { code, detail } => {
                assert_eq!(code, 2104);
                assert!(detail.contains("410.00"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // A refusal of the order whose words carry the credentials: a fixed text.
        let secrets = Secrets::new("child", "child-password");
        let echo = parse_answer(
            409,
            r#"<response><result code="2302">exists (child:child-password)</result></response>"#,
        )
        .unwrap();
        match order_result(&echo, 0, false, &secrets) {
            UpstreamResult::Failed { code, reason } => {
                assert_eq!(code, Code::Exists);
                assert!(!secrets.holds(&reason), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_answer(502, "<html>Bad gateway</html>").is_err());
        assert!(parse_answer(200, "not xml <<<").is_err());
        assert!(parse_answer(200, "").is_err());
    }

    #[test]
    fn request_status_reads_the_nested_outcome() {
        let a = parse_answer(
            200,
            r#"<response><result code="1000">ok</result><data>
            <request request-id="s:R1" command="domain.register" state="done" order="7"/>
            <response><result code="2400">refused</result></response></data></response>"#,
        )
        .unwrap();
        assert_eq!(a.codes, vec![1000, 2400]);
        assert_eq!(a.attr("request", "state"), Some("done"));
        assert_eq!(a.messages, vec!["ok", "refused"]);
        assert!(matches!(
            order_result(&a, 1, true, &Secrets::default()),
            UpstreamResult::Failed { code: Code::Failed, ref reason } if reason == "refused"
        ));
    }
}
