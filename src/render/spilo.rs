//! The Spilo container's environment: what Patroni-on-Kubernetes needs to bootstrap and run,
//! as Zalando's operator sets it.

use super::bootstrap_source;
use super::pod_environment::{SourcedEnv, append_new, operator_env};
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, SecretKeySelector};

/// Where the data directory lives inside the `pgdata` volume.
pub const PGROOT: &str = "/home/postgres/pgdata/pgroot";
pub const SUPERUSER: &str = "postgres";
pub const REPLICATION_USER: &str = "standby";

pub(super) fn value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

pub(super) fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            // With its apiVersion, as Zalando writes it: the selector is atomic, so a value that
            // differs only by the server's default would conflict with Zalando's field manager.
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: path.into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn secret_key(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Environment of the `postgres` container, in Zalando's order (`generateSpiloPodEnvVars`).
/// `secret_of(user)` names a role's credential Secret; `use_configmaps` is the DCS mode of this
/// cluster (an existing cluster keeps the one its pods run with); `sourced` holds what
/// `pod_environment_secret` and `pod_environment_configmap` give.
pub fn env(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
    use_configmaps: bool,
    sourced: &SourcedEnv,
) -> Vec<EnvVar> {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let labels = serde_json::to_string(&config.cluster_labels).unwrap_or_else(|_| "{}".into());
    let mut env = vec![
        value("SCOPE", cluster),
        value("PGROOT", PGROOT),
        field("POD_IP", "status.podIP"),
        field("POD_NAMESPACE", "metadata.namespace"),
        value("PGUSER_SUPERUSER", SUPERUSER),
        value("KUBERNETES_SCOPE_LABEL", config.cluster_name_label.clone()),
        value("KUBERNETES_ROLE_LABEL", super::meta::ROLE_LABEL),
        secret_key("PGPASSWORD_SUPERUSER", &secret_of(SUPERUSER), "password"),
        value("PGUSER_STANDBY", REPLICATION_USER),
        secret_key(
            "PGPASSWORD_STANDBY",
            &secret_of(REPLICATION_USER),
            "password",
        ),
        value("PAM_OAUTH2", config.pam_configuration.clone()),
        value("HUMAN_ROLE", config.pam_role_name.clone()),
    ];
    if config.enable_spilo_wal_path_compat {
        env.push(value("ENABLE_WAL_PATH_COMPAT", "true"));
    }
    if config.enable_pgversion_env_var {
        env.push(value("PGVERSION", pg.spec.postgresql.version.clone()));
    }
    env.push(value("KUBERNETES_LABELS", labels));
    env.push(value(
        super::spilo_configuration::ENV_NAME,
        super::spilo_configuration::spilo_configuration(config, pg),
    ));
    if config.etcd_host.is_empty() {
        env.push(value("DCS_ENABLE_KUBERNETES_API", "true"));
        if config.enable_pod_disruption_budget {
            // Patroni labels a pod during a critical operation (major upgrade); the
            // critical-op PodDisruptionBudget then keeps every pod of the cluster.
            env.push(value(
                "KUBERNETES_BOOTSTRAP_LABELS",
                r#"{"critical-operation":"true"}"#,
            ));
        }
    } else {
        env.push(value("ETCD_HOST", config.etcd_host.clone()));
    }
    if use_configmaps {
        env.push(value("KUBERNETES_USE_CONFIGMAPS", "true"));
    }
    // The manifest's own variables never replace one set above (case-insensitive, as Zalando);
    // validation refuses the names the pod's contract depends on. They win over everything
    // below: the pod environment Secret, then its ConfigMap, then the operator's backup keys.
    append_new(&mut env, pg.spec.env.iter().cloned());
    // Appended as they are, as Zalando does (a manifest variable of the same name stays too).
    if let Some(clone) = &pg.spec.clone_source {
        let namespace = pg.metadata.namespace.as_deref().unwrap_or("default");
        env.extend(bootstrap_source::clone_env(config, clone, namespace));
    }
    if let Some(standby) = &pg.spec.standby {
        env.extend(bootstrap_source::standby_env(standby));
    }
    append_new(&mut env, sourced.from_secret.iter().cloned());
    append_new(&mut env, sourced.from_configmap.iter().cloned());
    append_new(&mut env, operator_env(config, pg.metadata.uid.as_deref()));
    if let Some(tls) = super::tls::tls(pg) {
        append_new(&mut env, super::tls::env(tls));
    }
    // The apiserver stores an empty value as no value: rendered so, a run after the one that
    // wrote it sees nothing to change.
    for var in &mut env {
        if var.value.as_deref() == Some("") {
            var.value = None;
        }
    }
    env
}
