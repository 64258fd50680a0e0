//! Hostile manifests created through the API: 10,000 users, a 1 MiB parameter value, protected
//! roles and several unknown fields. Each is reported invalid with all its errors (unknown fields
//! and broken rules together), nothing of it is created, and the good manifest of the same run
//! reconciles.

use crate::support::reconciler::{Harness, role};
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

#[tokio::test]
async fn hostile_manifests_are_refused_whole_and_the_others_reconcile() {
    let h = Harness::new("apply-hostile").await;
    let good = "acid-good";
    h.cluster_secrets(good).await;
    let app = h.name("app");
    h.apply(h.cluster_manifest(good, 1, json!({app.as_str(): []}), json!({}), json!({})))
        .await;

    let many: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("{}_{i}", h.name("u")), json!([])))
        .collect();
    let huge = "x".repeat(1024 * 1024);
    let protected = h.cluster_manifest(
        "acid-protected",
        1,
        json!({"admin": [], "cron_admin": [], h.name("fine"): []}),
        json!({}),
        json!({}),
    );
    let mut odd = h.cluster_manifest("acid-odd", 1, json!({"admin": []}), json!({}), json!({}));
    odd["spec"]["streams"] = json!([{"applicationId": "cdc", "database": "foo",
        "tables": {"data.orders": {"eventType": "order-changed"}}}]);
    odd["spec"]["volume"]["misspelt"] = json!("1Gi");
    // name → (manifest, fields its errors must name)
    let hostile: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "acid-many",
            h.cluster_manifest("acid-many", 1, Value::Object(many), json!({}), json!({})),
            vec!["spec.users"],
        ),
        (
            "acid-huge",
            h.cluster_manifest(
                "acid-huge",
                1,
                json!({}),
                json!({}),
                json!({"work_mem": huge}),
            ),
            vec!["spec.postgresql.parameters.work_mem"],
        ),
        (
            "acid-protected",
            protected,
            vec!["spec.users.admin", "spec.users.cron_admin"],
        ),
        (
            "acid-odd",
            odd,
            vec!["spec.streams", "spec.volume.misspelt"],
        ),
    ];
    for (_, manifest, _) in &hostile {
        h.apply(manifest.clone()).await;
    }

    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    for (name, _, fields) in &hostile {
        let outcome = report
            .manifests
            .iter()
            .find(|m| m.manifest.name == *name)
            .unwrap_or_else(|| panic!("{name} in the report"));
        for field in fields {
            assert!(
                outcome.invalid.iter().any(|e| e.starts_with(field)),
                "{name}: {field} named in {:?}",
                outcome.invalid
            );
        }
        assert!(outcome.actions.is_empty(), "{name}: {:?}", outcome.actions);
        assert!(h.get("StatefulSet", name).await.is_none(), "{name}");
        assert!(h.get("Service", name).await.is_none(), "{name}");
        let status = h.status("postgresql", name).await;
        assert_eq!(status["PostgresClusterStatus"], "Invalid", "{name}");
        let message = status.to_string();
        assert!(
            message.len() < 64 * 1024,
            "{name}: a status of {} bytes",
            message.len()
        );
    }
    // Nothing of theirs: no credential Secret of any hostile manifest.
    let secrets =
        h.ns.api::<k8s_openapi::api::core::v1::Secret>()
            .list(&Default::default())
            .await
            .expect("list Secrets");
    for s in &secrets.items {
        let name = s.metadata.name.as_deref().unwrap_or_default();
        assert!(
            !["acid-many", "acid-huge", "acid-protected", "acid-odd"]
                .iter()
                .any(|c| name.contains(&format!(".{c}."))),
            "Secret {name} made for a hostile manifest"
        );
    }
    assert!(role(&h.name("fine")).await.is_none());
    assert!(role(&format!("{}_0", h.name("u"))).await.is_none());

    // The good one reconciled in the same run.
    assert!(
        h.get("StatefulSet", good).await.is_some(),
        "{}",
        text(&report)
    );
    assert!(role(&app).await.is_some(), "{}", text(&report));
}
