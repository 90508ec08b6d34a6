//! Every command of the native protocol over HTTP: its answer when it succeeds and its
//! main refusals, with what each does (or does not do) to money and state. One module
//! per command family.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod balance;
mod clients;
mod domains;
mod orders;
mod transport;

use common::TestServer;

async fn demo_with_client() -> (TestServer, String) {
    let s = common::start().await;
    let c = s.client("C-1").await;
    assert_eq!(c, "1000/RW-P");
    (s, c)
}
