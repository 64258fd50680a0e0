//! The Spilo container's environment: what Patroni-on-Kubernetes needs to bootstrap and run.

use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, SecretKeySelector};
use serde_json::{Map, Value, json};

/// Where the data directory lives inside the `pgdata` volume.
pub const PGROOT: &str = "/home/postgres/pgdata/pgroot";
pub const SUPERUSER: &str = "postgres";
pub const REPLICATION_USER: &str = "standby";

fn value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn secret_key(name: &str, secret: &str, key: &str) -> EnvVar {
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

/// Environment of the `postgres` container. `secret_of(user)` names a role's credential Secret.
pub fn env(config: &Config, pg: &Postgresql, secret_of: &dyn Fn(&str) -> String) -> Vec<EnvVar> {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let labels = serde_json::to_string(&config.cluster_labels).unwrap_or_else(|_| "{}".into());
    let mut env = vec![
        value("SCOPE", cluster),
        value("PGROOT", PGROOT),
        field("POD_IP", "status.podIP"),
        field("POD_NAMESPACE", "metadata.namespace"),
        value("PGUSER_SUPERUSER", SUPERUSER),
        secret_key("PGPASSWORD_SUPERUSER", &secret_of(SUPERUSER), "password"),
        value("PGUSER_STANDBY", REPLICATION_USER),
        secret_key(
            "PGPASSWORD_STANDBY",
            &secret_of(REPLICATION_USER),
            "password",
        ),
        value("PGVERSION", pg.spec.postgresql.version.clone()),
        value("KUBERNETES_SCOPE_LABEL", config.cluster_name_label.clone()),
        value("KUBERNETES_ROLE_LABEL", super::meta::ROLE_LABEL),
        value("KUBERNETES_LABELS", labels),
        // Patroni keeps its state in ConfigMaps (`<cluster>-leader`, `-config`, …), as Zalando v2 does.
        value("KUBERNETES_USE_CONFIGMAPS", "true"),
        value("DCS_ENABLE_KUBERNETES_API", "true"),
        value("SPILO_CONFIGURATION", spilo_configuration(pg)),
    ];
    // The manifest's own variables come last; validation refused names set above.
    env.extend(pg.spec.env.iter().cloned());
    env
}

/// `SPILO_CONFIGURATION`: Patroni settings from the manifest, as compact JSON with sorted keys
/// (serde_json's map is ordered), so the same manifest always renders the same pod template.
pub fn spilo_configuration(pg: &Postgresql) -> String {
    let mut dcs = Map::new();
    let mut bootstrap = Map::new();
    if let Some(p) = &pg.spec.patroni {
        let numbers = [
            ("ttl", p.ttl.map(i64::from)),
            ("loop_wait", p.loop_wait.map(i64::from)),
            ("retry_timeout", p.retry_timeout.map(i64::from)),
            ("maximum_lag_on_failover", p.maximum_lag_on_failover),
            (
                "synchronous_node_count",
                p.synchronous_node_count.map(i64::from),
            ),
        ];
        for (key, n) in numbers {
            if let Some(n) = n {
                dcs.insert(key.into(), json!(n));
            }
        }
        let flags = [
            ("synchronous_mode", p.synchronous_mode),
            ("synchronous_mode_strict", p.synchronous_mode_strict),
            ("failsafe_mode", p.failsafe_mode),
        ];
        for (key, b) in flags {
            if let Some(b) = b {
                dcs.insert(key.into(), json!(b));
            }
        }
        if !p.initdb.is_empty() {
            // Patroni's initdb list: `key: value` options as one-entry maps.
            let initdb: Vec<Value> = p.initdb.iter().map(|(k, v)| json!({ k: v })).collect();
            bootstrap.insert("initdb".into(), Value::Array(initdb));
        }
        if !p.pg_hba.is_empty() {
            bootstrap.insert("pg_hba".into(), json!(p.pg_hba));
        }
    }
    let mut postgresql = Map::new();
    if !pg.spec.postgresql.parameters.is_empty() {
        postgresql.insert("parameters".into(), json!(pg.spec.postgresql.parameters));
        dcs.insert(
            "postgresql".into(),
            json!({"parameters": pg.spec.postgresql.parameters}),
        );
    }
    if !dcs.is_empty() {
        bootstrap.insert("dcs".into(), Value::Object(dcs));
    }
    let mut root = Map::new();
    root.insert("bootstrap".into(), Value::Object(bootstrap));
    root.insert("postgresql".into(), Value::Object(postgresql));
    Value::Object(root).to_string()
}
