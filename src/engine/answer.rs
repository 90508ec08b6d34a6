//! What the engine says about a request, before the layer above turns it into the
//! answer it stores and shows. The engine writes a request record in the same write as
//! the money and the order, so the record's answer type is a parameter of its writes
//! ([`Answer`]), chosen by the caller; the engine itself only says what became of an
//! order ([`OrderAnswer`]).

use crate::error::{Code, Error};
use crate::store::records::{Domain, License, Order};
use rust_decimal::Decimal;
use serde::{de::DeserializeOwned, Serialize};

/// What became of an order, as far as its request's answer goes.
#[derive(Debug, Clone)]
pub enum OrderAnswer {
    /// Still open (accepted, submitted, or unclear): the order as it stands.
    Open(Order),
    /// A domain order carried out: the domain as it is now, and the partner's balance
    /// right after the order's own charge.
    Domain {
        order: Order,
        domain: Domain,
        balance: Decimal,
    },
    /// A licence order carried out: the licence as it is now, and the balance right
    /// after the order's own charge.
    License {
        order: Order,
        license: License,
        balance: Decimal,
    },
    /// The order failed (and was refunded): why, with the order.
    Failed { error: Error, order: Order },
}

/// The answer a request record stores, replayed as it was for a repeated request-id.
/// The engine builds one from an [`OrderAnswer`], or takes it from the caller's write
/// ([`super::Engine::write_once`]).
pub trait Answer: Serialize + DeserializeOwned + Clone + Send + 'static {
    /// The answer to an order's request.
    fn of_order(a: OrderAnswer) -> Self;
    /// Names the request-id it answers.
    fn answers(&mut self, request_id: &str);
    /// Its result code: 1000 for a completed order, 1001 for one still open, an
    /// error's code for one that failed.
    fn code(&self) -> Code;
}
