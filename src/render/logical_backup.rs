//! The logical backup CronJob of a cluster with `enableLogicalBackup`, as Zalando's
//! `generateLogicalBackupJob` makes it: `<logical_backup_job_prefix><cluster>` (cut to 52
//! characters, the CronJob controller's limit for the Jobs' names), a pod from the same template
//! builder as the Spilo pods (its ServiceAccount, tolerations, grace period, kube2iam role,
//! additional secret mount) with one container, Zalando's logical backup image, which dumps the
//! databases of the cluster's replica (or master) with `pg_dumpall` and uploads it to
//! `logical_backup_provider`.

use super::meta;
use super::pod_environment::SourcedEnv;
use super::spilo::{SUPERUSER, field, secret_key};
use crate::api::Postgresql;
use crate::api::postgresql::{ResourceAmounts, Resources};
use crate::config::Config;
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvVar, PodAffinity, PodAffinityTerm, PodSecurityContext,
    PodSpec, PodTemplateSpec, SecurityContext, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub const CONTAINER: &str = "logical-backup";
/// The `application` label of the backup pods (Zalando's).
const APPLICATION: &str = "spilo-logical-backup";
/// Longest CronJob name Zalando makes.
const MAX_NAME: usize = 52;

pub fn enabled(pg: &Postgresql) -> bool {
    pg.spec.enable_logical_backup == Some(true)
}

/// `<prefix><cluster>`, cut to 52 characters without a trailing `-`.
pub fn job_name(config: &Config, cluster: &str) -> String {
    let name = format!("{}{cluster}", config.logical_backup_job_prefix);
    if name.len() <= MAX_NAME {
        return name;
    }
    // Names are DNS labels (ASCII), so a byte cut is a character cut.
    name[..MAX_NAME].trim_end_matches('-').to_string()
}

/// The CronJob; `secret_of(user)` names a role's credential Secret, `sourced` holds the keys of
/// `logical_backup_cronjob_environment_secret`.
pub fn cronjob(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
    sourced: &SourcedEnv,
) -> CronJob {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let schedule = pg
        .spec
        .logical_backup_schedule
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| config.logical_backup_schedule.clone());
    CronJob {
        metadata: meta::cluster_object_meta(
            config,
            pg,
            &job_name(config, cluster),
            &Default::default(),
            true,
        ),
        spec: CronJobSpec {
            schedule,
            concurrency_policy: Some("Forbid".into()),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    template: pod_template(config, pg, secret_of, sourced),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        status: None,
    }
}

