//! The quick start of `protocol/README.md`, run as written. Its curl examples are run by
//! `tests/readme_examples.rs`; here its Python and PHP programs run against real
//! gateways (the documented address replaced by the test server's), and print what
//! their comments say: each `print(…)` / `echo …` line ends with a comment holding the
//! line it prints. Each program runs twice (the second run replays, charges nothing),
//! behind a proxy that loses the registration's first two answers (the client retries
//! with the same request-id), and against a registry that answers every order later
//! (the program waits for the 1001 to settle). Needs `python3` and `php`.

mod common;
mod external;
mod support;

use common::TestServer;
use external::{root, LossyProxy};
use std::process::Command;
use support::*;

const DOCUMENTED_URL: &str = "http://127.0.0.1:8080/api";

/// The `quick start` section of protocol/README.md.
fn quick_start() -> String {
    let text = std::fs::read_to_string(root().join("protocol/README.md")).unwrap();
    let start = text
        .find("\n## Quick start\n")
        .expect("protocol/README.md has a Quick start section");
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The one fenced block of `lang` in the quick start.
fn block(lang: &str) -> String {
    let qs = quick_start();
    let open = format!("```{lang}\n");
    assert_eq!(
        qs.matches(&open).count(),
        1,
        "the quick start has one {lang} program"
    );
    let start = qs.find(&open).unwrap() + open.len();
    let end = start + qs[start..].find("```").unwrap();
    qs[start..end].to_string()
}

/// What the program prints, as its comments say: the comment of every printing line.
fn expected(program: &str, print: &str, comment: &str) -> String {
    let mut out = String::new();
    for line in program.lines() {
        if !line.trim_start().starts_with(print) {
            continue;
        }
        let said = line
            .rsplit_once(comment)
            .unwrap_or_else(|| panic!("a printing line without its output: {line}"))
            .1
            .trim();
        out.push_str(said);
        out.push('\n');
    }
    out
}

struct Lang {
    name: &'static str,
    program: String,
    print: &'static str,
    comment: &'static str,
}

impl Lang {
    fn python() -> Lang {
        Lang {
            name: "python3",
            program: block("python"),
            print: "print(",
            comment: "# ",
        }
    }

    fn php() -> Lang {
        Lang {
            name: "php",
            program: block("php"),
            print: "echo ",
            comment: "// ",
        }
    }

    /// Runs the program against `url`; its standard output.
    async fn run(&self, url: &str) -> String {
        assert!(self.program.contains(DOCUMENTED_URL), "{}", self.program);
        let program = self.program.replace(DOCUMENTED_URL, url);
        let mut cmd = Command::new(self.name);
        cmd.current_dir(root());
        if self.name == "python3" {
            cmd.arg("-")
                .env("PYTHONPATH", root().join("clients/python"))
                .env("PYTHONDONTWRITEBYTECODE", "1");
        }
        let out = external::run(cmd, &program).await;
        assert!(
            out.status.success() && external::stderr(&out).is_empty(),
            "{} quick start failed:\n{}{}",
            self.name,
            external::stdout(&out),
            external::stderr(&out)
        );
        external::stdout(&out)
    }

    async fn check(&self) {
        let want = expected(&self.program, self.print, self.comment);
        assert!(want.lines().count() >= 5, "{want}");
        assert!(want.contains(" active "), "{want}");

        // Twice against one gateway: the second run starts with the balance after the
        // first, finds the name taken, and otherwise prints the same lines (the stored
        // answers); one order, one charge.
        let s = common::start().await;
        assert_eq!(self.run(&s.url).await, want, "{}: first run", self.name);
        let again = self.run(&s.url).await;
        let (w, a): (Vec<&str>, Vec<&str>) = (want.lines().collect(), again.lines().collect());
        assert_eq!(a.len(), w.len(), "{}: second run\n{again}", self.name);
        assert_eq!(
            a[0],
            *w.last().unwrap(),
            "{}: second run\n{again}",
            self.name
        );
        assert!(
            a[1].contains("False") || a[1].contains("taken"),
            "{}: second run\n{again}",
            self.name
        );
        assert_eq!(a[2..], w[2..], "{}: second run", self.name);
        one_order(&s, "completed").await;
        finish(s).await;

        // Behind a proxy that loses the registration's first two answers.
        let s = common::start().await;
        let proxy = LossyProxy::start(
            s.running.as_ref().unwrap().addr,
            "request-id=shop-invoice-117",
            2,
        )
        .await;
        assert_eq!(
            self.run(&proxy.url()).await,
            want,
            "{}: lost answers",
            self.name
        );
        assert_eq!(proxy.lost(), 2, "{}: the proxy lost two answers", self.name);
        one_order(&s, "completed").await;
        finish(s).await;

        // A registry that carries out every order a second later: 1001, then waited for.
        let s = common::start_with(|c| {
            c.sandbox.faults.pending_percent = 100;
            c.sandbox.faults.pending_ms = 1000;
            c.reconcile_interval_ms = 200;
        })
        .await;
        assert_eq!(self.run(&s.url).await, want, "{}: pending", self.name);
        one_order(&s, "completed").await;
        let first = orders(&s).await;
        assert!(
            first[0].opt("request-id") == Some("shop-invoice-117"),
            "{first:?}"
        );
        finish(s).await;
    }
}

async fn one_order(s: &TestServer, state: &str) {
    let all = orders(s).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].get("state"), state);
    assert_eq!(all[0].get("request-id"), "shop-invoice-117");
    let charges = ledger(s)
        .await
        .iter()
        .filter(|e| e.get("kind") == "charge")
        .count();
    assert_eq!(charges, 1, "charged once");
    assert_eq!(balance(s).await, "9410.00");
}

async fn finish(s: TestServer) {
    let report = s.verify().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_quick_start_runs_as_written() {
    if !external::require("python3") {
        return;
    }
    Lang::python().check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_quick_start_runs_as_written() {
    if !external::require("php") {
        return;
    }
    Lang::php().check().await;
}

/// The quick start shows curl, Python and PHP, from domain.check to a registered domain.
#[test]
fn quick_start_covers_check_to_registered() {
    let qs = quick_start();
    for needle in [
        "```sh",
        "```python",
        "```php",
        "command=domain.check",
        "command=domain.register",
        "command=domain.info",
        "Idempotent-Replayed: true",
        "request-id",
    ] {
        assert!(qs.contains(needle), "the quick start lacks {needle}");
    }
    let index = std::fs::read_to_string(root().join("protocol/README.md")).unwrap();
    assert!(
        index.find("## Quick start") < index.find("## Concepts")
            && index.find("## Concepts") < index.find("## Commands")
            && index.find("## Commands") < index.find("## Guides"),
        "protocol/README.md: quick start, concepts, commands, guides, in that order"
    );
}
