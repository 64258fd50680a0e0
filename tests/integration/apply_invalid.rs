//! Bad input among good: each invalid manifest (one the CRD's schema still accepts) is marked
//! `Invalid` with the field at fault, the valid ones reconcile, and the run's exit code says
//! that not everything was reconciled.

use crate::support::reconciler::{Harness, database_owner, role};
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

#[tokio::test]
async fn invalid_manifests_are_marked_and_the_valid_ones_reconcile() {
    let h = Harness::new("apply-invalid").await;
    let good = "acid-good";
    h.cluster_secrets(good).await;
    let (app, shop, nobody) = (h.name("app"), h.name("shop"), h.name("nobody"));
    h.apply(h.cluster_manifest(
        good,
        1,
        json!({app.as_str(): ["createdb"]}),
        json!({shop.as_str(): app}),
        json!({}),
    ))
    .await;
    let good_config = h.name("orders");
    let owner = h.name("orders_owner");
    h.apply(json!({
        "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
        "metadata": {"name": "orders", "namespace": h.ns.name},
        "spec": {"database": good_config, "owner": owner, "server": {"cluster": good}}
    }))
    .await;

    // name → (manifest, the field its error must name)
    let flags_user = h.name("flags");
    let too_long = "acid-a-cluster-name-that-is-exactly-one-character-too-longx";
    let invalid: Vec<(&str, &str, Value, String)> = vec![
        (
            "postgresql",
            "acid-flags",
            h.cluster_manifest(
                "acid-flags",
                1,
                json!({flags_user.as_str(): ["createdb", "NOCREATEDB"]}),
                json!({}),
                json!({}),
            ),
            format!("spec.users.{flags_user}"),
        ),
        (
            "postgresql",
            too_long,
            h.cluster_manifest(too_long, 1, json!({}), json!({}), json!({})),
            "metadata.name".into(),
        ),
        (
            "postgresql",
            "acid-owners",
            h.cluster_manifest(
                "acid-owners",
                1,
                json!({app.as_str(): []}),
                json!({h.name("reports"): nobody}),
                json!({}),
            ),
            format!("spec.databases.{}", h.name("reports")),
        ),
        (
            "PostgreSQLConfig",
            "reserved-owner",
            json!({
                "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
                "metadata": {"name": "reserved-owner", "namespace": h.ns.name},
                "spec": {"database": h.name("reserved"), "owner": "postgres", "server": {"cluster": good}}
            }),
            "spec.owner".into(),
        ),
        (
            "postgresql",
            "acid-copy-of-nothing",
            {
                // A clone of a running cluster that is not there: refused in the plan, not
                // left to crash-loop.
                let mut m =
                    h.cluster_manifest("acid-copy-of-nothing", 1, json!({}), json!({}), json!({}));
                m["spec"]["clone"] = json!({"cluster": "acid-not-there"});
                m
            },
            "spec.clone.cluster".into(),
        ),
        (
            "postgresql",
            "acid-standby-of-nothing",
            {
                let mut m = h.cluster_manifest(
                    "acid-standby-of-nothing",
                    1,
                    json!({}),
                    json!({}),
                    json!({}),
                );
                m["spec"]["standby"] =
                    json!({"standby_host": format!("acid-not-there.{}", h.ns.name)});
                m
            },
            "spec.standby.standby_host".into(),
        ),
    ];
    for (_, _, manifest, _) in &invalid {
        h.apply(manifest.clone()).await;
    }

    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    assert_eq!(report.result, "partial", "{}", text(&report));
    for (kind, name, _, field) in &invalid {
        let outcome = report
            .manifests
            .iter()
            .find(|m| m.manifest.name == *name)
            .unwrap_or_else(|| panic!("{name} in the report:\n{}", text(&report)));
        assert!(
            outcome.invalid.iter().any(|e| e.contains(field.as_str())),
            "{name}: {:?} names {field}",
            outcome.invalid
        );
        assert!(outcome.actions.is_empty(), "{name}: {:?}", outcome.actions);
        let status = h.status(kind, name).await;
        match *kind {
            "postgresql" => assert_eq!(status["PostgresClusterStatus"], "Invalid", "{status}"),
            _ => assert_eq!(status["phase"], "Invalid", "{status}"),
        }
        for type_ in ["Reconciled", "Degraded"] {
            let c = condition(&status, type_);
            assert_eq!(c["reason"], "Invalid", "{name}: {c}");
            let message = c["message"].as_str().unwrap_or_default();
            assert!(message.contains(field.as_str()), "{name}: {message}");
        }
    }
    // Nothing was made for the invalid ones.
    assert!(h.get("StatefulSet", "acid-flags").await.is_none());
    assert!(h.get("StatefulSet", "acid-owners").await.is_none());
    assert!(h.get("StatefulSet", "acid-copy-of-nothing").await.is_none());
    assert!(
        h.get("StatefulSet", "acid-standby-of-nothing")
            .await
            .is_none()
    );
    assert!(
        h.get("Secret", &h.secret_name("postgres", "acid-copy-of-nothing"))
            .await
            .is_none()
    );
    assert!(role(&flags_user).await.is_none());
    assert_eq!(database_owner(&h.name("reports")).await, None);
    assert_eq!(database_owner(&h.name("reserved")).await, None);

    // The valid ones reconciled.
    assert!(h.get("StatefulSet", good).await.is_some());
    assert!(role(&app).await.expect("app").createdb);
    assert_eq!(database_owner(&shop).await.as_deref(), Some(app.as_str()));
    assert_eq!(
        database_owner(&good_config).await.as_deref(),
        Some(owner.as_str())
    );
    let report = h.settle(good, 1).await;
    assert_eq!(report.exit_code, 2, "still invalid: {}", text(&report));
    assert_eq!(
        h.status("PostgreSQLConfig", "orders").await["phase"],
        "Ready"
    );

    // A valid cluster turned invalid keeps everything it has: nothing is deleted for it.
    let before = h.get("StatefulSet", good).await.expect("StatefulSet");
    h.apply(h.cluster_manifest(
        good,
        1,
        json!({app.as_str(): ["createdb"]}),
        json!({shop.as_str(): nobody}),
        json!({}),
    ))
    .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    let broken = report
        .manifests
        .iter()
        .find(|m| m.manifest.name == good)
        .expect("acid-good in the report");
    assert!(
        broken
            .invalid
            .iter()
            .any(|e| e.contains(&format!("spec.databases.{shop}"))),
        "{:?}",
        broken.invalid
    );
    for m in &report.manifests {
        assert!(
            m.actions.iter().all(|a| !a.action.starts_with("delete ")),
            "{}",
            text(&report)
        );
    }
    assert!(report.shared.is_empty(), "{}", text(&report));
    let after = h.get("StatefulSet", good).await.expect("StatefulSet kept");
    assert_eq!(before["metadata"]["uid"], after["metadata"]["uid"]);
    for name in [good.to_string(), format!("{good}-repl")] {
        assert!(h.get("Service", &name).await.is_some(), "{name} kept");
    }
    assert!(h.get("Endpoints", good).await.is_some(), "Endpoints kept");
    assert!(h.get("Secret", &h.secret_name(&app, good)).await.is_some());
    assert_eq!(database_owner(&shop).await.as_deref(), Some(app.as_str()));
    assert_eq!(
        h.status("postgresql", good).await["PostgresClusterStatus"],
        "Invalid"
    );

    // Fixing a manifest makes it reconcile on the next run.
    h.apply(h.cluster_manifest(
        "acid-flags",
        1,
        json!({flags_user.as_str(): ["createdb"]}),
        json!({}),
        json!({}),
    ))
    .await;
    h.cluster_secrets("acid-flags").await;
    let report = h.run().await;
    let fixed = report
        .manifests
        .iter()
        .find(|m| m.manifest.name == "acid-flags")
        .expect("acid-flags in the report");
    assert!(fixed.invalid.is_empty(), "{:?}", fixed.invalid);
    assert!(role(&flags_user).await.expect("fixed user").createdb);
    let status = h.status("postgresql", "acid-flags").await;
    assert_ne!(status["PostgresClusterStatus"], "Invalid", "{status}");
}

