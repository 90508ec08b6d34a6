//! The commands of the native protocol v1. This is the only place that lists command
//! names; each family lives in its own file with the same shape: the struct, `parse`
//! (typed fields from [`Params`]) and `apply` (the rules, through the engine).

pub mod balance;
pub mod client;
pub mod commission;
pub mod compat;
pub mod domain_check;
pub mod domain_read;
pub mod domain_register;
pub mod domain_renew;
pub mod domain_update;
pub mod ledger;
pub mod license;
pub mod order;
pub mod params;
pub mod programme;
pub mod request;
pub mod statement;

use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::types::request_id::RequestId;
use params::Params;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "command")]
pub enum Command {
    #[serde(rename = "balance.get")]
    BalanceGet(balance::BalanceGet),
    #[serde(rename = "domain.check")]
    DomainCheck(domain_check::DomainCheck),
    #[serde(rename = "domain.register")]
    DomainRegister(domain_register::DomainRegister),
    #[serde(rename = "domain.renew")]
    DomainRenew(domain_renew::DomainRenew),
    #[serde(rename = "domain.set-ns")]
    DomainSetNs(domain_update::SetNs),
    #[serde(rename = "domain.set-autorenew")]
    DomainSetAutorenew(domain_update::SetAutorenew),
    #[serde(rename = "domain.info")]
    DomainInfo(domain_read::DomainInfo),
    #[serde(rename = "domain.list")]
    DomainList(domain_read::DomainList),
    #[serde(rename = "client.create")]
    ClientCreate(client::ClientCreate),
    #[serde(rename = "client.delete")]
    ClientDelete(client::ClientDelete),
    #[serde(rename = "client.info")]
    ClientInfo(client::ClientInfo),
    #[serde(rename = "client.list")]
    ClientList(client::ClientList),
    #[serde(rename = "order.info")]
    OrderInfo(order::OrderInfo),
    #[serde(rename = "order.list")]
    OrderList(order::OrderList),
    #[serde(rename = "ledger.list")]
    LedgerList(ledger::LedgerList),
    #[serde(rename = "request.status")]
    RequestStatus(request::RequestStatus),
    #[serde(rename = "price.list")]
    PriceList(programme::PriceList),
    #[serde(rename = "programme.status")]
    ProgrammeStatus(programme::ProgrammeStatus),
    #[serde(rename = "statement.list")]
    StatementList(statement::StatementList),
    #[serde(rename = "statement.info")]
    StatementInfo(statement::StatementInfo),
    #[serde(rename = "license.order")]
    LicenseOrder(license::LicenseOrder),
    #[serde(rename = "license.renew")]
    LicenseRenew(license::LicenseRenew),
    #[serde(rename = "license.set-ip")]
    LicenseSetIp(license::LicenseSetIp),
    #[serde(rename = "license.info")]
    LicenseInfo(license::LicenseInfo),
    #[serde(rename = "license.list")]
    LicenseList(license::LicenseList),
    #[serde(rename = "commission.list")]
    CommissionList(commission::CommissionList),
    #[serde(rename = "commission.transfer")]
    CommissionTransfer(commission::CommissionTransfer),
    /// Built by a compatible dialect, never parsed from a name (`compat`).
    #[serde(rename = "compat.checked")]
    Checked(compat::Checked),
    #[serde(rename = "compat.renew-current")]
    RenewCurrent(compat::RenewCurrent),
    #[serde(rename = "compat.register-with-contacts")]
    RegisterWithContacts(compat::RegisterWithContacts),
    #[serde(rename = "compat.contacts")]
    Contacts(compat::Contacts),
}

/// Every command name, for documentation and tests.
pub const NAMES: [&str; 27] = [
    "balance.get",
    "domain.check",
    "domain.register",
    "domain.renew",
    "domain.set-ns",
    "domain.set-autorenew",
    "domain.info",
    "domain.list",
    "client.create",
    "client.delete",
    "client.info",
    "client.list",
    "order.info",
    "order.list",
    "ledger.list",
    "request.status",
    "price.list",
    "programme.status",
    "statement.list",
    "statement.info",
    "license.order",
    "license.renew",
    "license.set-ip",
    "license.info",
    "license.list",
    "commission.list",
    "commission.transfer",
];

/// A command name safe to use as a metric label: a known one, or `other` (never what a
/// caller sent).
pub fn label(name: &str) -> &'static str {
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("other")
}

