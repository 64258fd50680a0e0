//! Bounds on the size of one manifest, from the operator configuration.
//!
//! A manifest created through the API can ask for anything: 10,000 users (10,000 Secrets and
//! roles), a parameter value of a megabyte (a StatefulSet the apiserver then refuses on every
//! run, after the Secrets and Services were made). Such a manifest is invalid instead, with the
//! field, its size and the limit named, so nothing is created for it and the others go on. The
//! defaults are far above what a real cluster needs.

use super::Errors;
use super::names::PROTECTED_ROLE_NAMES;

/// What one manifest may ask for. Counts are entries; sizes are bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bounds on `numberOfInstances`; a negative bound means none, as Zalando's `-1`.
    pub min_instances: i32,
    pub max_instances: i32,
    pub max_users: usize,
    pub max_databases: usize,
    pub max_prepared_databases: usize,
    /// One value of `spec.postgresql.parameters`.
    pub max_parameter_value_bytes: usize,
    pub max_env_entries: usize,
    /// The rendered `SPILO_CONFIGURATION` value and the rendered StatefulSet as JSON.
    pub max_spilo_configuration_bytes: usize,
    pub max_statefulset_bytes: usize,
    /// Role names `spec.users` may not define (Zalando's `protected_role_names`).
    pub protected_role_names: Vec<String>,
    /// The operator archives WAL to a bucket (`wal_s3_bucket`, `wal_gs_bucket`,
    /// `wal_az_storage_account`): a point-in-time clone can find its source's archive there.
    pub operator_wal_archive: bool,
    /// `enable_sidecars`: manifests may have sidecars.
    pub sidecars_enabled: bool,
    /// Containers the operator adds to every pod (`sidecars`, `sidecar_docker_images`), by name:
    /// `additionalVolumes` may name them.
    pub operator_sidecars: Vec<String>,
    /// `enable_cross_namespace_secret`: a user written `namespace.user` names a namespace.
    pub cross_namespace_secrets: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_instances: 0,
            max_instances: 16,
            max_users: DEFAULT_MAX_USERS,
            max_databases: DEFAULT_MAX_DATABASES,
            max_prepared_databases: DEFAULT_MAX_PREPARED_DATABASES,
            max_parameter_value_bytes: DEFAULT_MAX_PARAMETER_VALUE_BYTES,
            max_env_entries: DEFAULT_MAX_ENV_ENTRIES,
            max_spilo_configuration_bytes: DEFAULT_MAX_SPILO_CONFIGURATION_BYTES,
            max_statefulset_bytes: DEFAULT_MAX_STATEFULSET_BYTES,
            protected_role_names: PROTECTED_ROLE_NAMES.iter().map(|r| r.to_string()).collect(),
            operator_wal_archive: false,
            sidecars_enabled: true,
            operator_sidecars: Vec::new(),
            cross_namespace_secrets: false,
        }
    }
}

/// Each login user is a Secret and a role; real clusters have a handful.
pub const DEFAULT_MAX_USERS: usize = 500;
pub const DEFAULT_MAX_DATABASES: usize = 500;
/// Each prepared database brings at least three roles per schema, six with `defaultUsers`.
pub const DEFAULT_MAX_PREPARED_DATABASES: usize = 100;
/// The longest real values (`shared_preload_libraries`, `search_path`, `log_line_prefix`,
/// `archive_command`) are a few hundred bytes.
pub const DEFAULT_MAX_PARAMETER_VALUE_BYTES: usize = 8 * 1024;
pub const DEFAULT_MAX_ENV_ENTRIES: usize = 200;
/// Patroni's settings of a cluster: a few KiB even with many parameters and `pg_hba` lines.
pub const DEFAULT_MAX_SPILO_CONFIGURATION_BYTES: usize = 64 * 1024;
/// Well below the apiserver's request limit (3 MiB) and etcd's usual 1.5 MiB per object,
/// leaving room for the `managedFields` the apiserver adds.
pub const DEFAULT_MAX_STATEFULSET_BYTES: usize = 512 * 1024;

/// `count` entries of `what` at `path` within `max` (the configuration `key`); false, with one
/// error naming the count and the limit, when over.
pub(super) fn check_count(
    path: &str,
    what: &str,
    count: usize,
    (max, key): (usize, &str),
    errs: &mut Errors,
) -> bool {
    if count <= max {
        return true;
    }
    errs.add(
        path,
        format!("{count} {what}; at most {max} allowed ({key})"),
    );
    false
}

