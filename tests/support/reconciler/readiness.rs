//! Waiting for a cluster: its pods Running and Ready, then its status `Running`.

use super::super::eventually;
use super::{Harness, WAIT};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use postgres_reconciler::report::run::RunReport;
use serde_json::Value;
use std::time::Duration;

impl Harness {
    /// Waits until the StatefulSet of `cluster` has `replicas` pods, all Running and Ready, and
    /// its status says so for its current generation.
    pub async fn wait_ready(&self, cluster: &str, replicas: i64) {
        let sts = self.api("StatefulSet");
        let pods: Api<Pod> = self.ns.api();
        let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
        eventually(
            WAIT,
            &format!("{replicas} pods of {cluster} Running and Ready"),
            || async {
                let s = serde_json::to_value(sts.get_opt(cluster).await.ok()??).ok()?;
                let ready = s.pointer("/status/readyReplicas").and_then(Value::as_i64);
                let observed = s.pointer("/status/observedGeneration");
                if observed != s.pointer("/metadata/generation") || ready != Some(replicas) {
                    return None;
                }
                let running = pods
                    .list(&selector)
                    .await
                    .ok()?
                    .items
                    .iter()
                    .filter(|p| is_running_and_ready(p))
                    .count();
                (running as i64 == replicas).then_some(())
            },
        )
        .await;
    }

    /// Runs until the cluster's status is `Running` for its current generation (after its pods
    /// are ready), and returns the last run's report.
    pub async fn settle(&self, cluster: &str, replicas: i64) -> RunReport {
        self.wait_ready(cluster, replicas).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let report = self.run().await;
            let live = self.get("postgresql", cluster).await;
            let running = live.as_ref().is_some_and(|l| {
                l["status"]["PostgresClusterStatus"] == "Running"
                    && l["status"]["observedGeneration"] == l["metadata"]["generation"]
            });
            if running {
                return report;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting for {cluster} to be Running: {:#}\nlast run: {}",
                live.map(|l| l["status"].clone()).unwrap_or_default(),
                postgres_reconciler::report::run::text(&report)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

fn is_running_and_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    running && ready && pod.metadata.deletion_timestamp.is_none()
}
