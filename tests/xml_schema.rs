//! `protocol/regway.xsd` against every pair of `fixtures/native/`: every response
//! validates, and every request the gateway did not refuse as malformed or unknown
//! (2000, 2001) validates too — an XML body as it is, a form or query as the XML request
//! with the same parameters. A request for an unknown command (2000) or with a malformed
//! request-id, and a few broken answers, must not validate. Runs `xmllint --schema` (Debian's libxml2-utils, which
//! `scripts/test` installs).

mod common;

use percent_encoding::percent_decode_str;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture file's body: what follows the first blank line (without the final newline
/// that closes a `.request` file).
fn body(text: &str) -> &str {
    text.split_once("\n\n").map_or("", |(_, b)| b)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The XML request with the parameters of a form or query string; `None` when they
/// cannot be one (not UTF-8, a name that is not an XML name, a character XML cannot
/// carry).
fn xml_of_form(form: &str) -> Option<String> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request>\n");
    for pair in form.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        let (k, v) = (decode(k)?, decode(v)?);
        let name_ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let text_ok = v.chars().all(|c| {
            (!c.is_control() || matches!(c, '\t' | '\n' | '\r'))
                && !matches!(c, '\u{fffe}' | '\u{ffff}')
        });
        if !name_ok || !text_ok {
            return None;
        }
        out.push_str(&format!("  <{k}>{}</{k}>\n", escape(&v)));
    }
    out.push_str("</request>\n");
    Some(out)
}

/// The result code a response file records.
fn code(response: &str) -> u16 {
    let at = response.find("<result code=\"").expect("a result code") + 14;
    response[at..at + 4].parse().unwrap()
}

/// Validates the files with xmllint: the ones that do not validate, with its words.
fn invalid(files: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(root().join("protocol/regway.xsd"))
        .args(files)
        .output()
        .expect("xmllint runs");
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    files
        .iter()
        .filter(|f| !said.contains(&format!("{} validates", f.display())))
        .map(|f| {
            let name = f.display().to_string();
            let why: Vec<&str> = said.lines().filter(|l| l.contains(&name)).collect();
            (f.clone(), why.join("\n"))
        })
        .collect()
}

fn xmllint_runs() -> bool {
    Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_native_fixture_validates_against_the_schema() {
    if !xmllint_runs() {
        common::cannot_run(
            "every_native_fixture_validates_against_the_schema",
            "xmllint (Debian: libxml2-utils) is not installed",
        );
        return;
    }
    let dir = root().join("fixtures/native");
    let tmp = tempfile::tempdir().unwrap();
    let mut stems: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".request").map(str::to_string)
        })
        .collect();
    stems.sort();
    let (mut valid, mut refused) = (Vec::new(), Vec::new());
    let mut converted = 0;
    for stem in &stems {
        let response = std::fs::read_to_string(dir.join(format!("{stem}.response"))).unwrap();
        // A ledger asked for as CSV is answered in CSV (tests/ledger_csv.rs checks it).
        let csv = response.contains("\nContent-Type: text/csv");
        if !csv {
            let answer = tmp.path().join(format!("{stem}.response.xml"));
            std::fs::write(&answer, body(&response)).unwrap();
            valid.push(answer);
        }
        let c = if csv { 1000 } else { code(&response) };
        let Ok(request) =
            String::from_utf8(std::fs::read(dir.join(format!("{stem}.request"))).unwrap())
        else {
            assert_eq!(c, 2001, "{stem}: a request that is not UTF-8");
            continue;
        };
        let first = request.lines().next().unwrap();
        let sent = body(&request).strip_suffix('\n').unwrap_or(body(&request));
        let xml = if request.contains("Content-Type: application/xml") {
            Some(sent.to_string())
        } else if let Some(query) = first.split_once('?').map(|(_, q)| q) {
            converted += 1;
            xml_of_form(query)
        } else if request.contains("Content-Type: application/x-www-form-urlencoded") {
            converted += 1;
            xml_of_form(sent)
        } else {
            None
        };
        let Some(xml) = xml else {
            assert!(
                matches!(c, 2000 | 2001 | 2005 | 2200),
                "{stem}: a request with no XML form answered {c}"
            );
            continue;
        };
        let file = tmp.path().join(format!("{stem}.request.xml"));
        std::fs::write(&file, &xml).unwrap();
        // An unknown command, a malformed request-id: the schema refuses them too.
        let bad_request_id = xml
            .split_once("<request-id>")
            .and_then(|(_, rest)| rest.split_once("</request-id>"))
            .is_some_and(|(rid, _)| {
                rid.is_empty()
                    || rid.len() > 64
                    || !rid
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | ':' | '-'))
            });
        match c {
            _ if c == 2000 || bad_request_id => refused.push(file),
            2001 => {}
            _ => valid.push(file),
        }
    }
    assert!(valid.len() > 2 * stems.len() - 20, "{} files", valid.len());
    assert!(converted > 80, "{converted} form requests");
    let bad = invalid(&valid);
    assert!(
        bad.is_empty(),
        "not valid against protocol/regway.xsd:\n{}",
        bad.iter()
            .map(|(f, why)| format!("{}: {why}", f.display()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        !refused.is_empty(),
        "no fixture asks for an unknown command or sends a bad request-id"
    );
    let passed: Vec<_> = refused
        .iter()
        .filter(|f| {
            !invalid(std::slice::from_ref(f))
                .iter()
                .any(|(g, _)| g == *f)
        })
        .collect();
    assert!(
        passed.is_empty(),
        "requests for unknown commands or with bad request-ids validate: {passed:?}"
    );
}

/// The schema is not a formality: broken answers do not validate.
#[test]
fn the_schema_refuses_broken_answers() {
    if !xmllint_runs() {
        common::cannot_run(
            "the_schema_refuses_broken_answers",
            "xmllint (Debian: libxml2-utils) is not installed",
        );
        return;
    }
    let good = std::fs::read_to_string(root().join("fixtures/native/10-domain-register.response"))
        .unwrap();
    let good = body(&good).to_string();
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("code", good.replace("code=\"1000\"", "code=\"1234\"")),
        (
            "object",
            good.replace("code=\"1000\"", "code=\"1000\" object=\"zone\""),
        ),
        ("money", good.replace(">590.00<", ">590,00<")),
        (
            "currency",
            good.replace("<charged currency=\"RUB\">", "<charged>"),
        ),
        (
            "order state",
            good.replace("state=\"completed\"", "state=\"done\""),
        ),
        ("expires", good.replace("2027-01-15", "15.01.2027")),
        (
            "unknown element",
            good.replace("<data>", "<data>\n    <colour/>"),
        ),
        (
            "order",
            good.replace("  <request-id>R-1</request-id>\n", "")
                .replace("</data>", "</data>\n  <request-id>R-1</request-id>"),
        ),
    ];
    let files: Vec<PathBuf> = cases
        .iter()
        .map(|(name, text)| {
            assert_ne!(*text, good, "{name}: the case changes nothing");
            let f = tmp.path().join(format!("{}.xml", name.replace(' ', "-")));
            std::fs::write(&f, text).unwrap();
            f
        })
        .collect();
    let ok = tmp.path().join("good.xml");
    std::fs::write(&ok, &good).unwrap();
    assert!(invalid(std::slice::from_ref(&ok)).is_empty());
    let bad = invalid(&files);
    assert_eq!(
        bad.len(),
        files.len(),
        "some broken answers validate: {bad:?}"
    );
}
