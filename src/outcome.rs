//! What a command answers, before any dialect turns it into bytes.
//!
//! Outcomes of mutating commands are stored with their request-id and replayed as they
//! were, so everything here is plain data (serde) and encoding it is deterministic.

use crate::engine::{Answer, OrderAnswer};
use crate::error::{Code, Error, FailKind, Object};
use crate::store::records::{
    Client, CommissionEntry, Domain, DomainState, LedgerEntry, License, Order,
};
use crate::types::money::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub code: Code,
    pub message: String,
    #[serde(default)]
    pub fail: FailKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default)]
    pub data: Data,
    /// Seconds a rate-limited caller should wait (`Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// What an error is about, where its code covers several objects (2303, 2201, 2304).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Object>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(tag = "data", rename_all = "kebab-case")]
pub enum Data {
    #[default]
    None,
    /// An answer the command described itself: the elements of the native `<data>`,
    /// in order. A new command answers this way; the native encoder writes them as
    /// they are, so it needs no code of its own per command.
    Elements {
        elements: Vec<Element>,
    },
    Balance {
        currency: Currency,
        balance: Decimal,
        credit_limit: Decimal,
        available: Decimal,
    },
    Check {
        currency: Currency,
        rows: Vec<CheckRow>,
    },
    /// `domain.register` / `domain.renew`: the domain, the order, the money.
    DomainOrder {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<DomainState>,
        order: Box<Order>,
        currency: Currency,
        charged: Decimal,
        balance: Decimal,
    },
    Domain(Box<Domain>),
    /// `license.order` / `license.renew`: the licence, the order, the money.
    LicenseOrder {
        license: Box<License>,
        order: Box<Order>,
        currency: Currency,
        charged: Decimal,
        balance: Decimal,
    },
    License(Box<License>),
    Licenses {
        rows: Vec<License>,
        next_cursor: Option<String>,
    },
    /// An order that did not complete, or completed without a domain to show.
    Order(Box<Order>),
    Domains {
        rows: Vec<Domain>,
        next_cursor: Option<String>,
        /// How many domains match in all, when the request asked (`total=true`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    Client(Box<Client>),
    /// A domain and the clients that are its contacts, the registrant first (built for
    /// dialects that show contacts; never stored).
    Contacts {
        domain: Box<Domain>,
        clients: Vec<Client>,
    },
    Clients {
        rows: Vec<Client>,
        next_cursor: Option<String>,
    },
    Orders {
        rows: Vec<Order>,
        next_cursor: Option<String>,
    },
    Ledger {
        currency: Currency,
        rows: Vec<LedgerEntry>,
        next_cursor: Option<String>,
    },
    /// `price.list`: the partner's effective prices now.
    PriceList {
        currency: Currency,
        rows: Vec<PriceRow>,
    },
    /// `commission.list`: the commission account, newest entry first.
    Commissions {
        currency: Currency,
        earned: Decimal,
        withdrawable: Decimal,
        rows: Vec<CommissionEntry>,
        next_cursor: Option<String>,
    },
    /// `commission.transfer`: the spending entry (it names the ledger entry it credited),
    /// and both balances after it.
    CommissionTransfer {
        currency: Currency,
        entry: Box<CommissionEntry>,
        balance: Decimal,
        withdrawable: Decimal,
    },
    /// `statement.list` / `statement.info`: postpay statements; `entries` are what one
    /// month's statement is made of (`statement.info` only).
    Statements {
        currency: Currency,
        rows: Vec<crate::engine::statement::Statement>,
        entries: Vec<LedgerEntry>,
    },
    /// `request.status`: what became of an earlier request.
    Request {
        request_id: String,
        command: String,
        /// `pending` while its order is open, `done` once it has a final answer.
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<Box<Outcome>>,
    },
}

/// One element of an answer: its name, attributes in order, and text or children.
/// Values are written as they are here; the encoder escapes them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Element {
    pub name: Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<(Cow<'static, str>, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Element>,
}

impl Element {
    pub fn new(name: &'static str) -> Element {
        Element {
            name: Cow::Borrowed(name),
            ..Element::default()
        }
    }

    pub fn attr(mut self, k: &'static str, v: impl ToString) -> Element {
        self.attrs.push((Cow::Borrowed(k), v.to_string()));
        self
    }

