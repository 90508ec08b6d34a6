//! What the store keeps. Records are JSON, so a field added later reads old rows with
//! its default.

use crate::types::money::Currency;
use crate::types::operation::Operation;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Partner {
    pub login: String,
    /// argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    pub currency: Currency,
    pub balance: Decimal,
    pub credit_limit: Decimal,
    #[serde(default)]
    pub allow_ips: Vec<String>,
    #[serde(default)]
    pub suspended: bool,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub clients: u64,
    #[serde(default)]
    pub domains: u64,
    #[serde(default)]
    pub orders: u64,
    /// The commission account: what can be withdrawn or spent now (the sum of its
    /// entries), and
    #[serde(default)]
    pub commission: Decimal,
    /// all commission ever earned.
    #[serde(default)]
    pub commission_earned: Decimal,
    /// The operator's note on the last suspension or resumption (`regway partner
    /// suspend|resume`); never shown to the partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension_note: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    Active,
    Expired,
}

impl DomainState {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::Active => "active",
            DomainState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Domain {
    pub name: String,
    pub client: String,
    pub state: DomainState,
    pub created: DateTime<Utc>,
    pub expires: NaiveDate,
    /// `host` or `host ip`, in the order given.
    pub ns: Vec<String>,
    pub delegated: bool,
    pub auto_renew: bool,
    /// The last `domain.expiring` notice: (the expiry it was about, days before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_notice: Option<(NaiveDate, u32)>,
    /// The upstream (its configured name) the domain was registered with: its renewals
    /// and changes go there, whatever its zone's upstream is now (`regway domain move`
    /// changes it). None for a domain registered before this was kept: its zone's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Person,
    Org,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Person => "person",
            ClientKind::Org => "org",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Client {
    pub id: String,
    pub number: u64,
    pub kind: ClientKind,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub country: String,
    pub address: String,
    /// Optional fields (`x-…` parameters), kept as given.
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, String>,
    pub created: DateTime<Utc>,
    /// When the partner deleted it: no new orders for it, no commission from it, and it
    /// no longer counts as a client with active services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    Accepted,
    Submitted,
    Completed,
    Failed,
    Unknown,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Accepted => "accepted",
            OrderState::Submitted => "submitted",
            OrderState::Completed => "completed",
            OrderState::Failed => "failed",
            OrderState::Unknown => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<OrderState> {
        [
            OrderState::Accepted,
            OrderState::Submitted,
            OrderState::Completed,
            OrderState::Failed,
            OrderState::Unknown,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderState::Completed | OrderState::Failed)
    }

    /// The state of a stored order record, read without decoding the rest of it
    /// (`None` when the bytes are not an order record).
    pub fn of_stored(bytes: &[u8]) -> Option<OrderState> {
        #[derive(Deserialize)]
        struct StateOf {
            state: OrderState,
        }
        serde_json::from_slice::<StateOf>(bytes)
            .ok()
            .map(|s| s.state)
    }
}

/// What an order asks of the upstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum OrderKind {
    #[serde(rename = "domain.register")]
    Register {
        period: u32,
        client: String,
        ns: Vec<String>,
        auto_renew: bool,
    },
    #[serde(rename = "domain.renew")]
    Renew { period: u32, expires: NaiveDate },
    #[serde(rename = "domain.set-ns")]
    SetNs { ns: Vec<String> },
    #[serde(rename = "domain.transfer")]
    Transfer {
        client: String,
        /// The code the losing registrar gave the holder; sent to the upstream only.
        authcode: String,
        ns: Vec<String>,
        auto_renew: bool,
    },
    #[serde(rename = "license.order")]
    LicenseOrder {
        license: u64,
        product: String,
        period: LicensePeriod,
        ip: String,
        client: String,
        auto_renew: bool,
    },
    #[serde(rename = "license.renew")]
    LicenseRenew {
        license: u64,
        period: LicensePeriod,
        expires: NaiveDate,
    },
    #[serde(rename = "license.set-ip")]
    LicenseSetIp { license: u64, ip: String },
}

/// How a domain new to the gateway comes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Registered: refused when the name is taken anywhere.
    Registered,
    /// Transferred from another registrar: refused when the name is registered
    /// nowhere, or already here.
    Transferred,
}

