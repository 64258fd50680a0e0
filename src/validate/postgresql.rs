//! Rules for `postgresql` manifests (Zalando's, plus what our renderer needs).

use super::clone::check_clone;
use super::databases::{check_databases, check_prepared, effective_prepared, prepared_roles};
use super::initdb::check_initdb;
use super::limits::{check_bytes, check_count};
use super::logical_backup::check_logical_backup_schedule;
use super::names::{cluster_name_problems, qualified_name_problem};
use super::network::{check_node_ports, check_source_ranges};
use super::pg_hba::check_pg_hba;
use super::pod::{check_additional_volumes, check_init_containers};
use super::pooler::check_connection_pooler;
use super::quantity::{check_resources, check_volume_size};
use super::sidecars::{check_sidecars, sidecar_name};
use super::standby::check_standby;
use super::tls::check_tls;
use super::users::{check_rotation_lists, check_secret_namespaces, check_users};
use super::windows::check_windows;
use super::{Errors, Limits};
use crate::api::Postgresql;
use crate::api::postgresql::POSTGRES_VERSIONS;
use crate::render::statefulset::CONTAINER;
use k8s_openapi::api::core::v1::EnvVar;
use std::collections::{BTreeMap, BTreeSet};

/// Environment variables the renderer sets on the Spilo container itself; a manifest that sets
/// them would break the pod's contract with Patroni and the reconciler.
pub const RESERVED_ENV: &[&str] = &[
    "PGVERSION",
    "SCOPE",
    "PGROOT",
    "POD_IP",
    "POD_NAMESPACE",
    "PGUSER_SUPERUSER",
    "PGPASSWORD_SUPERUSER",
    "PGUSER_STANDBY",
    "PGPASSWORD_STANDBY",
    "SPILO_CONFIGURATION",
    "KUBERNETES_SCOPE_LABEL",
    "KUBERNETES_ROLE_LABEL",
    "KUBERNETES_LABELS",
    "KUBERNETES_USE_CONFIGMAPS",
    "DCS_ENABLE_KUBERNETES_API",
];

/// PostgreSQL parameter names. GUC names are case-insensitive and documented in mixed case
/// (`TimeZone`, `DateStyle`), so upper-case letters are accepted.
const PARAMETER_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_.]*$";

