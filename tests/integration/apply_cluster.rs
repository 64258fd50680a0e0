//! `apply` of `postgresql` manifests on the real control plane and the real PostgreSQL: a new
//! cluster is created and runs, a settled cluster makes a run write nothing, an edit is applied
//! as exactly the actions it calls for, and a deleted cluster leaves its data behind.

use crate::support::eventually;
use crate::support::reconciler::{Harness, database_owner, login, role};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, ListParams};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// Every action the run applied, as "verb target"; panics on any action that did not apply.
fn applied(report: &RunReport) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in &report.manifests {
        for a in &m.actions {
            assert_eq!(
                a.result,
                ActionResult::Applied,
                "{}: {:?}\n{}",
                a.action,
                a.result,
                text(report)
            );
            out.insert(a.action.clone());
        }
    }
    for a in &report.shared {
        assert_eq!(a.result, ActionResult::Applied, "{}", text(report));
        out.insert(a.action.clone());
    }
    out
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn spilo_configuration(sts: &Value) -> Value {
    let env = sts
        .pointer("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .expect("container env");
    let value = env
        .iter()
        .find(|e| e["name"] == "SPILO_CONFIGURATION")
        .and_then(|e| e["value"].as_str())
        .expect("SPILO_CONFIGURATION");
    serde_json::from_str(value).expect("SPILO_CONFIGURATION is JSON")
}

/// The `max_connections` Patroni is given, wherever SPILO_CONFIGURATION puts parameters.
fn max_connections(sts: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "max_connections" {
                        out.push(v.as_str().map(str::to_string).unwrap_or(v.to_string()));
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&spilo_configuration(sts), &mut out);
    out
}

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
        format!("create Service {ns}/{cluster}-config"),
        format!("create PodDisruptionBudget {ns}/postgres-{cluster}-pdb"),
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
        ("Service", format!("{cluster}-config")),
        ("PodDisruptionBudget", format!("postgres-{cluster}-pdb")),
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

#[tokio::test]
async fn an_edit_is_applied_as_exactly_its_actions() {
    let h = Harness::new("apply-update").await;
    let cluster = "acid-update";
    h.cluster_secrets(cluster).await;
    let (owner, app, extra, shop) = (
        h.name("owner"),
        h.name("app"),
        h.name("extra"),
        h.name("shop"),
    );
    let gone = h.name("gone");
    h.apply(h.cluster_manifest(
        cluster,
        2,
        json!({owner.as_str(): ["createdb"], app.as_str(): [], gone.as_str(): []}),
        json!({shop.as_str(): owner}),
        json!({"max_connections": "50"}),
    ))
    .await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(cluster, 2).await;
    assert!(role(&owner).await.expect("owner").createdb);

    // A user is added, a flag revoked, an owner changed, the cluster scaled, a parameter
    // changed; and a user left out, which is left alone (nothing is dropped by omission).
    let edited = h
        .apply(h.cluster_manifest(
            cluster,
            3,
            json!({owner.as_str(): [], app.as_str(): [], extra.as_str(): []}),
            json!({shop.as_str(): app}),
            json!({"max_connections": "60"}),
        ))
        .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let ns = &h.ns.name;
    let server = format!("on cluster {ns}/{cluster} (database postgres)");
    let expected: BTreeSet<String> = [
        format!("create Secret {ns}/{}", h.secret_name(&extra, cluster)),
        format!("update StatefulSet {ns}/{cluster}"),
        format!("sql role {extra} {server}"),
        format!("sql role {owner} {server}"),
        format!("sql database {shop} {server}"),
    ]
    .into();
    assert_eq!(applied(&report), expected, "{}", text(&report));
    assert_eq!(report.totals.create, 1);
    assert_eq!(report.totals.update, 1);
    assert_eq!(report.totals.sql, 3);

    // Reality matches.
    let owner_role = role(&owner).await.expect("owner");
    assert!(!owner_role.createdb && owner_role.login, "{owner_role:?}");
    let extra_role = role(&extra).await.expect("extra");
    assert!(extra_role.login && !extra_role.createdb);
    let password = h
        .secret_password(&h.secret_name(&extra, cluster))
        .await
        .expect("extra's password");
    login(&extra, &password).await.expect("extra logs in");
    assert_eq!(database_owner(&shop).await.as_deref(), Some(app.as_str()));
    assert!(role(&gone).await.expect("the left-out user stays").login);
    assert!(
        h.get("Secret", &h.secret_name(&gone, cluster))
            .await
            .is_some()
    );
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 3);
    let limits = max_connections(&sts);
    assert!(
        !limits.is_empty() && limits.iter().all(|v| v == "60"),
        "{limits:?}"
    );

    // The third pod comes up; the status follows the new generation.
    h.settle(cluster, 3).await;
    let status = h.status("postgresql", cluster).await;
    assert_eq!(
        status["observedGeneration"],
        edited["metadata"]["generation"]
    );
}

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

#[tokio::test]
async fn a_destructive_change_waits_for_the_opt_in() {
    let h = Harness::new("apply-destructive").await;
    let cluster = "acid-destructive";
    h.cluster_secrets(cluster).await;
    let app = h.name("app");
    let mut manifest =
        h.cluster_manifest(cluster, 1, json!({app.as_str(): []}), json!({}), json!({}));
    h.apply(manifest.clone()).await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(cluster, 1).await;
    let before = h.get("StatefulSet", cluster).await.expect("StatefulSet");

    // The claim template is immutable: a bigger volume needs the StatefulSet replaced.
    manifest["spec"]["volume"]["size"] = json!("2Gi");
    h.apply(manifest.clone()).await;
    let report = h.run().await;
    assert_eq!(
        report.exit_code,
        2,
        "a blocked change is not a reconciled manifest: {}",
        text(&report)
    );
    let outcome = &report.manifests[0];
    assert!(
        matches!(&outcome.actions[..], [a] if matches!(&a.result, ActionResult::Skipped(m) if m.contains("allow-destructive"))),
        "{}",
        text(&report)
    );
    let same = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(
        same["metadata"]["uid"], before["metadata"]["uid"],
        "not replaced"
    );
    let status = h.status("postgresql", cluster).await;
    assert_eq!(
        condition(&status, "Reconciled")["reason"],
        "DestructiveChangeBlocked",
        "{status}"
    );

    // With the manifest's opt-in it is replaced; the pods are adopted, the claims kept.
    manifest["metadata"]["annotations"] =
        json!({"postgres-reconciler.io/allow-destructive": "true"});
    h.apply(manifest).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(
        applied(&report),
        [format!("replace StatefulSet {}/{cluster}", h.ns.name)].into(),
        "{}",
        text(&report)
    );
    let replaced = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_ne!(replaced["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        replaced["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "2Gi"
    );
    h.settle(cluster, 1).await;
}
