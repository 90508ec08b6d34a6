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

use super::xml::{self, El};
use super::{field, ignored_key, Caller, Fields};
use super::{form, Dialect, Envelope, HttpReply, HttpRequest};
use crate::command::compat::{Contacts, RegisterWithContacts, RenewCurrent};
use crate::command::Command;
use crate::error::{Code, Error};
use crate::gateway::Reply;
use crate::outcome::{Data, Outcome};
use crate::store::records::{Client, ClientKind, Domain, DomainState, Order, OrderKind};
use crate::types::money::{Currency, Money};
use crate::types::names::Name;
use bytes::Bytes;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

pub const NAMESPACE: &str = "http://api.namecheap.com/xml.response";

/// The Namecheap dialect's codec.
pub struct Namecheap;

/// What the answer needs of the request: the command as sent (echoed in
/// `RequestedCommand`), when it came (`ExecutionTime`), and the answer's shape.
pub struct State {
    command: Option<String>,
    received: Instant,
    op: Op,
}

/// The shape of a supported command's answer, with what it keeps of the request.
enum Op {
    Check,
    Create { first_role: String },
    Renew,
    SetCustom { domain: String },
    GetInfo { owner: String },
    GetList { user: String, page: u32, size: u32 },
    GetContacts,
    GetTldList,
    DnsGetList,
    Balances,
}

impl Dialect for Namecheap {
    const NAME: &'static str = "namecheap";
    type State = State;

    fn decode(&self, req: &HttpRequest<'_>) -> Result<(Envelope, State), HttpReply> {
        let (command, result) = match merge(req) {
            Ok(p) => {
                let command = p.get("command").map(str::to_ascii_lowercase);
                (command, decode(req, &p))
            }
            Err(e) => (None, Err(e)),
        };
        match result {
            Ok((env, op)) => Ok((
                env,
                State {
                    command,
                    received: req.received,
                    op,
                },
            )),
            Err(e) => Err(answer(command.as_deref(), Err(e), req.received)),
        }
    }

    fn encode(&self, state: State, r: Reply) -> HttpReply {
        let result = match state.op {
            Op::Check => check_answer(r),
            Op::Create { first_role } => create_answer(r, &first_role),
            Op::Renew => renew_answer(r),
            Op::SetCustom { domain } => set_custom_answer(r, &domain),
            Op::GetInfo { owner } => get_info_answer(r, &owner),
            Op::GetList { user, page, size } => get_list_answer(r, &user, page, size),
            Op::GetContacts => get_contacts_answer(r),
            Op::GetTldList => get_tld_list_answer(r),
            Op::DnsGetList => dns_get_list_answer(r),
            Op::Balances => balances_answer(r),
        };
        answer(state.command.as_deref(), result, state.received)
    }

