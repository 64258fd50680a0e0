//! Rolling-update test helpers: a stand-in for Patroni's REST API (switchover requests only),
//! `spilo-role` labels set as Patroni would, a pod watch that records deletions and the fewest
//! Ready pods, and readers of a run's restarts and a cluster's progress.

use super::reconciler::Harness;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// What happened, in order: "switchover <leader> <candidate>" (from the Patroni stand-in) and
/// "deleted <pod>" (from the pod watch).
pub type Log = Arc<Mutex<Vec<String>>>;

/// Patroni's REST API, as far as a switchover goes: records each `POST /switchover` body and
/// answers 200. Returns its port.
pub fn patroni_stand_in(log: Log) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let Ok(n) = stream.read(&mut chunk) else {
                    break (String::new(), String::new());
                };
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            if head.starts_with("POST /switchover ") {
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                log.lock().unwrap().push(format!(
                    "switchover {} {}",
                    v["leader"].as_str().unwrap_or_default(),
                    v["candidate"].as_str().unwrap_or_default()
                ));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        }
    });
    port
}

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

/// Labels the pods as Patroni would: `master` on the leader, `replica` on the others.
pub async fn label_roles(pods: &Api<Pod>, cluster: &str, master: &str) {
    let list = pods
        .list(&ListParams::default().labels(&format!("cluster-name={cluster}")))
        .await
        .expect("list pods");
    for p in list.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        let role = if name == master { "master" } else { "replica" };
        let current = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("spilo-role"))
            .cloned();
        if current.as_deref() != Some(role) {
            // A pod that is just being replaced may be gone: that is fine.
            let _ = pods
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {"spilo-role": role}}})),
                )
                .await;
        }
    }
}

/// The restarts a run applied; panics on a restart that failed.
pub fn restarts(report: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    for m in &report.manifests {
        for a in &m.actions {
            if let Some(target) = a.action.strip_prefix("restart Pod ") {
                assert!(
                    !matches!(a.result, ActionResult::Failed(_)),
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

/// A 3-instance cluster, settled, its pods labelled with pod -0 as the master.
pub async fn settled_cluster(h: &Harness, cluster: &str, manifest: Value) -> Api<Pod> {
    h.cluster_secrets(cluster).await;
    h.apply(manifest).await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    let instances = h.get("StatefulSet", cluster).await.expect("StatefulSet")["spec"]["replicas"]
        .as_i64()
        .unwrap_or(1);
    h.settle(cluster, instances).await;
    let pods: Api<Pod> = h.ns.api();
    label_roles(&pods, cluster, &format!("{cluster}-0")).await;
    pods
}

pub fn rolling_update(status: &Value) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "RollingUpdate"))
        .cloned()
        .unwrap_or_else(|| panic!("no RollingUpdate condition: {status:#}"))
}

/// Runs `apply` until all `instances` pods of the cluster are on the update revision and Ready,
/// labelling roles after each run as Patroni would (after a switchover the candidate leads).
/// Runs that find the Lease held by another run are retried; once one run got through, no later
/// run may find it held. Returns the pods restarted, in order (at most one per run).
pub async fn drive_rollout(
    h: &Harness,
    pods: &Api<Pod>,
    cluster: &str,
    instances: usize,
    log: &Log,
    mut master: String,
) -> Vec<String> {
    let mut order = Vec::new();
    let mut got_through = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let (current, total, all_ready) = progress(h, pods, cluster).await;
        if got_through && current == instances && total == instances && all_ready {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not finish: {current} of {total} on the new revision; restarts {order:?}; log {:?}",
            log.lock().unwrap()
        );
        let report = h.run().await;
        if report.result == "skipped" {
            assert!(!got_through, "{}", text(&report));
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        got_through = true;
        let done = restarts(&report);
        assert!(done.len() <= 1, "one restart per run: {}", text(&report));
        order.extend(done);
        if let Some(last) = log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("switchover "))
        {
            master = last.split(' ').nth(1).unwrap_or_default().to_string();
        }
        label_roles(pods, cluster, &master).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
