//! Rolling-update test helpers (the pods run real Patroni, see `spilo`): a pod watch that
//! records deletions and the fewest Ready pods, readers of a run's restarts and a cluster's
//! progress, and a driver that runs `apply` until a rollout is done.

use super::reconciler::Harness;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What happened, in order: "deleted <pod>" (from the pod watch) and the requests of a
/// [`RestProxy`](super::spilo::rest_proxy::RestProxy) sharing it.
pub type Log = Arc<Mutex<Vec<String>>>;

pub fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Watches the cluster's pods: logs deletions, and keeps the fewest Ready pods seen while
/// `armed`, from the end of the initial listing on (i32::MAX until then).
pub fn watch_pods(
    api: Api<Pod>,
    cluster: &str,
    log: Log,
    armed: Arc<Mutex<bool>>,
) -> Arc<Mutex<i32>> {
    let fewest = Arc::new(Mutex::new(i32::MAX));
    let out = fewest.clone();
    let config = watcher::Config::default().labels(&format!("cluster-name={cluster}"));
    tokio::spawn(async move {
        let mut pods: BTreeMap<String, bool> = BTreeMap::new();
        let mut deleting: BTreeMap<String, String> = BTreeMap::new();
        // The initial listing comes pod by pod: counted only once it is complete.
        let mut synced = false;
        let mut stream = watcher(api, config).boxed();
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { continue };
            let mut note_deleted = |p: &Pod| {
                let name = p.metadata.name.clone().unwrap_or_default();
                let uid = p.metadata.uid.clone().unwrap_or_default();
                if deleting.get(&name) != Some(&uid) {
                    deleting.insert(name.clone(), uid);
                    log.lock().unwrap().push(format!("deleted {name}"));
                }
            };
            match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    if p.metadata.deletion_timestamp.is_some() {
                        note_deleted(&p);
                    }
                    pods.insert(p.metadata.name.clone().unwrap_or_default(), ready(&p));
                }
                watcher::Event::Delete(p) => {
                    note_deleted(&p);
                    pods.remove(&p.metadata.name.clone().unwrap_or_default());
                }
                watcher::Event::Init => continue,
                watcher::Event::InitDone => synced = true,
            }
            if synced && *armed.lock().unwrap() {
                let n = pods.values().filter(|r| **r).count() as i32;

                let mut f = fewest.lock().unwrap();
                *f = (*f).min(n);
            }
        }
    });
    out
}

/// The restarts a run applied; panics on a restart that failed, or that was skipped because
/// Patroni refused the switchover.
pub fn restarts(report: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    for m in &report.manifests {
        for a in &m.actions {
            if let Some(target) = a.action.strip_prefix("restart Pod ") {
                let refused = matches!(&a.result, ActionResult::Skipped(why) if why.contains("switchover from"));
                assert!(
                    !matches!(a.result, ActionResult::Failed(_)) && !refused,
                    "{}",
                    text(report)
                );
                if a.result == ActionResult::Applied {
                    out.push(target.rsplit('/').next().unwrap_or_default().to_string());
                }
            }
        }
    }
    out
}

/// (pods on the update revision, pods, all Ready).
pub async fn progress(h: &Harness, pods: &Api<Pod>, cluster: &str) -> (usize, usize, bool) {
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    let revision = sts["status"]["updateRevision"].as_str().unwrap_or_default();
    let list = pods
        .list(&ListParams::default().labels(&format!("cluster-name={cluster}")))
        .await
        .expect("list pods")
        .items;
    let current = list
        .iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("controller-revision-hash"))
                .map(String::as_str)
                == Some(revision)
        })
        .count();
    (current, list.len(), list.iter().all(ready))
}

pub fn uids(list: &[Pod]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .map(|p| p.metadata.uid.clone().unwrap_or_default())
        .collect();
    v.sort();
    v
}

pub fn rolling_update(status: &Value) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "RollingUpdate"))
        .cloned()
        .unwrap_or_else(|| panic!("no RollingUpdate condition: {status:#}"))
}

/// Runs `apply` until all `instances` pods of the cluster are on the update revision and Ready,
/// with one leader and the other members replicas as Patroni labels them. Runs that find the
/// Lease held by another run are retried; once one run got through, no later run may find it
/// held. Returns the pods restarted, in order (at most one per run).
pub async fn drive_rollout(
    h: &Harness,
    pods: &Api<Pod>,
    cluster: &str,
    instances: usize,
    log: &Log,
) -> Vec<String> {
    let mut order = Vec::new();
    let mut got_through = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let (current, total, all_ready) = progress(h, pods, cluster).await;
        let roles = super::spilo::roles(&h.ns.client, &h.ns.name, cluster).await;
        let led = roles.values().filter(|r| *r == "master").count() == 1
            && roles.values().filter(|r| *r == "replica").count() + 1 == instances;
        if got_through && current == instances && total == instances && all_ready && led {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not finish: {current} of {total} on the new revision, roles {roles:?}; restarts {order:?}; log {:?}",
            log.lock().unwrap()
        );
        let report = h.run().await;
        assert_ne!(report.exit_code, 1, "{}", text(&report));
        if report.result == "skipped" {
            assert!(!got_through, "{}", text(&report));
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        got_through = true;
        let done = restarts(&report);
        assert!(done.len() <= 1, "one restart per run: {}", text(&report));
        order.extend(done);
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