    fn refuse(&self, e: Error, status: u16, received: Instant) -> HttpReply {
        HttpReply {
            status,
            headers: vec![("content-type", "text/xml; charset=utf-8".into())],
            body: Bytes::from(envelope(None, Err(e.into()), received)),
        }
    }
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
                .content_type()
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

/// The HTTP answer: the `ApiResponse` document, HTTP 200 even for errors.
fn answer(command: Option<&str>, result: Answer, started: Instant) -> HttpReply {
    let (body, replayed) = match result {
        Ok((els, replayed)) => (envelope(command, Ok(els), started), replayed),
        Err(e) => (envelope(command, Err(e), started), false),
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

/// The commands answered, by their lower-case name: the name as Namecheap spells it
/// (`CommandResponse/@Type`).
const COMMANDS: [&str; 10] = [
    "namecheap.domains.check",
    "namecheap.domains.create",
    "namecheap.domains.renew",
    "namecheap.domains.getInfo",
    "namecheap.domains.getList",
    "namecheap.domains.getContacts",
    "namecheap.domains.getTldList",
    "namecheap.domains.dns.setCustom",
    "namecheap.domains.dns.getList",
    "namecheap.users.getBalances",
];

/// The documented name of a supported command, from its lower-case form.
fn canonical(lower: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|c| c.eq_ignore_ascii_case(lower))
        .copied()
}

/// The `ApiResponse` document. `command` is the command as sent, in lower case, as
/// Namecheap echoes it in `RequestedCommand` (always present, empty when the request
/// had none: clients read it on errors too); `CommandResponse/@Type` is the command
/// as Namecheap spells it, empty on errors, as Namecheap answers them.
pub fn envelope(
    command: Option<&str>,
    result: Result<Vec<El>, NcError>,
    started: Instant,
) -> String {
    let (status, errors, response) = match result {
        Ok(els) => ("OK", El::new("Errors"), els),
        Err(e) => (
            "ERROR",
            El::new("Errors").child(El::new("Error").attr("Number", e.number).text(e.text)),
            Vec::new(),
        ),
    };
    let mut root = El::new("ApiResponse")
        .attr("Status", status)
        .attr("xmlns", NAMESPACE)
        .child(errors)
        .child(El::new("Warnings"));
    root = root.child(match command {
        Some(c) => El::new("RequestedCommand").text(c),
        None => El::new("RequestedCommand"),
    });
    if let Some(c) = command.and_then(canonical) {
        root = root.child(
            El::new("CommandResponse")
                .attr("Type", c)
                .children(response),
        );
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

/// A date and a time of day as Namecheap's renew answer writes its `ExpiredDate`
/// (`4/30/2021 11:31:13 AM` in its documentation); regway keeps dates, so the time
/// is midnight.
fn date_time(d: NaiveDate) -> String {
    format!("{} 12:00:00 AM", date(d))
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
    match (
        req.header("idempotency-key").map(str::trim),
        p.get("requestid"),
    ) {
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

/// A request decoded: its envelope and the shape of its answer.
type Decoded = Result<(Envelope, Op), NcError>;

/// Parameters every command takes.
const GLOBAL: [&str; 6] = [
    "apiuser",
    "apikey",
    "username",
    "command",
    "clientip",
    "requestid",
];

/// The contact roles of `create` and `getContacts`, in Namecheap's order.
const ROLES: [&str; 4] = ["Registrant", "Tech", "Admin", "AuxBilling"];

/// A contact's fields in the order `getContacts` answers them, and the engine client's
/// `x-` field each is kept in (`EmailAddress` is the client's `email`).
const CONTACT: [(&str, Option<&str>); 15] = [
    ("OrganizationName", Some("x-organization-name")),
    ("JobTitle", Some("x-job-title")),
    ("FirstName", Some("x-first-name")),
    ("LastName", Some("x-last-name")),
    ("Address1", Some("x-address1")),
    ("Address2", Some("x-address2")),
    ("City", Some("x-city")),
    ("StateProvince", Some("x-state-province")),
    ("StateProvinceChoice", Some("x-state-province-choice")),
    ("PostalCode", Some("x-postal-code")),
    ("Country", Some("x-country")),
    ("Phone", Some("x-phone")),
    ("Fax", Some("x-fax")),
    ("EmailAddress", None),
    ("PhoneExt", Some("x-phone-ext")),
];

/// Whether `key` (lower case) is a parameter Namecheap documents for `command` (lower
/// case), used or not. Other parameters are ignored and logged once per name.
fn documented(command: &str, key: &str) -> bool {
    if GLOBAL.contains(&key) {
        return true;
    }
    let contact = |prefix: &str| {
        key.strip_prefix(prefix).is_some_and(|f| {
            CONTACT.iter().any(|(n, _)| n.eq_ignore_ascii_case(f))
                || (prefix == "billing" && f == "taxnumber")
        })
    };
    let keys: &[&str] = match command {
        "namecheap.domains.check" => &["domainlist"],
        "namecheap.domains.create" => {
            if ["registrant", "tech", "admin", "auxbilling", "billing"]
                .iter()
                .any(|p| contact(p))
            {
                return true;
            }
            &[
                "domainname",
                "years",
                "promotioncode",
                "nameservers",
                "addfreewhoisguard",
                "wgenabled",
                "ispremiumdomain",
                "premiumprice",
                "eapfee",
                "idncode",
            ]
        }
        "namecheap.domains.renew" => &[
            "domainname",
            "years",
            "promotioncode",
            "ispremiumdomain",
            "premiumprice",
        ],
        "namecheap.domains.getinfo" => &["domainname", "hostname"],
        "namecheap.domains.getlist" => &["listtype", "searchterm", "page", "pagesize", "sortby"],
        "namecheap.domains.getcontacts" => &["domainname"],
        "namecheap.domains.dns.setcustom" => &["sld", "tld", "nameservers"],
        "namecheap.domains.dns.getlist" => &["sld", "tld"],
        _ => &[],
    };
    keys.contains(&key)
}

/// Refusals of parameters that contradict what regway does: a premium name (regway
/// has none) and a promotion code (regway has none, so every code is invalid, as the
/// original answers an invalid one). Ignoring them would charge other than the panel
/// was told.
fn contradictions(p: &Params) -> Result<(), NcError> {
    if p.get("ispremiumdomain")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    {
        return Err(nc(
            2_515_623,
            "Domain is premium while considered regular or is regular while considered premium: this gateway has no premium names",
        ));
    }
    if let Some(code) = p.get("promotioncode") {
        return Err(nc(
            2_011_170,
            format!("Promotion Code is invalid: {code:?} (this gateway has no promotion codes)"),
        ));
    }
    Ok(())
}

fn decode(req: &HttpRequest<'_>, p: &Params) -> Decoded {
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
    // `ClientIp` is data, not the caller: Namecheap's own WHMCS module sends the end
    // customer's browser address there (or a fixed placeholder from cron). It must be
    // an address; the partner's allow-list applies to the connection's address only.
    if client_ip.parse::<IpAddr>().is_err() {
        return Err(nc(1_011_150, format!("Invalid request IP: {client_ip}")));
    }
    let Some(name) = canonical(&command) else {
        let why = if UNSUPPORTED.iter().any(|c| c.eq_ignore_ascii_case(&command)) {
            "is not supported by this gateway"
        } else {
            "is not a Namecheap command"
        };
        return Err(nc(NATIVE_BASE + 2000, format!("Command {command} {why}")));
    };
    for k in p.0.keys() {
        if !documented(&command, k) {
            ignored_key("namecheap", name, k);
        }
    }
    contradictions(p)?;
    let caller = Caller {
        login: user.to_string(),
        password: key.to_string(),
        peer: req.peer,
        dialect: Namecheap::NAME,
    };
    match command.as_str() {
        "namecheap.domains.check" => check(caller, p),
        "namecheap.domains.create" => create(caller, p, request_id(req, p)?),
        "namecheap.domains.renew" => renew(caller, p, request_id(req, p)?),
        "namecheap.domains.dns.setcustom" => set_custom(caller, p, request_id(req, p)?),
        "namecheap.domains.getinfo" => get_info(caller, p),
        "namecheap.domains.getlist" => get_list(caller, p),
        "namecheap.domains.getcontacts" => get_contacts(caller, p),
        "namecheap.domains.gettldlist" => {
            Ok((caller.named("price.list", None, Vec::new()), Op::GetTldList))
        }
        "namecheap.domains.dns.getlist" => Ok((
            caller.named("domain.info", None, vec![field("domain", sld_tld(p)?)]),
            Op::DnsGetList,
        )),
        "namecheap.users.getbalances" => {
            Ok((caller.named("balance.get", None, Vec::new()), Op::Balances))
        }
        _ => Err(Error::internal(format!("{name} has no handler")).into()),
    }
}

/// The commands of Namecheap's API this gateway does not answer (3052000): regway has
/// no such objects. Listed in `protocol/namecheap.md`.
const UNSUPPORTED: [&str; 52] = [
    "namecheap.domains.setContacts",
    "namecheap.domains.reactivate",
    "namecheap.domains.getRegistrarLock",
    "namecheap.domains.setRegistrarLock",
    "namecheap.domains.dns.setDefault",
    "namecheap.domains.dns.getHosts",
    "namecheap.domains.dns.setHosts",
    "namecheap.domains.dns.getEmailForwarding",
    "namecheap.domains.dns.setEmailForwarding",
    "namecheap.domains.ns.create",
    "namecheap.domains.ns.delete",
    "namecheap.domains.ns.getInfo",
    "namecheap.domains.ns.update",
    "namecheap.domains.transfer.create",
    "namecheap.domains.transfer.getStatus",
    "namecheap.domains.transfer.updateStatus",
    "namecheap.domains.transfer.getList",
    "namecheap.ssl.create",
    "namecheap.ssl.getList",
    "namecheap.ssl.parseCSR",
    "namecheap.ssl.getApproverEmailList",
    "namecheap.ssl.activate",
    "namecheap.ssl.resendApproverEmail",
    "namecheap.ssl.getInfo",
    "namecheap.ssl.renew",
    "namecheap.ssl.reissue",
    "namecheap.ssl.resendfulfillmentemail",
    "namecheap.ssl.purchasemoresans",
    "namecheap.ssl.revokecertificate",
    "namecheap.ssl.editDCVMethod",
    "namecheap.users.getPricing",
    "namecheap.users.changePassword",
    "namecheap.users.update",
    "namecheap.users.createaddfundsrequest",
    "namecheap.users.getAddFundsStatus",
    "namecheap.users.create",
    "namecheap.users.login",
    "namecheap.users.resetPassword",
    "namecheap.users.address.create",
    "namecheap.users.address.delete",
    "namecheap.users.address.getInfo",
    "namecheap.users.address.getList",
    "namecheap.users.address.setDefault",
    "namecheap.users.address.update",
    "namecheap.whoisguard.changeemailaddress",
    "namecheap.whoisguard.enable",
    "namecheap.whoisguard.disable",
    "namecheap.whoisguard.unallot",
    "namecheap.whoisguard.discard",
    "namecheap.whoisguard.allot",
    "namecheap.whoisguard.getList",
    "namecheap.whoisguard.renew",
];

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Most names one `check` takes (Namecheap's limit, and its error number beyond it).
const CHECK_MAX: usize = 50;

fn check(caller: Caller, p: &Params) -> Decoded {
    let names = p.req("domainlist", "DomainList")?;
    if list(names).count() > CHECK_MAX {
        return Err(nc(
            2_011_169,
            format!("Only {CHECK_MAX} domains are allowed in a single check command"),
        ));
    }
    let fields = list(names).map(|d| field("domain", d)).collect();
    Ok((caller.named("domain.check", None, fields), Op::Check))
}

fn check_answer(r: Reply) -> Answer {
    let (o, _) = ok(r)?;
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

/// Namecheap's required contact fields.
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

/// `client.create` fields from the contact of `role`; `None` when the request has no
/// field of that role at all (only the Registrant is required: the others default to
/// it).
fn contact_fields(p: &Params, role: &str) -> Option<Result<Fields, NcError>> {
    let prefix = role.to_ascii_lowercase();
    let r = |k: &str| p.get(&format!("{prefix}{}", k.to_ascii_lowercase()));
    if role != "Registrant" && CONTACT.iter().all(|(k, _)| r(k).is_none()) {
        return None;
    }
    if let Some(k) = REQUIRED.iter().find(|k| r(k).is_none()) {
        return Some(Err(nc(
            NATIVE_BASE + 2003,
            format!("Parameter {role}{k} is missing"),
        )));
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
    for (nc_name, x) in CONTACT {
        if let (Some(x), Some(val)) = (x, r(nc_name)) {
            f.push(field(x, val));
        }
    }
    Some(Ok(f))
}

/// The `x-` field of the Registrant's client that names the client of another role.
fn role_link(role: &str) -> String {
    format!("x-{}-client", role.to_ascii_lowercase())
}

fn create(caller: Caller, p: &Params, rid: String) -> Decoded {
    let domain = p.req("domainname", "DomainName")?;
    // Always `Some` for the Registrant: its fields are required.
    let registrant = contact_fields(p, "Registrant")
        .unwrap_or_else(|| Err(Error::missing("RegistrantFirstName").into()))?;
    // Tech, Admin and AuxBilling are clients of their own when they differ from the
    // Registrant; its client names them, so getContacts gives all four back.
    let mut others = Vec::new();
    for role in &ROLES[1..] {
        let Some(fields) = contact_fields(p, role) else {
            continue;
        };
        let fields = fields?;
        if fields == registrant {
            continue;
        }
        others.push((role.to_string(), role_link(role), fields));
    }
    // The caller is refused before its first contact is made: the answer names that
    // contact, as every error of making one does.
    let first_role = others
        .first()
        .map_or("Registrant".to_string(), |(r, _, _)| r.clone());
    let mut rest = Vec::new();
    rest.extend(p.get("years").map(|y| field("period", y)));
    if let Some(ns) = p.get("nameservers") {
        rest.extend(list(ns).map(|n| field("ns", n)));
    }
    let command = RegisterWithContacts {
        others,
        registrant,
        domain: domain.to_string(),
        rest,
    };
    Ok((
        caller.built(Command::RegisterWithContacts(command), Some(rid)),
        Op::Create { first_role },
    ))
}

fn create_answer(reply: Reply, first_role: &str) -> Answer {
    let refused = matches!(
        reply.outcome.code,
        Code::Auth | Code::RateLimited | Code::Forbidden
    );
    let (o, replayed) = ok(reply).map_err(|e| {
        if refused {
            nc(e.number, format!("{first_role} contact: {}", e.text))
        } else {
            e
        }
    })?;
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

/// `DomainDetails` of a renew answer: the expiry now, and the years this renewal adds.
fn renew_details(expires: NaiveDate, years: u32) -> El {
    El::new("DomainDetails")
        .child(El::new("ExpiredDate").text(date_time(expires)))
        .child(El::new("NumYears").text(years))
}

fn renew(caller: Caller, p: &Params, rid: String) -> Decoded {
    let domain = p.req("domainname", "DomainName")?;
    let renew = RenewCurrent {
        domain: domain.to_string(),
        period: p.get("years").map(String::from),
        holder: None,
    };
    Ok((
        caller.built(Command::RenewCurrent(renew), Some(rid)),
        Op::Renew,
    ))
}

fn renew_answer(r: Reply) -> Answer {
    let (o, replayed) = ok(r)?;
    let period = |order: &Order| match order.kind {
        OrderKind::Renew { period, expires } => Some((period, expires)),
        _ => None,
    };
    let el = match &o.data {
        Data::DomainOrder {
            name,
            expires,
            order,
            currency,
            charged,
            ..
        } => {
            let (years, before) = period(order).unwrap_or_default();
            El::new("DomainRenewResult")
                .attr("DomainName", name)
                .attr("DomainID", domain_id(name))
                .attr("Renew", o.code == Code::Completed)
                .attr("OrderID", order.id)
                .attr("TransactionID", order.id)
                .attr("ChargedAmount", amount(*charged, *currency))
                .child(renew_details(expires.unwrap_or(before), years))
        }
        // Not finished yet: the expiry is still the one the renewal started from.
        Data::Order(order) => {
            let (years, before) = period(order).unwrap_or_default();
            El::new("DomainRenewResult")
                .attr("DomainName", &order.domain)
                .attr("DomainID", domain_id(&order.domain))
                .attr("Renew", false)
                .attr("OrderID", order.id)
                .attr("TransactionID", order.id)
                .attr("ChargedAmount", amount(order.amount, order.currency))
                .child(renew_details(before, years))
        }
        _ => return Err(Error::internal("domain.renew answered without an order").into()),
    };
    Ok((vec![el], replayed))
}

/// The domain of a command that names it by `SLD` and `TLD`. A `DomainName` sent as
/// well must be the same name (it is not a parameter of these commands, but a client
/// that sends another one means another domain).
fn sld_tld(p: &Params) -> Result<String, NcError> {
    let sld = p.req("sld", "SLD")?;
    let tld = p.req("tld", "TLD")?;
    let name = format!("{sld}.{tld}");
    if let Some(d) = p.get("domainname") {
        if !d.eq_ignore_ascii_case(&name) {
            return Err(
                Error::syntax(format!("DomainName {d} contradicts SLD and TLD ({name})")).into(),
            );
        }
    }
    Ok(name)
}

fn set_custom(caller: Caller, p: &Params, rid: String) -> Decoded {
    let domain = sld_tld(p)?;
    let ns = p.req("nameservers", "Nameservers")?;
    let mut fields = vec![field("domain", &domain)];
    fields.extend(list(ns).map(|n| field("ns", n)));
    Ok((
        caller.named("domain.set-ns", Some(rid), fields),
        Op::SetCustom { domain },
    ))
}

fn set_custom_answer(r: Reply, domain: &str) -> Answer {
    let (o, replayed) = ok(r)?;
    let name = match &o.data {
        Data::Domain(d) => d.name.clone(),
        Data::Order(order) => order.domain.clone(),
        _ => domain.to_ascii_lowercase(),
    };
    let el = El::new("DomainDNSSetCustomResult")
        .attr("Domain", name)
        .attr("Updated", o.code == Code::Completed);
    Ok((vec![el], replayed))
}

/// One of the partner's domains, as `domain.info` holds it.
fn domain_info(r: Reply) -> Result<Domain, NcError> {
    let (o, _) = ok(r)?;
    match o.data {
        Data::Domain(d) => Ok(*d),
        _ => Err(Error::internal("domain.info answered without a domain").into()),
    }
}

/// The hosts of a domain's nameservers: Namecheap shows no glue.
fn hosts(d: &Domain) -> impl Iterator<Item = El> + '_ {
    d.ns.iter()
        .map(|n| El::new("Nameserver").text(n.split(' ').next().unwrap_or(n)))
}

/// A date Namecheap writes for "never" (.NET's smallest date), in the two forms its
/// answers use.
const NO_DATE: &str = "01/01/0001";
const NO_DATE_TIME: &str = "0001-01-01T00:00:00";

fn get_info(caller: Caller, p: &Params) -> Decoded {
    let owner = caller.login.clone();
    let domain = p.req("domainname", "DomainName")?;
    Ok((
        caller.named("domain.info", None, vec![field("domain", domain)]),
        Op::GetInfo { owner },
    ))
}

fn get_info_answer(r: Reply, owner: &str) -> Answer {
    let d = domain_info(r)?;
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
        .attr("OwnerName", owner)
        .attr("IsOwner", true)
        .attr("IsPremium", false)
        .child(
            El::new("DomainDetails")
                .child(El::new("CreatedDate").text(date(d.created.date_naive())))
                .child(El::new("ExpiredDate").text(date(d.expires)))
                .child(El::new("NumYears").text(0)),
        )
        .child(El::new("LockDetails"))
        // No privacy service: not allotted, ID 0, as Namecheap answers for such a
        // domain; the date and e-mail details are there, empty, because clients read
        // them whatever `Enabled` says.
        .child(
            El::new("Whoisguard")
                .attr("Enabled", "NotAlloted")
                .child(El::new("ID").text(0))
                .child(El::new("ExpiredDate").text(NO_DATE))
                .child(
                    El::new("EmailDetails")
                        .attr("WhoisGuardEmail", "")
                        .attr("ForwardedTo", "")
                        .attr("LastAutoEmailChangeDate", "")
                        .attr("AutoEmailChangeFrequencyDays", 0),
                ),
        )
        .child(
            El::new("PremiumDnsSubscription")
                .child(El::new("UseAutoRenew").text(false))
                .child(El::new("SubscriptionId").text(-1))
                .child(El::new("CreatedDate").text(NO_DATE_TIME))
                .child(El::new("ExpirationDate").text(NO_DATE_TIME))
                .child(El::new("IsActive").text(false)),
        )
        .child(
            El::new("DnsDetails")
                .attr("ProviderType", "CUSTOM")
                .attr("IsUsingOurDNS", false)
                .attr("HostCount", 0)
                .attr("EmailType", "")
                .attr("DynamicDNSStatus", false)
                .attr("IsFailover", false)
                .children(hosts(&d)),
        )
        .child(El::new("Modificationrights").attr("All", true));
    Ok((vec![el], false))
}

fn dns_get_list_answer(r: Reply) -> Answer {
    let d = domain_info(r)?;
    let el = El::new("DomainDNSGetListResult")
        .attr("Domain", &d.name)
        .attr("IsUsingOurDNS", false)
        .attr("IsPremiumDNS", false)
        .attr("IsUsingFreeDNS", false)
        .children(hosts(&d));
    Ok((vec![el], false))
}

/// One contact as `getContacts` answers it, from the engine client it was kept in.
///
/// A client made by `create` has every Namecheap field in its `x-` fields. A client
/// made another way (the native protocol, MasterName) is shown from its own fields:
/// the organisation's name, or the person's name split at the first space, the
/// address as `Address1`, and the MasterName postal fields where it has them.
fn contact_el(role: &'static str, c: &Client) -> El {
    let x = |k: &str| c.extra.get(k).filter(|v| !v.is_empty()).cloned();
    let from_namecheap = c.extra.contains_key("x-first-name");
    let (first, last) = match c.kind {
        ClientKind::Org => (None, None),
        ClientKind::Person => match c.name.split_once(' ') {
            Some((f, l)) => (Some(f.to_string()), Some(l.trim().to_string())),
            None => (Some(c.name.clone()), None),
        },
    };
    let value = |name: &str, xfield: Option<&str>| -> Option<String> {
        if name == "EmailAddress" {
            return Some(c.email.clone());
        }
        if from_namecheap {
            return xfield.and_then(x);
        }
        match name {
            "OrganizationName" => (c.kind == ClientKind::Org).then(|| c.name.clone()),
            "FirstName" => first.clone(),
            "LastName" => last.clone(),
            "Address1" => x("x-post-street").or_else(|| Some(c.address.clone())),
            "City" => x("x-post-city"),
            "StateProvince" => x("x-post-region"),
            "PostalCode" => x("x-post-zip-code"),
            "Country" => Some(c.country.clone()),
            "Phone" => Some(c.phone.clone()),
            "Fax" => x("x-fax"),
            _ => None,
        }
    };
    El::new(role)
        .attr("ReadOnly", true)
        .children(CONTACT.iter().map(|(name, xfield)| {
            let el = El::new(*name);
            match value(name, *xfield) {
                Some(v) => el.text(v),
                None => el,
            }
        }))
}

fn get_contacts(caller: Caller, p: &Params) -> Decoded {
    let contacts = Contacts {
        domain: p.req("domainname", "DomainName")?.to_string(),
        links: ROLES[1..].iter().map(|r| role_link(r)).collect(),
    };
    Ok((
        caller.built(Command::Contacts(contacts), None),
        Op::GetContacts,
    ))
}

fn get_contacts_answer(r: Reply) -> Answer {
    let (o, _) = ok(r)?;
    let Data::Contacts { domain: d, clients } = o.data else {
        return Err(Error::internal("the contacts came without a domain").into());
    };
    let mut el = El::new("DomainContactsResult")
        .attr("Domain", &d.name)
        .attr("domainnameid", domain_id(&d.name));
    for (role, c) in ROLES.iter().zip(&clients) {
        el = el.child(contact_el(role, c));
    }
    Ok((vec![el.child(El::new("CurrentAttributes"))], false))
}

fn get_tld_list_answer(r: Reply) -> Answer {
    let (o, _) = ok(r)?;
    let Data::PriceList { rows, .. } = o.data else {
        return Err(Error::internal("price.list answered without rows").into());
    };
    // Zone → (category, register years, renew years), in the catalogue's order.
    let mut zones: Vec<(String, String, Vec<u32>, Vec<u32>)> = Vec::new();
    for r in rows {
        let Some(zone) = r.zone else { continue };
        let years: u32 = r.period.parse().unwrap_or_default();
        if zones.last().is_none_or(|z| z.0 != zone) {
            zones.push((zone.clone(), r.category.clone(), Vec::new(), Vec::new()));
        }
        let z = zones.last_mut().expect("just pushed");
        if r.operation == "register" {
            z.2.push(years);
        } else {
            z.3.push(years);
        }
    }
    let range = |v: &[u32]| {
        (
            v.iter().min().copied().unwrap_or(0),
            v.iter().max().copied().unwrap_or(0),
        )
    };
    let tlds = zones
        .iter()
        .enumerate()
        .map(|(i, (zone, category, reg, ren))| {
            let (reg_min, reg_max) = range(reg);
            let (ren_min, ren_max) = range(ren);
            let country = zone.len() == 2 && zone.bytes().all(|b| b.is_ascii_lowercase());
            let shown = Name::unicode_of(zone).unwrap_or_else(|| zone.clone());
            El::new("Tld")
                .attr("Name", zone)
                .attr("NonRealTime", false)
                .attr("MinRegisterYears", reg_min)
                .attr("MaxRegisterYears", reg_max)
                .attr("MinRenewYears", ren_min)
                .attr("MaxRenewYears", ren_max)
                .attr("MinTransferYears", 0)
                .attr("MaxTransferYears", 0)
                .attr("IsApiRegisterable", !reg.is_empty())
                .attr("IsApiRenewable", !ren.is_empty())
                .attr("IsApiTransferable", false)
                .attr("IsEppRequired", false)
                .attr("IsDisableModContact", true)
                .attr("IsDisableWGAllot", true)
                .attr("IsIncludeInExtendedSearchOnly", false)
                .attr("SequenceNumber", i + 1)
                .attr("Type", if country { "CCTLD" } else { "GTLD" })
                .attr("IsSupportsIDN", true)
                .attr("Category", category)
                .text(format!(".{shown} domains"))
        });
    Ok((vec![El::new("Tlds").children(tlds)], false))
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

fn get_list(caller: Caller, p: &Params) -> Decoded {
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
    let user = caller.login.clone();
    Ok((
        caller.named("domain.list", None, fields),
        Op::GetList { user, page, size },
    ))
}

fn get_list_answer(r: Reply, user: &str, page: u32, size: u32) -> Answer {
    let (o, _) = ok(r)?;
    let Data::Domains { rows, total, .. } = o.data else {
        return Err(Error::internal("domain.list answered without rows").into());
    };
    let row = |d: &Domain| {
        El::new("Domain")
            .attr("ID", domain_id(&d.name))
            .attr("Name", &d.name)
            .attr("User", user)
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

fn balances_answer(r: Reply) -> Answer {
    let (o, _) = ok(r)?;
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
