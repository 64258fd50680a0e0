//! The watcher's `/metrics`, in the Prometheus text format: per manifest its conditions,
//! generations and rollout progress (from its status), per shard the last run (from the summary
//! the run leaves on its Lease). Pure: the watcher reads both and calls [`render`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::AtomicU64;

/// The Lease annotation a run leaves its summary in (written with the release it does anyway).
pub const LAST_RUN_ANNOTATION: &str = "postgres-reconciler.io/last-run";

/// What a run says about itself on its Lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// RFC 3339.
    pub started: String,
    pub duration_ms: u64,
    pub result: String,
    pub exit_code: u8,
    pub writes: u64,
    pub requests: u64,
}

impl RunSummary {
    pub fn of(report: &super::run::RunReport) -> RunSummary {
        RunSummary {
            started: report.started.clone(),
            duration_ms: report.duration_ms,
            result: report.result.clone(),
            exit_code: report.exit_code,
            writes: report.writes,
            requests: report.requests.values().sum(),
        }
    }

    /// The value of [`LAST_RUN_ANNOTATION`].
    pub fn annotation(&self) -> String {
        // Plain data: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ManifestLabels {
    kind: String,
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    kind: String,
    namespace: String,
    name: String,
    condition: String,
    status: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabels {
    lease: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    lease: String,
    result: String,
}

type Gauges<L> = Family<L, Gauge<f64, AtomicU64>>;

fn gauge<
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> Gauges<L> {
    let family = Gauges::<L>::default();
    registry.register(name, help, family.clone());
    family
}

/// The metrics of these manifests (as the API returns them, status included) and of these runs
/// (Lease name, its summary).
pub fn render(manifests: &[(String, Value)], runs: &[(String, Option<RunSummary>)]) -> String {
    let mut registry = Registry::with_prefix("postgres_reconciler");
    let conditions: Gauges<ConditionLabels> = gauge(
        &mut registry,
        "manifest_condition",
        "A condition of a manifest's status: 1 for its current status (True, False, Unknown) and reason",
    );
    let generation: Gauges<ManifestLabels> = gauge(
        &mut registry,
        "manifest_generation",
        "metadata.generation of a manifest",
    );
    let observed: Gauges<ManifestLabels> = gauge(
        &mut registry,
        "manifest_observed_generation",
        "The generation the last run that wrote the manifest's status reconciled",
    );
    let rollout_current: Gauges<ManifestLabels> = gauge(
        &mut registry,
        "manifest_rollout_pods_updated",
        "Pods of a cluster on the StatefulSet's update revision",
    );
    let rollout_total: Gauges<ManifestLabels> = gauge(
        &mut registry,
        "manifest_rollout_pods",
        "Pods of a cluster (as counted by its RollingUpdate condition)",
    );
    for (kind, m) in manifests {
        let s = |p: &str| {
            m.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let labels = ManifestLabels {
            kind: kind.clone(),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
        };
        if let Some(g) = m.pointer("/metadata/generation").and_then(Value::as_f64) {
            generation.get_or_create(&labels).set(g);
        }
        if let Some(g) = m
            .pointer("/status/observedGeneration")
            .and_then(Value::as_f64)
        {
            observed.get_or_create(&labels).set(g);
        }
        for c in m
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            conditions
                .get_or_create(&ConditionLabels {
                    kind: labels.kind.clone(),
                    namespace: labels.namespace.clone(),
                    name: labels.name.clone(),
                    condition: field("type"),
                    status: field("status"),
                    reason: field("reason"),
                })
                .set(1.0);
            let progress = (field("type") == "RollingUpdate")
                .then(|| rollout_progress(&field("message")))
                .flatten();
            if let Some((current, total)) = progress {
                rollout_current.get_or_create(&labels).set(current);
                rollout_total.get_or_create(&labels).set(total);
            }
        }
    }

    let started: Gauges<ShardLabels> = gauge(
        &mut registry,
        "last_run_start_timestamp_seconds",
        "When the last run of this Lease (shard) started",
    );
    let duration: Gauges<ShardLabels> = gauge(
        &mut registry,
        "last_run_duration_seconds",
        "How long the last run took",
    );
    let result: Gauges<ResultLabels> = gauge(
        &mut registry,
        "last_run_result",
        "1 for the last run's result (applied, partial, skipped)",
    );
    let success: Gauges<ShardLabels> = gauge(
        &mut registry,
        "last_run_success",
        "1 when the last run applied everything (exit code 0, not skipped)",
    );
    let writes: Gauges<ShardLabels> =
        gauge(&mut registry, "last_run_writes", "Writes the last run made");
    let requests: Gauges<ShardLabels> = gauge(
        &mut registry,
        "last_run_api_requests",
        "API requests the last run made",
    );
    for (lease, summary) in runs {
        let Some(summary) = summary else { continue };
        let labels = ShardLabels {
            lease: lease.clone(),
        };
        if let Ok(t) = summary.started.parse::<jiff::Timestamp>() {
            started
                .get_or_create(&labels)
                .set(t.as_millisecond() as f64 / 1000.0);
        }
        duration
            .get_or_create(&labels)
            .set(summary.duration_ms as f64 / 1000.0);
        result
            .get_or_create(&ResultLabels {
                lease: lease.clone(),
                result: summary.result.clone(),
            })
            .set(1.0);
        let ok = summary.exit_code == 0 && summary.result == "applied";
        success
            .get_or_create(&labels)
            .set(if ok { 1.0 } else { 0.0 });
        writes.get_or_create(&labels).set(summary.writes as f64);
        requests.get_or_create(&labels).set(summary.requests as f64);
    }

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// "2 of 3 pods on the new revision; …" → (2, 3).
fn rollout_progress(message: &str) -> Option<(f64, f64)> {
    let mut words = message.split_whitespace();
    let current = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    let total = words.next()?.parse().ok()?;
    Some((current, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifests_and_runs_become_gauges() {
        let cluster = json!({
            "metadata": {"namespace": "ns", "name": "acid-a", "generation": 4},
            "status": {"observedGeneration": 3, "conditions": [
                {"type": "Ready", "status": "True", "reason": "PodsReady"},
                {"type": "Degraded", "status": "False"},
                {"type": "RollingUpdate", "status": "True", "message": "1 of 3 pods on the new revision"}
            ]}
        });
        let run = RunSummary {
            started: "2026-12-01T10:00:00Z".into(),
            duration_ms: 1500,
            result: "partial".into(),
            exit_code: 2,
            writes: 7,
            requests: 30,
        };
        let out = render(
            &[("postgresql".into(), cluster)],
            &[("postgres-reconciler".into(), Some(run))],
        );
        for line in [
            r#"postgres_reconciler_manifest_condition{kind="postgresql",namespace="ns",name="acid-a",condition="Ready",status="True",reason="PodsReady"} 1.0"#,
            r#"postgres_reconciler_manifest_generation{kind="postgresql",namespace="ns",name="acid-a"} 4.0"#,
            r#"postgres_reconciler_manifest_observed_generation{kind="postgresql",namespace="ns",name="acid-a"} 3.0"#,
            r#"postgres_reconciler_manifest_rollout_pods_updated{kind="postgresql",namespace="ns",name="acid-a"} 1.0"#,
            r#"postgres_reconciler_last_run_start_timestamp_seconds{lease="postgres-reconciler"} 1796119200.0"#,
            r#"postgres_reconciler_last_run_success{lease="postgres-reconciler"} 0.0"#,
            r#"postgres_reconciler_last_run_result{lease="postgres-reconciler",result="partial"} 1.0"#,
            r#"postgres_reconciler_last_run_writes{lease="postgres-reconciler"} 7.0"#,
        ] {
            assert!(out.contains(line), "{line}\nin\n{out}");
        }
        assert!(out.ends_with("# EOF\n"), "{out}");
    }
}
