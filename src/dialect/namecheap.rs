//! The Namecheap-compatible API (`protocol/namecheap.md`): `GET`/`POST /xml.response`,
//! parameters from the query string and a form body merged, names and commands
//! matched without regard to case; an `ApiResponse` envelope, HTTP 200 even for errors.
//!
//! ```text
//! GET /xml.response?ApiUser=demo&ApiKey=…&UserName=demo&ClientIp=192.0.2.1
//!     &Command=namecheap.domains.check&DomainList=a.com,b.com
//!
//! <ApiResponse Status="OK" xmlns="http://api.namecheap.com/xml.response">
//!   <Errors/> <Warnings/> <RequestedCommand>namecheap.domains.check</RequestedCommand>
//!   <CommandResponse Type="namecheap.domains.check">
//!     <DomainCheckResult Domain="a.com" Available="true" IsPremiumName="false" …/>
//! ```

use super::steps::{field, renew_from_current, Caller};
use super::xml::{self, El};
use super::{form, HttpReply};
use crate::engine::money::{Currency, Money};
use crate::engine::{Engine, Reply};
use crate::error::{Code, Error};
use crate::outcome::{Data, Outcome};
use crate::store::records::{Domain, DomainState};
use bytes::Bytes;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

pub const NAMESPACE: &str = "http://api.namecheap.com/xml.response";

pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub peer: IpAddr,
    pub body: &'a [u8],
}

/// A Namecheap error: its number and a text that is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NcError {
    pub number: u32,
    pub text: String,
}

fn nc(number: u32, text: impl Into<String>) -> NcError {
    NcError {
        number,
        text: text.into(),
    }
}

/// Errors without a number known from Namecheap are 3050000 plus the native code.
const NATIVE_BASE: u32 = 3_050_000;

/// The Namecheap number for an engine error.
pub fn number_of(code: Code, message: &str) -> u32 {
    match code {
        Code::Auth => 1_011_102,
        // The engine's own words for an address outside the allow-list.
        Code::Forbidden if message.contains("are not allowed for this partner") => 1_011_150,
        Code::Forbidden if message.contains("suspended") => NATIVE_BASE + 2201,
        Code::Forbidden => 2_016_166,
        Code::NotFound => 2_019_166,
        Code::RateLimited => 500_000,
        c => NATIVE_BASE + c.number() as u32,
    }
}

fn from_engine(o: &Outcome) -> NcError {
    nc(number_of(o.code, &o.message), o.message.clone())
}

impl From<Error> for NcError {
    fn from(e: Error) -> NcError {
        nc(number_of(e.code, &e.message), e.message)
    }
}

/// The merged parameters, by lower-case name.
struct Params(BTreeMap<String, String>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn req(&self, k: &str, shown: &str) -> Result<&str, NcError> {
        self.get(k)
            .ok_or_else(|| nc(NATIVE_BASE + 2003, format!("Parameter {shown} is missing")))
    }
}

fn merge(req: &HttpRequest<'_>) -> Result<Params, NcError> {
    let mut fields = form::parse(req.query.unwrap_or("").as_bytes())?;
    match req.method {
        "GET" => {}
        "POST" => {
            let mime = req
                .content_type
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !req.body.is_empty() {
                if mime != "application/x-www-form-urlencoded" && !mime.is_empty() {
                    return Err(Error::syntax(format!(
                        "Content-Type {mime}: the body is application/x-www-form-urlencoded"
                    ))
                    .into());
                }
                fields.extend(form::parse(req.body)?);
            }
        }
        m => return Err(Error::syntax(format!("method {m}: use GET or POST")).into()),
    }
    let mut map = BTreeMap::new();
    for (k, v) in fields {
        let key = k.to_ascii_lowercase();
        match map.get(&key) {
            Some(old) if *old != v => {
                return Err(Error::syntax(format!(
                    "Parameter {k} is given twice with different values"
                ))
                .into())
            }
            _ => {
                map.insert(key, v);
            }
        }
    }
    Ok(Params(map))
}

