//! A new cluster is created and runs; once it has settled, a run writes nothing.

use super::{applied, condition, max_connections};
use crate::support::reconciler::{Harness, database_owner, login, role};
use postgres_reconciler::report::run::text;
use serde_json::json;

#[tokio::test]
async fn a_new_cluster_is_created_and_runs() {
    let h = Harness::new("apply-create").await;
    let cluster = "acid-create";
    h.cluster_secrets(cluster).await;
    let (owner, app, ops, shop) = (
        h.name("owner"),
        h.name("app"),
        h.name("ops"),
        h.name("shop"),
    );
    let manifest = h
        .apply(h.cluster_manifest(
            cluster,
            2,
            json!({owner.as_str(): ["createdb"], app.as_str(): [], ops.as_str(): ["createrole", "nologin"]}),
            json!({shop.as_str(): owner}),
            json!({"max_connections": "50"}),
        ))
        .await;
    let uid = manifest["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();

    let report = h.run().await;
    assert_eq!(report.result, "applied", "{}", text(&report));
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let done = applied(&report);
    let ns = &h.ns.name;
    for expected in [
        format!("create StatefulSet {ns}/{cluster}"),
        format!("create Service {ns}/{cluster}"),
        format!("create Service {ns}/{cluster}-repl"),
        format!("create Endpoints {ns}/{cluster}"),
        format!("create PodDisruptionBudget {ns}/postgres-{cluster}-pdb"),
        format!("create PodDisruptionBudget {ns}/postgres-{cluster}-critical-op-pdb"),
        format!("create Secret {ns}/{}", h.secret_name(&owner, cluster)),
        format!("create Secret {ns}/{}", h.secret_name(&app, cluster)),
        format!("sql role {owner} on cluster {ns}/{cluster} (database postgres)"),
        format!("sql role {app} on cluster {ns}/{cluster} (database postgres)"),
        format!("sql role {ops} on cluster {ns}/{cluster} (database postgres)"),
        format!("sql database {shop} on cluster {ns}/{cluster} (database postgres)"),
    ] {
        assert!(done.contains(&expected), "{expected} not in {done:#?}");
    }

    // The objects exist, owned by the manifest (the Secrets are not: they outlive it).
    for (kind, name) in [
        ("StatefulSet", cluster.to_string()),
        ("Service", cluster.to_string()),
        ("Service", format!("{cluster}-repl")),
        ("Endpoints", cluster.to_string()),
        ("PodDisruptionBudget", format!("postgres-{cluster}-pdb")),
        (
            "PodDisruptionBudget",
            format!("postgres-{cluster}-critical-op-pdb"),
        ),
    ] {
        let object = h
            .get(kind, &name)
            .await
            .unwrap_or_else(|| panic!("{kind} {name} exists"));
        assert_eq!(
            object["metadata"]["ownerReferences"][0]["uid"], uid,
            "{kind} {name} is owned by the manifest"
        );
    }
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 2);
    let limits = max_connections(&sts);
    assert!(
        !limits.is_empty() && limits.iter().all(|v| v == "50"),
        "{limits:?}"
    );
    for user in [&owner, &app] {
        let secret = h
            .get("Secret", &h.secret_name(user, cluster))
            .await
            .expect("credential Secret");
        assert!(secret["metadata"]["ownerReferences"].is_null(), "{secret}");
    }
    // A NOLOGIN role has no password, so no Secret.
    assert!(
        h.get("Secret", &h.secret_name(&ops, cluster))
            .await
            .is_none()
    );

    // Roles and databases, with their flags and owner.
    let owner_role = role(&owner).await.expect("owner role");
    assert!(
        owner_role.createdb && owner_role.login && !owner_role.superuser && !owner_role.createrole
    );
    let comment = owner_role.comment.clone().unwrap_or_default();
    assert!(
        comment.contains(&format!("postgresql {ns}/{cluster}")),
        "{comment}"
    );
    let app_role = role(&app).await.expect("app role");
    assert!(app_role.login && !app_role.createdb && !app_role.createrole && !app_role.superuser);
    let ops_role = role(&ops).await.expect("ops role");
    assert!(!ops_role.login && ops_role.createrole && !ops_role.createdb);
    assert_eq!(database_owner(&shop).await.as_deref(), Some(owner.as_str()));

    // The generated passwords log in over TLS.
    for user in [&owner, &app] {
        let password = h
            .secret_password(&h.secret_name(user, cluster))
            .await
            .expect("generated password");
        assert_eq!(password.len(), 64);
        login(user, &password)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in with its Secret's password: {e}"));
        assert!(login(user, "not-the-password").await.is_err());
    }

    // Creating until the pods are ready (kwok may have made them ready within the run: the
    // status reflects the pods at the end of the run).
    let status = h.status("postgresql", cluster).await;
    let value = status["PostgresClusterStatus"].as_str().unwrap_or_default();
    assert!(["Creating", "Running"].contains(&value), "{status}");

    // Pods come up (kwok); the next run records Running for the current generation.
    h.settle(cluster, 2).await;
    let live = h.get("postgresql", cluster).await.expect("manifest");
    let status = &live["status"];
    assert_eq!(status["PostgresClusterStatus"], "Running", "{status}");
    assert_eq!(status["observedGeneration"], live["metadata"]["generation"]);
    assert_eq!(condition(status, "Ready")["status"], "True", "{status}");
    assert_eq!(
        condition(status, "Reconciled")["status"],
        "True",
        "{status}"
    );
    assert_eq!(condition(status, "Degraded")["status"], "False", "{status}");
}

