//! `fixtures/plans/<scenario>/`: `manifests.yaml` (desired, may be absent), `observed.yaml`
//! (what is live: objects as the apiserver returns them, database state), optional
//! `config.yaml`; expected `plan.txt`, `plan.md`, `plan.json`.

use crate::{check_golden, fixtures};
use postgres_reconciler::config::{Config, Sources};
use postgres_reconciler::observe::files::{Loaded, parse_documents};
use postgres_reconciler::plan::{self, Observed};
use postgres_reconciler::{render, report};
use std::path::{Path, PathBuf};

pub fn scenarios() -> Vec<PathBuf> {
    let dir = fixtures().join("plans");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

pub fn observed_of(dir: &Path) -> Observed {
    let path = dir.join("observed.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if text.trim().is_empty() {
        return Observed::default();
    }
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The three outputs of one scenario.
pub fn outputs(dir: &Path) -> [(String, String); 3] {
    let config_path = dir.join("config.yaml");
    let config = Config::load(&Sources {
        file: config_path.exists().then_some(config_path),
        set: Vec::new(),
    })
    .expect("scenario config");
    let mut loaded = Loaded::default();
    if let Ok(text) = std::fs::read_to_string(dir.join("manifests.yaml")) {
        parse_documents(&text, "manifests.yaml", "default", &mut loaded);
    }
    let observed = observed_of(dir);
    // As a live run does: running clusters keep the DCS mode their pods use.
    let facts =
        render::live::LiveFacts::from_objects(observed.objects.iter().chain(&observed.adoptable));
    let mut desired = render::render_with(&loaded.manifests, &config, &facts);
    desired.invalid.splice(0..0, loaded.invalid);
    let plan = plan::plan(&desired, &observed, &config);
    [
        ("plan.txt".into(), report::text(&plan, false)),
        (
            "plan.md".into(),
            report::markdown(&plan, report::MARKDOWN_LIMIT),
        ),
        ("plan.json".into(), report::json(&plan)),
    ]
}

#[test]
fn plans_match_the_committed_outputs() {
    let scenarios = scenarios();
    assert!(
        scenarios.len() >= 15,
        "expected at least 15 plan scenarios, found {}",
        scenarios.len()
    );
    let mut failures = Vec::new();
    for dir in &scenarios {
        for (file, actual) in outputs(dir) {
            failures.extend(check_golden(&dir.join(file), &actual));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn plans_are_deterministic() {
    for dir in scenarios() {
        assert_eq!(outputs(&dir), outputs(&dir), "{}", dir.display());
    }
}

/// Every secret value any scenario knows (Secret data, decoded and encoded; stored password
/// verifiers) must be absent from every output of every scenario.
#[test]
fn no_secret_value_in_any_plan_output() {
    use base64::Engine;
    let mut secrets: Vec<String> = Vec::new();
    for dir in scenarios() {
        let observed = observed_of(&dir);
        for object in observed.objects.iter().map(|o| o.value()) {
            if object.get("kind").and_then(|k| k.as_str()) != Some("Secret") {
                continue;
            }
            // User names are not secret (and name roles everywhere), nor is the date of the
            // next password rotation (the plan gives it as the rotation's reason); everything
            // else is.
            let data = object.get("data").and_then(|d| d.as_object());
            for (key, value) in data.into_iter().flat_map(|d| d.iter()) {
                if key == "username" || key == "nextRotation" {
                    continue;
                }
                let Some(encoded) = value.as_str() else {
                    continue;
                };
                secrets.push(encoded.to_string());
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded)
                    && let Ok(plain) = String::from_utf8(bytes)
                    && plain.len() >= 8
                {
                    secrets.push(plain);
                }
            }
        }
        let json = serde_json::to_value(&observed).expect("observed as json");
        collect_verifiers(&json, &mut secrets);
    }
    assert!(
        !secrets.is_empty(),
        "the scenarios should contain secrets to check for"
    );
    for dir in scenarios() {
        for (file, output) in outputs(&dir) {
            for secret in &secrets {
                assert!(
                    !output.contains(secret.as_str()),
                    "{}/{file} shows a secret value",
                    dir.display()
                );
            }
        }
    }
}

fn collect_verifiers(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s)
            if s.starts_with("SCRAM-SHA-256$") || s.starts_with("md5") && s.len() == 35 =>
        {
            out.push(s.clone())
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_verifiers(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| collect_verifiers(i, out)),
        _ => {}
    }
}

/// Every valid fixture planned offline against itself as the base is "no changes": the plan
/// agrees with the render it is made from (no phantom diffs, no phantom SQL).
#[test]
fn a_manifest_planned_against_itself_has_no_changes() {
    use postgres_reconciler::plan::offline::base_live;
    let config = Config::default();
    for input in crate::files_in(&fixtures().join("manifests/valid"), "yaml") {
        let text = std::fs::read_to_string(&input).expect("read");
        let mut loaded = Loaded::default();
        parse_documents(&text, "x", "default", &mut loaded);
        let desired = render::render(&loaded.manifests, &config);
        let plan = plan::plan(
            &desired,
            &base_live(&desired, &config.field_manager),
            &config,
        );
        assert!(
            plan.actions.is_empty(),
            "{}: {}",
            input.display(),
            report::text(&plan, false)
        );
    }
}
