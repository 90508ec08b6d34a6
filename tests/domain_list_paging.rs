//! `domain.list` with `offset` and `total`: numbered pages for clients that page by
//! number, and the count of all matching domains.

mod common;

#[tokio::test]
async fn offset_skips_and_total_counts() {
    let s = common::start().await;
    let client = s.client("C1").await;
    for n in 1..=5 {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R{n}&domain=page{n}.ru&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    let names = |body: &str| -> Vec<String> {
        body.match_indices("<domain name=\"")
            .map(|(i, _)| {
                let rest = &body[i + 14..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect()
    };
    let a = s
        .form("command=domain.list&limit=2&offset=2&total=true")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert_eq!(names(&a.body), ["page3.ru", "page4.ru"]);
    assert!(a.body.contains("<next-cursor>page4.ru</next-cursor>"));
    assert!(a.body.contains("<total>5</total>"), "{}", a.body);

    let a = s
        .form("command=domain.list&limit=2&offset=4&total=true")
        .await;
    assert_eq!(names(&a.body), ["page5.ru"]);
    assert!(!a.body.contains("<next-cursor>"));
    assert!(a.body.contains("<total>5</total>"));

    // Past the end: an empty page, not an error.
    let a = s.form("command=domain.list&offset=10&total=true").await;
    assert_eq!(a.code(), 1000);
    assert!(names(&a.body).is_empty());
    assert!(a.body.contains("<total>5</total>"));

    // Filters apply before the offset; no total unless asked.
    let a = s
        .form("command=domain.list&match=page&offset=1&limit=1")
        .await;
    assert_eq!(names(&a.body), ["page2.ru"]);
    assert!(!a.body.contains("<total>"));

    let a = s.form("command=domain.list&offset=-1").await;
    assert_eq!(a.code(), 2005);
    let a = s.form("command=domain.list&total=yes").await;
    assert_eq!(a.code(), 2005);
    s.stop().await;
}
