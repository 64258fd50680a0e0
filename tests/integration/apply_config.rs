//! `apply` of `PostgreSQLConfig` manifests on a cluster of the test: the database and its owner
//! are created, an owner change is an `ALTER DATABASE … OWNER TO`, `reclaimPolicy: Retain` keeps
//! the database when the manifest goes, `reclaimPolicy: Delete` holds the manifest with a
//! finalizer until a run has dropped the database.

use crate::support::eventually;
use crate::support::reconciler::{Harness, database_owner, role};
use kube::api::DeleteParams;
use postgres_reconciler::apply::run::DROP_DATABASE_FINALIZER;
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

fn config(
    h: &Harness,
    name: &str,
    database: &str,
    owner: &str,
    cluster: &str,
    policy: &str,
) -> Value {
    json!({
        "apiVersion": "containerconf.de/v1",
        "kind": "PostgreSQLConfig",
        "metadata": {"name": name, "namespace": h.ns.name},
        "spec": {
            "database": database,
            "owner": owner,
            "server": {"cluster": cluster},
            "reclaimPolicy": policy,
        }
    })
}

fn applied(report: &RunReport, manifest: &str) -> BTreeSet<String> {
    let m = report
        .manifests
        .iter()
        .find(|m| m.manifest.name == manifest)
        .unwrap_or_else(|| panic!("{manifest} in the report:\n{}", text(report)));
    for a in &m.actions {
        assert_eq!(
            a.result,
            ActionResult::Applied,
            "{}\n{}",
            a.action,
            text(report)
        );
    }
    m.actions.iter().map(|a| a.action.clone()).collect()
}

