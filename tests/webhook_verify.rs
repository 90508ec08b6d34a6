//! The signature checks of README.md, "Notifications", in Python and PHP, run as
//! written on a real delivery from the gateway: the delivery verifies, a tampered body
//! and a wrong secret do not.

mod common;
mod receiver;
mod support;

use receiver::{Receiver, Reply};
use std::process::Command;
use support::*;

const SECRET: &str = "whsec-7f3a9c2e51d04b8a";

/// The code block of `lang` in README's "Notifications".
fn readme_block(lang: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("\n## Notifications\n")
        .expect("README has Notifications");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let open = format!("```{lang}\n");
    let i = section
        .find(&open)
        .unwrap_or_else(|| panic!("no {lang} block"))
        + open.len();
    section[i..i + section[i..].find("```").unwrap()].to_string()
}

/// Runs `program` with `args`; its standard output, or `None` when it is not installed.
fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn the_readme_examples_verify_a_real_delivery() {
    let rx = Receiver::start("127.0.0.1:0", Reply::Status(200))
        .await
        .unwrap();
    let s = common::start_with(|c| {
        c.sandbox.clock = None;
        c.webhooks.http_hosts = vec!["127.0.0.1".into()];
        c.webhooks.allow_addresses = vec!["127.0.0.1".into()];
        c.webhooks.poll_ms = 20;
    })
    .await;
    let a = s
        .form(&format!(
            "command=webhook.set&request-id=W1&url={}&secret={SECRET}&events=*",
            enc(&rx.url("/h"))
        ))
        .await;
    expect(a, 1000);
    expect(
        s.form("command=webhook.test&request-id=T1&endpoint=1")
            .await,
        1000,
    );
    let got = rx.wait_for(1, 10).await.remove(0);
    let header = got.header("x-regway-signature").unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let tampered = dir.path().join("tampered");
    std::fs::write(&body, &got.body).unwrap();
    let mut t = got.body.clone();
    t.extend_from_slice(b" ");
    std::fs::write(&tampered, &t).unwrap();
    let (body, tampered) = (body.display().to_string(), tampered.display().to_string());

    let py = dir.path().join("verify.py");
    std::fs::write(
        &py,
        format!(
            "{}\nimport sys\nsecret, header = sys.argv[1], sys.argv[2]\n\
             for path, key in ((sys.argv[3], secret), (sys.argv[4], secret), (sys.argv[3], 'another-secret-123')):\n\
             \x20   print(verify(key, header, open(path, 'rb').read()))\n",
            readme_block("python")
        ),
    )
    .unwrap();
    let php = dir.path().join("verify.php");
    std::fs::write(
        &php,
        format!(
            "{}\n[$_, $secret, $header, $body, $tampered] = $argv;\n\
             foreach ([[$body, $secret], [$tampered, $secret], [$body, 'another-secret-123']] as [$path, $key]) {{\n\
             \x20   echo regway_verify($key, $header, file_get_contents($path)) ? \"True\\n\" : \"False\\n\";\n}}\n",
            readme_block("php")
        ),
    )
    .unwrap();
    let args = |script: &std::path::Path| {
        vec![
            script.display().to_string(),
            SECRET.to_string(),
            header.clone(),
            body.clone(),
            tampered.clone(),
        ]
    };
    for (program, script) in [("python3", &py), ("php", &php)] {
        let a = args(script);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        match run(program, &a) {
            Some(out) => assert_eq!(out, "True\nFalse\nFalse\n", "{program}"),
            None => common::cannot_run(
                "the_readme_examples_verify_a_real_delivery",
                &format!("{program} is not installed"),
            ),
        }
    }
}
