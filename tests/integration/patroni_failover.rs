//! Deleting the leader's pod on real Patroni: Patroni fails over by itself (a replica takes the
//! leader lock), the StatefulSet recreates the pod, whose Patroni joins as a replica on the same
//! data directory; the runs in between plan nothing destructive and the cluster converges.

use crate::support::chart::Release;
use crate::support::reconciler::Harness;
use crate::support::spilo::{SpiloRunner, roles};
use crate::support::{TestNamespace, eventually};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use postgres_reconciler::plan::Risk;
use postgres_reconciler::report::run::text;
use serde_json::json;
use std::time::Duration;

const PATRONI: Duration = Duration::from_secs(240);
const CLUSTER: &str = "acid-failover";

fn leader_of(roles: &std::collections::BTreeMap<String, String>) -> Option<String> {
    let masters: Vec<&String> = roles
        .iter()
        .filter(|(_, r)| *r == "master")
        .map(|(p, _)| p)
        .collect();
    (masters.len() == 1).then(|| masters[0].clone())
}

#[tokio::test]
async fn a_deleted_leader_pod_fails_over_and_comes_back_as_a_replica() {
    let release_ns = TestNamespace::new("patroni-fo-rel").await;
    let release = Release::install(&release_ns.name, &["--skip-crds"]).await;
    let mut h = Harness::new("patroni-fo").await;
    h.config.pod_cluster_role_name = release.pod_cluster_role();
    h.config.sync_patroni_config = true;
    h.cluster_secrets(CLUSTER).await;
    h.apply(h.cluster_manifest(CLUSTER, 3, json!({}), json!({}), json!({})))
        .await;
    let root = h.temp_dir("spilo-runner");
    let _runner = SpiloRunner::start(h.ns.client.clone(), &h.ns.name, &root);
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    let old_leader = eventually(PATRONI, "a leader and two replicas", || async {
        let r = roles(&h.ns.client, &h.ns.name, CLUSTER).await;
        let replicas = r.values().filter(|v| *v == "replica").count();
        leader_of(&r).filter(|_| replicas == 2)
    })
    .await;

    let pods: kube::Api<Pod> = h.ns.api();
    let old_uid = pods
        .get(&old_leader)
        .await
        .expect("leader pod")
        .metadata
        .uid;
    pods.delete(&old_leader, &DeleteParams::default())
        .await
        .expect("delete the leader's pod");

    // A replica takes over; the recreated pod rejoins as a replica.
    eventually(
        PATRONI,
        "a new leader, and the old one back as a replica",
        || async {
            let r = roles(&h.ns.client, &h.ns.name, CLUSTER).await;
            let leader = leader_of(&r)?;
            let back = pods.get_opt(&old_leader).await.ok()??;
            let recreated = back.metadata.uid != old_uid;
            (leader != old_leader
                && recreated
                && r.get(&old_leader).map(String::as_str) == Some("replica")
                && r.values().filter(|v| *v == "replica").count() == 2)
                .then_some(())
        },
    )
    .await;

    // The runs plan nothing destructive, and the cluster converges.
    let settled = h.settle(CLUSTER, 3).await;
    for run in [&settled, &h.run().await] {
        assert_ne!(run.exit_code, 1, "{}", text(run));
        for m in &run.manifests {
            for a in &m.actions {
                assert!(
                    !a.action.starts_with("replace ") && !a.action.starts_with("delete "),
                    "{}",
                    text(run)
                );
            }
        }
    }
    let planned =
        postgres_reconciler::pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
            .await
            .expect("plan");
    assert!(
        planned
            .plan
            .actions
            .iter()
            .all(|a| a.risk != Risk::Destructive),
        "{:#?}",
        planned.plan.actions
    );
    assert!(
        planned.plan.actions.is_empty(),
        "{:#?}",
        planned.plan.actions
    );
}
