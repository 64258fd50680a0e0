//! The rollout settings on the real control plane: `max_rolling_clusters` lets one cluster
//! finish before the next starts; `enable_lazy_spilo_upgrade` updates the StatefulSet and leaves
//! the pods until they restart for another reason.

use crate::support::eventually;
use crate::support::reconciler::Harness;
use crate::support::rollout::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const NEW_IMAGE: &str = "ghcr.io/zalando/spilo-17:4.0-p4";

async fn update_revision(h: &Harness, cluster: &str) -> Value {
    h.get("StatefulSet", cluster).await.expect("StatefulSet")["status"]["updateRevision"].clone()
}

/// Waits until the StatefulSet controller has a revision other than `old`.
async fn new_revision(h: &Harness, cluster: &str, old: &Value) {
    eventually(Duration::from_secs(60), "the new revision", || async {
        let now = update_revision(h, cluster).await;
        (now.is_string() && now != *old).then_some(())
    })
    .await;
}

fn held(report: &RunReport, cluster: &str) -> Option<String> {
    report
        .manifests
        .iter()
        .find(|m| m.manifest.name == cluster)
        .and_then(|m| m.rollout_held.clone())
}

#[tokio::test]
async fn with_one_rollout_slot_a_cluster_finishes_before_the_next_starts() {
    let mut h = Harness::new("rollout-slots").await;
    let log: Log = Arc::default();
    let port = patroni_stand_in(log.clone());
    h.config.patroni_url_template = format!("http://127.0.0.1:{port}");
    h.config.max_rolling_clusters = 1;
    let clusters = ["acid-slot-a", "acid-slot-b"];
    let mut pods: Option<Api<Pod>> = None;
    let mut masters = Vec::new();
    for c in clusters {
        let manifest = h.cluster_manifest(c, 2, json!({}), json!({}), json!({}));
        pods = Some(settled_cluster(&h, c, manifest).await);
        masters.push(format!("{c}-0"));
    }
    let pods = pods.expect("pods");
    let mut old = Vec::new();
    for c in clusters {
        old.push(update_revision(&h, c).await);
    }
    h.config.docker_image = NEW_IMAGE.into();
    let report = h.run().await;
    assert!(restarts(&report).is_empty(), "{}", text(&report));
    for (c, o) in clusters.iter().zip(&old) {
        new_revision(&h, c, o).await;
    }

    let mut order: Vec<String> = Vec::new();
    let mut waited_for_a_slot = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let mut done = true;
        for c in clusters {
            let (current, total, ready) = progress(&h, &pods, c).await;
            done &= current == 2 && total == 2 && ready;
        }
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollouts did not finish: {order:?}"
        );
        let report = h.run().await;
        order.extend(restarts(&report));
        if held(&report, clusters[1]).is_some_and(|why| why.contains("free rollout slot")) {
            waited_for_a_slot = true;
        }
        for (i, c) in clusters.iter().enumerate() {
            if let Some(candidate) = log.lock().unwrap().iter().rev().find_map(|l| {
                let (leader, candidate) = l.strip_prefix("switchover ")?.split_once(' ')?;
                leader.starts_with(c).then(|| candidate.to_string())
            }) {
                masters[i] = candidate;
            }
            label_roles(&pods, c, &masters[i]).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        order,
        [
            "acid-slot-a-1",
            "acid-slot-a-0",
            "acid-slot-b-1",
            "acid-slot-b-0"
        ],
        "acid-slot-a finishes before acid-slot-b starts"
    );
    assert!(waited_for_a_slot, "acid-slot-b was held for a slot");
}

#[tokio::test]
async fn a_lazy_upgrade_updates_the_statefulset_and_leaves_the_pods() {
    let mut h = Harness::new("rollout-lazy").await;
    h.config.enable_lazy_spilo_upgrade = true;
    let cluster = "acid-lazy";
    let manifest = h.cluster_manifest(cluster, 2, json!({}), json!({}), json!({}));
    let pods = settled_cluster(&h, cluster, manifest).await;
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    let uids = |list: Vec<Pod>| {
        let mut v: Vec<String> = list.into_iter().filter_map(|p| p.metadata.uid).collect();
        v.sort();
        v
    };
    let before = uids(pods.list(&selector).await.expect("pods").items);
    let old = update_revision(&h, cluster).await;

    h.config.docker_image = NEW_IMAGE.into();
    h.run().await;
    new_revision(&h, cluster, &old).await;
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"], NEW_IMAGE,
        "the StatefulSet has the new image"
    );
    for _ in 0..3 {
        let report = h.run().await;
        assert!(restarts(&report).is_empty(), "{}", text(&report));
        let why = held(&report, cluster).unwrap_or_default();
        assert!(why.contains("lazy upgrade"), "{why}\n{}", text(&report));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        uids(pods.list(&selector).await.expect("pods").items),
        before
    );
    let rolling = rolling_update(&h.status("postgresql", cluster).await);
    assert_eq!(rolling["reason"], "LazyUpgrade", "{rolling}");
    assert!(
        rolling["message"].as_str().is_some_and(|m| m
            .starts_with("0 of 2 pods on the new revision; 2 of 2 pods outdated; lazy upgrade")),
        "{rolling}"
    );

    // A pod restarted for another reason comes back on the new revision.
    pods.delete(&format!("{cluster}-1"), &DeleteParams::default())
        .await
        .expect("delete a pod");
    eventually(
        Duration::from_secs(60),
        "the pod back on the new revision",
        || async {
            let (current, total, ready) = progress(&h, &pods, cluster).await;
            (current == 1 && total == 2 && ready).then_some(())
        },
    )
    .await;
    h.run().await;
    let rolling = rolling_update(&h.status("postgresql", cluster).await);
    assert!(
        rolling["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("1 of 2 pods on the new revision")),
        "{rolling}"
    );
}