pub(super) fn check(pg: &Postgresql, limits: &Limits, errs: &mut Errors) {
    let name = pg.metadata.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        errs.add("metadata.name", "required");
    } else {
        for problem in cluster_name_problems(name) {
            errs.add("metadata.name", problem);
        }
    }

    let spec = &pg.spec;
    if spec.team_id.trim().is_empty() {
        errs.add("spec.teamId", "must not be empty");
    }
    check_instances(spec.number_of_instances, limits, errs);
    check_volume_size(&spec.volume.size, errs);
    if let Some(resources) = &spec.resources {
        check_resources(resources, errs);
    }
    check_postgresql(&spec.postgresql.version, &spec.postgresql.parameters, errs);
    check_parameter_values(&spec.postgresql.parameters, limits, errs);

    // Over its limit, a collection gets that one error and not one per entry: thousands of
    // entry errors would bury the one that matters.
    if check_count(
        "spec.users",
        "users",
        spec.users.len(),
        (limits.max_users, "max_users_per_manifest"),
        errs,
    ) {
        check_users(&spec.users, &limits.protected_role_names, errs);
        check_rotation_lists(spec, errs);
        if limits.cross_namespace_secrets {
            check_secret_namespaces(&spec.users, errs);
        }
    }
    let prepared = effective_prepared(name, spec.prepared_databases.as_ref());
    if check_count(
        "spec.preparedDatabases",
        "prepared databases",
        prepared.len(),
        (
            limits.max_prepared_databases,
            "max_prepared_databases_per_manifest",
        ),
        errs,
    ) {
        check_prepared(&prepared, errs);
    }
    if check_count(
        "spec.databases",
        "databases",
        spec.databases.len(),
        (limits.max_databases, "max_databases_per_manifest"),
        errs,
    ) {
        let mut roles: BTreeSet<String> = spec.users.keys().cloned().collect();
        roles.extend(prepared_roles(&prepared));
        check_databases(&spec.databases, &roles, &limits.protected_role_names, errs);
    }

    check_source_ranges(&spec.allowed_source_ranges, errs);
    check_node_ports(spec, errs);
    check_windows(&spec.maintenance_windows, errs);
    check_logical_backup_schedule(spec.logical_backup_schedule.as_deref(), errs);
    check_connection_pooler(
        spec.connection_pooler.as_ref(),
        &limits.protected_role_names,
        errs,
    );
    if let Some(standby) = &spec.standby {
        check_standby(standby, errs);
    }
    if let Some(clone) = &spec.clone_source {
        let name = pg.metadata.name.as_deref().unwrap_or_default();
        check_clone(
            clone,
            name,
            spec.standby.is_some(),
            limits.operator_wal_archive,
            errs,
        );
    }
    check_init_containers(&spec.init_containers, errs);
    check_sidecars(
        &spec.sidecars,
        &spec.init_containers,
        limits.sidecars_enabled,
        errs,
    );
    let containers: Vec<String> = std::iter::once(CONTAINER.to_string())
        .chain(
            spec.sidecars
                .iter()
                .enumerate()
                .map(|(i, s)| sidecar_name(s, i)),
        )
        .chain(limits.operator_sidecars.iter().cloned())
        .collect();
    check_additional_volumes(&spec.additional_volumes, &containers, errs);
    if let Some(tls) = &spec.tls {
        check_tls(tls, &spec.additional_volumes, errs);
    }
    if let Some(patroni) = &spec.patroni {
        check_initdb(&patroni.initdb, errs);
        check_pg_hba(&patroni.pg_hba, spec.number_of_instances, errs);
    }
    for (field, map) in [
        ("podAnnotations", &spec.pod_annotations),
        ("serviceAnnotations", &spec.service_annotations),
        ("masterServiceAnnotations", &spec.master_service_annotations),
        (
            "replicaServiceAnnotations",
            &spec.replica_service_annotations,
        ),
    ] {
        check_annotation_keys(field, map, errs);
    }
    if check_count(
        "spec.env",
        "entries",
        spec.env.len(),
        (limits.max_env_entries, "max_env_entries"),
        errs,
    ) {
        check_env(&spec.env, errs);
    }
}

/// `spec.numberOfInstances` within the operator's limits; a negative limit means none
/// (Zalando's `-1`), and fewer than zero pods is never possible.
fn check_instances(n: i32, limits: &Limits, errs: &mut Errors) {
    let min = limits.min_instances.max(0);
    let max = (limits.max_instances >= 0).then_some(limits.max_instances);
    let ok = n >= min && max.is_none_or(|max| n <= max);
    if !ok {
        let msg = match max {
            Some(max) => format!("must be between {min} and {max}, got {n}"),
            None => format!("must be at least {min}, got {n}"),
        };
        errs.add("spec.numberOfInstances", msg);
    }
}

/// `spec.postgresql`: a version Spilo ships, and plausible parameter names.
fn check_postgresql(version: &str, parameters: &BTreeMap<String, String>, errs: &mut Errors) {
    if !POSTGRES_VERSIONS.contains(&version) {
        errs.add(
            "spec.postgresql.version",
            format!(
                "unsupported version {version:?}; allowed: {}",
                POSTGRES_VERSIONS.join(", ")
            ),
        );
    }
    for name in parameters.keys() {
        if !is_parameter_name(name) {
            errs.add(
                format!("spec.postgresql.parameters.{name}"),
                format!("invalid parameter name: must match {PARAMETER_PATTERN}"),
            );
        }
    }
}

