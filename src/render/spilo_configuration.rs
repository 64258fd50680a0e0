//! `SPILO_CONFIGURATION`: the Patroni settings of a manifest, shaped as Zalando's operator
//! shapes them (pkg/cluster/k8sres.go, `generateSpiloJSONConfiguration`), field for field and in
//! its order, so a cluster moving between the two operators gets the same configuration:
//! - `bootstrap.initdb` starts with `auth-host: md5` and `auth-local: trust`; the manifest's
//!   options follow sorted, a `"true"` flag option (`data-checksums`, …) as the bare flag
//!   (initdb refuses `--data-checksums=true`), an option of the same name replacing a default;
//! - parameters Patroni accepts locally go to `postgresql.parameters`, every other one to
//!   `bootstrap.dcs.postgresql.parameters` (Patroni takes them only from the DCS);
//! - `pg_hba` goes to `postgresql.pg_hba`, where it wins over Spilo's own rules and follows
//!   later changes of the manifest.

use crate::api::Postgresql;
use crate::config::Config;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// initdb options that take no value: `"true"` renders the bare flag.
const FLAG_OPTIONS: &[&str] = &[
    "data-checksums",
    "debug",
    "no-locale",
    "noclean",
    "nosync",
    "sync-only",
];

/// Parameters Patroni applies from the local configuration (Zalando's list); every other
/// parameter is bootstrap-only: Patroni takes it from the DCS.
const LOCAL_PARAMETERS: &[&str] = &[
    "archive_command",
    "shared_buffers",
    "logging_collector",
    "log_destination",
    "log_directory",
    "log_filename",
    "log_file_mode",
    "log_rotation_age",
    "log_truncate_on_rotation",
    "ssl",
    "ssl_ca_file",
    "ssl_crl_file",
    "ssl_cert_file",
    "ssl_key_file",
    "shared_preload_libraries",
    "bg_mon.listen_address",
    "bg_mon.history_buckets",
    "pg_stat_statements.track_utility",
    "extwlist.extensions",
    "extwlist.custom_path",
];

/// The Spilo container's variable that carries this configuration.
pub const ENV_NAME: &str = "SPILO_CONFIGURATION";

pub fn is_local_parameter(name: &str) -> bool {
    LOCAL_PARAMETERS.contains(&name)
}

#[derive(Serialize)]
struct SpiloConfiguration {
    postgresql: BTreeMap<String, Value>,
    bootstrap: Bootstrap,
}

#[derive(Serialize)]
struct Bootstrap {
    initdb: Vec<Value>,
    dcs: Dcs,
}

/// Patroni's dynamic configuration at bootstrap; unset and zero values are left out.
#[derive(Serialize, Default)]
struct Dcs {
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loop_wait: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_timeout: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_lag_on_failover: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    synchronous_mode: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    synchronous_mode_strict: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    synchronous_node_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postgresql: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slots: Option<BTreeMap<String, BTreeMap<String, String>>>,
    failsafe_mode: bool,
}

/// The manifest's initdb options after Zalando's defaults.
pub fn initdb_options(options: &BTreeMap<String, String>) -> Vec<Value> {
    let mut list: Vec<(String, Option<String>)> = vec![
        ("auth-host".into(), Some("md5".into())),
        ("auth-local".into(), Some("trust".into())),
    ];
    for (key, value) in options {
        if let Some(existing) = list.iter_mut().find(|(k, v)| k == key && v.is_some()) {
            existing.1 = Some(value.clone());
        } else if list.iter().any(|(k, v)| v.is_none() && k == value) {
            // The same bare flag twice.
        } else if value == "true" && FLAG_OPTIONS.contains(&key.as_str()) {
            list.push((key.clone(), None));
        } else {
            list.push((key.clone(), Some(value.clone())));
        }
    }
    list.into_iter()
        .map(|(k, v)| match v {
            Some(v) => json!({ k: v }),
            None => Value::String(k),
        })
        .collect()
}

/// The manifest's PostgreSQL parameters: (local, DCS-level).
fn split_parameters(pg: &Postgresql) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    pg.spec
        .postgresql
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| is_local_parameter(k))
}

