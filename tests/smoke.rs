//! The first call a partner makes, end to end.

mod common;

#[tokio::test]
async fn demo_partner_reads_its_balance() {
    let s = common::start().await;
    let a = s.form("command=balance.get").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/xml; charset=utf-8");
    assert_eq!(
        a.body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <result code=\"1000\">Command completed successfully</result>\n  <data>\n    <balance currency=\"RUB\">10000.00</balance>\n    <credit-limit currency=\"RUB\">0.00</credit-limit>\n    <available currency=\"RUB\">10000.00</available>\n  </data>\n</response>\n"
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
