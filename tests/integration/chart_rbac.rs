//! RBAC of the Helm chart: `apply` run as the chart's ServiceAccount (impersonation) reconciles a
//! cluster, with cluster-wide rights and in namespaced mode; in namespaced mode the identity
//! cannot read other namespaces (403).

use crate::support::chart::{Release, WAIT, cluster_client_as, granted};
use crate::support::reconciler::Harness;
use crate::support::{TestNamespace, unique_name};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, PostParams};
use postgres_reconciler::apply::run::{ApplyOptions, run};
use postgres_reconciler::observe::cluster::{
    MANIFEST_KINDS, OWNED_KINDS, OWNED_SELECTOR, Scope, list_all,
};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::time::Duration;

/// The request was refused by RBAC (the response itself is never printed: it may hold Secrets).
fn forbidden<T>(result: Result<T, kube::Error>) -> bool {
    match result {
        Err(kube::Error::Api(s)) => s.code == 403,
        Err(e) => panic!("expected 403 Forbidden, got {e}"),
        Ok(_) => panic!("expected 403 Forbidden, the request succeeded"),
    }
}

/// Every action of the run applied; panics with the report otherwise.
fn assert_all_applied(report: &RunReport) {
    assert_eq!(report.exit_code, 0, "{}", text(report));
    for a in report
        .manifests
        .iter()
        .flat_map(|m| m.actions.iter())
        .chain(&report.shared)
    {
        assert_eq!(
            a.result,
            ActionResult::Applied,
            "{}: {:?}\n{}",
            a.action,
            a.result,
            text(report)
        );
    }
}

/// A one-instance cluster with a user and a database (names prefixed by the test).
async fn cluster_manifest(h: &Harness, cluster: &str) {
    h.cluster_secrets(cluster).await;
    let (owner, db) = (h.name("owner"), h.name("shop"));
    h.apply(h.cluster_manifest(
        cluster,
        1,
        json!({owner.as_str(): ["createdb"]}),
        json!({db.as_str(): owner}),
        json!({}),
    ))
    .await;
}

#[tokio::test]
async fn apply_as_the_charts_service_account_reconciles_a_cluster() {
    // The manifests' namespace (with the configuration reaching the test PostgreSQL).
    let h = Harness::new("chart-rbac").await;
    let release_ns = TestNamespace::new("chart-rbac-rel").await;
    let release = Release::install(&release_ns.name, &["--skip-crds"]).await;
    let user = release.service_account_user();
    let cluster_client = cluster_client_as(&user).await;
    let client = cluster_client.client.clone();

    // Cluster scope: the identity lists manifests and owned objects in every namespace.
    granted("the ClusterRoleBinding to take effect", || async {
        list_all(&client, &Scope::All, MANIFEST_KINDS[0], None)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                postgres_reconciler::observe::cluster::ClusterError::List { source, .. } => source,
                other => panic!("{other}"),
            })
    })
    .await;
    for &kind in MANIFEST_KINDS {
        list_all(&client, &Scope::All, kind, None)
            .await
            .unwrap_or_else(|e| panic!("list {} in all namespaces: {e}", kind.2));
    }
    for &kind in OWNED_KINDS {
        list_all(&client, &Scope::All, kind, Some(OWNED_SELECTOR))
            .await
            .unwrap_or_else(|e| panic!("list {} in all namespaces: {e}", kind.2));
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), &release_ns.name);
    granted("the release namespace's Role to take effect", || async {
        leases.get_opt("postgres-reconciler").await.map(|_| ())
    })
    .await;
    // Nothing beyond the rules: no other workloads; Deployments (the connection poolers) and
    // CronJobs (the clusters' logical backups) but not the Jobs they start, which only the
    // watcher creates, and never deletes.
    assert!(forbidden(
        Api::<ReplicaSet>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));
    Api::<Deployment>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("the connection poolers' Deployments are listed");
    Api::<CronJob>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("the logical backup CronJobs are listed");
    assert!(forbidden(
        Api::<Job>::namespaced(client.clone(), &release_ns.name)
            .delete("another-job", &Default::default())
            .await
    ));

    // apply, as the CronJob's pod would run it (its Lease in the release namespace); only the
    // test's namespace is in scope, so the shared apiserver's other tests are left alone.
    let cluster = "acid-chart";
    cluster_manifest(&h, cluster).await;
    let mut config = h.config.clone();
    config.release_namespace = release_ns.name.clone();
    config.pod_cluster_role_name = release.pod_cluster_role();
    let options = ApplyOptions {
        allow_destructive: false,
        lease_namespace: release_ns.name.clone(),
        identity: unique_name("chart-run"),
        lease_duration: Duration::from_secs(60),
        lease_wait: Duration::ZERO,
    };
    let apply_once = || async {
        let cluster_client = cluster_client_as(&user).await;
        run(&config, &cluster_client, &h.source, &options)
            .await
            .unwrap_or_else(|e| panic!("apply as {user}: {e}"))
    };
    let first = apply_once().await;
    assert_eq!(first.result, "applied", "{}", text(&first));
    assert_all_applied(&first);
    let done: Vec<&str> = first
        .manifests
        .iter()
        .flat_map(|m| m.actions.iter())
        .chain(&first.shared)
        .map(|a| a.action.as_str())
        .collect();
    let ns = &h.ns.name;
    for expected in [
        format!("create StatefulSet {ns}/{cluster}"),
        format!(
            "create Secret {ns}/{}",
            h.secret_name(&h.name("owner"), cluster)
        ),
        format!("create Endpoints {ns}/{cluster}"),
        format!("create RoleBinding {ns}/postgres-pod"),
    ] {
        assert!(
            done.contains(&expected.as_str()),
            "{expected} not in {done:#?}"
        );
    }
    // The pods are bound to the chart's ClusterRole, which exists with Zalando's rules.
    let binding = h
        .get("RoleBinding", "postgres-pod")
        .await
        .expect("RoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(
        binding["roleRef"]["name"],
        release.pod_cluster_role().as_str()
    );
    let pod_role = Api::<ClusterRole>::all(h.ns.client.clone())
        .get(&release.pod_cluster_role())
        .await
        .expect("the chart's Spilo ClusterRole");
    let resources: Vec<String> = pod_role
        .rules
        .iter()
        .flatten()
        .flat_map(|r| r.resources.clone().unwrap_or_default())
        .collect();
    assert_eq!(resources, ["configmaps", "endpoints", "pods", "services"]);

    // Pods come up (kwok); a later run as the same identity records Running.
    h.wait_ready(cluster, 1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let report = apply_once().await;
        assert_all_applied(&report);
        let live = h.get("postgresql", cluster).await.expect("manifest");
        if live["status"]["PostgresClusterStatus"] == "Running"
            && live["status"]["observedGeneration"] == live["metadata"]["generation"]
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for Running: {:#}\n{}",
            live["status"],
            text(&report)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // The run's Lease lives in the release namespace (released), and its Events were written.
    let lease = Api::<Lease>::namespaced(release_ns.client.clone(), &release_ns.name)
        .get("postgres-reconciler")
        .await
        .expect("the Lease in the release namespace");
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .is_none_or(|h| h.is_empty()),
        "released"
    );
    let events = list_all(
        &h.ns.client,
        &Scope::Namespaces(vec![ns.clone()]),
        ("events.k8s.io/v1", "Event", "events"),
        None,
    )
    .await
    .expect("list events");
    assert!(
        events
            .iter()
            .any(|e| e["regarding"]["name"] == cluster && e["regarding"]["kind"] == "postgresql"),
        "an Event for the manifest: {events:#?}"
    );
}

