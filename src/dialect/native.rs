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

use super::xml::{self, Out, Tag};
use super::{form, Dialect, Envelope, HttpReply, HttpRequest};
use crate::command::params::Params;
use crate::command::programme;
use crate::engine::auth::Credentials;
use crate::error::{Error, Result};
use crate::gateway::{Action, Reply};
use crate::outcome::{CheckRow, Data, Outcome};
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
    // One pass: the envelope's fields are moved out, the rest kept in order. A field
    // given twice is refused, the first of them in this order named.
    const NAMES: [&str; 4] = ["command", "request-id", "login", "password"];
    let mut found: [Option<String>; 4] = Default::default();
    let mut twice = [false; 4];
    let mut rest = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        match NAMES.iter().position(|n| *n == k) {
            Some(i) => {
                twice[i] |= found[i].is_some();
                found[i] = Some(v);
            }
            None => rest.push((k, v)),
        }
    }
    if let Some(i) = twice.iter().position(|t| *t) {
        return Err(Error::syntax(format!("{}: given more than once", NAMES[i])));
    }
    let [command, request_id, login, password] = found;
    let env = Head {
        command,
        request_id,
        login,
        password,
    };
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

/// Encodes a reply as the native XML answer, written straight into the body.
fn encode(reply: Reply) -> HttpReply {
    if let Data::Ledger {
        currency,
        rows,
        next_cursor,
        csv: true,
    } = &reply.outcome.data
    {
        let mut headers = vec![(
            "content-type",
            "text/csv; charset=utf-8; header=present".to_string(),
        )];
        if let Some(c) = next_cursor {
            headers.push(("next-cursor", c.clone()));
        }
        return HttpReply {
            status: reply.outcome.http_status(),
            headers,
            body: Bytes::from(ledger_csv(rows, *currency)),
        };
    }
    let o = &reply.outcome;
    let mut headers = vec![("content-type", "application/xml; charset=utf-8".to_string())];
    if reply.replayed {
        headers.push(("idempotent-replayed", "true".into()));
    }
    if let Some(s) = o.retry_after {
        headers.push(("retry-after", s.to_string()));
    }
    let mut out = Out::document();
    response(&mut out, o);
    HttpReply {
        status: o.http_status(),
        headers,
        body: Bytes::from(out.finish()),
    }
}

/// An error found before the engine could run (the body could not be decoded).
fn encode_error(e: Error) -> HttpReply {
    encode(Reply {
        outcome: Outcome::error(e),
        replayed: false,
    })
}

/// The `<response>` of an outcome.
fn response(out: &mut Out, o: &Outcome) {
    out.el("response").children(|out| {
        out.el("result")
            .attr("code", o.code.number())
            .attr_opt("object", o.object.map(|x| x.name()))
            .text(&o.message);
        if let Some(rid) = &o.request_id {
            out.el("request-id").text(rid);
        }
        // `<data>` only when there is something in it.
        out.el("data").children_or_omit(|out| data(out, &o.data));
    });
}

fn amount(a: Decimal, c: Currency) -> String {
    Money {
        amount: a,
        currency: c,
    }
    .amount_str()
}

fn money_el(out: &mut Out, name: &'static str, a: Decimal, c: Currency) {
    out.el(name).attr("currency", c).text(amount(a, c));
}

fn next_cursor(out: &mut Out, c: &Option<String>) {
    if let Some(c) = c {
        out.el("next-cursor").text(c);
    }
}

fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn data(out: &mut Out, d: &Data) {
    match d {
        Data::None => {}
        Data::Elements { elements } => {
            for e in elements {
                xml::write_element(out, e);
            }
        }
        Data::Balance {
            currency,
            balance,
            credit_limit,
            available,
        } => {
            money_el(out, "balance", *balance, *currency);
            money_el(out, "credit-limit", *credit_limit, *currency);
            money_el(out, "available", *available, *currency);
        }
        Data::Check { currency, rows } => {
            for r in rows {
                check_row(out, r, *currency);
            }
        }
        Data::DomainOrder {
            name,
            expires,
            state,
            order,
            currency,
            charged,
            balance,
        } => {
            out.el("domain")
                .attr("name", name)
                .attr_opt("unicode", Name::unicode_of(name))
                .attr_opt("expires", *expires)
                .attr_opt("state", state.map(|s| s.as_str()))
                .empty();
            out.el("order")
                .attr("id", order.id)
                .attr("state", order.state.as_str())
                .empty();
            money_el(out, "charged", *charged, *currency);
            money_el(out, "balance", *balance, *currency);
        }
        Data::Domain(d) => domain(out, d),
        Data::LicenseOrder {
            license: l,
            order,
            currency,
            charged,
            balance,
        } => {
            license(out, l);
            out.el("order")
                .attr("id", order.id)
                .attr("state", order.state.as_str())
                .empty();
            money_el(out, "charged", *charged, *currency);
            money_el(out, "balance", *balance, *currency);
        }
        Data::License(l) => license(out, l),
        Data::Licenses {
            rows,
            next_cursor: c,
        } => {
            for l in rows {
                license(out, l);
            }
            next_cursor(out, c);
        }
        Data::Order(o) => order(out, o),
        Data::Domains {
            rows,
            next_cursor: c,
            total,
        } => {
            for d in rows {
                domain(out, d);
            }
            next_cursor(out, c);
            if let Some(t) = total {
                out.el("total").text(t);
            }
        }
        Data::Client(c) => client(out, c),
        Data::Contacts { domain: d, clients } => {
            domain(out, d);
            for c in clients {
                client(out, c);
            }
        }
        Data::Clients {
            rows,
            next_cursor: c,
        } => {
            for cl in rows {
                client(out, cl);
            }
            next_cursor(out, c);
        }
        Data::Orders {
            rows,
            next_cursor: c,
        } => {
            for o in rows {
                order(out, o);
            }
            next_cursor(out, c);
        }
        Data::Ledger {
            currency,
            rows,
            next_cursor: c,
            ..
        } => {
            for e in rows {
                entry(out, e, *currency);
            }
            next_cursor(out, c);
        }
        Data::PriceList { currency, rows } => {
            for r in rows {
                out.el("price")
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
                    .empty();
            }
        }
        Data::Commissions {
            currency,
            earned,
            withdrawable,
            rows,
            next_cursor: c,
        } => {
            xml::write_element(
                out,
                &programme::commission_account(*earned, *withdrawable, *currency),
            );
            for e in rows {
                commission_entry(out, e, *currency);
            }
            next_cursor(out, c);
        }
        Data::CommissionTransfer {
            currency,
            entry,
            balance,
            withdrawable,
        } => {
            commission_entry(out, entry, *currency);
            money_el(out, "balance", *balance, *currency);
            money_el(out, "commission", *withdrawable, *currency);
        }
        Data::Statements {
            currency,
            rows,
            entries,
        } => {
            for st in rows {
                out.el("statement")
                    .attr("month", &st.month)
                    .attr("activated", amount(st.activated, *currency))
                    .attr("paid-in-month", amount(st.paid_in_month, *currency))
                    .attr("closing-balance", amount(st.closing, *currency))
                    .attr("owed", amount(st.owed, *currency))
                    .attr("currency", currency)
                    .attr("due", st.due)
                    .attr("state", st.state.as_str())
                    .attr_opt("paid-at", st.paid_at.as_ref().map(rfc3339))
                    .children(|out| {
                        for e in entries {
                            entry(out, e, *currency);
                        }
                    });
            }
        }
        Data::Request {
            request_id,
            command,
            state,
            order,
            response: resp,
        } => {
            out.el("request")
                .attr("request-id", request_id)
                .attr("command", command)
                .attr("state", state)
                .attr_opt("order", *order)
                .empty();
            if let Some(r) = resp {
                response(out, r);
            }
        }
    }
}

fn check_row(out: &mut Out, r: &CheckRow, c: Currency) {
    out.el("domain")
        .attr("name", &r.name)
        .attr_opt("unicode", Name::unicode_of(&r.name))
        .attr("available", r.available)
        .attr_opt("price", r.price.map(|p| amount(p, c)))
        .attr_opt("currency", r.price.map(|_| c))
        .attr_opt("reason", r.reason.as_ref())
        .empty();
}

fn domain(out: &mut Out, d: &Domain) {
    out.el("domain")
        .attr("name", &d.name)
        .attr_opt("unicode", Name::unicode_of(&d.name))
        .attr("client", &d.client)
        .attr("state", d.state.as_str())
        .attr("created", rfc3339(&d.created))
        .attr("expires", d.expires)
        .attr("delegated", d.delegated)
        .attr("auto-renew", d.auto_renew)
        .children(|out| {
            for n in &d.ns {
                out.el("ns").text(n);
            }
        });
}

fn order(out: &mut Out, o: &Order) {
    out.el("order")
        .attr("id", o.id)
        .attr("command", o.kind.command())
        .attr_opt("domain", o.kind.license().is_none().then_some(&o.domain))
        .attr_opt("license", o.kind.license())
        .attr("state", o.state.as_str())
        .attr("amount", amount(o.amount, o.currency))
        .attr("currency", o.currency)
        .attr("request-id", &o.request_id)
        .attr("created", rfc3339(&o.created))
        .attr("updated", rfc3339(&o.updated))
        .attr_opt("reason", o.reason.as_ref())
        .attr_opt("by", o.by.as_ref())
        .children(|out| {
            for t in &o.history {
                out.el("transition")
                    .attr("state", t.state.as_str())
                    .attr("at", rfc3339(&t.at))
                    .empty();
            }
        });
}

