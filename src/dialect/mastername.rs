//! The MasterName partner gateway (`protocol/mastername.md`): `POST /partner_gateway`
//! with one form field `request` holding INI-like text, CP1251 unless the
//! Content-Type says `charset=utf-8`; the answer is text in the same charset.
//!
//! ```text
//! [request]
//! login: demo
//! password: demo-password
//! action: create_client
//! request-id: C1
//!
//! [client]
//! client-type: ФИЗЛИЦО
//! …
//!
//! status: 200 Request accepted
//! request-id: C1
//! ```

use super::{field, ignored_key, Caller, Fields};
use super::{form, Dialect, Envelope, HttpReply, HttpRequest};
use crate::command::compat::{Checked, Holder, RenewCurrent};
use crate::command::Command;
use crate::error::{Code, Error};
use crate::gateway::Reply;
use crate::outcome::{Data, Outcome};
use crate::types::request_id::RequestId;
use crate::types::text::check_xml_chars;
use bytes::Bytes;
use encoding_rs::{Encoding, UTF_8, WINDOWS_1251};
use std::net::IpAddr;
use std::time::Instant;

/// The MasterName dialect's codec.
pub struct MasterName;

/// What the answer needs of the request: its charset, and whether it asked for the
/// status of an earlier request (`request_status`) or submitted an action.
pub struct State {
    cs: Charset,
    status: bool,
}

impl Dialect for MasterName {
    const NAME: &'static str = "mastername";
    type State = State;

    fn decode(&self, req: &HttpRequest<'_>) -> Result<(Envelope, State), HttpReply> {
        let (sections, cs) = match decode(req) {
            Ok(x) => x,
            Err((e, cs)) => return Err(reply(&Answer::error(&e), cs)),
        };
        // Errors found before the engine answered still end with the request's
        // request-id (when it is one the engine would take; a malformed one is never
        // echoed).
        let rid = sections
            .iter()
            .find(|s| s.name == "request")
            .and_then(|s| s.fields.iter().find(|(k, _)| k == "request-id"))
            .map(|(_, v)| v.clone())
            .filter(|r| RequestId::valid(r).is_some());
        match envelope(req.peer, sections) {
            Ok((env, status)) => Ok((env, State { cs, status })),
            Err(e) => {
                let mut a = Answer::error(&e);
                a.request_id = rid;
                Err(reply(&a, cs))
            }
        }
    }

    fn encode(&self, state: State, r: Reply) -> HttpReply {
        let answer = if state.status {
            status_answer(r.outcome)
        } else {
            submitted_answer(r)
        };
        reply(&answer, state.cs)
    }

    /// Its clients read the status line, not the HTTP status: a body that cannot be
    /// read still gets one.
    fn refuse(&self, e: Error, status: u16, _: Instant) -> HttpReply {
        let mut r = reply(&Answer::error(&e), Charset(WINDOWS_1251));
        r.status = status;
        r
    }
}

/// A MasterName status: the number and the text that always follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Accepted = 200,
    Processing = 201,
    Done = 202,
    Failed = 203,
    BadFormat = 400,
    Auth = 401,
    BadData = 402,
    Forbidden = 403,
    NotFound = 404,
    CannotExecute = 405,
    Internal = 500,
}

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Accepted => "Request accepted",
            Status::Processing => "Request is being processed",
            Status::Done => "Done",
            Status::Failed => "Request failed",
            Status::BadFormat => "Bad request format",
            Status::Auth => "Authentication error",
            Status::BadData => "Error in request data",
            Status::Forbidden => "Access forbidden",
            Status::NotFound => "Object not found",
            Status::CannotExecute => "Request cannot be executed",
            Status::Internal => "Internal error",
        }
    }

    /// The status for an engine result code (errors only).
    pub fn of(code: Code) -> Status {
        match code {
            Code::Completed | Code::Pending => Status::Accepted,
            Code::UnknownCommand | Code::Syntax => Status::BadFormat,
            Code::Missing | Code::Range | Code::ValueSyntax | Code::Policy => Status::BadData,
            Code::Auth => Status::Auth,
            Code::Forbidden => Status::Forbidden,
            Code::NotFound => Status::NotFound,
            Code::Billing
            | Code::NotRenewable
            | Code::Exists
            | Code::StatusProhibits
            | Code::RequestIdReused
            | Code::RateLimited => Status::CannotExecute,
            Code::Failed => Status::Internal,
        }
    }
}

