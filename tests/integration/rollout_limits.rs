//! The rollout settings, on real Patroni: `max_rolling_clusters` lets one cluster finish before
//! the next starts; `enable_lazy_spilo_upgrade` updates the StatefulSet and leaves the pods until
//! they restart for another reason.

use crate::support::eventually;
use crate::support::reconciler::Harness;
use crate::support::rollout::*;
use crate::support::spilo::cluster::PatroniCluster;
use crate::support::spilo::roles;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
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
    let clusters = ["acid-slot-a", "acid-slot-b"];
    let mut c = PatroniCluster::start("rollout-slots", clusters[0], 2, |h| {
        h.cluster_manifest(clusters[0], 2, json!({}), json!({}), json!({}))
    })
    .await;
    let second =
        c.h.cluster_manifest(clusters[1], 2, json!({}), json!({}), json!({}));
    let mut leaders = vec![c.wait_for_roles("bootstrap").await];
    leaders.push(c.add(clusters[1], 2, second).await);
    let mut old = Vec::new();
    for cluster in clusters {
        old.push(update_revision(&c.h, cluster).await);
    }
    c.h.config.max_rolling_clusters = 1;
    // The operator's image changes (the manifests name none).
    c.h.config.docker_image = NEW_IMAGE.into();
    let c = c;
    let h = &c.h;
    let pods: Api<Pod> = h.ns.api();
    let report = h.run().await;
    assert!(restarts(&report).is_empty(), "{}", text(&report));
    for (c, o) in clusters.iter().zip(&old) {
        new_revision(h, c, o).await;
    }

    let mut order: Vec<String> = Vec::new();
    let mut waited_for_a_slot = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let mut done = true;
        for cluster in clusters {
            let (current, total, ready) = progress(h, &pods, cluster).await;
            let roles = roles(&h.ns.client, &h.ns.name, cluster).await;
            let led = roles.values().filter(|r| *r == "master").count() == 1;
            done &= current == 2 && total == 2 && ready && led;
        }
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollouts did not finish: {order:?}"
        );
        let report = h.run().await;
        assert_ne!(report.exit_code, 1, "{}", text(&report));
        order.extend(restarts(&report));
        if held(&report, clusters[1]).is_some_and(|why| why.contains("free rollout slot")) {
            waited_for_a_slot = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Each cluster: its replica, then its leader after the switchover.
    let replica = |cluster: &str, leader: &str| {
        [format!("{cluster}-0"), format!("{cluster}-1")]
            .into_iter()
            .find(|p| p != leader)
            .expect("two pods")
    };
    assert_eq!(
        order,
        [
            replica(clusters[0], &leaders[0]),
            leaders[0].clone(),
            replica(clusters[1], &leaders[1]),
            leaders[1].clone(),
        ],
        "acid-slot-a finishes before acid-slot-b starts"
    );
    assert!(waited_for_a_slot, "acid-slot-b was held for a slot");
}

#[tokio::test]
async fn a_lazy_upgrade_updates_the_statefulset_and_leaves_the_pods() {
    let cluster = "acid-lazy";
    let mut c = PatroniCluster::start("rollout-lazy", cluster, 2, |h| {
        h.cluster_manifest(cluster, 2, json!({}), json!({}), json!({}))
    })
    .await;
    c.h.config.enable_lazy_spilo_upgrade = true;
    let pods: Api<Pod> = c.h.ns.api();
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    let uids = |list: Vec<Pod>| {
        let mut v: Vec<String> = list.into_iter().filter_map(|p| p.metadata.uid).collect();
        v.sort();
        v
    };
    let before = uids(pods.list(&selector).await.expect("pods").items);
    let old = update_revision(&c.h, cluster).await;

    c.h.config.docker_image = NEW_IMAGE.into();
    c.h.run().await;
    new_revision(&c.h, cluster, &old).await;
    let sts = c.h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"], NEW_IMAGE,
        "the StatefulSet has the new image"
    );
    for _ in 0..3 {
        let report = c.h.run().await;
        assert!(restarts(&report).is_empty(), "{}", text(&report));
        let why = held(&report, cluster).unwrap_or_default();
        assert!(why.contains("lazy upgrade"), "{why}\n{}", text(&report));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        uids(pods.list(&selector).await.expect("pods").items),
        before
    );
    let rolling = rolling_update(&c.h.status("postgresql", cluster).await);
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
            let (current, total, ready) = progress(&c.h, &pods, cluster).await;
            (current == 1 && total == 2 && ready).then_some(())
        },
    )
    .await;
    c.h.run().await;
    let rolling = rolling_update(&c.h.status("postgresql", cluster).await);
    assert!(
        rolling["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("1 of 2 pods on the new revision")),
        "{rolling}"
    );
}
