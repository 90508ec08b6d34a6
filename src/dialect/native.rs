//! The native protocol v1 (`protocol/native.md`): `POST /api` with a form or an XML
//! body, `GET /api?command=…` for read-only commands; always an XML answer.
//!
//! ```text
//! POST /api  Content-Type: application/x-www-form-urlencoded
//! command=domain.check&domain=example.ru&domain=example.com
//!
//! <?xml version="1.0" encoding="UTF-8"?>
//! <response>
//!   <result code="1000">Command completed successfully</result>
//!   <data>…</data>
//! </response>
//! ```

use super::xml::{self, El};
use super::{form, Dialect, Envelope, HttpReply, HttpRequest};
use crate::command::params::Params;
use crate::command::programme;
use crate::engine::auth::Credentials;
use crate::error::{Error, Result};
use crate::gateway::{Action, Reply};
use crate::outcome::{CheckRow, Data, Element, Outcome};
use crate::store::records::{Client, CommissionEntry, Domain, LedgerEntry, License, Order};
use crate::types::money::{Currency, Money};
use crate::types::names::Name;
use base64::Engine as _;
use bytes::Bytes;
use rust_decimal::Decimal;
use std::time::Instant;

/// The native protocol's codec.
pub struct Native;

impl Dialect for Native {
    const NAME: &'static str = "native";
    type State = ();

    fn decode(&self, req: &HttpRequest<'_>) -> Result<(Envelope, ()), HttpReply> {
        decode(req).map(|e| (e, ())).map_err(encode_error)
    }

    fn encode(&self, _: (), reply: Reply) -> HttpReply {
        encode(reply)
    }

    fn refuse(&self, e: Error, status: u16, _: Instant) -> HttpReply {
        let mut r = encode_error(e);
        r.status = status;
        r
    }
}

/// The envelope fields; everything else is the command's.
struct Head {
    command: Option<String>,
    request_id: Option<String>,
    login: Option<String>,
    password: Option<String>,
}

fn take_envelope(fields: Vec<(String, String)>) -> Result<(Head, Params)> {
    let mut p = Params::new(fields);
    let env = Head {
        command: p.opt("command")?,
        request_id: p.opt("request-id")?,
        login: p.opt("login")?,
        password: p.opt("password")?,
    };
    let rest: Vec<(String, String)> = p.into_unused();
    Ok((env, Params::new(rest)))
}

/// Decodes an HTTP request into an envelope for the pipeline.
fn decode(req: &HttpRequest<'_>) -> Result<Envelope> {
    // Which of two credentials counts is not guessed (protocol/native.md, "Authentication").
    if req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Error::syntax(
            "more than one Authorization header: send one",
        ));
    }
    let (fields, read_only) = match req.method {
        "GET" => {
            let q = req.query.unwrap_or("");
            (form::parse(q.as_bytes())?, true)
        }
        "POST" => {
            if req.query.is_some_and(|q| !q.is_empty()) {
                return Err(Error::syntax(
                    "POST parameters go in the body, not in the query string",
                ));
            }
            (body_fields(req.content_type(), req.body)?, false)
        }
        m => {
            return Err(Error::syntax(format!(
                "method {m} is not allowed; use POST or GET"
            )))
        }
    };
    let (env, params) = take_envelope(fields)?;
    let basic = req
        .header(http::header::AUTHORIZATION)
        .map(parse_basic)
        .transpose()?;
    let credentials = match (basic, env.login, env.password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Error::syntax(
                "credentials given twice: use HTTP Basic or login/password fields, not both",
            ))
        }
        (Some(c), None, None) => Some(c),
        (None, Some(login), Some(password)) => Some(Credentials { login, password }),
        (None, Some(_), None) => return Err(Error::missing("password")),
        (None, None, Some(_)) => return Err(Error::missing("login")),
        (None, None, None) => None,
    };
    Ok(Envelope {
        dialect: Native::NAME,
        credentials,
        peer: req.peer,
        action: Action::Named {
            command: env.command.unwrap_or_default(),
            params,
        },
        request_id: env.request_id,
        read_only,
    })
}