fn pod_template(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
    sourced: &SourcedEnv,
) -> PodTemplateSpec {
    let mut labels = meta::object_labels(config, pg);
    labels.remove(meta::MANAGED_BY.0);
    labels.insert("application".into(), APPLICATION.into());
    let port = |port: i32| ContainerPort {
        container_port: port,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let mut env = env(config, pg, secret_of);
    env.extend(sourced.backup_from_secret.iter().cloned());
    let mut container = Container {
        name: CONTAINER.into(),
        image: Some(config.logical_backup_docker_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        // Zalando's container builder declares the Spilo ports on every container it makes.
        ports: Some(vec![port(8008), port(5432), port(8080)]),
        env: Some(env),
        resources: Some(super::resources::container_resources(
            config,
            Some(&resources(config)),
            false,
        )),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(config.spilo_allow_privilege_escalation),
            privileged: Some(config.spilo_privileged),
            read_only_root_filesystem: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut volumes = Vec::new();
    if let Some((volume, at)) = super::pod_volumes::secret_mount(config) {
        container.volume_mounts = Some(vec![at]);
        volumes.push(volume);
    }
    // Zalando's: preferably on a node where another backup pod of this cluster runs, with the
    // node readiness labels required.
    let affinity = Affinity {
        node_affinity: super::scheduling::readiness_affinity(config),
        pod_affinity: Some(PodAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 1,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(labels.clone()),
                            ..Default::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    PodTemplateSpec {
        metadata: Some(super::statefulset::pod_metadata(config, pg, labels)),
        spec: Some(PodSpec {
            service_account_name: Some(config.pod_service_account_name.clone()),
            termination_grace_period_seconds: Some(config.pod_terminate_grace_period_seconds),
            security_context: Some(PodSecurityContext::default()),
            tolerations: super::scheduling::tolerations(config, pg),
            affinity: Some(affinity),
            restart_policy: Some("Never".into()),
            containers: vec![container],
            volumes: (!volumes.is_empty()).then_some(volumes),
            ..Default::default()
        }),
    }
}

/// `logical_backup_{cpu,memory}_{request,limit}`, each falling back to the `default_*` one.
fn resources(config: &Config) -> Resources {
    let amounts = |cpu: &str, memory: &str| {
        Some(ResourceAmounts {
            cpu: Some(cpu.to_string()),
            memory: Some(memory.to_string()),
        })
    };
    Resources {
        requests: amounts(
            &config.logical_backup_cpu_request,
            &config.logical_backup_memory_request,
        ),
        limits: amounts(
            &config.logical_backup_cpu_limit,
            &config.logical_backup_memory_limit,
        ),
    }
}

/// A plain variable; an empty value is left out as the apiserver stores it (Go's `omitempty`),
/// so the live CronJob compares equal.
fn value(name: &str, v: impl Into<String>) -> EnvVar {
    let v: String = v.into();
    EnvVar {
        name: name.into(),
        value: (!v.is_empty()).then_some(v),
        ..Default::default()
    }
}

/// The backup container's environment, in Zalando's order: the cluster, how to reach it as the
/// superuser, where the dump goes (by provider).
fn env(config: &Config, pg: &Postgresql, secret_of: &dyn Fn(&str) -> String) -> Vec<EnvVar> {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let suffix = pg
        .metadata
        .uid
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(|u| format!("/{u}"))
        .unwrap_or_default();
    let retention = pg
        .spec
        .logical_backup_retention
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| config.logical_backup_s3_retention_time.clone());
    let mut env = vec![
        value("SCOPE", cluster),
        value("CLUSTER_NAME_LABEL", config.cluster_name_label.as_str()),
        field("POD_NAMESPACE", "metadata.namespace"),
        value("PG_VERSION", pg.spec.postgresql.version.as_str()),
        value("PGPORT", "5432"),
        value("PGUSER", SUPERUSER),
        value("PGDATABASE", SUPERUSER),
        value("PGSSLMODE", "require"),
        secret_key("PGPASSWORD", &secret_of(SUPERUSER), "password"),
        value(
            "LOGICAL_BACKUP_PROVIDER",
            config.logical_backup_provider.as_str(),
        ),
        value(
            "LOGICAL_BACKUP_S3_BUCKET",
            config.logical_backup_s3_bucket.as_str(),
        ),
        value(
            "LOGICAL_BACKUP_S3_BUCKET_PREFIX",
            config.logical_backup_s3_bucket_prefix.as_str(),
        ),
        value("LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX", suffix),
    ];
    let set = |name: &str, v: &str| (!v.is_empty()).then(|| value(name, v));
    match config.logical_backup_provider.as_str() {
        "s3" => {
            env.extend([
                value(
                    "LOGICAL_BACKUP_S3_REGION",
                    config.logical_backup_s3_region.as_str(),
                ),
                value(
                    "LOGICAL_BACKUP_S3_ENDPOINT",
                    config.logical_backup_s3_endpoint.as_str(),
                ),
                value(
                    "LOGICAL_BACKUP_S3_SSE",
                    config.logical_backup_s3_sse.as_str(),
                ),
                value("LOGICAL_BACKUP_S3_RETENTION_TIME", retention),
            ]);
            env.extend(set(
                "AWS_ACCESS_KEY_ID",
                &config.logical_backup_s3_access_key_id,
            ));
            env.extend(set(
                "AWS_SECRET_ACCESS_KEY",
                &config.logical_backup_s3_secret_access_key,
            ));
        }
        "gcs" => env.extend(set(
            "LOGICAL_BACKUP_GOOGLE_APPLICATION_CREDENTIALS",
            &config.logical_backup_google_application_credentials,
        )),
        "az" => {
            env.extend([
                value(
                    "LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_NAME",
                    config.logical_backup_azure_storage_account_name.as_str(),
                ),
                value(
                    "LOGICAL_BACKUP_AZURE_STORAGE_CONTAINER",
                    config.logical_backup_azure_storage_container.as_str(),
                ),
            ]);
            env.extend(set(
                "LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_KEY",
                &config.logical_backup_azure_storage_account_key,
            ));
        }
        _ => {}
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_to_52_without_a_trailing_dash() {
        let config = Config::default();
        assert_eq!(
            job_name(&config, "acid-minimal"),
            "logical-backup-acid-minimal"
        );
        let cluster = format!("{}-x", "a".repeat(36)); // the cut falls on the dash
        let name = job_name(&config, &cluster);
        assert_eq!(name, format!("logical-backup-{}", "a".repeat(36)));
        assert!(name.len() <= MAX_NAME);
    }
}