/// An answer being written: `key: value` lines, the status first, the request-id last
/// (so that no line a client matches with its newline is ever the last one).
struct Answer {
    status: Status,
    lines: Vec<(&'static str, String)>,
    request_id: Option<String>,
}

impl Answer {
    fn new(status: Status) -> Answer {
        Answer {
            status,
            lines: Vec::new(),
            request_id: None,
        }
    }

    fn line(mut self, k: &'static str, v: impl ToString) -> Answer {
        // A value never spans lines.
        let v = v.to_string().replace(['\r', '\n'], " ");
        self.lines.push((k, v));
        self
    }

    fn error(e: &Error) -> Answer {
        Answer::new(Status::of(e.code)).line("error", &e.message)
    }

    fn text(&self) -> String {
        let mut s = format!("status: {} {}\n", self.status as u16, self.status.text());
        for (k, v) in &self.lines {
            s.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(r) = &self.request_id {
            s.push_str(&format!("request-id: {r}\n"));
        }
        s
    }
}

/// The charset of the request, and of its answer.
#[derive(Clone, Copy)]
struct Charset(&'static Encoding);

impl Charset {
    fn name(self) -> &'static str {
        if self.0 == UTF_8 {
            "utf-8"
        } else {
            "windows-1251"
        }
    }
}

fn reply(a: &Answer, cs: Charset) -> HttpReply {
    // Text the charset cannot carry becomes a numeric character reference (`&#…;`).
    let text = a.text();
    let (bytes, _, _) = cs.0.encode(&text);
    HttpReply {
        status: 200,
        headers: vec![("content-type", format!("text/plain; charset={}", cs.name()))],
        body: Bytes::from(bytes.into_owned()),
    }
}

/// One section: `[name]` then `key: value` lines, in order.
#[derive(Debug)]
pub struct Section {
    pub name: String,
    pub fields: Fields,
}

fn bad_format(msg: impl Into<String>) -> Error {
    Error::syntax(msg)
}

/// Parses the INI-like text. A blank line ends a section; keys may repeat; a value may
/// be empty; a key outside a section, a line without `:` or a section given twice is
/// refused.
pub fn parse_text(text: &str) -> Result<Vec<Section>, Error> {
    let mut sections: Vec<Section> = Vec::new();
    let mut open = false;
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        let n = n + 1;
        if line.is_empty() {
            open = false;
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| bad_format(format!("line {n}: a section header is [name]")))?
                .trim()
                .to_string();
            if sections.iter().any(|s| s.name == name) {
                return Err(bad_format(format!(
                    "line {n}: section [{name}] given twice"
                )));
            }
            sections.push(Section {
                name,
                fields: Vec::new(),
            });
            open = true;
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad_format(format!("line {n}: expected `key: value`")))?;
        let k = k.trim();
        let ok = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(bad_format(format!("line {n}: {k:?} is not a key")));
        }
        let section = match (open, sections.last_mut()) {
            (true, Some(s)) => s,
            _ => return Err(bad_format(format!("line {n}: {k} is outside a section"))),
        };
        section.fields.push((k.to_string(), v.trim().to_string()));
    }
    Ok(sections)
}

