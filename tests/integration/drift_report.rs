//! Report mode (`postgres-reconciler.io/mode: report`): a run plans as usual, changes nothing for
//! the manifest and lists what differs in its `Drifted` condition; back in apply mode the next
//! run corrects it and clears the condition.

use crate::support::reconciler::{Harness, role, superuser};
use kube::api::{Patch, PatchParams};
use postgres_reconciler::pipeline;
use postgres_reconciler::plan::Target;
use postgres_reconciler::render::MODE_ANNOTATION;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn team_label(h: &Harness, service: &str) -> Value {
    h.get("Service", service).await.expect("the Service")["metadata"]["labels"]["team"].clone()
}

#[tokio::test]
async fn report_mode_names_a_hand_edited_service_and_a_role_and_changes_neither_back() {
    let h = Harness::new("drift").await;
    let cluster = "acid-drift";
    h.cluster_secrets(cluster).await;
    let admin = h.name("admin");
    let manifest = |mode: Option<&str>| {
        let mut m = h.cluster_manifest(
            cluster,
            1,
            json!({admin.as_str(): ["superuser"]}),
            json!({}),
            json!({}),
        );
        if let Some(mode) = mode {
            m["metadata"]["annotations"] = json!({MODE_ANNOTATION: mode});
        }
        m
    };
    h.apply(manifest(None)).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert!(role(&admin).await.expect("the role").superuser);
    // Settled (its pod ready, its status Running): a pod becoming ready later would change the
    // status between the report-mode runs below, for a reason other than the drift.
    h.settle(cluster, 1).await;

    // Report mode; then someone changes the role and the master Service by hand.
    h.apply(manifest(Some("report"))).await;
    superuser()
        .await
        .batch_execute(&format!("ALTER ROLE \"{admin}\" NOSUPERUSER"))
        .await
        .expect("ALTER ROLE");
    h.api("Service")
        .patch(
            cluster,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "edited-by-hand"}}})),
        )
        .await
        .expect("edit the Service");

    let report = h.run().await;
    assert_eq!(
        report.exit_code,
        0,
        "drift is not an error: {}",
        text(&report)
    );
    let status = h.status("postgresql", cluster).await;
    let drifted = condition(&status, "Drifted");
    assert_eq!(drifted["status"], "True", "{status}");
    let message = drifted["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("Service {}/{cluster}", h.ns.name)),
        "{message}"
    );
    assert!(message.contains(&format!("role {admin}")), "{message}");
    assert_eq!(condition(&status, "Reconciled")["reason"], "ReportMode");
    // Nothing was changed back.
    assert!(!role(&admin).await.expect("the role").superuser);
    assert_eq!(team_label(&h, cluster).await, "edited-by-hand");
    // The same drift again: the status is not written again.
    let versions = h.settled_resource_versions().await;
    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    assert_eq!(h.resource_versions().await, versions, "{}", text(&again));

    // Apply mode: both corrected, the condition cleared. The hand edit made its editor the
    // label's manager; the plan takes the field back from that edit and says so.
    h.apply(manifest(None)).await;
    let planned = pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
        .await
        .expect("plan");
    let service = planned
        .plan
        .actions
        .iter()
        .find(
            |a| matches!(&a.target, Target::Object(r) if r.kind == "Service" && r.name == cluster),
        )
        .unwrap_or_else(|| panic!("a Service action: {:#?}", planned.plan.actions));
    assert!(
        service.reason.contains("taken back from") && service.reason.contains("'s edit"),
        "{}",
        service.reason
    );
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert!(role(&admin).await.expect("the role").superuser);
    assert_eq!(team_label(&h, cluster).await, "acid");
    let status = h.status("postgresql", cluster).await;
    let cleared = condition(&status, "Drifted");
    assert_eq!(
        (&cleared["status"], &cleared["reason"]),
        (&json!("False"), &json!("ApplyMode")),
        "{status}"
    );
    assert_eq!(
        condition(&status, "Reconciled")["status"],
        "True",
        "{status}"
    );
}

#[tokio::test]
async fn a_mode_annotation_that_names_no_mode_makes_the_manifest_invalid() {
    let h = Harness::new("drift-invalid").await;
    let cluster = "acid-drift-bad";
    let mut m = h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({}));
    m["metadata"]["annotations"] = json!({MODE_ANNOTATION: "reprot"});
    h.apply(m).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    assert!(
        h.get("StatefulSet", cluster).await.is_none(),
        "nothing applied"
    );
    let status = h.status("postgresql", cluster).await;
    let message = condition(&status, "Reconciled")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&format!("metadata.annotations[{MODE_ANNOTATION}]"))
            && message.contains("must be apply or report"),
        "{status}"
    );
}
