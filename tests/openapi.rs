//! `protocol/openapi.json`, the OpenAPI 3.1 description of `/api`, against the gateway's
//! command registry (`command::NAMES`), the parameter names its commands read
//! (`src/command/`), the parameter tables of `protocol/native/*.md` and the result codes:
//! they name the same commands and parameters. Then schemathesis (pinned, from PyPI,
//! in a virtual environment kept under `target/tmp`) fuzzes a live gateway with it for
//! a bounded time: no 5xx, no status, content type or header the description does not
//! give, and no schema-violating request accepted.

mod common;

use regway::command::NAMES;
use regway::error::Code;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn openapi() -> Value {
    serde_json::from_str(&read("protocol/openapi.json")).expect("protocol/openapi.json is JSON")
}

/// The envelope's fields, which every command takes.
const ENVELOPE: [&str; 4] = ["command", "request-id", "login", "password"];

/// Each command's parameters as the parameter tables of `protocol/native/*.md` give
/// them: name → the table's text ("required; …").
fn documented() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root().join("protocol/native")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let mut current: Option<String> = None;
        let mut in_table = false;
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("## ").or(line.strip_prefix("### ")) {
                let h = h.trim();
                current = NAMES.contains(&h).then(|| h.to_string());
                if let Some(c) = &current {
                    out.insert(c.clone(), BTreeMap::new());
                }
                in_table = false;
                continue;
            }
            let Some(cmd) = &current else { continue };
            if line.starts_with("| parameter |") {
                in_table = true;
                continue;
            }
            if !line.starts_with('|') {
                if in_table {
                    // The first table is the parameters'.
                    current = None;
                }
                in_table = false;
                continue;
            }
            if !in_table || line.starts_with("|---") {
                continue;
            }
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            let mut names = Vec::new();
            let mut rest = cells[0];
            while let Some(i) = rest.find('`') {
                let after = &rest[i + 1..];
                let j = after.find('`').unwrap();
                names.push(after[..j].to_string());
                rest = &after[j + 1..];
            }
            for n in names {
                out.get_mut(cmd)
                    .unwrap()
                    .insert(n, cells.get(1).unwrap_or(&"").trim().to_string());
            }
        }
    }
    out
}

/// The commands `protocol/native.md` says change state (`request-id` required).
fn changing() -> BTreeSet<String> {
    let native = read("protocol/native.md");
    let row = native
        .lines()
        .find(|l| l.contains("| yes (`request-id` required) |"))
        .expect("native.md's table of commands");
    row.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| NAMES.contains(s))
        .map(str::to_string)
        .collect()
}