/// Under our CRD (the README's migration step 1) a field we do not support, such as Zalando's
/// `streams`, reaches validation instead of being pruned by the apiserver: the manifest is
/// reported invalid naming it, and its running cluster is left as it is. Known fields are still
/// typed by the CRD.
#[tokio::test]
async fn an_unknown_field_under_our_crd_is_reported_and_the_cluster_left_alone() {
    let h = Harness::new("apply-unknown").await;
    let cluster = "acid-streams";
    h.cluster_secrets(cluster).await;
    let app = h.name("app");
    let manifest = h.cluster_manifest(cluster, 1, json!({app.as_str(): []}), json!({}), json!({}));
    h.apply(manifest.clone()).await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(cluster, 1).await;
    let before = h.settled_resource_versions().await;

    let mut with_streams = manifest.clone();
    with_streams["spec"]["streams"] = json!([{"applicationId": "cdc", "database": "foo",
        "tables": {"data.orders": {"eventType": "order-changed"}}}]);
    with_streams["spec"]["postgresql"]["misspelt"] = json!(true);
    let stored = h.apply(with_streams).await;
    assert!(
        stored["spec"]["streams"].is_array(),
        "kept by the apiserver: {stored:#}"
    );
    assert_eq!(stored["spec"]["postgresql"]["misspelt"], true, "{stored:#}");

    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    let outcome = report
        .manifests
        .iter()
        .find(|m| m.manifest.name == cluster)
        .expect("the cluster in the report");
    for field in ["spec.streams", "spec.postgresql.misspelt"] {
        assert!(
            outcome.invalid.iter().any(|e| e.starts_with(field)),
            "{field} named: {:?}",
            outcome.invalid
        );
    }
    assert!(outcome.actions.is_empty(), "{:?}", outcome.actions);
    let status = h.status("postgresql", cluster).await;
    assert_eq!(status["PostgresClusterStatus"], "Invalid", "{status}");
    let mut after = h.settled_resource_versions().await;
    // Only the manifest itself changed (its spec, then its status) and an Event says why.
    let ours = |k: &String| !k.starts_with("postgresql ") && !k.starts_with("Event ");
    after.retain(|k, _| ours(k));
    let mut unchanged = before.clone();
    unchanged.retain(|k, _| ours(k));
    assert_eq!(after, unchanged, "the running cluster was touched");

    // A wrong type of a known field is still refused by the apiserver itself.
    let mut wrong = manifest;
    wrong["spec"]["numberOfInstances"] = json!("three");
    let refused = h
        .api("postgresql")
        .patch(
            cluster,
            &kube::api::PatchParams::apply("kubectl").force(),
            &kube::api::Patch::Apply(&wrong),
        )
        .await;
    assert!(refused.is_err(), "the CRD still types numberOfInstances");
}
