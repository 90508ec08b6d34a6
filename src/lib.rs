//! regway: the HTTP gateway a domain registrar or licence vendor runs for its partners.
//!
//! ```text
//! partner panel ─HTTP─▶ server ─▶ dialect ─▶ Command ─▶ engine ─▶ store (sled)
//!                              ◀─ dialect ◀─ Outcome ◀─┘    └─▶ upstream backend
//! ```

pub mod admin;
pub mod app;
pub mod bench;
pub mod command;
pub mod config;
pub mod control;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod gateway;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod server;
pub mod store;
pub mod types;
pub mod upstream;