fn body_fields(content_type: Option<&str>, body: &[u8]) -> Result<Vec<(String, String)>> {
    let ct = content_type.unwrap_or("");
    let mut parts = ct.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("charset")
                && !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            {
                return Err(Error::syntax(format!("charset {v}: requests are UTF-8")));
            }
        }
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::syntax(format!(
            "the body is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    match mime.as_str() {
        "application/x-www-form-urlencoded" => form::parse(text.as_bytes()),
        "application/xml" | "text/xml" => {
            let doc = xml::parse(text)?;
            if doc.root != "request" {
                return Err(Error::syntax(format!(
                    "XML: the root element is <{}>, expected <request>",
                    doc.root
                )));
            }
            let mut fields = doc.attributes;
            if let Some((k, _)) = fields
                .iter()
                .find(|(k, _)| k != "command" && k != "request-id")
            {
                return Err(Error::syntax(format!(
                    "XML: attribute {k:?} is not allowed on <request>; parameters are child elements"
                )));
            }
            fields.extend(doc.children);
            if fields.len() > form::MAX_FIELDS {
                return Err(Error::syntax(format!("more than {} fields", form::MAX_FIELDS)));
            }
            Ok(fields)
        }
        "" => Err(Error::syntax(
            "Content-Type missing: application/x-www-form-urlencoded or application/xml",
        )),
        other => Err(Error::syntax(format!(
            "Content-Type {other} is not accepted: application/x-www-form-urlencoded or application/xml"
        ))),
    }
}

fn parse_basic(h: &str) -> Result<Credentials> {
    let bad = || Error::syntax("Authorization: expected Basic credentials");
    let (scheme, rest) = h.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (login, password) = s.split_once(':').ok_or_else(bad)?;
    Ok(Credentials {
        login: login.to_string(),
        password: password.to_string(),
    })
}

/// Encodes a reply as the native XML answer.
fn encode(mut reply: Reply) -> HttpReply {
    // Elements a command described are moved into the document, not copied.
    let own = match &mut reply.outcome.data {
        Data::Elements { elements } => std::mem::take(elements),
        _ => Vec::new(),
    };
    let o = &reply.outcome;
    let mut headers = vec![("content-type", "application/xml; charset=utf-8".to_string())];
    if reply.replayed {
        headers.push(("idempotent-replayed", "true".into()));
    }
    if let Some(s) = o.retry_after {
        headers.push(("retry-after", s.to_string()));
    }
    HttpReply {
        status: o.http_status(),
        headers,
        body: Bytes::from(xml::document(&response(o, own))),
    }
}

/// An error found before the engine could run (the body could not be decoded).
fn encode_error(e: Error) -> HttpReply {
    encode(Reply {
        outcome: Outcome::error(e),
        replayed: false,
    })
}

/// The `<response>` of an outcome; `own`: the elements its command described, taken
/// out of it.
fn response(o: &Outcome, own: Vec<Element>) -> El {
    let mut result = El::new("result").attr("code", o.code.number());
    if let Some(object) = o.object {
        result = result.attr("object", object.name());
    }
    let mut r = El::new("response").child(result.text(&o.message));
    if let Some(rid) = &o.request_id {
        r = r.child(El::new("request-id").text(rid));
    }
    let mut data = data(&o.data);
    data.extend(own.into_iter().map(El::from_element));
    if !data.is_empty() {
        r = r.child(El::new("data").children(data));
    }
    r
}

fn amount(a: Decimal, c: Currency) -> String {
    Money {
        amount: a,
        currency: c,
    }
    .amount_str()
}

fn money_el(name: &'static str, a: Decimal, c: Currency) -> El {
    El::new(name).attr("currency", c).text(amount(a, c))
}

fn next_cursor(c: &Option<String>) -> Option<El> {
    c.as_ref().map(|c| El::new("next-cursor").text(c))
}

