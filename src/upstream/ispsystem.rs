//! The licensing backend in the ISPsystem style (`DIALECTS.md` §3): a BILLmanager-like
//! service that sells ISPmanager licences.
//!
//! ```text
//! GET {url}?authinfo=USER:PASS&out=xml&func=soft.order.param&pricelist=3541&period=1
//!          &ip=203.0.113.10&licname=shop:L1&autoprolong=off&skipbasket=on
//!          &clicked_button=finish&sok=ok
//! GET {url}?authinfo=USER:PASS&out=xml&func=service.prolong&elid=77&period=12&sok=ok
//! GET {url}?authinfo=USER:PASS&out=xml&func=soft.edit&elid=77&ip=198.51.100.7&sok=ok
//! ```
//!
//! Answers are XML under `<doc>`; a refusal is `<doc><error …><msg>text</msg></error></doc>`.
//! The success payload is not documented, so the parser is tolerant: the service id is
//! the first of `<elid>`, `<id>`, `<service.id>` or an `elid`/`id` attribute it finds,
//! and anything it does not know is skipped.
//!
//! The service has no request-id: a second delivery could create a second licence. So
//! an order whose answer was lost is never sent again from here: `lookup` answers
//! unknown, and the order waits for an operator (it is reported, and listed by
//! `order.list state=unknown`).

use super::{Backend, Done, UpstreamOrder, UpstreamResult};
use crate::config::UpstreamConfig;
use crate::engine::names::Name;
use crate::error::{Code, Error, Result};
use crate::store::records::{LicensePeriod, OrderKind};
use async_trait::async_trait;
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Ispsystem {
    http: reqwest::Client,
    url: String,
    authinfo: String,
    /// Catalogue product → the service's price-list id.
    products: BTreeMap<String, String>,
    permits: Semaphore,
}

/// What an ISPsystem answer says.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Done; the service id when the answer names one.
    Ok { service: Option<String> },
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
        None => Answer::Ok { service },
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
            products: cfg.products.clone(),
            permits: Semaphore::new(cfg.concurrency),
        })
    }

    /// The query of an order; `Err` is a refusal made here (nothing sent).
    pub fn query(
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
                auto_renew,
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
                    (
                        "autoprolong",
                        if *auto_renew { "on" } else { "off" }.to_string(),
                    ),
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

#[async_trait]
impl Backend for Ispsystem {
    fn name(&self) -> &'static str {
        "ispsystem"
    }

    async fn check(&self, _names: &[Name]) -> Result<Vec<bool>> {
        Err(Error::upstream(
            "a licensing service does not register domains",
        ))
    }

    async fn submit(&self, order: &UpstreamOrder) -> UpstreamResult {
        let q = match self.query(order) {
            Ok(q) => q,
            Err(r) => return r,
        };
        let Ok(_permit) = self.permits.acquire().await else {
            return UpstreamResult::Unknown("the licensing service is closed".into());
        };
        let resp = match self.http.get(&self.url).query(&q).send().await {
            Ok(r) => r,
            Err(e) => {
                return UpstreamResult::Unknown(format!(
                    "the licensing service did not answer: {e}"
                ))
            }
        };
        let status = resp.status().as_u16();
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => return UpstreamResult::Unknown(format!("the answer was cut: {e}")),
        };
        match parse_answer(&body) {
            Ok(Answer::Error { kind, message }) => UpstreamResult::Failed {
                code: Code::Failed,
                reason: format!("the licensing service refused ({kind}): {message}"),
            },
            Ok(Answer::Ok { service }) => match (&order.kind, service) {
                (OrderKind::LicenseOrder { .. }, None) => UpstreamResult::Unknown(
                    "the licensing service took the order without naming the licence".into(),
                ),
                (_, service) => UpstreamResult::Done(Done {
                    expires: None,
                    delegated: None,
                    service: service.or_else(|| order.service.clone()),
                }),
            },
            Err(e) => UpstreamResult::Unknown(format!("HTTP {status}: {e}")),
        }
    }

    async fn lookup(&self, _order: &UpstreamOrder) -> UpstreamResult {
        UpstreamResult::Unknown(
            "the licensing service cannot be asked about an order: an operator must check it"
                .into(),
        )
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
        };
        assert_eq!(parse_answer(&fixture("order-elid.xml")), Ok(ok("4421")));
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
            Ok(Answer::Ok { service: None })
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
}