/// `size` bytes at `path` within `max` (the configuration `key`).
pub(super) fn check_bytes(
    path: &str,
    what: &str,
    size: usize,
    (max, key): (usize, &str),
    errs: &mut Errors,
) {
    if size > max {
        errs.add(
            path,
            format!("{what} is {size} bytes; at most {max} allowed ({key})"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Postgresql;
    use crate::validate::validate_postgresql;
    use serde_json::{Value, json};

    /// A valid cluster with `extra` merged into its spec.
    fn cluster(extra: Value) -> Postgresql {
        let mut spec = json!({"teamId": "acid", "numberOfInstances": 1,
            "volume": {"size": "1Gi"}, "postgresql": {"version": "17"}});
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        serde_json::from_value(
            json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns"}, "spec": spec}),
        )
        .expect("manifest")
    }

    fn problems(extra: Value) -> Vec<String> {
        match validate_postgresql(&cluster(extra), &Limits::default()) {
            Ok(()) => Vec::new(),
            Err(invalid) => invalid.errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    const NONE: Vec<String> = Vec::new();

    /// `n` entries `f(i)` as a JSON map.
    fn map(n: usize, f: impl Fn(usize) -> (String, Value)) -> Value {
        Value::Object((0..n).map(f).collect())
    }

    #[test]
    fn users_at_the_default_limit_pass_one_more_is_one_error() {
        let users = |n| map(n, |i| (format!("user{i}"), json!([])));
        assert_eq!(problems(json!({"users": users(DEFAULT_MAX_USERS)})), NONE);
        assert_eq!(
            problems(json!({"users": users(DEFAULT_MAX_USERS + 1)})),
            ["spec.users: 501 users; at most 500 allowed (max_users_per_manifest)"]
        );
        // Over the limit, the entries themselves are not checked one by one.
        let bad = map(10_000, |i| (format!("Bad{i}"), json!(["nosuch"])));
        assert_eq!(problems(json!({ "users": bad })).len(), 1);
    }

    #[test]
    fn databases_at_the_default_limit_pass_one_more_is_one_error() {
        let dbs = |n| map(n, |i| (format!("db{i}"), json!("app")));
        let users = json!({"app": []});
        assert_eq!(
            problems(json!({"users": users, "databases": dbs(DEFAULT_MAX_DATABASES)})),
            NONE
        );
        assert_eq!(
            problems(json!({"users": users, "databases": dbs(DEFAULT_MAX_DATABASES + 1)})),
            ["spec.databases: 501 databases; at most 500 allowed (max_databases_per_manifest)"]
        );
    }

    #[test]
    fn prepared_databases_at_the_default_limit_pass_one_more_is_one_error() {
        let prepared = |n| map(n, |i| (format!("db{i}"), json!({})));
        assert_eq!(
            problems(json!({"preparedDatabases": prepared(DEFAULT_MAX_PREPARED_DATABASES)})),
            NONE
        );
        assert_eq!(
            problems(json!({"preparedDatabases": prepared(DEFAULT_MAX_PREPARED_DATABASES + 1)})),
            [
                "spec.preparedDatabases: 101 prepared databases; at most 100 allowed \
                 (max_prepared_databases_per_manifest)"
            ]
        );
    }

    #[test]
    fn env_entries_at_the_default_limit_pass_one_more_is_one_error() {
        let env = |n: usize| {
            Value::Array(
                (0..n)
                    .map(|i| json!({"name": format!("VAR_{i}"), "value": "x"}))
                    .collect(),
            )
        };
        assert_eq!(problems(json!({"env": env(DEFAULT_MAX_ENV_ENTRIES)})), NONE);
        assert_eq!(
            problems(json!({"env": env(DEFAULT_MAX_ENV_ENTRIES + 1)})),
            ["spec.env: 201 entries; at most 200 allowed (max_env_entries)"]
        );
    }

    #[test]
    fn parameter_values_at_the_default_limit_pass_one_byte_more_fails() {
        let value = |n| json!({"version": "17", "parameters": {"search_path": "s".repeat(n)}});
        let limit = DEFAULT_MAX_PARAMETER_VALUE_BYTES;
        assert_eq!(problems(json!({ "postgresql": value(limit) })), NONE);
        assert_eq!(
            problems(json!({ "postgresql": value(limit + 1) })),
            [
                "spec.postgresql.parameters.search_path: value is 8193 bytes; at most 8192 \
                 allowed (max_parameter_value_bytes)"
            ]
        );
    }

    #[test]
    fn configured_limits_apply() {
        let limits = Limits {
            max_users: 1,
            max_env_entries: 1,
            ..Limits::default()
        };
        let pg =
            cluster(json!({"users": {"a": [], "b": []}, "env": [{"name": "A"}, {"name": "B"}]}));
        let invalid = validate_postgresql(&pg, &limits).expect_err("over");
        let found: Vec<String> = invalid.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            found,
            [
                "spec.env: 2 entries; at most 1 allowed (max_env_entries)",
                "spec.users: 2 users; at most 1 allowed (max_users_per_manifest)",
            ]
        );
    }

    fn errors(f: impl FnOnce(&mut Errors)) -> Vec<String> {
        let mut errs = Errors::default();
        f(&mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn counts_at_the_limit_pass_and_over_it_name_count_and_limit() {
        let limit = (3, "max_users_per_manifest");
        assert!(errors(|e| assert!(check_count("spec.users", "users", 3, limit, e))).is_empty());
        assert_eq!(
            errors(|e| assert!(!check_count("spec.users", "users", 4, limit, e))),
            ["spec.users: 4 users; at most 3 allowed (max_users_per_manifest)"]
        );
    }

    #[test]
    fn sizes_at_the_limit_pass_and_over_it_name_size_and_limit() {
        let limit = (8, "max_parameter_value_bytes");
        assert!(errors(|e| check_bytes("p", "value", 8, limit, e)).is_empty());
        assert_eq!(
            errors(|e| check_bytes("p", "value", 9, limit, e)),
            ["p: value is 9 bytes; at most 8 allowed (max_parameter_value_bytes)"]
        );
    }

    #[test]
    fn defaults_protect_spilo_roles() {
        assert_eq!(
            Limits::default().protected_role_names,
            ["admin", "cron_admin"]
        );
    }
}