fn data(d: &Data) -> Vec<El> {
    match d {
        Data::None => vec![],
        Data::Elements { elements } => elements.iter().cloned().map(El::from_element).collect(),
        Data::Balance {
            currency,
            balance,
            credit_limit,
            available,
        } => vec![
            money_el("balance", *balance, *currency),
            money_el("credit-limit", *credit_limit, *currency),
            money_el("available", *available, *currency),
        ],
        Data::Check { currency, rows } => rows.iter().map(|r| check_row(r, *currency)).collect(),
        Data::DomainOrder {
            name,
            expires,
            state,
            order,
            currency,
            charged,
            balance,
        } => vec![
            El::new("domain")
                .attr("name", name)
                .attr_opt("unicode", Name::unicode_of(name))
                .attr_opt("expires", *expires)
                .attr_opt("state", state.map(|s| s.as_str())),
            El::new("order")
                .attr("id", order.id)
                .attr("state", order.state.as_str()),
            money_el("charged", *charged, *currency),
            money_el("balance", *balance, *currency),
        ],
        Data::Domain(d) => vec![domain(d)],
        Data::LicenseOrder {
            license: l,
            order,
            currency,
            charged,
            balance,
        } => vec![
            license(l),
            El::new("order")
                .attr("id", order.id)
                .attr("state", order.state.as_str()),
            money_el("charged", *charged, *currency),
            money_el("balance", *balance, *currency),
        ],
        Data::License(l) => vec![license(l)],
        Data::Licenses {
            rows,
            next_cursor: c,
        } => rows.iter().map(license).chain(next_cursor(c)).collect(),
        Data::Order(o) => vec![order(o)],
        Data::Domains {
            rows,
            next_cursor: c,
            total,
        } => rows
            .iter()
            .map(domain)
            .chain(next_cursor(c))
            .chain(total.map(|t| El::new("total").text(t)))
            .collect(),
        Data::Client(c) => vec![client(c)],
        Data::Contacts { domain: d, clients } => std::iter::once(domain(d))
            .chain(clients.iter().map(client))
            .collect(),
        Data::Clients {
            rows,
            next_cursor: c,
        } => rows.iter().map(client).chain(next_cursor(c)).collect(),
        Data::Orders {
            rows,
            next_cursor: c,
        } => rows.iter().map(order).chain(next_cursor(c)).collect(),
        Data::Ledger {
            currency,
            rows,
            next_cursor: c,
        } => rows
            .iter()
            .map(|e| entry(e, *currency))
            .chain(next_cursor(c))
            .collect(),
        Data::PriceList { currency, rows } => rows
            .iter()
            .map(|r| {
                El::new("price")
                    .attr_opt("zone", r.zone.as_ref())
                    .attr_opt("product", r.product.as_ref())
                    .attr("category", &r.category)
                    .attr("operation", &r.operation)
                    .attr("period", &r.period)
                    .attr("list", amount(r.list, *currency))
                    .attr("price", amount(r.price, *currency))
                    .attr("currency", currency)
                    .attr("rule", &r.rule)
                    .attr_opt("tier", r.tier.as_ref())
                    .attr_opt("discount", r.discount)
            })
            .collect(),
        Data::Commissions {
            currency,
            earned,
            withdrawable,
            rows,
            next_cursor: c,
        } => std::iter::once(commission_account(*earned, *withdrawable, *currency))
            .chain(rows.iter().map(|e| commission_entry(e, *currency)))
            .chain(next_cursor(c))
            .collect(),
        Data::CommissionTransfer {
            currency,
            entry,
            balance,
            withdrawable,
        } => vec![
            commission_entry(entry, *currency),
            money_el("balance", *balance, *currency),
            money_el("commission", *withdrawable, *currency),
        ],
        Data::Statements {
            currency,
            rows,
            entries,
        } => rows
            .iter()
            .map(|st| {
                El::new("statement")
                    .attr("month", &st.month)
                    .attr("activated", amount(st.activated, *currency))
                    .attr("paid-in-month", amount(st.paid_in_month, *currency))
                    .attr("closing-balance", amount(st.closing, *currency))
                    .attr("owed", amount(st.owed, *currency))
                    .attr("currency", currency)
                    .attr("due", st.due)
                    .attr("state", st.state.as_str())
                    .attr_opt(
                        "paid-at",
                        st.paid_at
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    )
                    .children(entries.iter().map(|e| entry(e, *currency)))
            })
            .collect(),
        Data::Request {
            request_id,
            command,
            state,
            order,
            response: resp,
        } => {
            let mut v = vec![El::new("request")
                .attr("request-id", request_id)
                .attr("command", command)
                .attr("state", state)
                .attr_opt("order", *order)];
            if let Some(r) = resp {
                v.push(response(r, Vec::new()));
            }
            v
        }
    }
}

fn check_row(r: &CheckRow, c: Currency) -> El {
    El::new("domain")
        .attr("name", &r.name)
        .attr_opt("unicode", Name::unicode_of(&r.name))
        .attr("available", r.available)
        .attr_opt("price", r.price.map(|p| amount(p, c)))
        .attr_opt("currency", r.price.map(|_| c))
        .attr_opt("reason", r.reason.as_ref())
}

