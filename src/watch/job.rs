//! A Job made from a CronJob exactly as `kubectl create job --from=cronjob/NAME` makes it.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// The annotation kubectl puts on Jobs started by hand from a CronJob.
pub const INSTANTIATE_ANNOTATION: (&str, &str) = ("cronjob.kubernetes.io/instantiate", "manual");

/// The CronJob of a shard, as the chart names it: `<cronjob>-shard-i-of-N` (the plain name
/// without shards).
pub fn cronjob_name(cronjob: &str, shard: Option<crate::plan::shard::Shard>) -> String {
    match shard {
        None => cronjob.to_string(),
        Some(shard) => format!("{cronjob}-shard-{}", shard.suffix()),
    }
}

/// `<cronjob>-watch-<unix seconds>`, within the 63 characters a Job name (and its pods'
/// `job-name` label) may have.
pub fn job_name(cronjob: &str, unix_seconds: u64) -> String {
    let suffix = format!("-watch-{unix_seconds}");
    let keep = 63usize.saturating_sub(suffix.len()).min(cronjob.len());
    let prefix = cronjob[..keep].trim_end_matches('-');
    format!("{prefix}{suffix}")
}

/// The CronJob's job template as a Job: its labels and annotations, the `instantiate: manual`
/// annotation, and the CronJob as controlling owner (so history limits and deletion apply).
pub fn job_from_cronjob(cronjob: &CronJob, name: &str) -> Option<Job> {
    let template = cronjob.spec.job_template.clone();
    let template_meta = template.metadata.unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = template_meta.annotations.unwrap_or_default();
    annotations.insert(
        INSTANTIATE_ANNOTATION.0.into(),
        INSTANTIATE_ANNOTATION.1.into(),
    );
    Some(Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cronjob.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cronjob.metadata.name.clone()?,
                uid: cronjob.metadata.uid.clone()?,
                controller: Some(true),
                // kubectl leaves blockOwnerDeletion unset: setting it would also need
                // `update` on cronjobs/finalizers.
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    })
}

/// Whether a Job has not finished yet (no Complete or Failed condition).
pub fn is_active(job: &Job) -> bool {
    let finished = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        });
    !finished
}

/// Whether the CronJob (by uid) controls the Job.
pub fn owned_by(job: &Job, cronjob_uid: &str) -> bool {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.kind == "CronJob" && r.uid == cronjob_uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cronjob() -> CronJob {
        serde_json::from_value(json!({
            "metadata": {"name": "postgres-reconciler", "namespace": "ops", "uid": "u-1"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "pgr"}, "annotations": {"a": "b"}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "apply", "image": "x"}]}}}
            }}
        }))
        .expect("cronjob")
    }

    #[test]
    fn job_is_what_kubectl_create_job_from_makes() {
        let job = job_from_cronjob(&cronjob(), "postgres-reconciler-watch-1").expect("job");
        let v = serde_json::to_value(&job).expect("json");
        assert_eq!(v["metadata"]["namespace"], "ops");
        assert_eq!(v["metadata"]["labels"], json!({"app": "pgr"}));
        assert_eq!(
            v["metadata"]["annotations"],
            json!({"a": "b", "cronjob.kubernetes.io/instantiate": "manual"})
        );
        assert_eq!(
            v["metadata"]["ownerReferences"],
            json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "postgres-reconciler", "uid": "u-1", "controller": true}])
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["name"],
            "apply"
        );
        assert!(owned_by(&job, "u-1") && !owned_by(&job, "u-2"));
        assert!(is_active(&job));
    }

    #[test]
    fn names_fit_63_characters() {
        assert_eq!(job_name("pgr", 1_700_000_000), "pgr-watch-1700000000");
        let long = "a".repeat(80);
        assert!(job_name(&long, 1_700_000_000).len() <= 63);
    }
}