#[tokio::test]
async fn a_settled_cluster_makes_a_run_write_nothing() {
    let h = Harness::new("apply-noop").await;
    let cluster = "acid-noop";
    h.cluster_secrets(cluster).await;
    let (owner, app, shop, inv, orders) = (
        h.name("owner"),
        h.name("app"),
        h.name("shop"),
        h.name("inv"),
        h.name("orders"),
    );
    // Everything a run can manage: users, databases, a prepared database (schemas, extensions,
    // default privileges, its roles) and a PostgreSQLConfig that carries a finalizer.
    let mut manifest = h.cluster_manifest(
        cluster,
        2,
        json!({owner.as_str(): ["createdb"], app.as_str(): []}),
        json!({shop.as_str(): owner}),
        json!({"max_connections": "50"}),
    );
    manifest["spec"]["preparedDatabases"] = json!({
        inv.as_str(): {
            "defaultUsers": true,
            "extensions": {"pgcrypto": "data"},
            "schemas": {"data": {}, "history": {"defaultRoles": false}},
        }
    });
    h.apply(manifest).await;
    h.apply(json!({
        "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
        "metadata": {"name": "orders", "namespace": h.ns.name},
        "spec": {
            "database": orders, "owner": h.name("orders_owner"),
            "server": {"cluster": cluster}, "reclaimPolicy": "Delete",
        }
    }))
    .await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    assert_eq!(database_owner(&inv).await, Some(format!("{inv}_owner")));
    assert!(database_owner(&orders).await.is_some());
    h.settle(cluster, 2).await;

    let before = h.settled_resource_versions().await;
    let report = h.run().await;
    let after = h.resource_versions().await;

    assert_eq!(report.result, "applied", "{}", text(&report));
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(report.writes, 0, "{:?}\n{}", report.requests, text(&report));
    assert_eq!(report.totals.total(), 0, "{}", text(&report));
    assert_eq!(report.statuses_written, 0, "{}", text(&report));
    assert!(report.shared.is_empty(), "{:?}", report.shared);
    for m in &report.manifests {
        assert!(m.actions.is_empty(), "{}: {:?}", m.manifest, m.actions);
        assert!(m.unknown.is_empty(), "{}: {:?}", m.manifest, m.unknown);
    }
    // Reads only: the Lease aside, nothing but lists and gets.
    for (verb, n) in &report.requests {
        assert!(
            verb.starts_with("lease-") || verb == "list" || verb == "get",
            "{verb} {n}: {:?}",
            report.requests
        );
    }
    assert_eq!(before, after, "a no-op run changes no object");
}
