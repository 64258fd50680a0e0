//! Logical backups on the real control plane: `enableLogicalBackup` makes the cluster's CronJob
//! (Zalando's image, the manifest's schedule and retention, the superuser's password by
//! reference), a steady run writes nothing, and turning it off deletes the CronJob in the next
//! run, planned with its reason. What the CronJob holds field by field is the parity suite's.

use crate::support::reconciler::Harness;
use postgres_reconciler::pipeline;
use postgres_reconciler::plan::{Op, Target};
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

fn env_of(cronjob: &Value, name: &str) -> Value {
    cronjob
        .pointer("/spec/jobTemplate/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_cluster_with_logical_backups_gets_its_cronjob_until_they_are_turned_off() {
    let mut h = Harness::new("logical-backup").await;
    h.config.logical_backup_s3_bucket = "dumps".into();
    let cluster = "acid-dumps";
    let job = format!("logical-backup-{cluster}");
    h.cluster_secrets(cluster).await;
    let manifest = |on: bool| {
        let mut m = h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({}));
        if on {
            m["spec"]["enableLogicalBackup"] = json!(true);
            m["spec"]["logicalBackupSchedule"] = json!("15 3 * * *");
            m["spec"]["logicalBackupRetention"] = json!("2 weeks");
        }
        m
    };
    let pg = h.apply(manifest(true)).await;

    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let cronjob = h.get("CronJob", &job).await.expect("the backup CronJob");
    assert_eq!(cronjob["spec"]["schedule"], "15 3 * * *");
    assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(
        cronjob["metadata"]["ownerReferences"][0]["uid"],
        pg["metadata"]["uid"]
    );
    assert_eq!(
        env_of(&cronjob, "LOGICAL_BACKUP_S3_BUCKET")["value"],
        "dumps"
    );
    assert_eq!(
        env_of(&cronjob, "LOGICAL_BACKUP_S3_RETENTION_TIME")["value"],
        "2 weeks"
    );
    assert_eq!(
        env_of(&cronjob, "LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX")["value"],
        format!("/{}", pg["metadata"]["uid"].as_str().unwrap_or_default())
    );
    assert_eq!(
        env_of(&cronjob, "PGPASSWORD")["valueFrom"]["secretKeyRef"]["name"],
        format!("postgres.{cluster}.credentials.postgresql.acid.zalan.do")
    );

    // Steady, once the pod is ready (the status says so once): nothing written.
    h.wait_ready(cluster, 1).await;
    let settling = h.run().await;
    assert_eq!(settling.exit_code, 0, "{}", text(&settling));
    let versions = h.settled_resource_versions().await;
    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    assert_eq!(again.writes, 0, "{}", text(&again));
    assert_eq!(h.resource_versions().await, versions);

    // Off: the plan deletes the CronJob and says why; the run does it; then nothing again.
    h.apply(manifest(false)).await;
    let planned = pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
        .await
        .expect("plan");
    let delete = planned
        .plan
        .actions
        .iter()
        .find(|a| matches!(&a.target, Target::Object(r) if r.kind == "CronJob" && r.name == job))
        .unwrap_or_else(|| panic!("the CronJob's action: {:#?}", planned.plan.actions));
    assert_eq!(delete.op, Op::Delete);
    assert!(
        delete.reason.contains("enableLogicalBackup is off"),
        "{}",
        delete.reason
    );
    let off = h.run().await;
    assert_eq!(off.exit_code, 0, "{}", text(&off));
    assert!(h.get("CronJob", &job).await.is_none(), "deleted");
    assert!(
        h.get("StatefulSet", cluster).await.is_some(),
        "the cluster stays"
    );
    // The next run records that nothing changed any more (its status); then nothing is written.
    let settling = h.run().await;
    assert_eq!(settling.exit_code, 0, "{}", text(&settling));
    let versions = h.settled_resource_versions().await;
    let quiet = h.run().await;
    assert_eq!(quiet.writes, 0, "{}", text(&quiet));
    assert_eq!(h.resource_versions().await, versions);
}