/// Decodes the HTTP request into its sections and the charset of the answer.
fn decode(req: &HttpRequest<'_>) -> Result<(Vec<Section>, Charset), (Error, Charset)> {
    let mut cs = Charset(WINDOWS_1251);
    let ct = req.content_type().unwrap_or("");
    let mut parts = ct.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("charset") {
                let v = v.trim().trim_matches('"').to_ascii_lowercase();
                cs = match v.as_str() {
                    "utf-8" | "utf8" => Charset(UTF_8),
                    "windows-1251" | "cp1251" => Charset(WINDOWS_1251),
                    _ => {
                        return Err((
                            bad_format(format!("charset {v}: windows-1251 or utf-8")),
                            cs,
                        ))
                    }
                };
            }
        }
    }
    let fail = |e: Error| (e, cs);
    if req.method != "POST" {
        return Err(fail(bad_format(format!(
            "method {}: the gateway takes POST",
            req.method
        ))));
    }
    if mime != "application/x-www-form-urlencoded" {
        return Err(fail(bad_format(
            "Content-Type: application/x-www-form-urlencoded with one field, request",
        )));
    }
    let fields = form::parse_bytes(req.body).map_err(fail)?;
    let mut text = None;
    for (k, v) in fields {
        if k != "request" {
            return Err(fail(bad_format(format!(
                "unknown form field {k:?}: the command goes in the field request"
            ))));
        }
        if text.replace(v).is_some() {
            return Err(fail(bad_format("the field request is given twice")));
        }
    }
    let bytes = text.ok_or_else(|| fail(bad_format("the form field request is missing")))?;
    let decoded =
        cs.0.decode_without_bom_handling_and_without_replacement(&bytes)
            .ok_or_else(|| {
                fail(bad_format(format!(
                    "the request is not valid {}",
                    cs.name()
                )))
            })?;
    // What XML cannot carry is refused by every dialect alike (`types::text`).
    check_xml_chars("request", &decoded).map_err(|e| fail(bad_format(e.message)))?;
    if decoded
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(fail(bad_format(format!(
            "the request has control characters: is it really {}?",
            cs.name()
        ))));
    }
    let sections = parse_text(&decoded).map_err(fail)?;
    Ok((sections, cs))
}

/// Takes a single-valued key out of a section.
fn take(fields: &mut Fields, key: &str) -> Result<Option<String>, Error> {
    let mut found = None;
    let mut i = 0;
    while i < fields.len() {
        if fields[i].0 == key {
            if found.is_some() {
                return Err(Error::syntax(format!("{key}: given more than once")));
            }
            found = Some(fields.remove(i).1);
        } else {
            i += 1;
        }
    }
    Ok(found)
}

fn take_all(fields: &mut Fields, key: &str) -> Vec<String> {
    let (mine, rest): (Fields, Fields) = std::mem::take(fields)
        .into_iter()
        .partition(|(k, _)| k == key);
    *fields = rest;
    mine.into_iter().map(|(_, v)| v).collect()
}

/// Keys nobody documented: real clients send them, so they are ignored (and logged
/// once per key name), not refused.
fn ignore_rest(section: &str, fields: &Fields) {
    for (k, _) in fields {
        ignored_key("mastername", section, k);
    }
}

/// Every key `[domain]` carries in some action.
const DOMAIN_KEYS: [&str; 5] = ["domain", "client", "period", "nserver", "cur-exp-date"];

/// The `[domain]` section of `action`, which uses the keys `uses`. A `[domain]` key of
/// another action contradicts this one (`nserver` in `prolong_domain` asks for a change
/// `prolong_domain` does not make): 402. Any other key is ignored.
fn domain_section(sections: Vec<Section>, action: &str, uses: &[&str]) -> Result<Fields, Error> {
    let d = sections_for(sections, &["domain"])?.remove(0);
    let mut out = Vec::new();
    for (k, v) in d {
        if uses.contains(&k.as_str()) {
            out.push((k, v));
        } else if DOMAIN_KEYS.contains(&k.as_str()) {
            return Err(Error::value(
                &k,
                format!("{action} does not use it (it belongs to another action)"),
            ));
        } else {
            ignored_key("mastername", "[domain]", &k);
        }
    }
    Ok(out)
}

