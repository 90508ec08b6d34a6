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
pub mod domain_transfer;
pub mod domain_update;
pub mod ledger;
pub mod license;
pub mod order;
pub mod params;
pub mod programme;
pub mod request;
pub mod statement;
pub mod user;
pub mod webhook;

use crate::engine::{Ctx, Fresh};
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::types::request_id::RequestId;
use params::Params;
use serde::Serialize;

/// The one list of commands. Each line registers one: its variant and type, the
/// name it is sent and fingerprinted under, and its kind, which says how it is parsed
/// and applied and whether it changes state:
///
/// - `read`: `parse(p)`, `apply(ctx) -> Result<Outcome>`; read-only.
/// - `read_async`: the same, `apply` awaited.
/// - `lookup`: read-only, `parse(p, request_id)`: it takes the request-id as its target.
/// - `write`: `parse(p)`, `async apply(ctx) -> Result<Fresh<Outcome>>`; mutating (needs a
///   request-id, executed at most once per request-id).
/// - `composite` (built only): a `write` that tells a repeat of its request-id from a
///   reuse itself (it places a native command under its own fingerprint).
///
/// `built` commands come from a compatible dialect, never from a name (`compat`); each
/// says the native name it is counted and logged under.
macro_rules! commands {
    (@parse read, $t:ty, $p:ident, $rid:ident) => { <$t>::parse($p) };
    (@parse read_async, $t:ty, $p:ident, $rid:ident) => { <$t>::parse($p) };
    (@parse write, $t:ty, $p:ident, $rid:ident) => { <$t>::parse($p) };
    (@parse lookup, $t:ty, $p:ident, $rid:ident) => { <$t>::parse($p, $rid()) };
    (@apply read, $c:ident, $ctx:ident) => { $c.apply($ctx).map(Fresh::Done) };
    (@apply lookup, $c:ident, $ctx:ident) => { $c.apply($ctx).map(Fresh::Done) };
    (@apply read_async, $c:ident, $ctx:ident) => { $c.apply($ctx).await.map(Fresh::Done) };
    (@apply write, $c:ident, $ctx:ident) => { $c.apply($ctx).await };
    (@apply composite, $c:ident, $ctx:ident) => { $c.apply($ctx).await };
    (@mutating write) => { true };
    (@mutating composite) => { true };
    (@mutating $k:ident) => { false };
    (@replays composite) => { true };
    (@replays $k:ident) => { false };
    (
        named { $( $nv:ident($nt:ty) = $nn:literal: $nk:ident; )* }
        built { $( $bv:ident($bt:ty) = $bn:literal as |$bc:pat_param| $bshown:expr; $bk:ident; )* }
    ) => {
        #[derive(Debug, Clone, Serialize)]
        #[serde(tag = "command")]
        pub enum Command {
            $( #[serde(rename = $nn)] $nv($nt), )*
            $( #[serde(rename = $bn)] $bv($bt), )*
        }

        /// Every command name, for documentation and tests.
        pub const NAMES: [&str; [$($nn),*].len()] = [$($nn),*];

        impl Command {
            /// `request_id` is the request's own for mutating commands (the gateway
            /// refuses a malformed one after the command's parameters); read-only
            /// commands that look a request up (`lookup`) take it as their target.
            pub fn parse(
                name: &str,
                p: &mut Params,
                request_id: Option<&Result<RequestId>>,
            ) -> Result<Command> {
                let rid = || request_id.cloned();
                Ok(match name {
                    $( $nn => Command::$nv(commands!(@parse $nk, $nt, p, rid)?), )*
                    "" => return Err(Error::missing("command")),
                    other => return Err(Error::unknown_command(other)),
                })
            }

            /// Whether the command sent under `name` changes state (`None`: no such
            /// command).
            pub fn name_is_mutating(name: &str) -> Option<bool> {
                match name {
                    $( $nn => Some(commands!(@mutating $nk)), )*
                    _ => None,
                }
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $( Command::$nv(_) => $nn, )*
                    $( Command::$bv($bc) => $bshown, )*
                }
            }

            /// Mutating commands need a request-id and are executed at most once per
            /// request-id.
            pub fn is_mutating(&self) -> bool {
                match self {
                    $( Command::$nv(_) => commands!(@mutating $nk), )*
                    $( Command::$bv(_) => commands!(@mutating $bk), )*
                }
            }

            /// A command that tells a repeat of its request-id from a reuse itself (it
            /// places a native command under its own fingerprint): the gateway neither
            /// answers it from the record beforehand nor compares the record with its
            /// fingerprint.
            pub fn replays_itself(&self) -> bool {
                match self {
                    $( Command::$nv(_) => commands!(@replays $nk), )*
                    $( Command::$bv(_) => commands!(@replays $bk), )*
                }
            }

            pub async fn apply(&self, ctx: &Ctx<'_>) -> Result<Fresh<Outcome>> {
                match self {
                    $( Command::$nv(c) => commands!(@apply $nk, c, ctx), )*
                    $( Command::$bv(c) => commands!(@apply $bk, c, ctx), )*
                }
            }
        }
    };
}

commands! {
    named {
        BalanceGet(balance::BalanceGet) = "balance.get": read;
        DomainCheck(domain_check::DomainCheck) = "domain.check": read_async;
        DomainRegister(domain_register::DomainRegister) = "domain.register": write;
        DomainRenew(domain_renew::DomainRenew) = "domain.renew": write;
        DomainTransfer(domain_transfer::DomainTransfer) = "domain.transfer": write;
        DomainSetNs(domain_update::SetNs) = "domain.set-ns": write;
        DomainSetAutorenew(domain_update::SetAutorenew) = "domain.set-autorenew": write;
        DomainInfo(domain_read::DomainInfo) = "domain.info": read;
        DomainList(domain_read::DomainList) = "domain.list": read;
        ClientCreate(client::ClientCreate) = "client.create": write;
        ClientDelete(client::ClientDelete) = "client.delete": write;
        ClientUpdate(client::ClientUpdate) = "client.update": write;
        ClientInfo(client::ClientInfo) = "client.info": read;
        ClientList(client::ClientList) = "client.list": read;
        OrderInfo(order::OrderInfo) = "order.info": lookup;
        OrderList(order::OrderList) = "order.list": read;
        LedgerList(ledger::LedgerList) = "ledger.list": read;
        RequestStatus(request::RequestStatus) = "request.status": lookup;
        PriceList(programme::PriceList) = "price.list": read;
        ProgrammeStatus(programme::ProgrammeStatus) = "programme.status": read;
        StatementList(statement::StatementList) = "statement.list": read;
        StatementInfo(statement::StatementInfo) = "statement.info": read;
        LicenseOrder(license::LicenseOrder) = "license.order": write;
        LicenseRenew(license::LicenseRenew) = "license.renew": write;
        LicenseSetIp(license::LicenseSetIp) = "license.set-ip": write;
        LicenseInfo(license::LicenseInfo) = "license.info": read;
        LicenseList(license::LicenseList) = "license.list": read;
        CommissionList(commission::CommissionList) = "commission.list": read;
        CommissionTransfer(commission::CommissionTransfer) = "commission.transfer": write;
        UserCreate(user::UserCreate) = "user.create": write;
        UserList(user::UserList) = "user.list": read;
        UserSetRights(user::UserSetRights) = "user.set-rights": write;
        UserSetPassword(user::UserSetPassword) = "user.set-password": write;
        UserDelete(user::UserDelete) = "user.delete": write;
        PartnerSetPassword(user::PartnerSetPassword) = "partner.set-password": write;
        WebhookSet(webhook::WebhookSet) = "webhook.set": write;
        WebhookList(webhook::WebhookList) = "webhook.list": read;
        WebhookDelete(webhook::WebhookDelete) = "webhook.delete": write;
        WebhookTest(webhook::WebhookTest) = "webhook.test": write;
        WebhookDeliveries(webhook::WebhookDeliveries) = "webhook.deliveries": read;
    }
    built {
        Checked(compat::Checked) = "compat.checked" as |c| c.name; composite;
        RenewCurrent(compat::RenewCurrent) = "compat.renew-current" as |_| "domain.renew"; composite;
        RegisterWithContacts(compat::RegisterWithContacts) = "compat.register-with-contacts"
            as |_| "domain.register"; composite;
        Contacts(compat::Contacts) = "compat.contacts" as |_| "domain.info"; read;
    }
}

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
    /// The canonical form of the command and its normalised parameters: two requests
    /// are "the same" when their fingerprints are equal, whatever dialect or encoding
    /// (form, XML, Unicode or punycode names) carried them.
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).expect("commands serialise")
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