fn finalizers(live: &Value) -> Vec<String> {
    live["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn postgresqlconfig_creates_changes_and_reclaims_its_database() {
    let h = Harness::new("apply-config").await;
    let cluster = "acid-cfg";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;
    let (kept, dropped) = (h.name("kept"), h.name("dropped"));
    let (owner, new_owner) = (h.name("owner"), h.name("owner2"));
    h.apply(config(&h, "kept", &kept, &owner, cluster, "Retain"))
        .await;
    h.apply(config(&h, "dropped", &dropped, &owner, cluster, "Delete"))
        .await;

    // Create: both databases with their (shared) owner, a NOLOGIN role.
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let ns = &h.ns.name;
    let on = format!("on cluster {ns}/{cluster} (database postgres)");
    assert!(
        applied(&report, "kept").contains(&format!("sql database {kept} {on}")),
        "{}",
        text(&report)
    );
    assert!(
        applied(&report, "dropped").contains(&format!("update PostgreSQLConfig {ns}/dropped")),
        "{}",
        text(&report)
    );
    assert_eq!(database_owner(&kept).await.as_deref(), Some(owner.as_str()));
    assert_eq!(
        database_owner(&dropped).await.as_deref(),
        Some(owner.as_str())
    );
    let owner_role = role(&owner).await.expect("owner role");
    assert!(!owner_role.login && !owner_role.createdb, "{owner_role:?}");

    // Only the Delete manifest carries the finalizer.
    let live_dropped = h.get("PostgreSQLConfig", "dropped").await.expect("dropped");
    assert_eq!(finalizers(&live_dropped), [DROP_DATABASE_FINALIZER]);
    let live_kept = h.get("PostgreSQLConfig", "kept").await.expect("kept");
    assert!(finalizers(&live_kept).is_empty(), "{live_kept}");
    for name in ["kept", "dropped"] {
        let status = h.status("PostgreSQLConfig", name).await;
        assert_eq!(status["phase"], "Ready", "{name}: {status}");
    }

    // Nothing left to do: the next run changes nothing.
    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    for name in ["kept", "dropped"] {
        assert!(applied(&again, name).is_empty(), "{}", text(&again));
    }

    // Owner change: ALTER DATABASE … OWNER TO, the new owner created first.
    h.apply(config(&h, "kept", &kept, &new_owner, cluster, "Retain"))
        .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let expected: BTreeSet<String> = [
        format!("sql role {new_owner} {on}"),
        format!("sql database {kept} {on}"),
    ]
    .into();
    assert_eq!(applied(&report, "kept"), expected, "{}", text(&report));
    assert_eq!(
        database_owner(&kept).await.as_deref(),
        Some(new_owner.as_str())
    );
    assert_eq!(
        database_owner(&dropped).await.as_deref(),
        Some(owner.as_str())
    );

    // Retain: the manifest goes at once, the database stays.
    h.api("PostgreSQLConfig")
        .delete("kept", &DeleteParams::default())
        .await
        .expect("delete kept");
    eventually(Duration::from_secs(30), "kept to be gone", || async {
        h.get("PostgreSQLConfig", "kept")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(
        database_owner(&kept).await.as_deref(),
        Some(new_owner.as_str())
    );

    // Delete: the finalizer holds the manifest until a run drops the database.
    h.api("PostgreSQLConfig")
        .delete("dropped", &DeleteParams::default())
        .await
        .expect("delete dropped");
    let terminating = h
        .get("PostgreSQLConfig", "dropped")
        .await
        .expect("held by the finalizer");
    assert!(
        terminating["metadata"]["deletionTimestamp"].is_string(),
        "{terminating}"
    );
    assert_eq!(
        database_owner(&dropped).await.as_deref(),
        Some(owner.as_str())
    );
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let expected: BTreeSet<String> = [
        format!("sql database {dropped} {on}"),
        format!("update PostgreSQLConfig {ns}/dropped"),
    ]
    .into();
    assert_eq!(applied(&report, "dropped"), expected, "{}", text(&report));
    assert_eq!(database_owner(&dropped).await, None, "dropped");
    eventually(Duration::from_secs(30), "dropped to be gone", || async {
        h.get("PostgreSQLConfig", "dropped")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    // Roles are never dropped; the retained database is still there.
    assert!(role(&owner).await.is_some());
    assert_eq!(
        database_owner(&kept).await.as_deref(),
        Some(new_owner.as_str())
    );

    let last = h.run().await;
    assert_eq!(last.exit_code, 0, "{}", text(&last));
    assert_eq!(last.totals.total(), 0, "{}", text(&last));
}

#[tokio::test]
async fn postgresqlconfig_on_an_external_server() {
    // A server described by a Secret (host, port, user, password, sslmode): the test server.
    let h = Harness::new("apply-external").await;
    let pg = crate::support::PgTarget::superuser();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "external-pg"},
        "stringData": {
            "host": "127.0.0.1", "port": pg.port.to_string(), "user": pg.user,
            "password": pg.password, "sslmode": "verify-full",
        }
    }))
    .expect("secret");
    h.ns.api::<k8s_openapi::api::core::v1::Secret>()
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .expect("create the server's Secret");
    let (database, owner) = (h.name("ext"), h.name("ext_owner"));
    h.apply(json!({
        "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
        "metadata": {"name": "ext", "namespace": h.ns.name},
        "spec": {
            "database": database, "owner": owner,
            "server": {"secretName": "external-pg"}, "reclaimPolicy": "Delete",
        }
    }))
    .await;

    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let on = format!("on external {}/external-pg (database postgres)", h.ns.name);
    assert!(
        applied(&report, "ext").contains(&format!("sql database {database} {on}")),
        "{}",
        text(&report)
    );
    assert_eq!(
        database_owner(&database).await.as_deref(),
        Some(owner.as_str())
    );
    assert_eq!(h.status("PostgreSQLConfig", "ext").await["phase"], "Ready");

    let again = h.run().await;
    assert_eq!(again.writes, 0, "{:?}\n{}", again.requests, text(&again));

    h.api("PostgreSQLConfig")
        .delete("ext", &DeleteParams::default())
        .await
        .expect("delete ext");
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(database_owner(&database).await, None);
    eventually(Duration::from_secs(30), "ext to be gone", || async {
        h.get("PostgreSQLConfig", "ext")
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

/// The workshop's manifest as it was written: only `database` and `owner` (and here the reclaim
/// policy), on the configuration's `default_database_server`.
#[tokio::test]
async fn a_workshop_manifest_without_a_server_uses_the_configured_default() {
    let mut h = Harness::new("apply-config-default").await;
    let cluster = "acid-cfg-default";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;
    let (db, owner, new_owner) = (h.name("shop"), h.name("owner"), h.name("owner2"));
    let workshop = |owner: &str| {
        json!({
            "apiVersion": "containerconf.de/v1",
            "kind": "PostgreSQLConfig",
            "metadata": {"name": "shop", "namespace": h.ns.name},
            "spec": {"database": db, "owner": owner, "reclaimPolicy": "Delete"}
        })
    };
    h.apply(workshop(&owner)).await;

    // Without the key: invalid, naming the missing field and the key.
    let report = h.run().await;
    let shop = report
        .manifests
        .iter()
        .find(|m| m.manifest.name == "shop")
        .expect("shop in the report");
    assert!(
        shop.invalid
            .iter()
            .any(|e| e.contains("spec.server") && e.contains("default_database_server")),
        "{}",
        text(&report)
    );
    assert_eq!(database_owner(&db).await, None);

    // With it: created, re-owned, dropped when the manifest goes.
    h.config.default_database_server = Some(postgres_reconciler::api::ServerRef {
        cluster: Some(cluster.into()),
        secret_name: None,
    });
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(database_owner(&db).await.as_deref(), Some(owner.as_str()));
    h.apply(workshop(&new_owner)).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(
        database_owner(&db).await.as_deref(),
        Some(new_owner.as_str())
    );
    h.api("PostgreSQLConfig")
        .delete("shop", &DeleteParams::default())
        .await
        .expect("delete shop");
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(database_owner(&db).await, None, "dropped");
    eventually(Duration::from_secs(30), "shop to be gone", || async {
        h.get("PostgreSQLConfig", "shop")
            .await
            .is_none()
            .then_some(())
    })
    .await;
}
