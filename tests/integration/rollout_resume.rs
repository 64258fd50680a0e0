//! A run killed in the middle of a rolling update, on real Patroni: the `apply` binary reaches the apiserver
//! through a fault-injecting proxy that stops answering right after the run's pod eviction, and is
//! then killed (SIGKILL) — the pod is gone, the status and the Lease are as the run left them.
//! The next runs take the expired Lease over and finish the rollout: no pod restarted twice,
//! never fewer than 2 Ready pods, the master last. The cluster runs in `synchronous_mode`, where
//! Patroni takes a switchover only to its synchronous standby.

use crate::support::eventually;
use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::rollout::*;
use crate::support::spilo::cluster::PatroniCluster;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn a_run_killed_after_a_pod_delete_is_resumed_by_the_next() {
    let cluster = "acid-kill";
    // In synchronous mode: Patroni switches over only to the synchronous standby.
    let mut c = PatroniCluster::start("rollout-kill", cluster, 3, |h| {
        let mut m = h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({}));
        m["spec"]["patroni"] = json!({"synchronous_mode": true});
        m
    })
    .await;
    // Short, so the next run may take over the Lease the killed run leaves behind.
    c.h.config.lease_duration_seconds = 5;
    let log: Log = Arc::default();
    let pods: Api<Pod> = c.h.ns.api();
    let master = c.wait_for_roles("bootstrap").await;
    let armed = Arc::new(Mutex::new(false));
    let fewest = watch_pods(pods.clone(), cluster, log.clone(), armed.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    *armed.lock().unwrap() = true;

    // The image changes; this run updates the StatefulSet only.
    let old_revision =
        c.h.get("StatefulSet", cluster).await.expect("sts")["status"]["updateRevision"].clone();
    c.h.config.docker_image = "ghcr.io/zalando/spilo-17:4.0-p4".into();
    let c = c;
    let h = &c.h;
    let report = h.run().await;
    assert!(restarts(&report).is_empty(), "{}", text(&report));
    eventually(Duration::from_secs(60), "the new revision", || async {
        let now = h.get("StatefulSet", cluster).await?["status"]["updateRevision"].clone();
        (now.is_string() && now != old_revision).then_some(())
    })
    .await;

    // The binary runs until its first pod delete has been answered; then it is killed.
    let dir = h.temp_dir("kill");
    let pods_path = format!("/api/v1/namespaces/{}/pods/", h.ns.name);
    let proxy = FaultProxy::start(
        &dir,
        Fault::FreezeAfter(Box::new(move |method, path| {
            // A restart is an eviction (the pod's deletion, with its budgets' consent).
            method == http::Method::POST
                && path.starts_with(&pods_path)
                && path.ends_with("/eviction")
        })),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status_before = loop {
        let status_before = h.status("postgresql", cluster).await;
        let mut child = h.spawn_apply(&dir, &proxy.kubeconfig);
        let frozen = tokio::select! {
            _ = proxy.frozen() => true,
            _ = async {
                while child.try_wait().expect("wait").is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => false,
        };
        if frozen {
            child.kill().expect("kill the run");
            child.wait().expect("reap the run");
            break status_before;
        }
        // That run had nothing to restart yet (the controller still catching up): again.
        let output = std::fs::read_to_string(dir.join("apply.log")).unwrap_or_default();
        assert!(
            tokio::time::Instant::now() < deadline,
            "no run restarted a pod; last run:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // The kill landed between the eviction and everything after it.
    let forwarded = proxy.forwarded();
    let last = forwarded.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "POST /api/v1/namespaces/{}/pods/{cluster}-",
            h.ns.name
        )),
        "the pod's eviction is the killed run's last request: {forwarded:#?}"
    );
    let killed_pod = last
        .trim_end_matches("/eviction")
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_ne!(killed_pod, master, "a replica first");
    let status_after_kill = h.status("postgresql", cluster).await;
    assert_eq!(
        status_after_kill, status_before,
        "the killed run wrote no status"
    );
    let leases: Api<Lease> = Api::namespaced(h.ns.client.clone(), &h.ns.name);
    let lease = leases.get("postgres-reconciler").await.expect("lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(!holder.is_empty(), "the killed run still holds the Lease");
    drop(proxy);

    // The next runs: wait out the Lease, then finish the rollout one pod at a time.
    let mut order = vec![killed_pod.clone()];
    order.extend(drive_rollout(h, &pods, cluster, 3, &log).await);

    let events = log.lock().unwrap().clone();
    assert_eq!(
        order.len(),
        3,
        "every pod restarted once: {order:?} {events:?}"
    );
    assert_eq!(order[2], master, "the master last: {order:?}");
    let mut distinct = order.clone();
    distinct.sort();
    distinct.dedup();
    // What the runs did, from their reports; the pod watch is there for the Ready counts.
    assert_eq!(
        distinct.len(),
        3,
        "no pod restarted twice: {order:?}; watch: {events:?}"
    );
    assert_eq!(
        *fewest.lock().unwrap(),
        2,
        "the fewest Ready pods seen during the rollout"
    );
    h.run().await;
    let rolling: Value = rolling_update(&h.status("postgresql", cluster).await);
    assert_eq!(rolling["status"], "False", "{rolling}");
    assert_eq!(rolling["message"], "3 of 3 pods on the new revision");
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    assert_eq!(pods.list(&selector).await.expect("pods").items.len(), 3);
}