    pub fn attr_opt(self, k: &'static str, v: Option<impl ToString>) -> Element {
        match v {
            Some(v) => self.attr(k, v),
            None => self,
        }
    }

    pub fn text(mut self, t: impl ToString) -> Element {
        self.text = Some(t.to_string());
        self
    }

    pub fn children(mut self, cs: impl IntoIterator<Item = Element>) -> Element {
        self.children.extend(cs);
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckRow {
    pub name: String,
    pub available: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PriceRow {
    /// A domain zone's row, or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// a licence product's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    pub category: String,
    /// `register` or `renew` (zones), `order` or `renew` (licences).
    pub operation: String,
    /// Years (zones), `month` or `year` (licences).
    pub period: String,
    pub list: Decimal,
    pub price: Decimal,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Decimal>,
}

impl Outcome {
    pub fn ok(data: Data) -> Outcome {
        Outcome {
            code: Code::Completed,
            message: Code::Completed.text().to_string(),
            fail: FailKind::Internal,
            request_id: None,
            data,
            retry_after: None,
            object: None,
        }
    }

    pub fn pending(data: Data) -> Outcome {
        Outcome {
            code: Code::Pending,
            message: Code::Pending.text().to_string(),
            ..Outcome::ok(data)
        }
    }

    pub fn error(e: Error) -> Outcome {
        Outcome {
            code: e.code,
            message: e.message,
            fail: e.fail,
            request_id: None,
            data: Data::None,
            retry_after: e.retry_after,
            object: e.object,
        }
    }

    pub fn with_data(mut self, data: Data) -> Outcome {
        self.data = data;
        self
    }

    pub fn http_status(&self) -> u16 {
        Error {
            fail: self.fail,
            ..Error::new(self.code, String::new())
        }
        .http()
    }
}

/// The answers the engine stores in request records are outcomes: an order's answer is
/// built here from what the engine says became of it.
impl Answer for Outcome {
    fn of_order(a: OrderAnswer) -> Outcome {
        match a {
            OrderAnswer::Open(order) => Outcome::pending(Data::Order(Box::new(order))),
            OrderAnswer::Domain {
                order,
                domain,
                balance,
            } => match order.kind.is_paid() {
                true => Outcome::ok(Data::DomainOrder {
                    name: order.domain.clone(),
                    expires: Some(domain.expires),
                    state: Some(domain.state),
                    currency: order.currency,
                    charged: order.amount,
                    order: Box::new(order),
                    balance,
                }),
                false => Outcome::ok(Data::Domain(Box::new(domain))),
            },
            OrderAnswer::License {
                order,
                license,
                balance,
            } => match order.kind.is_paid() {
                false => Outcome::ok(Data::License(Box::new(license))),
                true => Outcome::ok(Data::LicenseOrder {
                    license: Box::new(license),
                    currency: order.currency,
                    charged: order.amount,
                    order: Box::new(order),
                    balance,
                }),
            },
            OrderAnswer::Failed { error, order } => {
                Outcome::error(error).with_data(Data::Order(Box::new(order)))
            }
        }
    }

    fn answers(&mut self, request_id: &str) {
        self.request_id = Some(request_id.to_string());
    }

    fn code(&self) -> Code {
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{OrderKind, OrderState, Transition};

    #[test]
    fn stored_outcomes_read_back() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc();
        let order = Order {
            upstream: None,
            id: 1,
            request_id: "R1".into(),
            domain: "a.ru".into(),
            kind: OrderKind::Renew {
                period: 1,
                expires: t.date_naive(),
            },
            amount: Decimal::new(59000, 2),
            currency: Currency::RUB,
            state: OrderState::Failed,
            created: t,
            updated: t,
            history: vec![Transition {
                state: OrderState::Failed,
                at: t,
            }],
            reason: Some("no".into()),
            commission: None,
            charge: None,
            settled: None,
        };
        for data in [
            Data::Order(Box::new(order.clone())),
            Data::Orders {
                rows: vec![order.clone()],
                next_cursor: Some("1".into()),
            },
            Data::None,
        ] {
            let o = Outcome::ok(data);
            let back: Outcome = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
            assert_eq!(back, o);
        }
    }
}
