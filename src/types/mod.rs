//! Leaf types every layer may use: they know nothing of the store, the engine or HTTP.

pub mod client;
pub mod date;
pub mod request_id;