/// What carrying out an order does to its object. The upstreams that carry orders out
/// (the sandbox) and settling, which records them, read this instead of matching
/// every kind, so a new kind that does what an existing one does needs no code there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect<'a> {
    /// A domain new to the gateway, for `client`, held `years` from when it arrives.
    NewDomain {
        arrival: Arrival,
        years: u32,
        client: &'a str,
        ns: &'a [String],
        auto_renew: bool,
    },
    /// `years` more for a domain expiring on `from`.
    ExtendDomain { years: u32, from: NaiveDate },
    /// New name servers for a domain.
    SetNs { ns: &'a [String] },
    /// A new licence.
    NewLicense {
        license: u64,
        product: &'a str,
        period: LicensePeriod,
        ip: &'a str,
        client: &'a str,
        auto_renew: bool,
    },
    /// One more `period` for a licence expiring on `from`.
    ExtendLicense {
        license: u64,
        period: LicensePeriod,
        from: NaiveDate,
    },
    /// A licence bound to a new address.
    SetIp { license: u64, ip: &'a str },
}

impl Effect<'_> {
    /// The client the order's object is for, when the order names it.
    pub fn client(&self) -> Option<&str> {
        match self {
            Effect::NewDomain { client, .. } | Effect::NewLicense { client, .. } => Some(client),
            _ => None,
        }
    }
}

/// One order kind, described: its name (the native command that places it, and its
/// `type` in `order.list`), the domain operation it is priced by, whether it is paid,
/// and what carrying it out does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindSpec<'a> {
    pub name: &'static str,
    pub price: Option<Operation>,
    /// A completed paid order is answered with what it charged, an unpaid one (a
    /// change) with the record alone.
    pub paid: bool,
    pub effect: Effect<'a>,
}

impl OrderKind {
    /// The one description of each kind; everything else about a kind follows from it
    /// (and from [`OrderKind::upstream_fields`]).
    pub fn spec(&self) -> KindSpec<'_> {
        let (name, price, effect) = match self {
            OrderKind::Register {
                period,
                client,
                ns,
                auto_renew,
            } => (
                "domain.register",
                Some(Operation::Register),
                Effect::NewDomain {
                    arrival: Arrival::Registered,
                    years: *period,
                    client,
                    ns,
                    auto_renew: *auto_renew,
                },
            ),
            OrderKind::Renew { period, expires } => (
                "domain.renew",
                Some(Operation::Renew),
                Effect::ExtendDomain {
                    years: *period,
                    from: *expires,
                },
            ),
            OrderKind::SetNs { ns } => ("domain.set-ns", None, Effect::SetNs { ns }),
            OrderKind::Transfer {
                client,
                ns,
                auto_renew,
                ..
            } => (
                "domain.transfer",
                Some(Operation::Transfer),
                Effect::NewDomain {
                    arrival: Arrival::Transferred,
                    years: 1,
                    client,
                    ns,
                    auto_renew: *auto_renew,
                },
            ),
            OrderKind::LicenseOrder {
                license,
                product,
                period,
                ip,
                client,
                auto_renew,
            } => (
                "license.order",
                None,
                Effect::NewLicense {
                    license: *license,
                    product,
                    period: *period,
                    ip,
                    client,
                    auto_renew: *auto_renew,
                },
            ),
            OrderKind::LicenseRenew {
                license,
                period,
                expires,
            } => (
                "license.renew",
                None,
                Effect::ExtendLicense {
                    license: *license,
                    period: *period,
                    from: *expires,
                },
            ),
            OrderKind::LicenseSetIp { license, ip } => (
                "license.set-ip",
                None,
                Effect::SetIp {
                    license: *license,
                    ip,
                },
            ),
        };
        let paid = price.is_some()
            || matches!(
                effect,
                Effect::NewLicense { .. } | Effect::ExtendLicense { .. }
            );
        KindSpec {
            name,
            price,
            paid,
            effect,
        }
    }

    /// The fields a domain order sends to an upstream that speaks the native protocol,
    /// after `command`, `request-id` and `domain`, named and written as there. `client`
    /// is the gateway's handle of the registrant (the upstream sends its own for the
    /// same contact). `None` for licence orders, which no such upstream carries.
    pub fn upstream_fields(&self) -> Option<Vec<(&'static str, String)>> {
        let mut f = Vec::new();
        match self {
            OrderKind::Register {
                period, client, ns, ..
            } => {
                f.push(("period", period.to_string()));
                f.push(("client", client.clone()));
                f.extend(ns.iter().map(|n| ("ns", n.clone())));
                // The gateway renews; the upstream never does on its own.
                f.push(("auto-renew", "false".to_string()));
            }
            OrderKind::Renew { period, expires } => {
                f.push(("period", period.to_string()));
                f.push(("expires", expires.to_string()));
            }
            OrderKind::SetNs { ns } => f.extend(ns.iter().map(|n| ("ns", n.clone()))),
            OrderKind::Transfer {
                client,
                authcode,
                ns,
                ..
            } => {
                f.push(("client", client.clone()));
                f.push(("authcode", authcode.clone()));
                f.extend(ns.iter().map(|n| ("ns", n.clone())));
                f.push(("auto-renew", "false".to_string()));
            }
            OrderKind::LicenseOrder { .. }
            | OrderKind::LicenseRenew { .. }
            | OrderKind::LicenseSetIp { .. } => return None,
        }
        Some(f)
    }

    pub fn command(&self) -> &'static str {
        self.spec().name
    }

    /// Whether the order is paid (an order or a renewal): a completed paid order is
    /// answered with what it charged, an unpaid one (a change) with the record alone.
    pub fn is_paid(&self) -> bool {
        self.spec().paid
    }

    /// The licence an order is about, for licence orders.
    pub fn license(&self) -> Option<u64> {
        match self.spec().effect {
            Effect::NewLicense { license, .. }
            | Effect::ExtendLicense { license, .. }
            | Effect::SetIp { license, .. } => Some(license),
            _ => None,
        }
    }

    /// Every order type, as `order.list type=` takes them.
    pub const TYPES: [&'static str; 7] = [
        "domain.register",
        "domain.renew",
        "domain.set-ns",
        "domain.transfer",
        "license.order",
        "license.renew",
        "license.set-ip",
    ];
}

