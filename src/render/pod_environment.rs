//! The Spilo pods' environment from outside the manifest: `pod_environment_secret`,
//! `pod_environment_configmap` and the operator's backup keys (`wal_s3_bucket`, …), in the
//! order and with the precedence of Zalando's `generateSpiloPodEnvVars`. Most clusters keep their
//! WAL settings here; a render without them would stop archiving on the next rolling restart.

use super::spilo::{secret_key, value};
use crate::config::Config;
use k8s_openapi::api::core::v1::EnvVar;
use std::collections::BTreeMap;

/// What the configured ConfigMap and Secret hold, as observed for the namespaces with clusters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodEnvironmentSources {
    /// Cluster namespace → the ConfigMap's data (from the configured namespace, else the
    /// cluster's own, as Zalando looks), or why it could not be read.
    pub configmap: BTreeMap<String, Result<BTreeMap<String, String>, String>>,
    /// Cluster namespace → the Secret's key names (never its values), or why not.
    pub secret_keys: BTreeMap<String, Result<Vec<String>, String>>,
    /// The same of `logical_backup_cronjob_environment_secret`, for the backup pods.
    pub backup_secret_keys: BTreeMap<String, Result<Vec<String>, String>>,
}

/// The variables the sources give one cluster's pods, each list sorted by name as Zalando sorts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourcedEnv {
    pub from_secret: Vec<EnvVar>,
    pub from_configmap: Vec<EnvVar>,
    /// The logical backup pods' variables from `logical_backup_cronjob_environment_secret`.
    pub backup_from_secret: Vec<EnvVar>,
}