#[tokio::test]
async fn namespaced_mode_reconciles_its_namespaces_and_cannot_read_others() {
    let h = Harness::new("chart-nsd").await;
    let other = TestNamespace::new("chart-nsd-other").await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "not-yours"},
        "stringData": {"password": "secret"}
    }))
    .expect("secret");
    other
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
    let release_ns = TestNamespace::new("chart-nsd-rel").await;
    let watched = format!(r#"watchedNamespaces=["{}"]"#, h.ns.name);
    let release = Release::install(
        &release_ns.name,
        &[
            "--skip-crds",
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            &watched,
        ],
    )
    .await;
    assert!(
        Api::<ClusterRole>::all(h.ns.client.clone())
            .get_opt(&release.fullname())
            .await
            .expect("get")
            .is_none(),
        "no cluster-wide rights in namespaced mode"
    );
    let config_map = release_ns
        .api::<ConfigMap>()
        .get(&format!("{}-config", release.fullname()))
        .await
        .expect("ConfigMap");
    let file = config_map
        .data
        .and_then(|d| d.get("config.yaml").cloned())
        .expect("config.yaml");
    let parsed: Value = serde_yaml::from_str(&file).expect("YAML");
    assert_eq!(parsed["watched_namespaces"], json!([h.ns.name]), "{file}");

    let user = release.service_account_user();
    let client = cluster_client_as(&user).await.client;
    let mine: Api<Secret> = Api::namespaced(client.clone(), &h.ns.name);
    granted(
        "the Role in the watched namespace to take effect",
        || async { mine.list(&ListParams::default()).await.map(|_| ()) },
    )
    .await;
    let theirs: Api<Secret> = Api::namespaced(client.clone(), &other.name);
    assert!(forbidden(theirs.get("not-yours").await));
    assert!(forbidden(theirs.list(&ListParams::default()).await));
    assert!(forbidden(
        Api::<Secret>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));

    // A run limited to the watched namespace creates everything a cluster needs, the Spilo
    // pods' Role included, with the namespace's Role alone.
    let cluster = "acid-nsd";
    cluster_manifest(&h, cluster).await;
    let mut config = h.config.clone();
    config.release_namespace = release_ns.name.clone();
    config.pod_cluster_role_name = release.pod_cluster_role();
    config.watched_namespaces = vec![h.ns.name.clone()];
    let options = ApplyOptions {
        allow_destructive: false,
        lease_namespace: release_ns.name.clone(),
        identity: unique_name("chart-run"),
        lease_duration: Duration::from_secs(60),
        lease_wait: Duration::ZERO,
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), &release_ns.name);
    granted("the release namespace's Role to take effect", || async {
        leases.get_opt("postgres-reconciler").await.map(|_| ())
    })
    .await;
    let report = run(
        &config,
        &cluster_client_as(&user).await,
        &h.source,
        &options,
    )
    .await
    .unwrap_or_else(|e| panic!("apply as {user}: {e}"));
    assert_all_applied(&report);
    assert!(
        report
            .shared
            .iter()
            .any(|a| a.action == format!("create RoleBinding {}/postgres-pod", h.ns.name)),
        "{}",
        text(&report)
    );
    assert!(h.get("StatefulSet", cluster).await.is_some());
}
