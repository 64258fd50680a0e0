//! Waiting for a cluster: its pods Running and Ready, then its status `Running`.

use super::{Harness, WAIT};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use postgres_reconciler::report::run::RunReport;
use serde_json::Value;
use std::time::Duration;

impl Harness {
    /// Waits until the StatefulSet of `cluster` has `replicas` pods, all Running and Ready, and
    /// its status says so for its current generation. Giving up, it says what it saw: the
    /// StatefulSet's status, each pod's phase, conditions and node, and their Events.
    pub async fn wait_ready(&self, cluster: &str, replicas: i64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.is_ready(cluster, replicas).await {
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "gave up after {WAIT:?} waiting for {replicas} pods of {cluster} Running and Ready\n{}",
                    self.describe_pods(cluster).await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn is_ready(&self, cluster: &str, replicas: i64) -> bool {
        let sts = self.api("StatefulSet");
        let Ok(Some(s)) = sts.get_opt(cluster).await else {
            return false;
        };
        let Ok(s) = serde_json::to_value(s) else {
            return false;
        };
        let ready = s.pointer("/status/readyReplicas").and_then(Value::as_i64);
        let observed = s.pointer("/status/observedGeneration");
        if observed != s.pointer("/metadata/generation") || ready != Some(replicas) {
            return false;
        }
        let pods: Api<Pod> = self.ns.api();
        let Ok(list) = pods.list(&cluster_pods(cluster)).await else {
            return false;
        };
        list.items
            .iter()
            .filter(|p| is_running_and_ready(p))
            .count() as i64
            == replicas
    }

    /// What a failed wait saw, for the test's output.
    async fn describe_pods(&self, cluster: &str) -> String {
        let mut out = String::new();
        let sts = self.api("StatefulSet").get_opt(cluster).await;
        let status = sts.map(|s| s.map(|s| s.data["status"].clone()));
        out.push_str(&format!("StatefulSet {cluster} status: {status:?}\n"));
        let pods: Api<Pod> = self.ns.api();
        for pod in pods
            .list(&cluster_pods(cluster))
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let status = pod.status.clone().unwrap_or_default();
            let conditions: Vec<String> = status
                .conditions
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    format!(
                        "{}={} {}",
                        c.type_,
                        c.status,
                        c.reason.clone().unwrap_or_default()
                    )
                })
                .collect();
            out.push_str(&format!(
                "pod {}: phase {:?}, node {:?}, deleting {}, conditions {conditions:?}\n",
                pod.metadata.name.clone().unwrap_or_default(),
                status.phase,
                pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                pod.metadata.deletion_timestamp.is_some(),
            ));
        }
        let events: Api<Event> = self.ns.api();
        for e in events
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let about = e.involved_object.name.clone().unwrap_or_default();
            if about.starts_with(cluster) {
                out.push_str(&format!(
                    "event {} {about}: {} {}\n",
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                ));
            }
        }
        out
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

fn cluster_pods(cluster: &str) -> ListParams {
    ListParams::default().labels(&format!("cluster-name={cluster}"))
}