fn dcs(config: &Config, pg: &Postgresql) -> Dcs {
    let patroni = pg.spec.patroni.clone().unwrap_or_default();
    let (_, dcs_parameters) = split_parameters(pg);
    Dcs {
        ttl: patroni.ttl.filter(|n| *n != 0),
        loop_wait: patroni.loop_wait.filter(|n| *n != 0),
        retry_timeout: patroni.retry_timeout.filter(|n| *n != 0),
        maximum_lag_on_failover: patroni.maximum_lag_on_failover.filter(|n| *n != 0),
        synchronous_mode: patroni.synchronous_mode.unwrap_or(false),
        synchronous_mode_strict: patroni.synchronous_mode_strict.unwrap_or(false),
        synchronous_node_count: patroni.synchronous_node_count.filter(|n| *n >= 1),
        postgresql: (!dcs_parameters.is_empty()).then(|| json!({ "parameters": dcs_parameters })),
        slots: (!patroni.slots.is_empty()).then(|| patroni.slots.clone()),
        failsafe_mode: patroni
            .failsafe_mode
            .unwrap_or(config.enable_patroni_failsafe_mode),
    }
}

/// What Patroni's dynamic configuration (`GET /config`) should hold for this manifest: the DCS
/// settings Spilo bootstraps with (as in `SPILO_CONFIGURATION`), and `pg_hba` when the manifest
/// sets it. Zalando's operator keeps these in sync after the bootstrap; so does the plan.
pub fn desired_dynamic_configuration(config: &Config, pg: &Postgresql) -> Value {
    let mut value = serde_json::to_value(dcs(config, pg)).unwrap_or_default();
    let pg_hba = pg
        .spec
        .patroni
        .as_ref()
        .map(|p| p.pg_hba.clone())
        .unwrap_or_default();
    if let (Some(map), false) = (value.as_object_mut(), pg_hba.is_empty()) {
        map.insert("pg_hba".into(), json!(pg_hba));
    }
    value
}

pub fn spilo_configuration(config: &Config, pg: &Postgresql) -> String {
    let patroni = pg.spec.patroni.clone().unwrap_or_default();
    let mut local: BTreeMap<String, Value> = BTreeMap::new();
    if !config.enable_pgversion_env_var {
        local.insert(
            "bin_dir".into(),
            json!(format!(
                "/usr/lib/postgresql/{}/bin",
                pg.spec.postgresql.version
            )),
        );
    }
    let (local_parameters, _) = split_parameters(pg);
    if !local_parameters.is_empty() {
        local.insert("parameters".into(), json!(local_parameters));
    }
    if !patroni.pg_hba.is_empty() {
        local.insert("pg_hba".into(), json!(patroni.pg_hba));
    }
    let configuration = SpiloConfiguration {
        postgresql: local,
        bootstrap: Bootstrap {
            initdb: initdb_options(&patroni.initdb),
            dcs: dcs(config, pg),
        },
    };
    serde_json::to_string(&configuration).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn initdb_flags_are_bare_and_defaults_come_first() {
        let list = initdb_options(&options(&[
            ("data-checksums", "true"),
            ("encoding", "UTF8"),
            ("locale", "en_US.UTF-8"),
        ]));
        assert_eq!(
            Value::Array(list).to_string(),
            r#"[{"auth-host":"md5"},{"auth-local":"trust"},"data-checksums",{"encoding":"UTF8"},{"locale":"en_US.UTF-8"}]"#
        );
    }

    #[test]
    fn initdb_option_replaces_a_default_and_false_flags_keep_their_value() {
        let list = initdb_options(&options(&[
            ("auth-host", "scram-sha-256"),
            ("nosync", "false"),
        ]));
        assert_eq!(
            Value::Array(list).to_string(),
            r#"[{"auth-host":"scram-sha-256"},{"auth-local":"trust"},{"nosync":"false"}]"#
        );
    }

    #[test]
    fn parameters_split_between_local_and_dcs() {
        assert!(is_local_parameter("shared_buffers"));
        assert!(!is_local_parameter("max_connections"));
    }
}