/// A `nserver` value as the engine takes it: the host, then its glue addresses,
/// separated by one space. Clients separate the addresses with spaces or commas.
fn nserver(v: &str) -> String {
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A native command, after checking the holder when the action names a `client`:
/// one command either way.
fn checked(
    caller: Caller,
    name: &'static str,
    fields: Fields,
    holder: Option<Holder>,
    rid: Option<String>,
) -> Envelope {
    match holder {
        None => caller.named(name, rid, fields),
        Some(h) => {
            let c = Checked {
                name,
                fields,
                holder: Some(h),
            };
            caller.built(Command::Checked(c), rid)
        }
    }
}

/// The sections of one action: exactly these, nothing else.
fn sections_for(sections: Vec<Section>, wanted: &[&str]) -> Result<Vec<Fields>, Error> {
    if let Some(s) = sections.iter().find(|s| !wanted.contains(&s.name.as_str())) {
        return Err(Error::syntax(format!(
            "section [{}] does not belong to this action",
            s.name
        )));
    }
    let mut out = Vec::new();
    let mut sections = sections;
    for w in wanted {
        let i = sections
            .iter()
            .position(|s| s.name == *w)
            .ok_or_else(|| Error::syntax(format!("section [{w}] is missing")))?;
        out.push(sections.remove(i).fields);
    }
    Ok(out)
}

/// The `[client]` keys kept as they are in `x-<key>` fields of the engine's client.
const CLIENT_KEYS: [&str; 37] = [
    "resident",
    "non-resident",
    "person-r",
    "person",
    "fax",
    "birth-date",
    "passport-series",
    "passport-number",
    "passport-date",
    "passport-org",
    "post-country",
    "post-region",
    "post-zip-code",
    "post-city",
    "post-street",
    "post-address",
    "reg-country",
    "reg-region",
    "reg-city",
    "reg-street",
    "ownership",
    "org-r",
    "org",
    "contact",
    "inn",
    "kpp",
    "jur-country",
    "jur-region",
    "jur-zip-code",
    "jur-city",
    "jur-street",
    "jur-address",
    "real-country",
    "real-region",
    "real-zip-code",
    "real-city",
    "real-street",
];

/// Maps a `[client]` section onto the fields of `client.create`.
///
/// `email` and `phone` go as they are; `client-type` becomes `type`; `name` is the
/// Latin name (`person`, `org`), else the Russian one; `country` is `post-country`
/// (else `reg-`/`jur-country`), upper-cased; `address` joins the postal address.
/// Every other key is kept verbatim as `x-<key>` (also the ones `name`, `country` and
/// `address` were made of), so `client.info` gives back every field sent.
pub fn client_fields(mut c: Fields) -> Result<Fields, Error> {
    let kind = match take(&mut c, "client-type")?.as_deref() {
        Some("ФИЗЛИЦО") => "person",
        Some("ЮРЛИЦО") => "org",
        Some(other) => {
            return Err(Error::value(
                "client-type",
                format!("{other:?}: ФИЗЛИЦО or ЮРЛИЦО"),
            ))
        }
        None => return Err(Error::missing("client-type")),
    };
    let mut out = vec![field("type", kind)];
    for k in ["email", "phone"] {
        if let Some(v) = take(&mut c, k)? {
            out.push(field(k, v));
        }
    }
    let mut kept: Fields = Vec::new();
    for k in CLIENT_KEYS {
        if let Some(v) = take(&mut c, k)? {
            kept.push((k.to_string(), v));
        }
    }
    ignore_rest("[client]", &c);
    let get = |k: &str| {
        kept.iter()
            .find(|(kk, v)| kk == k && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let (latin, russian) = if kind == "person" {
        ("person", "person-r")
    } else {
        ("org", "org-r")
    };
    if let Some(name) = get(latin).or_else(|| get(russian)) {
        out.push(field("name", name));
    }
    let country = get("post-country")
        .or_else(|| get("reg-country"))
        .or_else(|| get("jur-country"));
    if let Some(country) = country {
        out.push(field("country", country.to_uppercase()));
    }
    let address: Vec<String> = [
        "post-zip-code",
        "post-country",
        "post-region",
        "post-city",
        "post-street",
        "post-address",
    ]
    .iter()
    .filter_map(|k| get(k))
    .collect();
    if !address.is_empty() {
        out.push(field("address", address.join(", ")));
    }
    out.extend(kept.into_iter().map(|(k, v)| (format!("x-{k}"), v)));
    Ok(out)
}

/// The envelope of one action, and whether it asks for the status of an earlier one.
fn envelope(peer: IpAddr, mut sections: Vec<Section>) -> Result<(Envelope, bool), Error> {
    let i = sections
        .iter()
        .position(|s| s.name == "request")
        .ok_or_else(|| Error::syntax("section [request] is missing"))?;
    let mut head = sections.remove(i).fields;
    let login = take(&mut head, "login")?;
    let password = take(&mut head, "password")?;
    let action = take(&mut head, "action")?;
    let rid = take(&mut head, "request-id")?;
    ignore_rest("[request]", &head);
    let (Some(login), Some(password)) = (login, password) else {
        return Err(Error::new(
            Code::Auth,
            "login and password are required in [request]",
        ));
    };
    let action = action.ok_or_else(|| Error::syntax("action is missing in [request]"))?;
    let caller = Caller {
        login,
        password,
        peer,
        dialect: MasterName::NAME,
    };
    let submitted = match action.as_str() {
        "request_status" => {
            sections_for(sections, &[])?;
            return Ok((caller.named("request.status", rid, Vec::new()), true));
        }
        "register_domain" => {
            let mut d = domain_section(
                sections,
                &action,
                &["domain", "client", "period", "nserver"],
            )?;
            let mut f = Vec::new();
            for k in ["domain", "client", "period"] {
                if let Some(v) = take(&mut d, k)? {
                    f.push(field(k, v));
                }
            }
            f.extend(
                take_all(&mut d, "nserver")
                    .iter()
                    .map(|v| field("ns", nserver(v))),
            );
            caller.named("domain.register", rid, f)
        }
        "prolong_domain" => {
            let mut d = domain_section(
                sections,
                &action,
                &["domain", "client", "period", "cur-exp-date"],
            )?;
            let domain = take(&mut d, "domain")?.ok_or_else(|| Error::missing("domain"))?;
            let period = take(&mut d, "period")?;
            let current = take(&mut d, "cur-exp-date")?;
            let holder = take(&mut d, "client")?.map(|client| Holder {
                domain: domain.clone(),
                client,
            });
            match (current, rid) {
                (Some(exp), rid) => {
                    let mut f = vec![field("domain", domain), field("expires", exp)];
                    f.extend(period.map(|p| field("period", p)));
                    checked(caller, "domain.renew", f, holder, rid)
                }
                (None, Some(rid)) => {
                    let renew = RenewCurrent {
                        domain,
                        period,
                        holder,
                    };
                    caller.built(Command::RenewCurrent(renew), Some(rid))
                }
                (None, None) => return Err(Error::missing("request-id")),
            }
        }
        "update_domain" => {
            let mut d = domain_section(sections, &action, &["domain", "client", "nserver"])?;
            let domain = take(&mut d, "domain")?.ok_or_else(|| Error::missing("domain"))?;
            let ns = take_all(&mut d, "nserver");
            if ns.is_empty() {
                return Err(Error::missing("nserver"));
            }
            let holder = take(&mut d, "client")?.map(|client| Holder {
                domain: domain.clone(),
                client,
            });
            let mut f = vec![field("domain", domain)];
            f.extend(ns.iter().map(|v| field("ns", nserver(v))));
            checked(caller, "domain.set-ns", f, holder, rid)
        }
        "create_client" => {
            let c = sections_for(sections, &["client"])?.remove(0);
            let f = client_fields(c)?;
            caller.named("client.create", rid, f)
        }
        other => {
            return Err(Error::unknown_command(other));
        }
    };
    Ok((submitted, false))
}

/// The answer to an action: accepted (its result comes with `request_status`), or the
/// error found at once.
fn submitted_answer(r: Reply) -> Answer {
    let o = r.outcome;
    let mut a = if o.code.is_success() {
        Answer::new(Status::Accepted)
    } else {
        Answer::error(&Error::new(o.code, o.message))
    };
    a.request_id = o.request_id;
    a
}

/// The answer to `request_status`: 201 while the order is open, 202 done with its
/// result, 203 failed with the reason.
fn status_answer(o: Outcome) -> Answer {
    let (state, response) = match (o.code, o.data) {
        (
            Code::Completed,
            Data::Request {
                state, response, ..
            },
        ) => (state, response),
        (code, _) => {
            let mut a = Answer::error(&Error::new(code, o.message));
            a.request_id = o.request_id;
            return a;
        }
    };
    let Some(inner) = response else {
        return Answer::error(&Error::internal("request without a response"));
    };
    let mut a = if state == "pending" || inner.code == Code::Pending {
        Answer::new(Status::Processing)
    } else if inner.code.is_success() {
        Answer::new(Status::Done)
    } else {
        Answer::new(Status::Failed)
            .line("error-status", Status::of(inner.code) as u16)
            .line("error", &inner.message)
    };
    a = match &inner.data {
        Data::Client(c) => a.line("client", &c.id),
        Data::DomainOrder {
            name,
            expires,
            order,
            ..
        } => {
            let a = a.line("domain", name);
            let a = match expires {
                Some(e) => a.line("expires", e),
                None => a,
            };
            a.line("order", order.id)
        }
        Data::Domain(d) => {
            d.ns.iter()
                .fold(a.line("domain", &d.name), |a, n| a.line("nserver", n))
                .line("expires", d.expires)
        }
        Data::Order(order) => a.line("domain", &order.domain).line("order", order.id),
        _ => a,
    };
    a.request_id = inner.request_id.or(o.request_id);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections() {
        let s = parse_text("[request]\r\nlogin: a\r\naction: x\r\n\r\n[domain]\nnserver: a b\nnserver: c\nresident:\n")
            .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].fields[2], ("resident".into(), "".into()));
        assert!(parse_text("login: a").is_err());
        assert!(parse_text("[request]\nlogin: a\n\nx: y").is_err());
        assert!(parse_text("[request]\n[request]").is_err());
        assert!(parse_text("[request]\nno colon").is_err());
        assert!(parse_text("[request]\nLogin: a").is_err());
    }

    #[test]
    fn nserver_glue_separators() {
        assert_eq!(nserver("ns1.a.ru 192.0.2.1"), "ns1.a.ru 192.0.2.1");
        assert_eq!(
            nserver("ns1.a.ru  192.0.2.1,2001:db8::1 ,\t192.0.2.2"),
            "ns1.a.ru 192.0.2.1 2001:db8::1 192.0.2.2"
        );
        assert_eq!(nserver("ns2.example.net"), "ns2.example.net");
    }

    #[test]
    fn status_line_never_ends_the_answer() {
        let a = Answer::new(Status::Done).line("client", "1000/RW-P");
        let mut a = a;
        a.request_id = Some("R1".into());
        assert_eq!(
            a.text(),
            "status: 202 Done\nclient: 1000/RW-P\nrequest-id: R1\n"
        );
    }
}
