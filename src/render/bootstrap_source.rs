//! Where a new cluster's data comes from when it is not `initdb`: a `clone` of another cluster
//! (Zalando's `generateCloneEnvironment`) or a `standby` of one (`generateStandbyEnvironment`).
//! Spilo reads these variables once, when the cluster bootstraps.

use super::spilo::{REPLICATION_USER, secret_key, value};
use crate::api::postgresql::{CloneSource, Standby};
use crate::config::Config;
use k8s_openapi::api::core::v1::EnvVar;

/// The clone's variables. From the running cluster: its master Service in this namespace and
/// its replication user's Secret. From its archive (with `timestamp`): the manifest's
/// `s3_wal_path`, else the operator's bucket scoped by the source's uid, and the S3 settings
/// the manifest gives.
pub fn clone_env(config: &Config, clone: &CloneSource, namespace: &str) -> Vec<EnvVar> {
    if !clone.is_on() {
        return Vec::new();
    }
    let cluster = clone.cluster.as_str();
    let mut env = vec![value("CLONE_SCOPE", cluster)];
    let Some(timestamp) = clone.timestamp() else {
        let password_secret = super::database::secret_name(
            &config.secret_name_template,
            REPLICATION_USER,
            cluster,
            namespace,
        );
        env.extend([
            value("CLONE_METHOD", "CLONE_WITH_BASEBACKUP"),
            value("CLONE_HOST", cluster),
            value("CLONE_PORT", "5432"),
            value("CLONE_USER", REPLICATION_USER),
            secret_key("CLONE_PASSWORD", &password_secret, "password"),
        ]);
        return env;
    };
    match clone.s3_wal_path() {
        Some(path) => env.push(value("CLONE_WALE_S3_PREFIX", path)),
        None => {
            if !config.wal_s3_bucket.is_empty() {
                env.push(value("CLONE_WAL_S3_BUCKET", &config.wal_s3_bucket));
            } else if !config.wal_gs_bucket.is_empty() {
                env.push(value("CLONE_WAL_GS_BUCKET", &config.wal_gs_bucket));
                if !config.gcp_credentials.is_empty() {
                    env.push(value(
                        "CLONE_GOOGLE_APPLICATION_CREDENTIALS",
                        &config.gcp_credentials,
                    ));
                }
            } else if !config.wal_az_storage_account.is_empty() {
                env.push(value(
                    "CLONE_AZURE_STORAGE_ACCOUNT",
                    &config.wal_az_storage_account,
                ));
            }
            let suffix = clone.uid().map(|u| format!("/{u}")).unwrap_or_default();
            env.push(value("CLONE_WAL_BUCKET_SCOPE_SUFFIX", suffix));
        }
    }
    env.extend([
        value("CLONE_METHOD", "CLONE_WITH_WALE"),
        value("CLONE_TARGET_TIME", timestamp),
        value("CLONE_WAL_BUCKET_SCOPE_PREFIX", ""),
    ]);
    if let Some(endpoint) = clone.s3_endpoint() {
        env.push(value("CLONE_AWS_ENDPOINT", endpoint));
        env.push(value("CLONE_WALE_S3_ENDPOINT", endpoint));
    }
    if let Some(key) = clone.s3_access_key_id() {
        env.push(value("CLONE_AWS_ACCESS_KEY_ID", key));
    }
    if let Some(secret) = clone.s3_secret_access_key() {
        env.push(value("CLONE_AWS_SECRET_ACCESS_KEY", secret));
    }
    if let Some(path_style) = clone.s3_force_path_style {
        env.push(value(
            "CLONE_AWS_S3_FORCE_PATH_STYLE",
            if path_style { "1" } else { "0" },
        ));
    }
    env
}

