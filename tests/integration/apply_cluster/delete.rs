//! A deleted cluster leaves its volume claims, credential Secrets, roles and databases behind.

use super::applied;
use crate::support::eventually;
use crate::support::reconciler::{Harness, database_owner, role};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, ListParams};
use postgres_reconciler::report::run::text;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn a_deleted_cluster_leaves_its_claims_secrets_and_databases() {
    let h = Harness::new("apply-delete").await;
    let cluster = "acid-delete";
    h.cluster_secrets(cluster).await;
    let (owner, shop) = (h.name("owner"), h.name("shop"));
    h.apply(h.cluster_manifest(
        cluster,
        2,
        json!({owner.as_str(): []}),
        json!({shop.as_str(): owner}),
        json!({}),
    ))
    .await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.wait_ready(cluster, 2).await;
    let claims = h.ns.api::<PersistentVolumeClaim>();
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    let claim_names = eventually(Duration::from_secs(60), "2 volume claims", || async {
        let names: BTreeSet<String> = claims
            .list(&selector)
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        (names.len() == 2).then_some(names)
    })
    .await;
    let secrets = [
        h.secret_name("postgres", cluster),
        h.secret_name("standby", cluster),
        h.secret_name(&owner, cluster),
    ];
    for s in &secrets {
        assert!(h.get("Secret", s).await.is_some(), "{s}");
    }

    h.api("postgresql")
        .delete(cluster, &DeleteParams::default())
        .await
        .expect("delete the manifest");
    eventually(Duration::from_secs(30), "the manifest to go", || async {
        h.get("postgresql", cluster).await.is_none().then_some(())
    })
    .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    // What the run deletes (the garbage collector may have been first) never includes data.
    for action in applied(&report) {
        assert!(
            !action.contains("Secret") && !action.contains("PersistentVolumeClaim"),
            "{action}"
        );
        assert!(!action.starts_with("sql "), "{action}");
    }

    for (kind, name) in [
        ("StatefulSet", cluster.to_string()),
        ("Service", cluster.to_string()),
        ("Service", format!("{cluster}-repl")),
        ("Service", format!("{cluster}-config")),
        ("PodDisruptionBudget", format!("postgres-{cluster}-pdb")),
    ] {
        eventually(
            Duration::from_secs(60),
            &format!("{kind} {name} to be gone"),
            || async { h.get(kind, &name).await.is_none().then_some(()) },
        )
        .await;
    }
    // The data stays: claims, credentials, roles and databases.
    let left: BTreeSet<String> = claims
        .list(&selector)
        .await
        .expect("claims")
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, claim_names);
    for s in &secrets {
        assert!(h.get("Secret", s).await.is_some(), "{s} is kept");
    }
    assert_eq!(database_owner(&shop).await.as_deref(), Some(owner.as_str()));
    assert!(role(&owner).await.is_some());

    // Another run changes nothing more.
    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    assert_eq!(again.totals.total(), 0, "{}", text(&again));
    assert_eq!(database_owner(&shop).await.as_deref(), Some(owner.as_str()));
}
