//! Request records: what became of each partner's request-id, so a mutating request is
//! executed at most once. The gateway and the engine reach them only through these
//! operations, never through their keys.
//!
//! ```text
//! claim   inside a write: the request-id is free (None) or taken (its record)
//! record  inside the same write: the request-id now belongs to this request
//! replay  outside a write: the record of a request-id, when there is one
//! ```
//!
//! Pruning reads [`super::Scan::request_heads`] and removes with
//! [`super::Write::remove_request`].

use super::records::{Order, RequestRecord};
use super::{RequestWrites, Requests, Store, Tx};
use crate::error::Result;
use serde::{de::DeserializeOwned, Serialize};

/// The record of `login`'s `request_id`, read from the committed store (the fast path
/// of a retry, and `request.status`). A write decides with [`claim`] instead.
pub fn replay<O: DeserializeOwned>(
    store: &Store,
    login: &str,
    request_id: &str,
) -> Result<Option<RequestRecord<O>>> {
    store.request(login, request_id)
}

/// The order a request record names (a request whose order is still open has no
/// outcome yet; its answer is the order as it stands).
pub fn order_of<O>(store: &Store, login: &str, rec: &RequestRecord<O>) -> Result<Option<Order>> {
    match rec.order {
        Some(id) => store.order(login, id),
        None => Ok(None),
    }
}

/// Inside a write: `None` when `login`'s `request_id` is still free, else its record.
pub fn claim<O: DeserializeOwned>(
    tx: &Tx<'_>,
    login: &str,
    request_id: &str,
) -> Result<Option<RequestRecord<O>>> {
    tx.request(login, request_id)
}

/// Inside a write: whether `login`'s `request_id` has a record (not decoded).
pub fn taken(tx: &Tx<'_>, login: &str, request_id: &str) -> Result<bool> {
    Ok(tx.request_bytes(login, request_id)?.is_some())
}

/// Inside a write: stores `rec` as the record of `login`'s request-id `rec.request_id`,
/// replacing the one there (an open order's record gets its outcome this way).
pub fn record<O: Serialize>(tx: &mut Tx<'_>, login: &str, rec: &RequestRecord<O>) -> Result<()> {
    tx.put_request(login, rec)
}
