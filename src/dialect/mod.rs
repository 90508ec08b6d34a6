//! Dialects: thin codecs between HTTP and the engine. Each turns a request into one
//! [`crate::engine::Request`] and a [`crate::engine::Reply`] back into bytes. A dialect
//! never touches the store, money or the upstream.

pub mod form;
pub mod mastername;
pub mod namecheap;
pub mod native;
pub mod steps;
pub mod xml;

use bytes::Bytes;

/// An HTTP answer as a dialect builds it.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}
