//! The release binary run as the CronJob runs it (`apply -A --report-file`) and as a user runs
//! `plan -A`; its API requests come from the run report (apply) or its "API requests" log line
//! (plan).

use super::child::{self, Measured};
use super::env::Env;
use postgres_reconciler::observe::requests::is_write;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub struct Run {
    pub measured: Measured,
    pub requests: BTreeMap<String, u64>,
    pub writes: u64,
    pub result: String,
}

fn binary(env: &Env, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_postgres-reconciler"));
    c.arg("--config")
        .arg(config)
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .arg("-A");
    c
}

pub fn apply(env: &Env, config: &Path, dir: &Path, name: &str) -> Run {
    let report = dir.join(format!("{name}.report.json"));
    let mut c = binary(env, config);
    c.arg("apply").arg("--report-file").arg(&report);
    let measured = child::run(&mut c, &dir.join(name));
    let json: serde_json::Value = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            panic!(
                "{name}: no run report (exit {}); stderr ends: {}",
                measured.exit_code,
                tail(&measured.stderr)
            )
        });
    let requests = json["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    Run {
        writes: json["writes"].as_u64().unwrap_or(0),
        result: json["result"].as_str().unwrap_or("?").to_string(),
        requests,
        measured,
    }
}

pub fn plan(env: &Env, config: &Path, dir: &Path, name: &str) -> Run {
    let mut c = binary(env, config);
    c.args(["plan", "--format", "json"]);
    let measured = child::run(&mut c, &dir.join(name));
    // Exit 1 is a plan with invalid manifests; anything else but 0 is a failure.
    assert!(
        measured.exit_code == 0,
        "{name}: exit {}: {}",
        measured.exit_code,
        tail(&measured.stderr)
    );
    let requests = logged_requests(&measured.stderr);
    Run {
        writes: writes(&requests),
        result: "planned".into(),
        requests,
        measured,
    }
}

/// `requests={"get": 1, "list": 19}` in the "API requests" log line (Debug of a map).
fn logged_requests(stderr: &str) -> BTreeMap<String, u64> {
    let pair = regex::Regex::new(r#""([a-z-]+)": (\d+)"#).expect("regex");
    stderr
        .lines()
        .filter(|l| l.contains("API requests"))
        .flat_map(|l| {
            pair.captures_iter(l)
                .map(|c| (c[1].to_string(), c[2].parse().unwrap_or(0)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Writes that succeeded: write verbs less their "-failed" counts.
pub fn writes(requests: &BTreeMap<String, u64>) -> u64 {
    requests
        .iter()
        .filter(|(verb, _)| is_write(verb))
        .map(|(verb, n)| {
            n.saturating_sub(
                requests
                    .get(&format!("{verb}-failed"))
                    .copied()
                    .unwrap_or(0),
            )
        })
        .sum()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
