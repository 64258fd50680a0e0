//! Asking each cluster's Patroni what it runs with: `GET /patroni` of every member (its role,
//! whether a restart is pending and for what) and `GET /config` (the dynamic configuration in
//! the DCS), a few clusters at a time. A member that does not answer is left out (a pod that is
//! restarting); a cluster none of whose members answers is "unknown" with the reason.

use crate::config::Config;
use crate::plan::UnknownCause;
use crate::plan::patroni::member_url;
use crate::render::Desired;
use crate::state::{CompactJson, PatroniMember, PatroniObservation};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET url` as JSON (a 503 of a member that is not running still has its JSON body).
pub async fn get_json(url: &str) -> Result<Value, String> {
    let request = http::Request::get(url)
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let (status, body) = super::http::send(&client, request, TIMEOUT).await?;
    // GET /patroni answers 503 for a member that is not running: its body still says why.
    if !status.is_success() && status != http::StatusCode::SERVICE_UNAVAILABLE {
        return Err(format!("GET {url}: {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
}

fn member(pod: &str, url: &str, answer: &Value) -> PatroniMember {
    let mut pending_parameters: Vec<String> = answer
        .get("pending_restart_reason")
        .and_then(Value::as_object)
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    pending_parameters.sort();
    PatroniMember {
        pod: pod.to_string(),
        url: url.to_string(),
        role: answer
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        pending_restart: answer
            .get("pending_restart")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        pending_parameters,
        replication_state: answer
            .get("replication_state")
            .and_then(Value::as_str)
            .map(str::to_string),
        sync_standby: answer
            .get("sync_standby")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// One cluster: its members that answered, and the configuration one of them served.
async fn observe_cluster(config: &Config, cluster: &str, pods: &[Value]) -> PatroniObservation {
    let mut members = Vec::new();
    let mut failures = Vec::new();
    for pod in pods {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = member_url(config, pod, cluster);
        match get_json(&format!("{}/patroni", url.trim_end_matches('/'))).await {
            Ok(answer) => members.push(member(name, &url, &answer)),
            Err(e) => failures.push(e),
        }
    }
    members.sort_by_key(|m| (!m.is_leader(), m.pod.clone()));
    let Some(first) = members.first() else {
        return PatroniObservation::Unknown {
            reason: failures.join("; "),
            cause: UnknownCause::NotReachable,
        };
    };
    match get_json(&format!("{}/config", first.url.trim_end_matches('/'))).await {
        Ok(config) => PatroniObservation::Known { members, config },
        Err(reason) => PatroniObservation::Unknown {
            reason,
            cause: UnknownCause::Other,
        },
    }
}

/// Every cluster of the desired state with pods that have an address, by "namespace/name".
/// Nothing when `sync_patroni_config` is off.
pub async fn observe_patroni(
    config: &Config,
    desired: &Desired,
    pods: &[CompactJson],
) -> BTreeMap<String, PatroniObservation> {
    let jobs =
        clusters_to_ask(config, desired, pods).into_iter().map(
            |(key, cluster, theirs)| async move {
                (key, observe_cluster(config, cluster, &theirs).await)
            },
        );
    futures::stream::iter(jobs)
        .buffer_unordered(config.max_parallel_clusters.max(1))
        .collect()
        .await
}

/// The clusters [`observe_patroni`] would ask, unknown for `reason`, without asking them.
pub fn not_reached(
    config: &Config,
    desired: &Desired,
    pods: &[CompactJson],
    reason: &str,
) -> BTreeMap<String, PatroniObservation> {
    clusters_to_ask(config, desired, pods)
        .into_iter()
        .map(|(key, _, _)| {
            let unknown = PatroniObservation::Unknown {
                reason: reason.to_string(),
                cause: UnknownCause::Other,
            };
            (key, unknown)
        })
        .collect()
}

/// ("namespace/name", cluster name, its running pods) of each cluster whose Patroni the plan
/// reads: none unless `sync_patroni_config`; a cluster without running pods has none yet.
fn clusters_to_ask<'a>(
    config: &Config,
    desired: &'a Desired,
    pods: &[CompactJson],
) -> Vec<(String, &'a str, Vec<Value>)> {
    if !config.sync_patroni_config {
        return Vec::new();
    }
    // Each cluster's pods, grouped once by their heads (not searched per cluster); only the
    // asked clusters' pods are parsed.
    let mut by_cluster: BTreeMap<(String, String), Vec<&CompactJson>> = BTreeMap::new();
    for p in pods {
        let head = p.head();
        if let (Some(cluster), None) = (
            head.label(&config.cluster_name_label),
            &head.metadata.deletion_timestamp,
        ) {
            let key = (head.metadata.namespace.clone(), cluster.to_string());
            by_cluster.entry(key).or_default().push(p);
        }
    }
    desired
        .manifests
        .iter()
        .filter(|m| m.patroni_dynamic.is_some() && !m.deleting)
        .filter_map(|m| {
            let (namespace, cluster) = (m.manifest.namespace.as_str(), m.manifest.name.as_str());
            let theirs: Vec<Value> = by_cluster
                .remove(&(namespace.to_string(), cluster.to_string()))?
                .into_iter()
                .map(CompactJson::value)
                .filter(|p| p.pointer("/status/podIP").is_some())
                .collect();
            (!theirs.is_empty()).then(|| (format!("{namespace}/{cluster}"), cluster, theirs))
        })
        .collect()
}
