//! Real Patroni behind the kwok pods (the Spilo runner): a 3-instance cluster made by `apply`
//! bootstraps from our StatefulSet. Patroni elects one leader, the two others stream from it,
//! Patroni sets the `spilo-role` labels itself, and none of its API requests is refused by the
//! RBAC we render for Spilo pods.

use crate::support::eventually;
use crate::support::spilo::cluster::{PATRONI_WAIT, PatroniCluster, member_connection};
use postgres_reconciler::observe::postgres::connect;
use serde_json::json;

#[tokio::test]
async fn a_three_instance_cluster_bootstraps_under_real_patroni() {
    let cluster = "acid-patroni";
    let c = PatroniCluster::start("patroni-boot", cluster, 3, |h| {
        h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({}))
    })
    .await;
    let labels = c.roles().await;
    let leader = c.wait_for_roles("labels").await;

    // Both replicas stream from the leader.
    let (_, ip) = c.pods().await.remove(&leader).expect("the leader's pod");
    let conn = member_connection(&ip, "postgres", &c.superuser_password().await);
    let streaming = eventually(
        PATRONI_WAIT,
        "two replicas streaming from the leader",
        || async {
            let client = connect(&conn, "postgres").await.ok()?;
            let rows = client
                .query(
                    "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
                    &[],
                )
                .await
                .ok()?;
            let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            (names.len() == 2).then_some(names)
        },
    )
    .await;
    for name in &streaming {
        assert_eq!(
            labels.get(name).map(String::as_str),
            Some("replica"),
            "{streaming:?}"
        );
    }

    // Nothing Patroni asked of the apiserver was refused.
    for pod in labels.keys() {
        let log = c.runner.log(pod);
        assert!(
            // Patroni logs a refused Kubernetes request as an ApiException "(403)" "Forbidden"
            // (a bare "403" also appears in timings such as "write=0.403 s").
            !log.contains("(403)") && !log.contains("Forbidden"),
            "Patroni of {pod} was refused something:\n{log}"
        );
    }
}
