//! The engine keeps the last decoded copy of a partner's record and uses it while the
//! stored bytes are the same: never stale, whatever changed the record.

use regway::app::open_engine;
use regway::config::Config;
use regway::engine::operator::NewPartner;
use std::sync::Arc;

#[tokio::test]
async fn the_partner_cache_follows_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data: dir.path().to_path_buf(),
        ..Config::default()
    };
    let engine = open_engine(&cfg).unwrap();
    assert!(engine.partner("acme").unwrap().is_none());
    engine
        .add_partner(NewPartner {
            login: "acme".into(),
            password: Some("a-long-password".into()),
            currency: None,
            credit_limit: None,
            allow_ips: vec![],
        })
        .await
        .unwrap();
    let first = engine.partner("acme").unwrap().unwrap();
    assert!(first.balance.is_zero());
    // Unchanged bytes: the same decoded copy.
    assert!(Arc::ptr_eq(
        &first,
        &engine.partner("acme").unwrap().unwrap()
    ));
    engine.topup("acme", "12.50", "test").await.unwrap();
    let after = engine.partner("acme").unwrap().unwrap();
    assert_eq!(after.balance.to_string(), "12.50");
}