/// The name an order for licence `id` locks (in place of a domain name).
pub fn license_object(id: u64) -> String {
    format!("license/{id}")
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LicensePeriod {
    Month,
    Year,
}

impl LicensePeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            LicensePeriod::Month => "month",
            LicensePeriod::Year => "year",
        }
    }
    pub fn months(self) -> u32 {
        match self {
            LicensePeriod::Month => 1,
            LicensePeriod::Year => 12,
        }
    }
    /// `date` one period later (the end of the month when that day does not exist).
    pub fn after(self, date: NaiveDate) -> Option<NaiveDate> {
        date.checked_add_months(chrono::Months::new(self.months()))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LicenseState {
    Active,
    Suspended,
    Expired,
}

impl LicenseState {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseState::Active => "active",
            LicenseState::Suspended => "suspended",
            LicenseState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<LicenseState> {
        [
            LicenseState::Active,
            LicenseState::Suspended,
            LicenseState::Expired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A software licence (ISPmanager), bound to one IP address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct License {
    pub id: u64,
    pub product: String,
    pub period: LicensePeriod,
    pub ip: String,
    pub client: String,
    pub state: LicenseState,
    pub created: DateTime<Utc>,
    pub expires: NaiveDate,
    pub auto_renew: bool,
    /// The licensing service's own id of the licence, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transition {
    pub state: OrderState,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub id: u64,
    pub request_id: String,
    pub domain: String,
    pub kind: OrderKind,
    /// What the order costs; zero for orders that move no money.
    pub amount: Decimal,
    pub currency: Currency,
    pub state: OrderState,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub history: Vec<Transition>,
    /// Why it failed, or why its outcome is unknown, in words for the partner; only on
    /// `failed` and `unknown` orders (`protocol/native.md`, "Orders").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The commission the order earns when it completes, set when it was priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Commission>,
    /// The ledger entry of its charge (orders that cost money): an answer about the
    /// order shows that entry's balance-after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<u64>,
    /// Set when an operator settled the order by hand (`regway order settle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<Settlement>,
    /// The upstream (its configured name) the order goes to, fixed when it is accepted:
    /// a domain's own, else its zone's. None: routed by zone (older orders, licences).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The partner's user (`PARTNER.NAME`) that placed it; `None`: the main login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// An operator's settlement of an order whose outcome the upstream never made clear.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settlement {
    /// `completed` or `failed`.
    pub state: OrderState,
    pub at: DateTime<Utc>,
    /// The operator's note (what was checked, where); never shown to the partner.
    pub note: String,
}

/// A commission rate an order was priced with: the partner's programme and level, and
/// the product's category.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Commission {
    pub percent: Decimal,
    pub category: String,
    pub rule: String,
    pub tier: String,
}

impl Order {
    pub fn set_state(&mut self, state: OrderState, at: DateTime<Utc>) {
        // An order that leaves `unknown` for anything but `failed` no longer has a
        // problem to explain: a panel would show a stale reason as an error.
        if !matches!(state, OrderState::Failed | OrderState::Unknown) {
            self.reason = None;
        }
        self.state = state;
        self.updated = at;
        self.history.push(Transition { state, at });
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Topup,
    Charge,
    Refund,
    Adjustment,
    /// Commission moved into the prepaid balance (`commission.transfer`).
    Commission,
    /// Money paid back to the partner out of its balance (operator).
    Withdrawal,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Topup => "topup",
            EntryKind::Charge => "charge",
            EntryKind::Refund => "refund",
            EntryKind::Adjustment => "adjustment",
            EntryKind::Commission => "commission",
            EntryKind::Withdrawal => "withdrawal",
        }
    }
}

/// A partner's active services per category, and how many of its clients (not
/// deleted) hold at least one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceCounts {
    pub services: std::collections::BTreeMap<String, u64>,
    pub clients: u64,
}

/// What one partner's ledger moved in one UTC day, kept in the same write as every
/// ledger entry, so programmes measure payments and turnover by reading a few days
/// instead of the ledger: `payments` are top-ups less withdrawals, `turnover` charges
/// less refunds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct DayTotals {
    pub payments: Decimal,
    pub turnover: Decimal,
}