/// The command variants of the request body: command → its schema.
fn variants(api: &Value) -> BTreeMap<String, Value> {
    let schemas = &api["components"]["schemas"];
    let one_of = schemas["Request"]["oneOf"]
        .as_array()
        .expect("Request.oneOf");
    one_of
        .iter()
        .map(|r| {
            let name = r["$ref"]
                .as_str()
                .unwrap()
                .trim_start_matches("#/components/schemas/");
            let v = schemas[name].clone();
            let cmd = v["properties"]["command"]["const"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: command is not a const"))
                .to_string();
            (cmd, v)
        })
        .collect()
}

#[test]
fn openapi_names_the_same_commands_and_parameters() {
    let api = openapi();
    assert_eq!(api["openapi"], "3.1.0");
    let post = &api["paths"]["/api"]["post"];
    for media in ["application/x-www-form-urlencoded", "application/xml"] {
        assert_eq!(
            post["requestBody"]["content"][media]["schema"]["$ref"], "#/components/schemas/Request",
            "{media}"
        );
    }
    let variants = variants(&api);
    let names: BTreeSet<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let described: BTreeSet<String> = variants.keys().cloned().collect();
    assert_eq!(described, names, "the OpenAPI variants and command::NAMES");

    let docs = documented();
    let changing = changing();
    let mut all_params = BTreeSet::new();
    for (cmd, v) in &variants {
        let props: BTreeSet<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !ENVELOPE.contains(&k.as_str()))
            .cloned()
            .chain(
                v["patternProperties"]
                    .as_object()
                    .into_iter()
                    .flat_map(|p| p.keys())
                    .map(|k| {
                        assert_eq!(k, "^x-[a-z0-9-]{1,40}$");
                        "x-…".to_string()
                    }),
            )
            .collect();
        let doc = docs
            .get(cmd)
            .unwrap_or_else(|| panic!("protocol/native/: no section for {cmd}"));
        let in_doc: BTreeSet<String> = doc
            .keys()
            .filter(|k| !ENVELOPE.contains(&k.as_str()))
            .cloned()
            .collect();
        assert_eq!(props, in_doc, "{cmd}: OpenAPI and protocol/native/ differ");
        assert_eq!(v["additionalProperties"], false, "{cmd}");
        let required: BTreeSet<&str> = v["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for (name, text) in doc {
            let is_required = text.starts_with("required");
            if name != "request-id" && name != "x-…" {
                assert_eq!(
                    required.contains(name.as_str()),
                    is_required,
                    "{cmd}: {name} required in one and not the other"
                );
            }
        }
        assert!(v["properties"]["request-id"].is_object(), "{cmd}");
        let rid_required = changing.contains(cmd)
            || doc
                .get("request-id")
                .is_some_and(|t| t.starts_with("required"));
        assert_eq!(
            required.contains("request-id"),
            rid_required,
            "{cmd}: request-id"
        );
        all_params.extend(props);
    }
    assert_eq!(changing.len(), 20, "{changing:?}");

    // Every parameter a command reads in src/command/ is described.
    for e in std::fs::read_dir(root().join("src/command")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("p.") {
            rest = &rest[i + 2..];
            let method: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let Some(arg) = rest[method.len()..].strip_prefix("(\"") else {
                continue;
            };
            let name = &arg[..arg.find('"').unwrap()];
            let name = if name == "x-" { "x-…" } else { name };
            assert!(
                all_params.contains(name) || ENVELOPE.contains(&name),
                "src/command/ reads {name}, which protocol/openapi.json does not describe"
            );
        }
    }

    // GET: the read-only commands, no others.
    let get = &api["paths"]["/api"]["get"];
    let command = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "command")
        .expect("GET takes command");
    let readable: BTreeSet<String> = command["schema"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = names.difference(&changing).cloned().collect();
    assert_eq!(readable, expected);

    // Every result code under the HTTP status the gateway gives it.
    let responses = post["responses"].as_object().unwrap();
    for code in Code::ALL {
        let statuses: Vec<u16> = if code == Code::Failed {
            vec![500, 502, 504]
        } else {
            vec![code.http_status()]
        };
        for status in statuses {
            let r = &responses[&status.to_string()];
            let text = r["description"].as_str().unwrap_or_else(|| {
                panic!(
                    "protocol/openapi.json: no response {status} for {}",
                    code.number()
                )
            });
            assert!(
                text.contains(&code.number().to_string()),
                "protocol/openapi.json: response {status} does not name code {}",
                code.number()
            );
        }
    }
    assert!(
        read("protocol/README.md").contains("(openapi.json)"),
        "protocol/README.md links openapi.json"
    );
}

/// The pinned schemathesis, in a virtual environment made once.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

fn schemathesis() -> Result<PathBuf, String> {
    common::pinned_venv("schemathesis-venv", SCHEMATHESIS).map(|dir| dir.join("bin/st"))
}

/// schemathesis against a live gateway, 45 seconds of generated requests (forms, XML
/// bodies, queries; valid and invalid): every check but two. `positive_data_acceptance`
/// wants a 2xx for every schema-valid request, but a schema cannot hold the registry's
/// rules (a free name, an existing client handle), so valid-looking requests rightly
/// get 2005 or 2303. `unsupported_method` wants 405 for other methods, where the
/// protocol answers 2001 with HTTP 400 (`protocol/native.md`, "Transport").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_defect() {
    let st = match tokio::task::spawn_blocking(schemathesis).await.unwrap() {
        Ok(st) => st,
        Err(why) => {
            common::cannot_run("schemathesis_finds_no_defect", &why);
            return;
        }
    };
    let s = common::start().await;
    let base = s.url.trim_end_matches("/api").to_string();
    let report = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(st);
    cmd.current_dir(report.path())
        .arg("run")
        .arg(root().join("protocol/openapi.json"))
        .args(["--url", &base])
        .args(["--auth", &format!("{}:{}", common::LOGIN, common::PASSWORD)])
        .args(["--checks", "all"])
        .args([
            "--exclude-checks",
            "positive_data_acceptance,unsupported_method",
        ])
        .args(["--mode", "all", "--max-time", "45", "--workers", "2"])
        .args(["--seed", "20261129", "--no-color"])
        .kill_on_drop(true);
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(std::time::Duration::from_secs(100), cmd.output())
        .await
        .expect("schemathesis ends within 100 s")
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found defects:\n{text}");
    assert!(text.contains("generated"), "{text}");
    assert!(started.elapsed().as_secs() < 100);
    let books = s.verify().await;
    assert!(books.problems.is_empty(), "{:?}", books.problems);
    s.stop().await;
}
