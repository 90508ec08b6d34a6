//! `balance.get`, and authentication on the way to it.

use super::common;
use super::common::{LOGIN, PASSWORD};
use super::support::*;

#[tokio::test]
async fn balance_get_and_authentication() {
    let s = common::start().await;
    bounded(30, async {
        let a = expect_http(s.form("command=balance.get").await, 1000);
        assert_eq!(text(&a.body, "balance").unwrap(), "10000.00");
        assert_eq!(elem(&a.body, "balance").get("currency"), "RUB");
        assert_eq!(text(&a.body, "credit-limit").unwrap(), "0.00");
        assert_eq!(text(&a.body, "available").unwrap(), "10000.00");
        assert!(!a.replayed);

        // The same through login/password fields instead of HTTP Basic.
        let fields = s
            .raw(
                s.client
                    .post(&s.url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("command=balance.get&login=demo&password=demo-password"),
            )
            .await;
        assert_eq!(fields.body, a.body);

        expect_http(
            s.form_as(LOGIN, "wrong-password", "command=balance.get")
                .await,
            2200,
        );
        expect_http(
            s.form_as("nobody", PASSWORD, "command=balance.get").await,
            2200,
        );
        let anonymous = s
            .raw(
                s.client
                    .post(&s.url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("command=balance.get"),
            )
            .await;
        expect_http(anonymous, 2200);
        // Credentials twice (Basic and fields) are refused, not guessed at.
        expect_http(
            s.form("command=balance.get&login=demo&password=demo-password")
                .await,
            2001,
        );
        expect_http(s.form("command=balance.get&extra=1").await, 2001);
        expect_http(s.form("command=balance.fetch").await, 2000);
        expect_http(s.form("request-id=R1").await, 2003);
    })
    .await;
    s.stop().await;
}