/// Handles one HTTP request of the Namecheap dialect.
pub async fn handle(eng: &Engine, req: &HttpRequest<'_>) -> HttpReply {
    let started = Instant::now();
    let (command, result) = match merge(req) {
        Ok(p) => {
            let command = p.get("command").map(str::to_ascii_lowercase);
            (command, run(eng, req, &p).await)
        }
        Err(e) => (None, Err(e)),
    };
    let (body, replayed) = match result {
        Ok((els, replayed)) => (envelope(command.as_deref(), Ok(els), started), replayed),
        Err(e) => (envelope(command.as_deref(), Err(e), started), false),
    };
    let mut headers = vec![("content-type", "text/xml; charset=utf-8".to_string())];
    if replayed {
        headers.push(("idempotent-replayed", "true".into()));
    }
    HttpReply {
        status: 200,
        headers,
        body: Bytes::from(body),
    }
}

/// The `ApiResponse` document.
pub fn envelope(
    command: Option<&str>,
    result: Result<Vec<El>, NcError>,
    started: Instant,
) -> String {
    let (status, errors, response) = match result {
        Ok(els) => ("OK", El::new("Errors"), Some(els)),
        Err(e) => (
            "ERROR",
            El::new("Errors").child(El::new("Error").attr("Number", e.number).text(e.text)),
            None,
        ),
    };
    let mut root = El::new("ApiResponse")
        .attr("Status", status)
        .attr("xmlns", NAMESPACE)
        .child(errors)
        .child(El::new("Warnings"));
    if let Some(c) = command {
        root = root.child(El::new("RequestedCommand").text(c));
    }
    if let (Some(els), Some(c)) = (response, command) {
        root = root.child(El::new("CommandResponse").attr("Type", c).children(els));
    }
    let secs = started.elapsed().as_secs_f64();
    root = root
        .child(El::new("Server").text("regway"))
        .child(El::new("GMTTimeDifference").text("+0:00"))
        .child(El::new("ExecutionTime").text(format!("{secs:.3}")));
    xml::document(&root)
}

fn date(d: NaiveDate) -> String {
    d.format("%m/%d/%Y").to_string()
}

fn amount(a: Decimal, c: Currency) -> String {
    Money {
        amount: a,
        currency: c,
    }
    .amount_str()
}

/// A stable number for a domain: regway keeps no domain numbers, so the ID is the
/// first 48 bits of the SHA-256 of the ASCII name, in decimal.
pub fn domain_id(name: &str) -> u64 {
    let h = Sha256::digest(name.as_bytes());
    h[..6].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b))
}

/// The engine request-id: the `Idempotency-Key` header or the `RequestId` parameter;
/// without them a fresh one, so every call executes, as the original API does, and
/// keeps no request record once its order settles (it can never be repeated).
fn request_id(req: &HttpRequest<'_>, p: &Params) -> Result<String, NcError> {
    use crate::engine::retention::{is_keyless, KEYLESS_PREFIX};
    match (req.idempotency_key.map(str::trim), p.get("requestid")) {
        (Some(h), Some(q)) if h != q => {
            Err(Error::syntax("Idempotency-Key and RequestId differ: give one of them").into())
        }
        (Some(k), _) | (None, Some(k)) if is_keyless(k) => Err(Error::syntax(format!(
            "keys starting with {KEYLESS_PREFIX} are the gateway's own: choose another"
        ))
        .into()),
        (Some(k), _) | (None, Some(k)) => Ok(k.to_string()),
        (None, None) => {
            let n: u128 = rand::random();
            Ok(format!("{KEYLESS_PREFIX}{n:032x}"))
        }
    }
}

/// A reply the engine gave: its outcome when it succeeded, the error otherwise.
fn ok(r: Reply) -> Result<(Outcome, bool), NcError> {
    if r.outcome.code.is_success() {
        Ok((r.outcome, r.replayed))
    } else {
        Err(from_engine(&r.outcome))
    }
}

