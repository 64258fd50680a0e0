//! The run report: what one `apply` did, for people (stdout) and machines (`--report-file`).

use super::outcome::{ActionResult, ManifestOutcome};
use crate::plan::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// RFC 3339.
    pub started: String,
    pub duration_ms: u64,
    /// "applied", "partial" (some manifests failed), "skipped" (another run held the Lease for
    /// longer than `lease_wait_seconds`: nothing done; not a converged run).
    pub result: String,
    pub exit_code: u8,
    pub totals: Summary,
    /// API requests by verb, and how many of them changed something.
    pub requests: BTreeMap<String, u64>,
    pub writes: u64,
    pub manifests: Vec<ManifestOutcome>,
    /// Objects shared by the clusters of a namespace (the Spilo pods' ServiceAccount and RBAC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<super::outcome::ActionOutcome>,
    /// Manifests whose status was written this run.
    #[serde(default)]
    pub statuses_written: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A short human summary: one line per manifest that had anything to report, then totals.
pub fn text(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run {} in {:.1} s: {}",
        report.result,
        report.duration_ms as f64 / 1000.0,
        report.totals
    );
    for m in &report.manifests {
        let failed = m.failure_notes();
        let skipped: Vec<&str> = m.skipped().collect();
        let state = if !m.invalid.is_empty() {
            "invalid"
        } else if !failed.is_empty() {
            "failed"
        } else if !skipped.is_empty() {
            "blocked"
        } else if !m.unknown.is_empty() {
            "incomplete"
        } else if !m.drift.is_empty() {
            "drifted"
        } else if m.applied.total() > 0 {
            "changed"
        } else {
            "unchanged"
        };
        let _ = writeln!(out, "  {:<10} {}  ({})", state, m.manifest, m.applied);
        for e in &m.invalid {
            let _ = writeln!(out, "      invalid: {e}");
        }
        for f in failed {
            let _ = writeln!(out, "      failed: {f}");
        }
        for s in skipped {
            let _ = writeln!(out, "      skipped: {s}");
        }
        for u in &m.unknown {
            let _ = writeln!(out, "      not planned: {u}");
        }
        for d in &m.drift {
            let _ = writeln!(out, "      differs (report mode, not applied): {d}");
        }
        if let Some(why) = &m.rollout_held {
            let kind = if m.rollout_lazy { "lazy" } else { "held" };
            let _ = writeln!(out, "      rollout {kind}: {why}");
        }
        for a in m
            .actions
            .iter()
            .filter(|a| a.result == ActionResult::Applied)
        {
            let _ = writeln!(out, "      applied: {}", a.action);
        }
    }
    for a in &report.shared {
        match &a.result {
            ActionResult::Applied => {
                let _ = writeln!(out, "  shared     applied: {}", a.action);
            }
            ActionResult::Failed(m) => {
                let _ = writeln!(out, "  shared     failed: {}: {m}", a.action);
            }
            ActionResult::Skipped(m) => {
                let _ = writeln!(out, "  shared     skipped: {}: {m}", a.action);
            }
        }
    }
    let requests: Vec<String> = report
        .requests
        .iter()
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "API requests: {} ({} writes); statuses written: {}",
        if requests.is_empty() {
            "none".to_string()
        } else {
            requests.join(", ")
        },
        report.writes,
        report.statuses_written
    );
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_name_their_action_and_waiting_rollouts_say_why() {
        let outcome = |name: &str, extra: serde_json::Value| {
            let mut m = json!({
                "manifest": {"kind": "postgresql", "namespace": "ns", "name": name},
                "applied": {"create": 0, "update": 0, "replace": 0, "delete": 0, "sql": 0, "restart": 0},
                "newCluster": false, "deleting": false, "planDigest": "",
            });
            m.as_object_mut()
                .expect("object")
                .extend(extra.as_object().cloned().unwrap_or_default());
            serde_json::from_value::<ManifestOutcome>(m).expect("outcome")
        };
        let report: RunReport = serde_json::from_value(json!({
            "started": "2026-11-22T05:00:00Z", "durationMs": 1200, "result": "partial",
            "exitCode": 2,
            "totals": {"create": 0, "update": 0, "replace": 0, "delete": 0, "sql": 0, "restart": 0},
            "requests": {"list": 17}, "writes": 0, "manifests": [], "statusesWritten": 0,
        }))
        .expect("report");
        let report = RunReport {
            manifests: vec![
                outcome(
                    "acid-a",
                    json!({"actions": [{"action": "update StatefulSet ns/acid-a",
                        "result": {"status": "failed", "message": "the server is busy"}}]}),
                ),
                outcome(
                    "acid-b",
                    json!({"rolloutHeld": "1 of 3 pods outdated; pod acid-b-1 is Pending"}),
                ),
                outcome(
                    "acid-c",
                    json!({"rolloutHeld": "2 of 2 pods outdated; lazy upgrade", "rolloutLazy": true}),
                ),
                outcome(
                    "acid-d",
                    json!({"reportMode": true, "drift": ["update Service ns/acid-d: labels"]}),
                ),
            ],
            ..report
        };
        let out = text(&report);
        assert!(
            out.contains("failed: update StatefulSet ns/acid-a: the server is busy"),
            "{out}"
        );
        assert!(
            out.contains("rollout held: 1 of 3 pods outdated; pod acid-b-1 is Pending"),
            "{out}"
        );
        assert!(out.contains("rollout lazy: 2 of 2 pods outdated"), "{out}");
        assert!(out.contains("drifted    postgresql ns/acid-d"), "{out}");
        assert!(
            out.contains("differs (report mode, not applied): update Service ns/acid-d: labels"),
            "{out}"
        );
    }
}
