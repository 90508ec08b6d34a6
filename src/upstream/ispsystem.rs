//! The licensing backend in the ISPsystem style (its answers: `fixtures/ispsystem/`): a
//! BILLmanager-like service that sells ISPmanager licences.
//!
//! Every call is a `POST` of a form, so the credentials travel in the body and stay out
//! of URLs, proxy logs and access logs:
//!
//! ```text
//! POST {url}  authinfo=USER:PASS&out=xml&func=soft.order.param&pricelist=3541&period=1
//!             &ip=203.0.113.10&licname=shop:L1&autoprolong=off&skipbasket=on
//!             &clicked_button=finish&sok=ok
//! POST {url}  authinfo=USER:PASS&out=xml&func=service.prolong&elid=77&period=12&sok=ok
//! POST {url}  authinfo=USER:PASS&out=xml&func=soft.edit&elid=77&ip=198.51.100.7&sok=ok
//! ```
//!
//! `autoprolong` is always `off`: the gateway's own daily work is the only thing that
//! renews, so the partner is charged for every renewal and the expiry here stays the
//! service's.
//!
//! Answers are XML under `<doc>`; a refusal is `<doc><error …><msg>text</msg></error></doc>`.
//! The success payload is not documented, so the parser is tolerant: the service id is
//! the first of `<elid>`, `<id>`, `<service.id>` or an `elid`/`id` attribute it finds,
//! and anything it does not know is skipped. Success needs an HTTP status below 400 and
//! the service id: the new one for an order; for a renewal or an IP change the one sent,
//! or no id and an `<ok/>`. Anything else leaves the order `unknown`. An answer is read
//! up to [`super::http::MAX_ANSWER_BYTES`].
//!
//! The service has no request-id: a second delivery could create a second licence. So
//! an order whose answer was lost is never sent again from here: `lookup` answers
//! unknown, and the order waits for an operator (it is reported, and listed by
//! `order.list state=unknown`).

use super::http::{exchange, MAX_ANSWER_BYTES};
use super::{Backend, Done, Secrets, Trouble, TroubleKind, UpstreamOrder, UpstreamResult};
use crate::config::UpstreamConfig;
use crate::error::{Code, Error, Result};
use crate::store::records::{LicensePeriod, OrderKind};
use crate::types::names::Name;
use async_trait::async_trait;
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Ispsystem {
    http: reqwest::Client,
    url: String,
    authinfo: String,
    secrets: Secrets,
    /// Catalogue product → the service's price-list id.
    products: BTreeMap<String, String>,
    permits: Semaphore,
}

/// What an ISPsystem answer says.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Done; the service id when the answer names one, and whether it has an `<ok/>`.
    Ok { service: Option<String>, ok: bool },
    /// Refused, with the service's message.
    Error { kind: String, message: String },
}