type Answer = Result<(Vec<El>, bool), NcError>;

async fn run(eng: &Engine, req: &HttpRequest<'_>, p: &Params) -> Answer {
    let missing = |n: u32, name: &str| nc(n, format!("Parameter {name} is missing"));
    let user = p
        .get("apiuser")
        .ok_or_else(|| missing(1_010_101, "ApiUser"))?;
    let key = p
        .get("apikey")
        .ok_or_else(|| missing(1_010_102, "ApiKey"))?;
    let username = p
        .get("username")
        .ok_or_else(|| missing(1_010_103, "UserName"))?;
    let command = p
        .get("command")
        .ok_or_else(|| missing(1_010_104, "Command"))?
        .to_ascii_lowercase();
    let client_ip = p
        .get("clientip")
        .ok_or_else(|| missing(1_010_105, "ClientIp"))?;
    if username != user {
        return Err(nc(
            2_011_166,
            "UserName is invalid: it must be the same as ApiUser",
        ));
    }
    let declared: IpAddr = client_ip
        .parse()
        .map_err(|_| nc(1_011_150, format!("Invalid request IP: {client_ip}")))?;
    let caller = Caller {
        login: user.to_string(),
        password: key.to_string(),
        peer: req.peer,
        declared_ip: Some(declared),
        dialect: "namecheap",
    };
    match command.as_str() {
        "namecheap.domains.check" => check(eng, &caller, p).await,
        "namecheap.domains.create" => create(eng, &caller, p, request_id(req, p)?).await,
        "namecheap.domains.renew" => renew(eng, &caller, p, request_id(req, p)?).await,
        "namecheap.domains.dns.setcustom" => set_custom(eng, &caller, p, request_id(req, p)?).await,
        "namecheap.domains.getinfo" => get_info(eng, &caller, p).await,
        "namecheap.domains.getlist" => get_list(eng, &caller, p).await,
        "namecheap.users.getbalances" => balances(eng, &caller).await,
        _ => Err(nc(NATIVE_BASE + 2000, format!("Unknown command {command}"))),
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

async fn check(eng: &Engine, caller: &Caller, p: &Params) -> Answer {
    let names = p.req("domainlist", "DomainList")?;
    let fields = list(names).map(|d| field("domain", d)).collect();
    let (o, _) = ok(caller.run(eng, "domain.check", None, fields).await)?;
    let Data::Check { rows, .. } = o.data else {
        return Err(Error::internal("domain.check answered without rows").into());
    };
    let els = rows
        .iter()
        .map(|r| {
            El::new("DomainCheckResult")
                .attr("Domain", &r.name)
                .attr("Available", r.available)
                .attr("ErrorNo", 0)
                .attr("Description", r.reason.as_deref().unwrap_or(""))
                .attr("IsPremiumName", false)
                .attr("PremiumRegistrationPrice", 0)
                .attr("PremiumRenewalPrice", 0)
                .attr("PremiumRestorePrice", 0)
                .attr("PremiumTransferPrice", 0)
                .attr("IcannFee", 0)
                .attr("EapFee", 0)
        })
        .collect();
    Ok((els, false))
}

/// The Registrant contact fields, as (Namecheap name, engine `x-` field).
const REGISTRANT: [(&str, &str); 13] = [
    ("FirstName", "x-first-name"),
    ("LastName", "x-last-name"),
    ("OrganizationName", "x-organization-name"),
    ("JobTitle", "x-job-title"),
    ("Address1", "x-address1"),
    ("Address2", "x-address2"),
    ("City", "x-city"),
    ("StateProvince", "x-state-province"),
    ("StateProvinceChoice", "x-state-province-choice"),
    ("PostalCode", "x-postal-code"),
    ("Country", "x-country"),
    ("Phone", "x-phone"),
    ("Fax", "x-fax"),
];

const REQUIRED: [&str; 9] = [
    "FirstName",
    "LastName",
    "Address1",
    "City",
    "StateProvince",
    "PostalCode",
    "Country",
    "Phone",
    "EmailAddress",
];

/// `client.create` fields from the Registrant contact.
fn registrant(p: &Params) -> Result<Vec<(String, String)>, NcError> {
    let r = |k: &str| p.get(&format!("registrant{}", k.to_ascii_lowercase()));
    for k in REQUIRED {
        if r(k).is_none() {
            return Err(nc(
                NATIVE_BASE + 2003,
                format!("Parameter Registrant{k} is missing"),
            ));
        }
    }
    let v = |k: &str| r(k).unwrap_or_default().to_string();
    let org = r("OrganizationName");
    let mut address = vec![v("Address1")];
    address.extend(r("Address2").map(String::from));
    address.extend(["City", "StateProvince", "PostalCode"].map(v));
    let mut f = vec![
        field("type", if org.is_some() { "org" } else { "person" }),
        field(
            "name",
            org.map(String::from)
                .unwrap_or_else(|| format!("{} {}", v("FirstName"), v("LastName"))),
        ),
        field("email", v("EmailAddress")),
        field("phone", v("Phone")),
        field("country", v("Country").to_ascii_uppercase()),
        field("address", address.join(", ")),
    ];
    for (nc_name, x) in REGISTRANT {
        if let Some(val) = r(nc_name) {
            f.push(field(x, val));
        }
    }
    Ok(f)
}

/// The request-id of the client made from a Registrant contact: derived from its
/// fields, so the same contact gives the same client, and a retry never makes two.
fn client_request_id(fields: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (k, v) in fields {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let hex: String = d[..20].iter().map(|b| format!("{b:02x}")).collect();
    format!("nc-client-{hex}")
}

async fn create(eng: &Engine, caller: &Caller, p: &Params, rid: String) -> Answer {
    let domain = p.req("domainname", "DomainName")?;
    let contact = registrant(p)?;
    let crid = client_request_id(&contact);
    let (c, _) = ok(caller.run(eng, "client.create", Some(crid), contact).await)
        .map_err(|e| nc(e.number, format!("Registrant contact: {}", e.text)))?;
    let Data::Client(client) = c.data else {
        return Err(Error::internal("client.create answered without a client").into());
    };
    let mut fields = vec![field("domain", domain), field("client", &client.id)];
    fields.extend(p.get("years").map(|y| field("period", y)));
    if let Some(ns) = p.get("nameservers") {
        fields.extend(list(ns).map(|n| field("ns", n)));
    }
    let (o, replayed) = ok(caller.run(eng, "domain.register", Some(rid), fields).await)?;
    let el = match &o.data {
        Data::DomainOrder {
            name,
            order,
            currency,
            charged,
            ..
        } => El::new("DomainCreateResult")
            .attr("Domain", name)
            .attr("Registered", o.code == Code::Completed)
            .attr("ChargedAmount", amount(*charged, *currency))
            .attr("DomainID", domain_id(name))
            .attr("OrderID", order.id)
            .attr("TransactionID", order.id)
            .attr("WhoisguardEnable", false)
            .attr("NonRealTimeDomain", o.code != Code::Completed),
        Data::Order(order) => El::new("DomainCreateResult")
            .attr("Domain", &order.domain)
            .attr("Registered", false)
            .attr("ChargedAmount", amount(order.amount, order.currency))
            .attr("DomainID", domain_id(&order.domain))
            .attr("OrderID", order.id)
            .attr("TransactionID", order.id)
            .attr("WhoisguardEnable", false)
            .attr("NonRealTimeDomain", true),
        _ => return Err(Error::internal("domain.register answered without an order").into()),
    };
    Ok((vec![el], replayed))
}

async fn renew(eng: &Engine, caller: &Caller, p: &Params, rid: String) -> Answer {
    let domain = p.req("domainname", "DomainName")?;
    let years = p.get("years").map(String::from);
    let (o, replayed) = ok(renew_from_current(eng, caller, rid, domain, years).await)?;
    let el = match &o.data {
        Data::DomainOrder {
            name,
            expires,
            order,
            currency,
            charged,
            ..
        } => El::new("DomainRenewResult")
            .attr("DomainName", name)
            .attr("DomainID", domain_id(name))
            .attr("Renew", o.code == Code::Completed)
            .attr("OrderID", order.id)
            .attr("TransactionID", order.id)
            .attr("ChargedAmount", amount(*charged, *currency))
            .children(expires.map(|e| {
                El::new("DomainDetails")
                    .child(El::new("DomainName").text(name))
                    .child(El::new("ExpiredDate").text(date(e)))
            })),
        Data::Order(order) => El::new("DomainRenewResult")
            .attr("DomainName", &order.domain)
            .attr("DomainID", domain_id(&order.domain))
            .attr("Renew", false)
            .attr("OrderID", order.id)
            .attr("TransactionID", order.id)
            .attr("ChargedAmount", amount(order.amount, order.currency)),
        _ => return Err(Error::internal("domain.renew answered without an order").into()),
    };
    Ok((vec![el], replayed))
}

async fn set_custom(eng: &Engine, caller: &Caller, p: &Params, rid: String) -> Answer {
    let sld = p.req("sld", "SLD")?;
    let tld = p.req("tld", "TLD")?;
    let ns = p.req("nameservers", "Nameservers")?;
    let mut fields = vec![field("domain", format!("{sld}.{tld}"))];
    fields.extend(list(ns).map(|n| field("ns", n)));
    let (o, replayed) = ok(caller.run(eng, "domain.set-ns", Some(rid), fields).await)?;
    let name = match &o.data {
        Data::Domain(d) => d.name.clone(),
        Data::Order(order) => order.domain.clone(),
        _ => format!("{sld}.{tld}").to_ascii_lowercase(),
    };
    let el = El::new("DomainDNSSetCustomResult")
        .attr("Domain", name)
        .attr("Updated", o.code == Code::Completed);
    Ok((vec![el], replayed))
}

async fn get_info(eng: &Engine, caller: &Caller, p: &Params) -> Answer {
    let domain = p.req("domainname", "DomainName")?;
    let (o, _) = ok(caller
        .run(eng, "domain.info", None, vec![field("domain", domain)])
        .await)?;
    let Data::Domain(d) = o.data else {
        return Err(Error::internal("domain.info answered without a domain").into());
    };
    let el = El::new("DomainGetInfoResult")
        .attr(
            "Status",
            match d.state {
                DomainState::Active => "Ok",
                DomainState::Expired => "Expired",
            },
        )
        .attr("ID", domain_id(&d.name))
        .attr("DomainName", &d.name)
        .attr("OwnerName", &caller.login)
        .attr("IsOwner", true)
        .attr("IsPremium", false)
        .child(
            El::new("DomainDetails")
                .child(El::new("CreatedDate").text(date(d.created.date_naive())))
                .child(El::new("ExpiredDate").text(date(d.expires))),
        )
        .child(
            El::new("DnsDetails")
                .attr("ProviderType", "CUSTOM")
                .attr("IsUsingOurDNS", false)
                .children(d.ns.iter().map(|n| {
                    // `host ip` on the native side: Namecheap shows the host only.
                    El::new("Nameserver").text(n.split(' ').next().unwrap_or(n))
                })),
        );
    Ok((vec![el], false))
}

fn number_in(
    p: &Params,
    key: &str,
    shown: &str,
    default: u32,
    lo: u32,
    hi: u32,
) -> Result<u32, NcError> {
    let Some(v) = p.get(key) else {
        return Ok(default);
    };
    match v.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(nc(
            NATIVE_BASE + 2004,
            format!("Parameter {shown}: {v:?} is not a whole number from {lo} to {hi}"),
        )),
    }
}

async fn get_list(eng: &Engine, caller: &Caller, p: &Params) -> Answer {
    let page = number_in(p, "page", "Page", 1, 1, 100_000)?;
    let size = number_in(p, "pagesize", "PageSize", 20, 10, 100)?;
    let mut fields = vec![
        field("limit", size),
        field("offset", u64::from(page - 1) * u64::from(size)),
        field("total", true),
    ];
    match p.get("listtype").map(str::to_ascii_uppercase).as_deref() {
        None | Some("ALL") => {}
        Some("EXPIRED") => fields.push(field("state", "expired")),
        Some(other) => {
            return Err(nc(
                NATIVE_BASE + 2004,
                format!("ListType {other}: ALL or EXPIRED"),
            ))
        }
    }
    match p.get("sortby").map(str::to_ascii_uppercase).as_deref() {
        None | Some("NAME") => {}
        Some(other) => {
            return Err(nc(
                NATIVE_BASE + 2004,
                format!("SortBy {other}: only NAME (the order regway lists in)"),
            ))
        }
    }
    if let Some(term) = p.get("searchterm") {
        fields.push(field("match", term));
    }
    let (o, _) = ok(caller.run(eng, "domain.list", None, fields).await)?;
    let Data::Domains { rows, total, .. } = o.data else {
        return Err(Error::internal("domain.list answered without rows").into());
    };
    let row = |d: &Domain| {
        El::new("Domain")
            .attr("ID", domain_id(&d.name))
            .attr("Name", &d.name)
            .attr("User", &caller.login)
            .attr("Created", date(d.created.date_naive()))
            .attr("Expires", date(d.expires))
            .attr("IsExpired", d.state == DomainState::Expired)
            .attr("IsLocked", false)
            .attr("AutoRenew", d.auto_renew)
            .attr("WhoisGuard", "NOTPRESENT")
            .attr("IsPremium", false)
            .attr("IsOurDNS", false)
    };
    let els = vec![
        El::new("DomainGetListResult").children(rows.iter().map(row)),
        El::new("Paging")
            .child(El::new("TotalItems").text(total.unwrap_or_default()))
            .child(El::new("CurrentPage").text(page))
            .child(El::new("PageSize").text(size)),
    ];
    Ok((els, false))
}

async fn balances(eng: &Engine, caller: &Caller) -> Answer {
    let (o, _) = ok(caller.run(eng, "balance.get", None, Vec::new()).await)?;
    let Data::Balance {
        currency,
        balance,
        available,
        ..
    } = o.data
    else {
        return Err(Error::internal("balance.get answered without a balance").into());
    };
    let zero = amount(Decimal::ZERO, currency);
    let el = El::new("UserGetBalancesResult")
        .attr("Currency", currency)
        .attr("AvailableBalance", amount(available, currency))
        .attr("AccountBalance", amount(balance, currency))
        .attr("EarnedAmount", &zero)
        .attr("WithdrawableAmount", &zero)
        .attr("FundsRequiredForAutoRenew", &zero);
    Ok((vec![el], false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(
            number_of(Code::NotFound, "x.com is not registered here"),
            2_019_166
        );
        assert_eq!(
            number_of(Code::Forbidden, "x.com belongs to another partner"),
            2_016_166
        );
        // Pins the engine's words for an address outside the allow-list.
        let e = Error::forbidden(format!(
            "requests from {} are not allowed for this partner",
            "192.0.2.1"
        ));
        assert_eq!(number_of(e.code, &e.message), 1_011_150);
        assert_eq!(number_of(Code::Billing, "not enough funds"), 3_052_104);
        assert_eq!(number_of(Code::RateLimited, ""), 500_000);
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(domain_id("example.com"), domain_id("example.com"));
        assert_ne!(domain_id("example.com"), domain_id("example.net"));
        assert!(domain_id("example.com") < 1 << 48);
    }
}