fn license(out: &mut Out, l: &License) {
    out.el("license")
        .attr("id", l.id)
        .attr("product", &l.product)
        .attr("period", l.period.as_str())
        .attr("ip", &l.ip)
        .attr("client", &l.client)
        .attr("state", l.state.as_str())
        .attr("created", rfc3339(&l.created))
        .attr("expires", l.expires)
        .attr("auto-renew", l.auto_renew)
        .empty();
}

fn client(out: &mut Out, c: &Client) {
    out.el("client")
        .attr("id", &c.id)
        .attr("type", c.kind.as_str())
        .attr("created", rfc3339(&c.created))
        .attr_opt("deleted", c.deleted.as_ref().map(rfc3339))
        .children(|out| {
            out.el("name").text(&c.name);
            out.el("email").text(&c.email);
            out.el("phone").text(&c.phone);
            out.el("country").text(&c.country);
            out.el("address").text(&c.address);
            for (k, v) in &c.extra {
                out.el("extra").attr("name", k).text(v);
            }
        });
}

fn commission_entry(out: &mut Out, e: &CommissionEntry, c: Currency) {
    let rate = e.rate.as_ref();
    account_line(
        out,
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
    .empty();
}

/// The attributes every line of an append-only account has (ledger, commission).
#[allow(clippy::too_many_arguments)]
fn account_line<'a>(
    out: &'a mut Out,
    name: &'static str,
    id: u64,
    time: chrono::DateTime<chrono::Utc>,
    kind: &str,
    amt: Decimal,
    balance_after: Decimal,
    c: Currency,
) -> Tag<'a> {
    out.el(name)
        .attr("id", id)
        .attr("time", rfc3339(&time))
        .attr("kind", kind)
        .attr("amount", amount(amt, c))
        .attr("balance-after", amount(balance_after, c))
        .attr("currency", c)
}

/// The columns of a ledger as CSV, one per attribute of its XML `<entry>`.
const LEDGER_COLUMNS: &str =
    "id,time,kind,amount,balance-after,currency,order,list-price,rule,tier,discount,note,by";

/// A ledger page as CSV (RFC 4180: a header line, one record per entry, CRLF line
/// ends). Amounts are written as in the XML, so the two add up to the same totals.
fn ledger_csv(rows: &[LedgerEntry], c: Currency) -> String {
    let mut out = String::with_capacity(64 * (rows.len() + 1));
    out.push_str(LEDGER_COLUMNS);
    out.push_str("\r\n");
    for e in rows {
        let fields: [(String, bool); 13] = [
            (e.id.to_string(), false),
            (
                e.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                false,
            ),
            (e.kind.as_str().to_string(), true),
            (amount(e.amount, c), false),
            (amount(e.balance_after, c), false),
            (c.to_string(), true),
            (e.order.map(|o| o.to_string()).unwrap_or_default(), false),
            (
                e.list_price.map(|a| amount(a, c)).unwrap_or_default(),
                false,
            ),
            (e.rule.clone().unwrap_or_default(), true),
            (e.tier.clone().unwrap_or_default(), true),
            (e.discount.map(|d| d.to_string()).unwrap_or_default(), false),
            (e.note.clone(), true),
            (e.by.clone().unwrap_or_default(), true),
        ];
        for (i, (v, text)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_cell(&mut out, v, *text);
        }
        out.push_str("\r\n");
    }
    out
}

/// One CSV cell. A text cell that a spreadsheet would take for a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'` and quotes,
/// so it is shown, never run. Numbers the gateway writes (amounts, ids) are left as
/// they are: a negative amount stays a number.
fn csv_cell(out: &mut String, v: &str, text: bool) {
    let formula = text && v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula || v.contains([',', '"', '\r', '\n']) {
        out.push('"');
        if formula {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn entry(out: &mut Out, e: &LedgerEntry, c: Currency) {
    account_line(
        out,
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
    .empty();
}

#[cfg(test)]
mod csv_tests {
    use super::csv_cell;

    fn cell(v: &str, text: bool) -> String {
        let mut s = String::new();
        csv_cell(&mut s, v, text);
        s
    }

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        for f in ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            let c = cell(f, true);
            assert!(c.starts_with("\"'"), "{f:?} -> {c:?}");
        }
        assert_eq!(
            cell("=HYPERLINK(\"x\")", true),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(cell("a,b", true), "\"a,b\"");
        assert_eq!(cell("line\nnext", true), "\"line\nnext\"");
        assert_eq!(cell("plain note", true), "plain note");
        assert_eq!(cell("-590.00", false), "-590.00");
    }
}