fn domain(d: &Domain) -> El {
    El::new("domain")
        .attr("name", &d.name)
        .attr_opt("unicode", Name::unicode_of(&d.name))
        .attr("client", &d.client)
        .attr("state", d.state.as_str())
        .attr(
            "created",
            d.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .attr("expires", d.expires)
        .attr("delegated", d.delegated)
        .attr("auto-renew", d.auto_renew)
        .children(d.ns.iter().map(|n| El::new("ns").text(n)))
}

fn order(o: &Order) -> El {
    let ts =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    El::new("order")
        .attr("id", o.id)
        .attr("command", o.kind.command())
        .attr_opt("domain", o.kind.license().is_none().then_some(&o.domain))
        .attr_opt("license", o.kind.license())
        .attr("state", o.state.as_str())
        .attr("amount", amount(o.amount, o.currency))
        .attr("currency", o.currency)
        .attr("request-id", &o.request_id)
        .attr("created", ts(&o.created))
        .attr("updated", ts(&o.updated))
        .attr_opt("reason", o.reason.as_ref())
        .attr_opt("by", o.by.as_ref())
        .children(o.history.iter().map(|t| {
            El::new("transition")
                .attr("state", t.state.as_str())
                .attr("at", ts(&t.at))
        }))
}

fn license(l: &License) -> El {
    El::new("license")
        .attr("id", l.id)
        .attr("product", &l.product)
        .attr("period", l.period.as_str())
        .attr("ip", &l.ip)
        .attr("client", &l.client)
        .attr("state", l.state.as_str())
        .attr(
            "created",
            l.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .attr("expires", l.expires)
        .attr("auto-renew", l.auto_renew)
}

fn client(c: &Client) -> El {
    El::new("client")
        .attr("id", &c.id)
        .attr("type", c.kind.as_str())
        .attr(
            "created",
            c.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .attr_opt(
            "deleted",
            c.deleted
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        )
        .child(El::new("name").text(&c.name))
        .child(El::new("email").text(&c.email))
        .child(El::new("phone").text(&c.phone))
        .child(El::new("country").text(&c.country))
        .child(El::new("address").text(&c.address))
        .children(
            c.extra
                .iter()
                .map(|(k, v)| El::new("extra").attr("name", k).text(v)),
        )
}

fn commission_account(earned: Decimal, withdrawable: Decimal, c: Currency) -> El {
    El::from_element(programme::commission_account(earned, withdrawable, c))
}

fn commission_entry(e: &CommissionEntry, c: Currency) -> El {
    let rate = e.rate.as_ref();
    account_line(
        "commission-entry",
        e.id,
        e.time,
        e.kind.as_str(),
        e.amount,
        e.balance_after,
        c,
    )
    .attr_opt("order", e.order)
    .attr_opt("client", e.client.as_ref())
    .attr_opt("base", e.base.map(|a| amount(a, c)))
    .attr_opt("category", rate.map(|r| &r.category))
    .attr_opt("percent", rate.map(|r| r.percent))
    .attr_opt("rule", rate.map(|r| &r.rule))
    .attr_opt("tier", rate.map(|r| &r.tier))
    .attr_opt("ledger-entry", e.ledger)
    .attr_opt("note", (!e.note.is_empty()).then_some(&e.note))
}

/// The attributes every line of an append-only account has (ledger, commission).
fn account_line(
    name: &'static str,
    id: u64,
    time: chrono::DateTime<chrono::Utc>,
    kind: &str,
    amt: Decimal,
    balance_after: Decimal,
    c: Currency,
) -> El {
    El::new(name)
        .attr("id", id)
        .attr(
            "time",
            time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .attr("kind", kind)
        .attr("amount", amount(amt, c))
        .attr("balance-after", amount(balance_after, c))
        .attr("currency", c)
}

fn entry(e: &LedgerEntry, c: Currency) -> El {
    account_line(
        "entry",
        e.id,
        e.time,
        e.kind.as_str(),
        e.amount,
        e.balance_after,
        c,
    )
    .attr_opt("order", e.order)
    .attr_opt("list-price", e.list_price.map(|a| amount(a, c)))
    .attr_opt("rule", e.rule.as_ref())
    .attr_opt("tier", e.tier.as_ref())
    .attr_opt("discount", e.discount)
    .attr_opt("note", (!e.note.is_empty()).then_some(&e.note))
    .attr_opt("by", e.by.as_ref())
}