impl DayTotals {
    /// What a ledger entry of `kind` and signed `amount` adds.
    pub fn of(kind: EntryKind, amount: Decimal) -> DayTotals {
        match kind {
            EntryKind::Topup | EntryKind::Withdrawal => DayTotals {
                payments: amount,
                turnover: Decimal::ZERO,
            },
            EntryKind::Charge | EntryKind::Refund => DayTotals {
                payments: Decimal::ZERO,
                turnover: -amount,
            },
            EntryKind::Adjustment | EntryKind::Commission => DayTotals::default(),
        }
    }

    pub fn add(&mut self, o: DayTotals) {
        self.payments += o.payments;
        self.turnover += o.turnover;
    }

    pub fn is_zero(&self) -> bool {
        self.payments.is_zero() && self.turnover.is_zero()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CommissionKind {
    /// Earned on a completed order.
    Earned,
    /// Moved into the prepaid balance.
    Spent,
    /// Paid out to the partner (operator).
    Withdrawn,
}

impl CommissionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommissionKind::Earned => "earned",
            CommissionKind::Spent => "spent",
            CommissionKind::Withdrawn => "withdrawn",
        }
    }
}

impl CommissionEntry {
    /// A line of `kind` and signed `amount`, with nothing else said about it yet; its
    /// id and running balance are set when it is appended.
    pub fn new(kind: CommissionKind, amount: Decimal, time: DateTime<Utc>) -> CommissionEntry {
        CommissionEntry {
            id: 0,
            time,
            kind,
            amount,
            balance_after: Decimal::ZERO,
            order: None,
            client: None,
            base: None,
            rate: None,
            ledger: None,
            note: String::new(),
        }
    }
}

/// One line of the append-only commission account. `amount` is signed: spending and
/// withdrawing are negative.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommissionEntry {
    pub id: u64,
    pub time: DateTime<Utc>,
    pub kind: CommissionKind,
    pub amount: Decimal,
    pub balance_after: Decimal,
    /// Earned: the order, its client, and the amount it was charged;
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Decimal>,
    /// and the rate it was priced with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Commission>,
    /// Spent: the ledger entry that credited the prepaid balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One line of the append-only ledger. `amount` is signed: charges are negative.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerEntry {
    pub id: u64,
    pub time: DateTime<Utc>,
    pub kind: EntryKind,
    pub amount: Decimal,
    pub balance_after: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// For a charge: the list price before any programme (positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_price: Option<Decimal>,
    /// For a charge: what set its price: `catalogue`, `partner-price` or a programme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For a charge: the programme's tier or level it was priced at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// For a charge: the percent off the list price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Decimal>,
    /// The partner's user (`PARTNER.NAME`) whose request made the entry; `None`: the
    /// main login, or the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// An additional login of a partner (`PARTNER.NAME`), with the rights groups it holds.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    /// `PARTNER.NAME`.
    pub login: String,
    pub partner: String,
    /// argon2id PHC string, as the partner's.
    pub password_hash: String,
    pub rights: Vec<crate::types::rights::Right>,
    #[serde(default)]
    pub allow_ips: Vec<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({}, {:?})", self.login, self.rights)
    }
}

impl User {
    /// The part after the partner's login and the dot.
    pub fn name(&self) -> &str {
        &self.login[self.partner.len() + 1..]
    }
}