/// Reads an answer; `Err` when it is not an XML `<doc>`.
pub fn parse_answer(body: &str) -> std::result::Result<Answer, String> {
    let mut r = quick_xml::Reader::from_str(body);
    let mut root: Option<String> = None;
    let mut path: Vec<String> = Vec::new();
    let mut error: Option<(String, String)> = None;
    let mut service: Option<String> = None;
    let mut ok = false;
    loop {
        let ev = r.read_event().map_err(|e| format!("not XML: {e}"))?;
        match ev {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = AsRef::<str>::as_ref(&e.local_name()).to_string();
                if root.is_none() {
                    root = Some(name.clone());
                }
                let attr = |k: &str| {
                    e.attributes().flatten().find_map(|a| {
                        (AsRef::<str>::as_ref(&a.key.local_name()) == k)
                            .then(|| a.value.to_string())
                    })
                };
                if name == "ok" && path.len() == 1 {
                    ok = true;
                }
                if name == "error" && error.is_none() {
                    error = Some((attr("type").unwrap_or_default(), String::new()));
                }
                if service.is_none() && path.len() <= 2 && name != "doc" && name != "error" {
                    service = attr("elid").or_else(|| attr("id"));
                }
                if matches!(ev, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content().trim().to_string();
                if text.is_empty() {
                    continue;
                }
                let here = path.last().map(String::as_str).unwrap_or("");
                let in_error = path.iter().any(|p| p == "error");
                match (&mut error, here) {
                    (Some((_, msg)), "msg") if in_error => msg.push_str(&text),
                    _ if !in_error
                        && service.is_none()
                        && matches!(here, "elid" | "id" | "service.id") =>
                    {
                        service = Some(text)
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if root.as_deref() != Some("doc") {
        return Err("the answer is not a <doc>".into());
    }
    Ok(match error {
        Some((kind, message)) => Answer::Error { kind, message },
        None => Answer::Ok { service, ok },
    })
}

fn months(p: LicensePeriod) -> &'static str {
    match p {
        LicensePeriod::Month => "1",
        LicensePeriod::Year => "12",
    }
}

impl Ispsystem {
    pub fn new(cfg: &UpstreamConfig) -> Result<Ispsystem> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        Ok(Ispsystem {
            http,
            url: cfg.url.clone(),
            authinfo: format!("{}:{}", cfg.login, cfg.password),
            secrets: Secrets::new(&cfg.login, &cfg.password),
            products: cfg.products.clone(),
            permits: Semaphore::new(cfg.concurrency),
        })
    }

    /// The form of an order; `Err` is a refusal made here (nothing sent).
    pub fn form(
        &self,
        order: &UpstreamOrder,
    ) -> std::result::Result<Vec<(&str, String)>, UpstreamResult> {
        let refuse = |reason: String| UpstreamResult::Failed {
            code: Code::Failed,
            reason,
        };
        let mut q = vec![
            ("authinfo", self.authinfo.clone()),
            ("out", "xml".to_string()),
        ];
        let service = || {
            order
                .service
                .clone()
                .ok_or_else(|| refuse("the licensing service never named this licence".into()))
        };
        match &order.kind {
            OrderKind::LicenseOrder {
                product,
                period,
                ip,
                ..
            } => {
                let pricelist = self.products.get(product).ok_or_else(|| {
                    refuse(format!(
                        "{product} has no price list at the licensing service"
                    ))
                })?;
                q.extend([
                    ("func", "soft.order.param".to_string()),
                    ("pricelist", pricelist.clone()),
                    ("period", months(*period).to_string()),
                    ("ip", ip.clone()),
                    ("licname", order.key.clone()),
                    // The gateway renews; the service never does on its own.
                    ("autoprolong", "off".to_string()),
                    ("skipbasket", "on".to_string()),
                    ("clicked_button", "finish".to_string()),
                ]);
            }
            OrderKind::LicenseRenew { period, .. } => q.extend([
                ("func", "service.prolong".to_string()),
                ("elid", service()?),
                ("period", months(*period).to_string()),
            ]),
            OrderKind::LicenseSetIp { ip, .. } => q.extend([
                ("func", "soft.edit".to_string()),
                ("elid", service()?),
                ("ip", ip.clone()),
            ]),
            _ => {
                return Err(refuse(
                    "domains are not carried by a licensing service".into(),
                ))
            }
        }
        q.push(("sok", "ok".to_string()));
        Ok(q)
    }
}

/// Error types with which the service refuses the gateway itself (its credentials or
/// its rights there), not the order.
const GATEWAY_ERRORS: [&str; 2] = ["auth", "access"];

impl Ispsystem {
    /// What an answer of HTTP `status` says about `order`.
    pub fn read(&self, order: &UpstreamOrder, status: u16, body: &str) -> UpstreamResult {
        let unclear = |kind: TroubleKind, why: &str| {
            UpstreamResult::Unknown(Trouble::new(
                kind,
                self.secrets.redact(&format!("HTTP {status}: {why}")),
            ))
        };
        match parse_answer(body) {
            Ok(Answer::Error { kind, message }) if GATEWAY_ERRORS.contains(&kind.as_str()) => {
                UpstreamResult::Rejected {
                    code: status,
                    detail: super::log_text(
                        &self
                            .secrets
                            .redact(&format!("error type {kind}: {message}")),
                    ),
                }
            }
            Ok(Answer::Error { kind, message }) => UpstreamResult::Failed {
                code: Code::Failed,
                reason: self.secrets.public(
                    &format!("the licensing service refused ({kind}): {message}"),
                    "the licensing service refused the order",
                ),
            },
            Ok(_) if status >= 400 => unclear(TroubleKind::Http(status), "no <error> in it"),
            Err(e) => unclear(
                if status >= 400 {
                    TroubleKind::Http(status)
                } else {
                    TroubleKind::BadAnswer
                },
                &e,
            ),
            Ok(Answer::Ok { service, ok }) => match (&order.kind, service) {
                (OrderKind::LicenseOrder { .. }, Some(s)) => UpstreamResult::Done(Done {
                    expires: None,
                    delegated: None,
                    service: Some(s),
                }),
                (OrderKind::LicenseOrder { .. }, None) => unclear(
                    TroubleKind::Unconfirmed,
                    "the service took the order without naming the licence",
                ),
                (_, named) if named == order.service || (named.is_none() && ok) => {
                    UpstreamResult::Done(Done {
                        expires: None,
                        delegated: None,
                        service: order.service.clone(),
                    })
                }
                (_, named) => unclear(
                    TroubleKind::Unconfirmed,
                    &format!(
                        "the answer names service {named:?}, not {:?}, and has no <ok/>",
                        order.service
                    ),
                ),
            },
        }
    }
}

#[async_trait]
impl Backend for Ispsystem {
    fn name(&self) -> &'static str {
        "ispsystem"
    }

    /// `func=whoami` at the licensing service: it answers, and it accepts the
    /// gateway's credentials.
    async fn probe(&self) -> std::result::Result<Option<super::Balance>, String> {
        let form = [
            ("authinfo", self.authinfo.clone()),
            ("out", "xml".to_string()),
            ("func", "whoami".to_string()),
        ];
        let reply = exchange(
            self.http.post(&self.url).form(&form),
            &self.secrets,
            MAX_ANSWER_BYTES,
        )
        .await
        .map_err(|t| t.phrase())?;
        if reply.status >= 500 {
            return Err(TroubleKind::Http(reply.status).phrase());
        }
        match parse_answer(&reply.body) {
            Ok(Answer::Error { kind, .. }) if kind == "auth" || kind == "access" => {
                Err("the licensing service refused the gateway's credentials".into())
            }
            _ => Ok(None),
        }
    }

    async fn check(&self, _names: &[Name]) -> Result<Vec<bool>> {
        Err(Error::upstream(
            "a licensing service does not register domains",
        ))
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        let form = match self.form(order) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let Ok(_permit) = self.permits.acquire().await else {
            return UpstreamResult::Unknown(Trouble::new(
                TroubleKind::Closed,
                "the licensing backend is closed",
            ));
        };
        let reply = match exchange(
            self.http.post(&self.url).form(&form),
            &self.secrets,
            MAX_ANSWER_BYTES,
        )
        .await
        {
            Ok(r) => r,
            Err(t) => return UpstreamResult::Unknown(t),
        };
        self.read(order, reply.status, &reply.body)
    }

    async fn lookup(&self, _order: &UpstreamOrder) -> UpstreamResult {
        UpstreamResult::Unknown(Trouble::new(
            TroubleKind::NoLookup,
            "the licensing service cannot be asked about an order: settle it with `regway order settle`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/ispsystem")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn answers_are_read_tolerantly() {
        let ok = |s: &str| Answer::Ok {
            service: Some(s.to_string()),
            ok: false,
        };
        assert_eq!(
            parse_answer(&fixture("order-elid.xml")),
            Ok(Answer::Ok {
                service: Some("4421".into()),
                ok: true
            })
        );
        assert_eq!(
            parse_answer(&fixture("order-id-attribute.xml")),
            Ok(ok("4422"))
        );
        assert_eq!(
            parse_answer(&fixture("order-nested-id.xml")),
            Ok(ok("4423"))
        );
        assert_eq!(
            parse_answer(&fixture("prolong-ok.xml")),
            Ok(Answer::Ok {
                service: None,
                ok: true
            })
        );
        assert_eq!(
            parse_answer(&fixture("error-value.xml")),
            Ok(Answer::Error {
                kind: "value".into(),
                message: "Invalid IP address".into()
            })
        );
        assert_eq!(
            parse_answer(&fixture("error-auth.xml")),
            Ok(Answer::Error {
                kind: "auth".into(),
                message: "Authorization failed".into()
            })
        );
        assert!(parse_answer(&fixture("html-gateway-error.html")).is_err());
        assert!(parse_answer("").is_err());
    }

    fn service() -> Ispsystem {
        Ispsystem::new(&UpstreamConfig {
            kind: crate::config::UpstreamKind::Ispsystem,
            url: "http://127.0.0.1:9/billmgr".into(),
            login: "reseller".into(),
            password: "topsecret-pass".into(),
            timeout_ms: 1000,
            concurrency: 1,
            products: BTreeMap::from([("ispmanager6-lite".into(), "3541".into())]),
            allow_insecure_http: false,
        })
        .unwrap()
    }

    fn order(kind: OrderKind, service: Option<&str>) -> UpstreamOrder {
        UpstreamOrder {
            key: "shop:L1".into(),
            domain: "license/1".into(),
            kind,
            contact: None,
            service: service.map(String::from),
            upstream: None,
        }
    }

    #[test]
    fn only_a_clear_answer_is_success() {
        let s = service();
        let new = order(
            OrderKind::LicenseOrder {
                license: 1,
                product: "ispmanager6-lite".into(),
                period: LicensePeriod::Month,
                ip: "203.0.113.10".into(),
                client: "1000/RW-P".into(),
                auto_renew: true,
            },
            None,
        );
        let renew = order(
            OrderKind::LicenseRenew {
                license: 1,
                period: LicensePeriod::Month,
                expires: "2026-02-15".parse().unwrap(),
            },
            Some("4421"),
        );
        let unclear = |r: UpstreamResult| match r {
            UpstreamResult::Unknown(t) => t.kind,
            other => panic!("not unknown: {other:?}"),
        };
        // The order goes up with autoprolong=off whatever the partner asked.
        let form = s.form(&new).unwrap();
        assert!(
            form.contains(&("autoprolong", "off".to_string())),
            "{form:?}"
        );
        assert!(matches!(
            s.read(&new, 200, &fixture("order-elid.xml")),
            UpstreamResult::Done(Done { service: Some(ref id), .. }) if id == "4421"
        ));
        // HTTP 400 or more without an <error>: not success, whatever the body says.
        assert_eq!(
            unclear(s.read(&new, 500, &fixture("order-elid.xml"))),
            TroubleKind::Http(500)
        );
        assert_eq!(
            unclear(s.read(&renew, 503, "<doc><ok/></doc>")),
            TroubleKind::Http(503)
        );
        assert_eq!(
            unclear(s.read(&new, 500, &fixture("html-gateway-error.html"))),
            TroubleKind::Http(500)
        );
        assert_eq!(
            unclear(s.read(&new, 200, "garbage <<<")),
            TroubleKind::BadAnswer
        );
        // A <doc> without the expected service id.
        assert_eq!(
            unclear(s.read(&new, 200, "<doc><ok/></doc>")),
            TroubleKind::Unconfirmed
        );
        assert_eq!(
            unclear(s.read(&renew, 200, "<doc/>")),
            TroubleKind::Unconfirmed
        );
        assert_eq!(
            unclear(s.read(&renew, 200, "<doc><elid>9999</elid></doc>")),
            TroubleKind::Unconfirmed
        );
        assert!(matches!(
            s.read(&renew, 200, &fixture("prolong-ok.xml")),
            UpstreamResult::Done(_)
        ));
        assert!(matches!(
            s.read(&renew, 200, "<doc><elid>4421</elid></doc>"),
            UpstreamResult::Done(_)
        ));
        // A refusal of the gateway itself, and a refusal that echoes the credentials.
        assert!(matches!(
            s.read(&new, 200, &fixture("error-auth.xml")),
            UpstreamResult::Rejected { .. }
        ));
        match s.read(
            &new,
            200,
            "<doc><error type=\"value\"><msg>bad authinfo=reseller:topsecret-pass</msg></error></doc>",
        ) {
            UpstreamResult::Failed { reason, .. } => {
                assert!(!reason.contains("topsecret"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