/// A source that is configured and could not be read: (configuration key, why).
pub type Unreadable = (&'static str, String);

/// The sources' variables for a cluster in `namespace` (with `logical_backup`, its backup pods'
/// too). A configured source that was not read refuses the cluster: rendering it without them
/// would drop its WAL settings or the backup's credentials.
pub fn sourced_env(
    config: &Config,
    sources: &PodEnvironmentSources,
    namespace: &str,
    logical_backup: bool,
) -> Result<SourcedEnv, Vec<Unreadable>> {
    let mut env = SourcedEnv::default();
    let mut unreadable = Vec::new();
    let not_read = || "not read (a render without a cluster cannot see it)".to_string();
    // Sorted by name: Zalando sorts the pod's; its backup pods' follow Go's map order.
    let secret_env = |key: &'static str,
                      secret: &str,
                      keys: &BTreeMap<String, Result<Vec<String>, String>>,
                      unreadable: &mut Vec<Unreadable>| {
        match keys.get(namespace) {
            Some(Ok(keys)) => {
                let mut keys = keys.clone();
                keys.sort();
                keys.into_iter()
                    .map(|k| secret_key(&k, secret, &k))
                    .collect()
            }
            Some(Err(why)) => {
                unreadable.push((key, why.clone()));
                Vec::new()
            }
            None => {
                unreadable.push((key, not_read()));
                Vec::new()
            }
        }
    };
    if !config.pod_environment_secret.is_empty() {
        env.from_secret = secret_env(
            "pod_environment_secret",
            &config.pod_environment_secret,
            &sources.secret_keys,
            &mut unreadable,
        );
    }
    if logical_backup && !config.logical_backup_cronjob_environment_secret.is_empty() {
        env.backup_from_secret = secret_env(
            "logical_backup_cronjob_environment_secret",
            &config.logical_backup_cronjob_environment_secret,
            &sources.backup_secret_keys,
            &mut unreadable,
        );
    }
    if !config.pod_environment_configmap.is_empty() {
        match sources.configmap.get(namespace) {
            // A BTreeMap is sorted by name already.
            Some(Ok(data)) => {
                env.from_configmap = data.iter().map(|(k, v)| value(k, v.as_str())).collect();
            }
            Some(Err(why)) => unreadable.push(("pod_environment_configmap", why.clone())),
            None => unreadable.push(("pod_environment_configmap", not_read())),
        }
    }
    if unreadable.is_empty() {
        Ok(env)
    } else {
        Err(unreadable)
    }
}

/// The variables the operator's own keys derive, last in Zalando's order: the WAL location
/// (scoped by the manifest's uid, with an empty prefix), GCP credentials, the log bucket.
pub fn operator_env(config: &Config, uid: Option<&str>) -> Vec<EnvVar> {
    let suffix = uid
        .filter(|u| !u.is_empty())
        .map(|u| format!("/{u}"))
        .unwrap_or_default();
    let mut env = Vec::new();
    for (key, name) in [
        (&config.wal_s3_bucket, "WAL_S3_BUCKET"),
        (&config.wal_gs_bucket, "WAL_GS_BUCKET"),
        (&config.wal_az_storage_account, "AZURE_STORAGE_ACCOUNT"),
    ] {
        if !key.is_empty() {
            env.push(value(name, key.as_str()));
            env.push(value("WAL_BUCKET_SCOPE_SUFFIX", suffix.as_str()));
            env.push(value("WAL_BUCKET_SCOPE_PREFIX", ""));
        }
    }
    if !config.gcp_credentials.is_empty() {
        env.push(value(
            "GOOGLE_APPLICATION_CREDENTIALS",
            config.gcp_credentials.as_str(),
        ));
    }
    if !config.log_s3_bucket.is_empty() {
        env.push(value("LOG_S3_BUCKET", config.log_s3_bucket.as_str()));
        env.push(value("LOG_BUCKET_SCOPE_SUFFIX", suffix.as_str()));
        env.push(value("LOG_BUCKET_SCOPE_PREFIX", ""));
    }
    env
}

/// Zalando's `appendEnvVars`: each variable whose name (in any case) is not there yet.
pub fn append_new(env: &mut Vec<EnvVar>, more: impl IntoIterator<Item = EnvVar>) {
    for var in more {
        if !env.iter().any(|e| e.name.eq_ignore_ascii_case(&var.name)) {
            env.push(var);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &[EnvVar]) -> Vec<&str> {
        env.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn the_wal_location_is_scoped_by_the_manifests_uid_with_an_empty_prefix() {
        let config = Config {
            wal_s3_bucket: "backups".into(),
            wal_gs_bucket: "gs-backups".into(),
            log_s3_bucket: "logs".into(),
            ..Config::default()
        };
        let mut env = Vec::new();
        append_new(&mut env, operator_env(&config, Some("u-1")));
        let pairs: Vec<(&str, &str)> = env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("WAL_S3_BUCKET", "backups"),
                ("WAL_BUCKET_SCOPE_SUFFIX", "/u-1"),
                ("WAL_BUCKET_SCOPE_PREFIX", ""),
                ("WAL_GS_BUCKET", "gs-backups"),
                ("LOG_S3_BUCKET", "logs"),
                ("LOG_BUCKET_SCOPE_SUFFIX", "/u-1"),
                ("LOG_BUCKET_SCOPE_PREFIX", ""),
            ]
        );
        assert!(operator_env(&Config::default(), Some("u")).is_empty());
    }

    #[test]
    fn sources_give_sorted_variables_and_secret_values_stay_in_the_secret() {
        let config = Config {
            pod_environment_configmap: "ops/pod-env".into(),
            pod_environment_secret: "pod-secrets".into(),
            ..Config::default()
        };
        let sources = PodEnvironmentSources {
            configmap: BTreeMap::from([(
                "ns".to_string(),
                Ok(BTreeMap::from([
                    ("WALG_S3_PREFIX".to_string(), "s3://b".to_string()),
                    ("AWS_REGION".to_string(), "eu".to_string()),
                ])),
            )]),
            secret_keys: BTreeMap::from([(
                "ns".to_string(),
                Ok(vec![
                    "AWS_SECRET_ACCESS_KEY".into(),
                    "AWS_ACCESS_KEY_ID".into(),
                ]),
            )]),
            ..Default::default()
        };
        let env = sourced_env(&config, &sources, "ns", false).expect("read");
        assert_eq!(
            names(&env.from_secret),
            ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        );
        assert!(env.from_secret.iter().all(|e| e.value.is_none()));
        assert_eq!(
            env.from_secret[0]
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .map(|r| (r.name.as_str(), r.key.as_str())),
            Some(("pod-secrets", "AWS_ACCESS_KEY_ID"))
        );
        assert_eq!(names(&env.from_configmap), ["AWS_REGION", "WALG_S3_PREFIX"]);
        let missing = sourced_env(&config, &sources, "elsewhere", false).expect_err("not read");
        assert_eq!(
            missing.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            ["pod_environment_secret", "pod_environment_configmap"]
        );
    }

    #[test]
    fn a_cluster_whose_configured_source_is_missing_is_refused_by_name_and_others_render() {
        let minimal: crate::api::Postgresql = serde_yaml::from_str(include_str!(
            "../../fixtures/manifests/valid/01-minimal.yaml"
        ))
        .expect("fixture");
        let mut elsewhere = minimal.clone();
        elsewhere.metadata.namespace = Some("has-it".into());
        let config = Config {
            pod_environment_configmap: "pod-env".into(),
            ..Config::default()
        };
        let facts = crate::render::live::LiveFacts {
            pod_environment: PodEnvironmentSources {
                configmap: BTreeMap::from([
                    (
                        "has-it".to_string(),
                        Ok(BTreeMap::from([("USE_WALG_BACKUP".into(), "true".into())])),
                    ),
                    (
                        "default".to_string(),
                        Err("not found in namespace default".to_string()),
                    ),
                ]),
                ..Default::default()
            },
            ..Default::default()
        };
        let manifests =
            [minimal, elsewhere].map(|pg| crate::render::Manifest::Postgresql(Box::new(pg)));
        let desired = crate::render::render_with(&manifests, &config, &facts);
        assert_eq!(desired.manifests.len(), 1, "{:?}", desired.invalid);
        assert_eq!(desired.manifests[0].manifest.namespace, "has-it");
        let message = desired.invalid[0].to_string();
        assert!(
            message.contains("(operator configuration) pod_environment_configmap")
                && message.contains("ConfigMap pod-env: not found in namespace default"),
            "{message}"
        );
    }

    #[test]
    fn an_earlier_variable_wins_in_any_case() {
        let mut env = vec![value("WAL_S3_BUCKET", "from-manifest")];
        append_new(
            &mut env,
            [value("wal_s3_bucket", "x"), value("WAL_S3_BUCKET", "y")],
        );
        assert_eq!(env.len(), 1);
    }
}
