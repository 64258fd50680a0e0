//! Approved plans: a StatefulSet replace (approval required by default) waits for the manifest's
//! `postgres-reconciler.io/approved-plan` annotation with the digest of exactly what the run
//! would do; safe changes of the same manifest apply meanwhile; the digest `plan -f` shows on the
//! pull request is the one the run after the merge computes.

use crate::support::reconciler::Harness;
use crate::support::unique_name;
use postgres_reconciler::pipeline::{self, Source};
use postgres_reconciler::plan::approval::APPROVED_PLAN_ANNOTATION;
use postgres_reconciler::report::outcome::{ActionResult, HELD_FOR_APPROVAL};
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::path::Path;

/// The approval digest `plan -f` gives for this manifest file, as on the pull request.
async fn pull_request_digest(h: &Harness, manifest: &Value) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name("approve-pr"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("m.yaml"),
        serde_yaml::to_string(manifest).expect("yaml"),
    )
    .expect("write");
    let source = Source {
        files: Some(dir),
        ..h.source.clone()
    };
    let planned = pipeline::plan_live(&h.config, &h.cluster_client().await, &source)
        .await
        .expect("plan -f");
    let approvals = &planned.plan.approvals;
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(
        approvals[0].classes.get("replace"),
        Some(&1),
        "{approvals:?}"
    );
    approvals[0].digest.clone()
}

fn results(report: &RunReport, action: &str) -> Vec<ActionResult> {
    report
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .filter(|a| a.action == action)
        .map(|a| a.result.clone())
        .collect()
}

fn held_message(report: &RunReport, replace: &str) -> String {
    match &results(report, replace)[..] {
        [ActionResult::Skipped(m)] if m.starts_with(HELD_FOR_APPROVAL) => m.clone(),
        other => panic!("the replace is held: {other:?}\n{}", text(report)),
    }
}

async fn uid(h: &Harness, cluster: &str) -> Value {
    h.get("StatefulSet", cluster).await.expect("StatefulSet")["metadata"]["uid"].clone()
}

#[tokio::test]
async fn a_replace_waits_for_the_approval_of_exactly_its_plan_and_safe_changes_do_not() {
    let h = Harness::new("approve").await;
    let cluster = "acid-approve";
    h.cluster_secrets(cluster).await;
    let mut manifest = h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({}));
    h.apply(manifest.clone()).await;
    assert_eq!(h.run().await.exit_code, 0);
    h.settle(cluster, 1).await;
    let original = uid(&h, cluster).await;
    let replace = format!("replace StatefulSet {}/{cluster}", h.ns.name);
    let update_service = format!("update Service {}/{cluster}", h.ns.name);

    // The pull request: another storage class (a replace) and a Service annotation (safe).
    manifest["spec"]["volume"]["storageClass"] = json!("standard-copy");
    manifest["spec"]["serviceAnnotations"] = json!({"example.com/review": "1"});
    let reviewed = pull_request_digest(&h, &manifest).await;

    // Merged without approval: held, with the digest the pull request showed; the safe change runs.
    h.apply(manifest.clone()).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    let held = held_message(&report, &replace);
    assert!(
        held.contains(&format!("this plan's digest is {reviewed}")),
        "{held}"
    );
    assert_eq!(results(&report, &update_service), [ActionResult::Applied]);
    assert_eq!(uid(&h, cluster).await, original, "not replaced");
    let status = h.status("postgresql", cluster).await;
    let reconciled = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Reconciled")
        .cloned()
        .unwrap_or_default();
    assert_eq!(reconciled["reason"], "ApprovalRequired", "{status}");

    // Approved, but the manifest changed again after the review: held, both digests named.
    manifest["metadata"]["annotations"] = json!({APPROVED_PLAN_ANNOTATION: reviewed});
    manifest["spec"]["volume"]["storageClass"] = json!("standard-other");
    manifest["spec"]["serviceAnnotations"] = json!({"example.com/review": "2"});
    h.apply(manifest.clone()).await;
    let report = h.run().await;
    let held = held_message(&report, &replace);
    let current = pull_request_digest(&h, &manifest).await;
    assert_ne!(current, reviewed);
    assert!(
        held.contains(&format!(
            "the approved digest is {reviewed}, this plan's is {current}"
        )),
        "{held}"
    );
    assert_eq!(results(&report, &update_service), [ActionResult::Applied]);
    assert_eq!(uid(&h, cluster).await, original, "not replaced");

    // The approval annotation itself does not change the digest; with the matching one the
    // replace runs (and a safe change with it).
    manifest["metadata"]["annotations"] = json!({APPROVED_PLAN_ANNOTATION: current});
    manifest["spec"]["serviceAnnotations"] = json!({"example.com/review": "3"});
    let approved = pull_request_digest(&h, &manifest).await;
    assert_eq!(
        approved, current,
        "the digest depends only on what would change"
    );
    h.apply(manifest.clone()).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(results(&report, &replace), [ActionResult::Applied]);
    assert_eq!(results(&report, &update_service), [ActionResult::Applied]);
    let replaced = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_ne!(replaced["metadata"]["uid"], original);
    assert_eq!(
        replaced["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        "standard-other"
    );
    h.settle(cluster, 1).await;
    let planned = pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
        .await
        .expect("plan");
    assert!(
        planned.plan.approvals.is_empty(),
        "{:?}",
        planned.plan.approvals
    );
}
