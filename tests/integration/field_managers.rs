//! Who else writes the fields a manifest sets. An imperative edit (`kubectl edit`/`patch`) is
//! drift: the next run takes the field back (drift_report shows it). Another declarative tool's
//! server-side apply of the same field at another value is a second source of truth: the run
//! reports the conflict and leaves the field alone, unless `force_conflicts` says ours wins.

use crate::support::reconciler::Harness;
use kube::api::{Patch, PatchParams};
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

async fn team_label(h: &Harness, service: &str) -> Value {
    h.get("Service", service).await.expect("the Service")["metadata"]["labels"]["team"].clone()
}

#[tokio::test]
async fn another_tools_apply_of_a_field_we_set_is_a_conflict_reported_until_forced() {
    let mut h = Harness::new("field-managers").await;
    let cluster = "acid-managers";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));

    // A GitOps tool applies the master Service's team label at another value, with force (as
    // it would to take the field).
    let mut params = PatchParams::apply("gitops-tool");
    params.force = true;
    h.api("Service")
        .patch(
            cluster,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": cluster, "labels": {"team": "from-git"}},
            })),
        )
        .await
        .expect("the other tool's apply");

    let conflict = h.run().await;
    assert_eq!(conflict.exit_code, 2, "{}", text(&conflict));
    assert!(
        text(&conflict).contains("conflict with another field manager"),
        "{}",
        text(&conflict)
    );
    assert_eq!(team_label(&h, cluster).await, "from-git", "left alone");

    h.config.force_conflicts = true;
    let forced = h.run().await;
    assert_eq!(forced.exit_code, 0, "{}", text(&forced));
    assert_eq!(team_label(&h, cluster).await, "acid");
}