/// What is kept of a request-id: the command it carried (canonical form, to tell a
/// retry from a reuse) and its outcome once it has one. The outcome's type `O` belongs
/// to the layer that answers requests; the store keeps it as it is given.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(bound(serialize = "O: Serialize", deserialize = "O: Deserialize<'de>"))]
pub struct RequestRecord<O> {
    pub request_id: String,
    pub command: String,
    pub params: String,
    pub created: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
    /// `None` while the order it started is still open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<O>,
}

/// An operator's money movement carried out under a request-id (`--request-id`): what
/// it was, so a repeat is recognised and a reuse for something else refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OperatorRequest {
    pub request_id: String,
    pub command: String,
    pub params: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One order of every kind.
    pub(crate) fn one_of_each() -> Vec<OrderKind> {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).expect("date");
        vec![
            OrderKind::Register {
                period: 2,
                client: "1/RW-P".into(),
                ns: vec!["ns1.example.net".into()],
                auto_renew: false,
            },
            OrderKind::Renew {
                period: 1,
                expires: day,
            },
            OrderKind::SetNs { ns: vec![] },
            OrderKind::Transfer {
                client: "1/RW-P".into(),
                authcode: "x!Y-2".into(),
                ns: vec![],
                auto_renew: true,
            },
            OrderKind::LicenseOrder {
                license: 1,
                product: "ispmanager-lite".into(),
                period: LicensePeriod::Month,
                ip: "192.0.2.1".into(),
                client: "1/RW-P".into(),
                auto_renew: false,
            },
            OrderKind::LicenseRenew {
                license: 1,
                period: LicensePeriod::Year,
                expires: day,
            },
            OrderKind::LicenseSetIp {
                license: 1,
                ip: "192.0.2.2".into(),
            },
        ]
    }

    #[test]
    fn every_kind_is_described_once() {
        let kinds = one_of_each();
        let names: Vec<&str> = kinds.iter().map(|k| k.spec().name).collect();
        assert_eq!(names, OrderKind::TYPES, "TYPES lists every kind, in order");
        for k in &kinds {
            // The name is the one the record is stored under.
            let stored = serde_json::to_value(k).expect("json");
            assert_eq!(stored["type"], k.spec().name);
            let spec = k.spec();
            // A kind priced by a domain operation is paid; a domain change is not.
            if spec.price.is_some() {
                assert!(spec.paid, "{}", spec.name);
            }
            assert_eq!(
                k.upstream_fields().is_none(),
                k.license().is_some(),
                "{}: domain orders are sent with their fields, licence orders are not",
                spec.name
            );
        }
        let paid: Vec<&str> = kinds
            .iter()
            .filter(|k| k.is_paid())
            .map(|k| k.command())
            .collect();
        assert_eq!(
            paid,
            [
                "domain.register",
                "domain.renew",
                "domain.transfer",
                "license.order",
                "license.renew"
            ]
        );
    }
}

/// A partner's webhook endpoints (`webhook.set`), at most [`Webhooks::MAX_ENDPOINTS`],
/// and its `balance.low` threshold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Webhooks {
    pub endpoints: Vec<Endpoint>,
    /// The id the next endpoint gets (ids are never used twice for one partner).
    pub next_id: u64,
    /// `balance.low` is sent when the available balance falls below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_low: Option<Decimal>,
    /// `balance.low` was sent and the balance has not been above the threshold since.
    #[serde(default)]
    pub balance_low_sent: bool,
}

impl Webhooks {
    pub const MAX_ENDPOINTS: usize = 5;
}

/// One URL a partner's events are posted to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub id: u64,
    pub url: String,
    /// The key of the signature (HMAC-SHA256); never shown again.
    pub secret: String,
    /// The event types it takes (`*`: every type).
    pub events: Vec<String>,
    pub created: DateTime<Utc>,
    /// Switched off after failing for too long (set again with `webhook.set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<DateTime<Utc>>,
    /// When its deliveries started failing (none since the last success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
}

impl Endpoint {
    pub fn takes(&self, kind: &str) -> bool {
        self.disabled.is_none() && self.events.iter().any(|e| e == "*" || e == kind)
    }
}

/// Something a partner is told of: written in the same store write as the change that
/// causes it (the outbox), with an id that never changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: u64,
    /// `order.completed`, `domain.expiring`, …
    pub kind: String,
    pub created: DateTime<Utc>,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One event to one endpoint, and every attempt at it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    pub event: u64,
    pub endpoint: u64,
    pub kind: String,
    pub state: DeliveryState,
    pub created: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    pub next_at: DateTime<Utc>,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no answer (refused address, timeout, connection), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ms: u64,
}
