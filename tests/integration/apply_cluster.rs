//! `apply` of `postgresql` manifests on the real control plane and the real PostgreSQL: a new
//! cluster is created and runs, a settled cluster makes a run write nothing, an edit is applied
//! as exactly the actions it calls for, and a deleted cluster leaves its data behind.

mod create;
mod delete;
mod edit;

use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every action the run applied, as "verb target"; panics on any action that did not apply.
fn applied(report: &RunReport) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in &report.manifests {
        for a in &m.actions {
            assert_eq!(
                a.result,
                ActionResult::Applied,
                "{}: {:?}\n{}",
                a.action,
                a.result,
                text(report)
            );
            out.insert(a.action.clone());
        }
    }
    for a in &report.shared {
        assert_eq!(a.result, ActionResult::Applied, "{}", text(report));
        out.insert(a.action.clone());
    }
    out
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn spilo_configuration(sts: &Value) -> Value {
    let env = sts
        .pointer("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .expect("container env");
    let value = env
        .iter()
        .find(|e| e["name"] == "SPILO_CONFIGURATION")
        .and_then(|e| e["value"].as_str())
        .expect("SPILO_CONFIGURATION");
    serde_json::from_str(value).expect("SPILO_CONFIGURATION is JSON")
}

/// The `max_connections` Patroni is given, wherever SPILO_CONFIGURATION puts parameters.
fn max_connections(sts: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "max_connections" {
                        out.push(v.as_str().map(str::to_string).unwrap_or(v.to_string()));
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&spilo_configuration(sts), &mut out);
    out
}