impl Command {
    /// `request_id` is the request's own for mutating commands (the gateway refuses a
    /// malformed one after the command's parameters); read-only commands that look a
    /// request up (`order.info`, `request.status`) take it as their target.
    pub fn parse(
        name: &str,
        p: &mut Params,
        request_id: Option<&Result<RequestId>>,
    ) -> Result<Command> {
        let rid = || request_id.cloned();
        Ok(match name {
            "balance.get" => Command::BalanceGet(balance::BalanceGet::parse(p)?),
            "domain.check" => Command::DomainCheck(domain_check::DomainCheck::parse(p)?),
            "domain.register" => {
                Command::DomainRegister(domain_register::DomainRegister::parse(p)?)
            }
            "domain.renew" => Command::DomainRenew(domain_renew::DomainRenew::parse(p)?),
            "domain.set-ns" => Command::DomainSetNs(domain_update::SetNs::parse(p)?),
            "domain.set-autorenew" => {
                Command::DomainSetAutorenew(domain_update::SetAutorenew::parse(p)?)
            }
            "domain.info" => Command::DomainInfo(domain_read::DomainInfo::parse(p)?),
            "domain.list" => Command::DomainList(domain_read::DomainList::parse(p)?),
            "client.create" => Command::ClientCreate(client::ClientCreate::parse(p)?),
            "client.delete" => Command::ClientDelete(client::ClientDelete::parse(p)?),
            "client.info" => Command::ClientInfo(client::ClientInfo::parse(p)?),
            "client.list" => Command::ClientList(client::ClientList::parse(p)?),
            "order.info" => Command::OrderInfo(order::OrderInfo::parse(p, rid())?),
            "order.list" => Command::OrderList(order::OrderList::parse(p)?),
            "ledger.list" => Command::LedgerList(ledger::LedgerList::parse(p)?),
            "request.status" => Command::RequestStatus(request::RequestStatus::parse(p, rid())?),
            "price.list" => Command::PriceList(programme::PriceList::parse(p)?),
            "programme.status" => Command::ProgrammeStatus(programme::ProgrammeStatus::parse(p)?),
            "statement.list" => Command::StatementList(statement::StatementList::parse(p)?),
            "statement.info" => Command::StatementInfo(statement::StatementInfo::parse(p)?),
            "license.order" => Command::LicenseOrder(license::LicenseOrder::parse(p)?),
            "license.renew" => Command::LicenseRenew(license::LicenseRenew::parse(p)?),
            "license.set-ip" => Command::LicenseSetIp(license::LicenseSetIp::parse(p)?),
            "license.info" => Command::LicenseInfo(license::LicenseInfo::parse(p)?),
            "license.list" => Command::LicenseList(license::LicenseList::parse(p)?),
            "commission.list" => Command::CommissionList(commission::CommissionList::parse(p)?),
            "commission.transfer" => {
                Command::CommissionTransfer(commission::CommissionTransfer::parse(p)?)
            }
            "" => return Err(Error::missing("command")),
            other => return Err(Error::unknown_command(other)),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::BalanceGet(_) => "balance.get",
            Command::DomainCheck(_) => "domain.check",
            Command::DomainRegister(_) => "domain.register",
            Command::DomainRenew(_) => "domain.renew",
            Command::DomainSetNs(_) => "domain.set-ns",
            Command::DomainSetAutorenew(_) => "domain.set-autorenew",
            Command::DomainInfo(_) => "domain.info",
            Command::DomainList(_) => "domain.list",
            Command::ClientCreate(_) => "client.create",
            Command::ClientDelete(_) => "client.delete",
            Command::ClientInfo(_) => "client.info",
            Command::ClientList(_) => "client.list",
            Command::OrderInfo(_) => "order.info",
            Command::OrderList(_) => "order.list",
            Command::LedgerList(_) => "ledger.list",
            Command::RequestStatus(_) => "request.status",
            Command::PriceList(_) => "price.list",
            Command::ProgrammeStatus(_) => "programme.status",
            Command::StatementList(_) => "statement.list",
            Command::StatementInfo(_) => "statement.info",
            Command::LicenseOrder(_) => "license.order",
            Command::LicenseRenew(_) => "license.renew",
            Command::LicenseSetIp(_) => "license.set-ip",
            Command::LicenseInfo(_) => "license.info",
            Command::LicenseList(_) => "license.list",
            Command::CommissionList(_) => "commission.list",
            Command::CommissionTransfer(_) => "commission.transfer",
            Command::Checked(c) => c.name,
            Command::RenewCurrent(_) => "domain.renew",
            Command::RegisterWithContacts(_) => "domain.register",
            Command::Contacts(_) => "domain.info",
        }
    }

    /// Mutating commands need a request-id and are executed at most once per request-id.
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Command::DomainRegister(_)
                | Command::DomainRenew(_)
                | Command::DomainSetNs(_)
                | Command::DomainSetAutorenew(_)
                | Command::ClientCreate(_)
                | Command::ClientDelete(_)
                | Command::CommissionTransfer(_)
                | Command::LicenseOrder(_)
                | Command::LicenseRenew(_)
                | Command::LicenseSetIp(_)
                | Command::Checked(_)
                | Command::RenewCurrent(_)
                | Command::RegisterWithContacts(_)
        )
    }

    /// A command that tells a repeat of its request-id from a reuse itself (it places
    /// a native command under its own fingerprint): the gateway neither answers it from
    /// the record beforehand nor compares the record with its fingerprint.
    pub fn replays_itself(&self) -> bool {
        matches!(
            self,
            Command::Checked(_) | Command::RenewCurrent(_) | Command::RegisterWithContacts(_)
        )
    }

    /// The canonical form of the command and its normalised parameters: two requests
    /// are "the same" when their fingerprints are equal, whatever dialect or encoding
    /// (form, XML, Unicode or punycode names) carried them.
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).expect("commands serialise")
    }

    pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
        let done = |o: Result<Outcome>| o.map(Fresh::Done);
        match self {
            Command::BalanceGet(c) => done(c.apply(ctx)),
            Command::DomainCheck(c) => done(c.apply(ctx).await),
            Command::DomainRegister(c) => c.apply(ctx).await,
            Command::DomainRenew(c) => c.apply(ctx).await,
            Command::DomainSetNs(c) => c.apply(ctx).await,
            Command::DomainSetAutorenew(c) => c.apply(ctx).await,
            Command::DomainInfo(c) => done(c.apply(ctx)),
            Command::DomainList(c) => done(c.apply(ctx)),
            Command::ClientCreate(c) => c.apply(ctx).await,
            Command::ClientDelete(c) => c.apply(ctx).await,
            Command::ClientInfo(c) => done(c.apply(ctx)),
            Command::ClientList(c) => done(c.apply(ctx)),
            Command::OrderInfo(c) => done(c.apply(ctx)),
            Command::OrderList(c) => done(c.apply(ctx)),
            Command::LedgerList(c) => done(c.apply(ctx)),
            Command::RequestStatus(c) => done(c.apply(ctx)),
            Command::PriceList(c) => done(c.apply(ctx)),
            Command::ProgrammeStatus(c) => done(c.apply(ctx)),
            Command::StatementList(c) => done(c.apply(ctx)),
            Command::StatementInfo(c) => done(c.apply(ctx)),
            Command::LicenseOrder(c) => c.apply(ctx).await,
            Command::LicenseRenew(c) => c.apply(ctx).await,
            Command::LicenseSetIp(c) => c.apply(ctx).await,
            Command::LicenseInfo(c) => done(c.apply(ctx)),
            Command::LicenseList(c) => done(c.apply(ctx)),
            Command::CommissionList(c) => done(c.apply(ctx)),
            Command::CommissionTransfer(c) => c.apply(ctx).await,
            Command::Checked(c) => c.apply(ctx).await,
            Command::RenewCurrent(c) => c.apply(ctx).await,
            Command::RegisterWithContacts(c) => c.apply(ctx).await,
            Command::Contacts(c) => done(c.apply(ctx)),
        }
    }
}

/// A page of rows and the cursor of the next page, from a scan that may yield more.
pub fn page<T, I>(
    rows: I,
    limit: usize,
    cursor_of: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>)>
where
    I: Iterator<Item = Result<T>>,
{
    let mut out = Vec::with_capacity(limit.min(128));
    for r in rows {
        let r = r?;
        if out.len() == limit {
            let last = out.last().map(&cursor_of);
            return Ok((out, last));
        }
        out.push(r);
    }
    Ok((out, None))
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn metric_labels_are_known_names_or_other() {
        assert_eq!(label("balance.get"), "balance.get");
        assert_eq!(label("<script>"), "other");
        assert_eq!(label(""), "other");
        assert!(NAMES.iter().all(|n| label(n) == *n));
    }
}
