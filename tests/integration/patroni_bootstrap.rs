//! Real Patroni behind the kwok pods (the Spilo runner): a 3-instance cluster made by `apply`
//! bootstraps from our StatefulSet. Patroni elects one leader, the two others stream from it,
//! Patroni sets the `spilo-role` labels itself, and none of its API requests is refused by the
//! RBAC we render for Spilo pods.

use crate::support::chart::Release;
use crate::support::eventually;
use crate::support::reconciler::Harness;
use crate::support::spilo::{SpiloRunner, roles};
use crate::support::{TestEnv, TestNamespace};
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::{PgConnection, connect};
use postgres_reconciler::report::run::text;
use serde_json::json;
use std::time::Duration;

/// Patroni's bootstrap (initdb, then a basebackup per replica) is minutes at most.
const BOOTSTRAP: Duration = Duration::from_secs(240);

#[tokio::test]
async fn a_three_instance_cluster_bootstraps_under_real_patroni() {
    let release_ns = TestNamespace::new("patroni-rel").await;
    let release = Release::install(&release_ns.name, &["--skip-crds"]).await;
    let mut h = Harness::new("patroni-boot").await;
    h.config.pod_cluster_role_name = release.pod_cluster_role();
    let cluster = "acid-patroni";
    // The reconciler's SQL still goes to the shared test server: its superuser password.
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({})))
        .await;
    let root = h.temp_dir("spilo-runner");
    let runner = SpiloRunner::start(h.ns.client.clone(), &h.ns.name, &root);
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));

    // Patroni labels the pods: one master, two replicas.
    let labels = eventually(
        BOOTSTRAP,
        "one master and two replicas labelled by Patroni",
        || async {
            let roles = roles(&h.ns.client, &h.ns.name, cluster).await;
            let masters = roles.values().filter(|r| *r == "master").count();
            let replicas = roles.values().filter(|r| *r == "replica").count();
            (masters == 1 && replicas == 2).then_some(roles)
        },
    )
    .await;
    let leader = labels
        .iter()
        .find(|(_, r)| *r == "master")
        .map(|(p, _)| p.clone())
        .expect("a leader");

    // Both replicas stream from the leader.
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = h.ns.api();
    let ip = pods
        .get(&leader)
        .await
        .expect("leader pod")
        .status
        .and_then(|s| s.pod_ip)
        .expect("pod IP");
    let password = h
        .secret_password(&h.secret_name("postgres", cluster))
        .await
        .expect("superuser Secret");
    let conn = PgConnection {
        host: ip,
        port: 5432,
        user: "postgres".into(),
        password,
        // The pod's certificate is self-signed, as Spilo's own when none is mounted.
        sslmode: SslMode::Require,
        ca_file: None,
        connect_timeout: Duration::from_secs(10),
    };
    let streaming = eventually(
        BOOTSTRAP,
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
        let log = runner.log(pod);
        assert!(
            !log.contains("403") && !log.contains("Forbidden"),
            "Patroni of {pod} was refused something:\n{log}"
        );
    }
    let _ = TestEnv::get();
    drop(runner);
}