/// Each parameter value within `max_parameter_value_bytes`: it is written into the pod's
/// `SPILO_CONFIGURATION`, and from there into Patroni's and PostgreSQL's configuration.
fn check_parameter_values(
    parameters: &BTreeMap<String, String>,
    limits: &Limits,
    errs: &mut Errors,
) {
    for (name, value) in parameters {
        check_bytes(
            &format!("spec.postgresql.parameters.{name}"),
            "value",
            value.len(),
            (
                limits.max_parameter_value_bytes,
                "max_parameter_value_bytes",
            ),
            errs,
        );
    }
}

/// [`PARAMETER_PATTERN`].
fn is_parameter_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(&first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        }
        None => false,
    }
}

/// Annotation keys must be Kubernetes qualified names, or the API server rejects the object.
fn check_annotation_keys(field: &str, map: &BTreeMap<String, String>, errs: &mut Errors) {
    for key in map.keys() {
        if let Some(problem) = qualified_name_problem(key) {
            errs.add(format!("spec.{field}.{key}"), problem);
        }
    }
}

/// `spec.env`: named, and not one of [`RESERVED_ENV`].
fn check_env(env: &[EnvVar], errs: &mut Errors) {
    for (i, var) in env.iter().enumerate() {
        let path = format!("spec.env[{i}]");
        if var.name.is_empty() {
            errs.add(path, "name must not be empty");
        } else if RESERVED_ENV.contains(&var.name.as_str()) {
            errs.add(
                path,
                format!(
                    "{:?} is set by postgres-reconciler; cannot be overridden",
                    var.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(f: impl FnOnce(&mut Errors)) -> Vec<String> {
        let mut errs = Errors::default();
        f(&mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn instances_within_limits() {
        let limits = Limits::default();
        assert!(errors(|e| check_instances(0, &limits, e)).is_empty());
        assert!(errors(|e| check_instances(16, &limits, e)).is_empty());
        assert_eq!(
            errors(|e| check_instances(17, &limits, e)),
            vec!["spec.numberOfInstances: must be between 0 and 16, got 17"]
        );
        assert_eq!(errors(|e| check_instances(-1, &limits, e)).len(), 1);
        let l = Limits {
            min_instances: 2,
            max_instances: -1,
            ..Limits::default()
        };
        assert!(errors(|e| check_instances(100, &l, e)).is_empty());
        assert_eq!(
            errors(|e| check_instances(1, &l, e)),
            vec!["spec.numberOfInstances: must be at least 2, got 1"]
        );
    }

    #[test]
    fn versions_and_parameters() {
        let params: BTreeMap<String, String> = [
            ("shared_buffers", "1GB"),
            ("TimeZone", "UTC"),
            ("pg_stat_statements.track", "all"),
            ("bad-name", "x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        assert_eq!(
            errors(|e| check_postgresql("12", &params, e)),
            vec![
                "spec.postgresql.parameters.bad-name: invalid parameter name: must match \
                  ^[A-Za-z_][A-Za-z0-9_.]*$",
                "spec.postgresql.version: unsupported version \"12\"; allowed: 13, 14, 15, 16, 17, 18",
            ]
        );
        assert!(errors(|e| check_postgresql("18", &BTreeMap::new(), e)).is_empty());
    }

    #[test]
    fn env() {
        let var = |n: &str| EnvVar {
            name: n.into(),
            value: Some("x".into()),
            value_from: None,
        };
        assert_eq!(
            errors(|e| check_env(&[var("FOO"), var(""), var("PGVERSION")], e)),
            vec![
                "spec.env[1]: name must not be empty",
                "spec.env[2]: \"PGVERSION\" is set by postgres-reconciler; cannot be overridden",
            ]
        );
    }

    #[test]
    fn annotations() {
        let map: BTreeMap<String, String> = [("prometheus.io/scrape", ""), ("bad key", "")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let errs = errors(|e| check_annotation_keys("podAnnotations", &map, e));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec.podAnnotations.bad key: invalid key: the name"));
    }
}