/// Zalando's `generateStandbyEnvironment`: a host to stream from wins; otherwise the WAL
/// archive Spilo restores from (S3 before GCS), with the standby method and an empty scope
/// prefix. Appended as Zalando appends it, after the manifest's own variables.
pub fn standby_env(standby: &Standby) -> Vec<EnvVar> {
    let mut env = Vec::new();
    if let Some(host) = standby.host() {
        env.push(value("STANDBY_HOST", host));
        if let Some(port) = standby.port() {
            env.push(value("STANDBY_PORT", port));
        }
        return env;
    }
    if let Some(path) = standby.s3_wal_path() {
        env.push(value("STANDBY_WALE_S3_PREFIX", path));
    } else if let Some(path) = standby.gs_wal_path() {
        env.push(value("STANDBY_WALE_GS_PREFIX", path));
    } else {
        return env;
    }
    env.push(value("STANDBY_METHOD", "STANDBY_WITH_WALE"));
    env.push(value("STANDBY_WAL_BUCKET_SCOPE_PREFIX", ""));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_values(env: &[EnvVar]) -> Vec<(String, String)> {
        env.iter()
            .map(|e| {
                let v = e.value.clone().unwrap_or_else(|| {
                    let r = e
                        .value_from
                        .as_ref()
                        .and_then(|f| f.secret_key_ref.as_ref());
                    r.map(|r| format!("secret {}/{}", r.name, r.key))
                        .unwrap_or_default()
                });
                (e.name.clone(), v)
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn standby(json: serde_json::Value) -> Vec<(String, String)> {
        let s: Standby = serde_json::from_value(json).expect("standby");
        names_and_values(&standby_env(&s))
    }

    fn clone(config: &Config, json: serde_json::Value) -> Vec<(String, String)> {
        let c: CloneSource = serde_json::from_value(json).expect("clone");
        names_and_values(&clone_env(config, &c, "ns"))
    }

    #[test]
    fn a_standby_streams_from_its_host_or_restores_from_its_archive() {
        assert_eq!(
            standby(
                serde_json::json!({"standby_host": "acid-a.ns", "standby_port": "5433", "s3_wal_path": "s3://x"})
            ),
            pairs(&[("STANDBY_HOST", "acid-a.ns"), ("STANDBY_PORT", "5433")])
        );
        assert_eq!(
            standby(serde_json::json!({"gs_wal_path": "gs://b/spilo/acid-a/u/wal/17/"})),
            pairs(&[
                ("STANDBY_WALE_GS_PREFIX", "gs://b/spilo/acid-a/u/wal/17/"),
                ("STANDBY_METHOD", "STANDBY_WITH_WALE"),
                ("STANDBY_WAL_BUCKET_SCOPE_PREFIX", ""),
            ])
        );
        assert!(standby(serde_json::json!({})).is_empty());
    }

    #[test]
    fn a_clone_without_a_timestamp_copies_the_running_cluster() {
        assert_eq!(
            clone(
                &Config::default(),
                serde_json::json!({"cluster": "acid-source", "uid": "u-1"})
            ),
            pairs(&[
                ("CLONE_SCOPE", "acid-source"),
                ("CLONE_METHOD", "CLONE_WITH_BASEBACKUP"),
                ("CLONE_HOST", "acid-source"),
                ("CLONE_PORT", "5432"),
                ("CLONE_USER", "standby"),
                (
                    "CLONE_PASSWORD",
                    "secret standby.acid-source.credentials.postgresql.acid.zalan.do/password"
                ),
            ])
        );
        assert!(clone(&Config::default(), serde_json::json!({"cluster": ""})).is_empty());
    }

    #[test]
    fn a_point_in_time_clone_restores_from_the_operators_bucket_or_the_manifests_path() {
        let config = Config {
            wal_gs_bucket: "gs-backups".into(),
            gcp_credentials: "/meta/credentials/gcs.json".into(),
            ..Config::default()
        };
        let at = "2026-11-30T12:00:00+01:00";
        assert_eq!(
            clone(
                &config,
                serde_json::json!({"cluster": "acid-source", "uid": "u-1", "timestamp": at})
            ),
            pairs(&[
                ("CLONE_SCOPE", "acid-source"),
                ("CLONE_WAL_GS_BUCKET", "gs-backups"),
                (
                    "CLONE_GOOGLE_APPLICATION_CREDENTIALS",
                    "/meta/credentials/gcs.json"
                ),
                ("CLONE_WAL_BUCKET_SCOPE_SUFFIX", "/u-1"),
                ("CLONE_METHOD", "CLONE_WITH_WALE"),
                ("CLONE_TARGET_TIME", at),
                ("CLONE_WAL_BUCKET_SCOPE_PREFIX", ""),
            ])
        );
        assert_eq!(
            clone(
                &config,
                serde_json::json!({"cluster": "acid-source", "timestamp": at,
                    "s3_wal_path": "s3://b/spilo/acid-source/u-1/wal/15", "s3_endpoint": "http://minio:9000",
                    "s3_access_key_id": "id", "s3_secret_access_key": "key", "s3_force_path_style": true})
            ),
            pairs(&[
                ("CLONE_SCOPE", "acid-source"),
                (
                    "CLONE_WALE_S3_PREFIX",
                    "s3://b/spilo/acid-source/u-1/wal/15"
                ),
                ("CLONE_METHOD", "CLONE_WITH_WALE"),
                ("CLONE_TARGET_TIME", at),
                ("CLONE_WAL_BUCKET_SCOPE_PREFIX", ""),
                ("CLONE_AWS_ENDPOINT", "http://minio:9000"),
                ("CLONE_WALE_S3_ENDPOINT", "http://minio:9000"),
                ("CLONE_AWS_ACCESS_KEY_ID", "id"),
                ("CLONE_AWS_SECRET_ACCESS_KEY", "key"),
                ("CLONE_AWS_S3_FORCE_PATH_STYLE", "1"),
            ])
        );
    }
}
