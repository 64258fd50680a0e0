//! Deleting the leader's pod on real Patroni: Patroni fails over by itself (a replica takes the
//! leader lock), the StatefulSet recreates the pod, whose Patroni joins as a replica on the same
//! data directory; the runs in between plan nothing destructive and the cluster converges.

use crate::support::eventually;
use crate::support::spilo::cluster::{PATRONI_WAIT, PatroniCluster, member_connection};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use postgres_reconciler::observe::postgres::connect;
use postgres_reconciler::plan::Risk;
use postgres_reconciler::report::run::text;
use serde_json::json;

const CLUSTER: &str = "acid-failover";

#[tokio::test]
async fn a_deleted_leader_pod_fails_over_and_comes_back_as_a_replica() {
    let c = PatroniCluster::start("patroni-fo", CLUSTER, 3, |h| {
        h.cluster_manifest(CLUSTER, 3, json!({}), json!({}), json!({}))
    })
    .await;
    let h = &c.h;
    let old_leader = c.wait_for_roles("before").await;
    // A failover needs replicas that stream from the leader: a replica still copying it is not a
    // candidate, and the old leader's recreated pod would take the lock back.
    let password = c.superuser_password().await;
    let leader_ip = c
        .pods()
        .await
        .get(&old_leader)
        .expect("the leader's pod")
        .1
        .clone();
    eventually(
        PATRONI_WAIT,
        "both replicas streaming from the leader",
        || async {
            let client = connect(
                &member_connection(&leader_ip, "postgres", &password),
                "postgres",
            )
            .await
            .ok()?;
            let rows = client
                .query(
                    "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'",
                    &[],
                )
                .await
                .ok()?;
            (rows.len() == 2).then_some(())
        },
    )
    .await;

    let pods: kube::Api<Pod> = h.ns.api();
    let old_uid = pods
        .get(&old_leader)
        .await
        .expect("leader pod")
        .metadata
        .uid;
    // On a node the recreated pod's Patroni starts seconds later (the image, Spilo's configure
    // step); here it would start at once and could win the leader race on its old data. So its
    // container waits until a replica holds the lock, as it would there.
    c.runner.hold(&old_leader);
    pods.delete(&old_leader, &DeleteParams::default())
        .await
        .expect("delete the leader's pod");

    // A replica takes over; the recreated pod rejoins as a replica.
    eventually(PATRONI_WAIT, "the old leader's pod back", || async {
        let back = pods.get_opt(&old_leader).await.ok()??;
        (back.metadata.uid != old_uid).then_some(())
    })
    .await;
    eventually(
        PATRONI_WAIT,
        "a replica holding the leader lock",
        || async {
            let roles = c.roles().await;
            roles
                .iter()
                .any(|(pod, role)| role == "master" && *pod != old_leader)
                .then_some(())
        },
    )
    .await;
    c.runner.release(&old_leader);
    let new_leader = c.wait_for_roles("after the failover").await;
    assert_ne!(new_leader, old_leader);
    assert_eq!(
        c.roles().await.get(&old_leader).map(String::as_str),
        Some("replica")
    );

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
