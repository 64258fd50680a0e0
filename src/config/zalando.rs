//! Zalando's operator configuration as input: a ConfigMap (`data:` of strings, `a:b,c:d` maps,
//! comma lists, Go durations) or an `OperatorConfiguration` (the same keys, typed and grouped).
//! Every key we implement becomes ours; every other key is listed with what it does, whether
//! it shapes the Spilo pod, and, when its value would change the pod or the cluster we render,
//! refused: rendering without it would silently drop, say, WAL archiving from a running cluster.

use figment::value::{Dict, Value};
use std::collections::BTreeMap;

/// A Zalando key we do not implement, as found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub key: String,
    pub what: &'static str,
    /// The key shapes the Spilo pod (or other rendered objects) in Zalando's operator.
    pub changes_pod: bool,
    /// Its value turns something on that we would not render: an error, not a warning.
    pub matters: bool,
}

impl Unsupported {
    pub fn describe(&self) -> String {
        let pod = if self.changes_pod {
            "changes the pod"
        } else {
            "does not change the pod"
        };
        format!("{}: {} ({pod})", self.key, self.what)
    }
}

/// The result of reading a Zalando configuration.
#[derive(Debug, Default)]
pub struct Imported {
    /// Our keys with their values, for figment.
    pub settings: Dict,
    pub unsupported: Vec<Unsupported>,
    /// Keys whose value could not be read, with why.
    pub errors: Vec<String>,
}

/// A document is Zalando's configuration when it is a ConfigMap or an `OperatorConfiguration`.
pub fn is_zalando_document(doc: &serde_yaml::Value) -> bool {
    matches!(
        doc.get("kind").and_then(serde_yaml::Value::as_str),
        Some("ConfigMap") | Some("OperatorConfiguration")
    )
}

/// Reads a ConfigMap's `data` or an OperatorConfiguration's `configuration`.
pub fn import(doc: &serde_yaml::Value) -> Imported {
    let mut flat = BTreeMap::new();
    match doc.get("kind").and_then(serde_yaml::Value::as_str) {
        Some("OperatorConfiguration") => {
            if let Some(conf) = doc.get("configuration") {
                flatten(conf, &mut flat);
            }
        }
        _ => {
            if let Some(serde_yaml::Value::Mapping(data)) = doc.get("data") {
                for (k, v) in data {
                    if let Some(k) = k.as_str() {
                        flat.insert(k.to_string(), v.clone());
                    }
                }
            }
        }
    }
    import_flat(&flat)
}

/// OperatorConfiguration groups keys (`kubernetes: {...}`, `postgres_pod_resources: {...}`); the
/// key names inside are the ConfigMap's. Values that are maps of a known key stay maps.
fn flatten(conf: &serde_yaml::Value, out: &mut BTreeMap<String, serde_yaml::Value>) {
    let Some(map) = conf.as_mapping() else { return };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let known = KEYS.iter().any(|(name, _)| *name == k);
        match v {
            serde_yaml::Value::Mapping(_) if !known => flatten(v, out),
            _ => {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
}

fn import_flat(flat: &BTreeMap<String, serde_yaml::Value>) -> Imported {
    let mut imported = Imported::default();
    for (key, value) in flat {
        let Some((_, mapping)) = KEYS.iter().find(|(name, _)| name == key) else {
            imported.unsupported.push(Unsupported {
                key: key.clone(),
                what: "not a key of Zalando's operator v1.15.1",
                changes_pod: false,
                matters: false,
            });
            continue;
        };
        match mapping {
            Key::Ours(ours, conversion) => match conversion.convert(value) {
                Ok(Some(v)) => {
                    imported.settings.insert(ours.to_string(), v);
                }
                Ok(None) => {}
                Err(e) => imported.errors.push(format!("{key}: {e}")),
            },
            Key::Same(ours, expected) => {
                let text = scalar(value);
                if !text.is_empty() && text != *expected {
                    imported.errors.push(format!(
                        "{key}: only {expected:?} is supported (postgres-reconciler uses {ours} = {expected:?}), found {text:?}"
                    ));
                }
            }
            Key::Unsupported {
                what,
                changes_pod,
                matters_when,
            } => imported.unsupported.push(Unsupported {
                key: key.clone(),
                what,
                changes_pod: *changes_pod,
                matters: matters_when.applies(&scalar(value)),
            }),
        }
    }
    imported
}

/// A value as the string a ConfigMap would hold.
fn scalar(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.trim().to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

enum Key {
    /// Maps onto our key of that name.
    Ours(&'static str, Conversion),
    /// A fixed name in postgres-reconciler: accepted only with that value.
    Same(&'static str, &'static str),
    Unsupported {
        what: &'static str,
        changes_pod: bool,
        matters_when: When,
    },
}

/// When an unsupported key's value turns on something we would not render.
#[derive(Clone, Copy)]
enum When {
    Never,
    /// Any non-empty value.
    Set,
    /// Any value other than these (the defaults that turn nothing on).
    Not(&'static [&'static str]),
}

impl When {
    fn applies(self, value: &str) -> bool {
        match self {
            When::Never => false,
            When::Set => !value.is_empty(),
            When::Not(defaults) => !value.is_empty() && !defaults.contains(&value),
        }
    }
}

#[derive(Clone, Copy)]
enum Conversion {
    Str,
    Bool,
    /// Optional integer: empty means unset.
    OptInt,
    /// `a,b,c` (or a YAML list).
    List,
    /// `a:b,c:d` (or a YAML map).
    Map,
    /// A Go duration (`5m`, `300s`, `1h`) as seconds.
    Seconds,
    /// `{tprkind}` and `{tprgroup}` substituted: the names of our CRD.
    SecretTemplate,
    /// `ordered_ready` / `parallel`.
    PodManagement,
    /// `*` (all) or one namespace; "" (the operator's own) is all for a one-shot run.
    Namespaces,
    /// `-1` means no bound.
    MinInstances,
    MaxInstances,
    /// A list of Kubernetes containers (a YAML list, or its text in a ConfigMap).
    Containers,
}

impl Conversion {
    fn convert(self, v: &serde_yaml::Value) -> Result<Option<Value>, String> {
        let text = scalar(v);
        Ok(Some(match self {
            Conversion::Str => Value::from(text),
            Conversion::Bool => match text.to_ascii_lowercase().as_str() {
                "true" => Value::from(true),
                "false" => Value::from(false),
                "" => return Ok(None),
                _ => return Err(format!("expected true or false, found {text:?}")),
            },
            Conversion::OptInt => {
                if text.is_empty() {
                    return Ok(None);
                }
                Value::from(
                    text.parse::<i64>()
                        .map_err(|_| format!("expected an integer, found {text:?}"))?,
                )
            }
            Conversion::List => Value::from(list(v)),
            Conversion::Map => Value::from(map(v)?),
            Conversion::Seconds => Value::from(seconds(&text)?),
            Conversion::SecretTemplate => Value::from(
                text.replace("{tprkind}", "postgresql")
                    .replace("{tprgroup}", "acid.zalan.do"),
            ),
            Conversion::PodManagement => Value::from(match text.as_str() {
                "ordered_ready" | "" => "OrderedReady",
                "parallel" => "Parallel",
                _ => {
                    return Err(format!(
                        "expected ordered_ready or parallel, found {text:?}"
                    ));
                }
            }),
            Conversion::Namespaces => {
                let all = text.is_empty() || text == "*";
                Value::from(if all { Vec::new() } else { vec![text] })
            }
            Conversion::Containers => {
                let parsed = match v {
                    serde_yaml::Value::String(t) if t.trim().is_empty() => return Ok(None),
                    serde_yaml::Value::String(t) => serde_yaml::from_str::<serde_yaml::Value>(t)
                        .map_err(|e| format!("expected a list of containers: {e}"))?,
                    other => other.clone(),
                };
                if !parsed.is_sequence() {
                    return Err("expected a list of containers".into());
                }
                serde_yaml::from_value::<Value>(parsed)
                    .map_err(|e| format!("expected a list of containers: {e}"))?
            }
            Conversion::MinInstances | Conversion::MaxInstances => {
                let n: i64 = text
                    .parse()
                    .map_err(|_| format!("expected an integer, found {text:?}"))?;
                if n < 0 {
                    return Ok(None);
                }
                Value::from(n)
            }
        }))
    }
}

fn list(v: &serde_yaml::Value) -> Vec<String> {
    match v {
        serde_yaml::Value::Sequence(items) => items.iter().map(scalar).collect(),
        _ => scalar(v)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

fn map(v: &serde_yaml::Value) -> Result<BTreeMap<String, String>, String> {
    if let serde_yaml::Value::Mapping(m) = v {
        return Ok(m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect());
    }
    let mut out = BTreeMap::new();
    for pair in scalar(v)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (k, val) = pair
            .split_once(':')
            .ok_or_else(|| format!("expected key:value pairs, found {pair:?}"))?;
        out.insert(k.trim().to_string(), val.trim().to_string());
    }
    Ok(out)
}

/// Go's `time.ParseDuration` for the units an operator configuration uses (h, m, s, ms).
fn seconds(text: &str) -> Result<i64, String> {
    let bad = || format!("expected a duration such as 5m or 300s, found {text:?}");
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        let n: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        total += n * match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        rest = next;
    }
    Ok(total.round() as i64)
}

use Conversion as C;

const fn ours(key: &'static str, c: Conversion) -> Key {
    Key::Ours(key, c)
}

const fn unsupported(what: &'static str, changes_pod: bool, matters_when: When) -> Key {
    Key::Unsupported {
        what,
        changes_pod,
        matters_when,
    }
}

/// Defaults that turn nothing on.
const OFF: When = When::Not(&["false"]);

/// Every key of Zalando's operator v1.15.1 (pkg/util/config/config.go), what we do with it.
const KEYS: &[(&str, Key)] = &[
    // --- implemented ---
    ("docker_image", ours("docker_image", C::Str)),
    (
        "watched_namespace",
        ours("watched_namespaces", C::Namespaces),
    ),
    ("cluster_labels", ours("cluster_labels", C::Map)),
    ("cluster_name_label", ours("cluster_name_label", C::Str)),
    ("inherited_labels", ours("inherited_labels", C::List)),
    (
        "inherited_annotations",
        ours("inherited_annotations", C::List),
    ),
    (
        "secret_name_template",
        ours("secret_name_template", C::SecretTemplate),
    ),
    ("pdb_name_format", ours("pdb_name_format", C::Str)),
    (
        "pdb_master_label_selector",
        ours("pdb_master_label_selector", C::Bool),
    ),
    (
        "enable_pod_disruption_budget",
        ours("enable_pod_disruption_budget", C::Bool),
    ),
    (
        "pod_service_account_name",
        ours("pod_service_account_name", C::Str),
    ),
    ("default_cpu_request", ours("default_cpu_request", C::Str)),
    (
        "default_memory_request",
        ours("default_memory_request", C::Str),
    ),
    ("default_cpu_limit", ours("default_cpu_limit", C::Str)),
    ("default_memory_limit", ours("default_memory_limit", C::Str)),
    ("min_cpu_limit", ours("min_cpu_limit", C::Str)),
    ("min_memory_limit", ours("min_memory_limit", C::Str)),
    ("max_cpu_request", ours("max_cpu_request", C::Str)),
    ("max_memory_request", ours("max_memory_request", C::Str)),
    (
        "set_memory_request_to_limit",
        ours("set_memory_request_to_limit", C::Bool),
    ),
    ("min_instances", ours("min_instances", C::MinInstances)),
    ("max_instances", ours("max_instances", C::MaxInstances)),
    (
        "pod_management_policy",
        ours("pod_management_policy", C::PodManagement),
    ),
    (
        "enable_master_load_balancer",
        ours("enable_master_load_balancer", C::Bool),
    ),
    (
        "enable_replica_load_balancer",
        ours("enable_replica_load_balancer", C::Bool),
    ),
    (
        "enable_lazy_spilo_upgrade",
        ours("enable_lazy_spilo_upgrade", C::Bool),
    ),
    (
        "kubernetes_use_configmaps",
        ours("kubernetes_use_configmaps", C::Bool),
    ),
    ("etcd_host", ours("etcd_host", C::Str)),
    (
        "enable_readiness_probe",
        ours("enable_readiness_probe", C::Bool),
    ),
    ("spilo_runasuser", ours("spilo_runasuser", C::OptInt)),
    ("spilo_runasgroup", ours("spilo_runasgroup", C::OptInt)),
    ("spilo_fsgroup", ours("spilo_fsgroup", C::OptInt)),
    (
        "pod_terminate_grace_period",
        ours("pod_terminate_grace_period_seconds", C::Seconds),
    ),
    (
        "enable_pgversion_env_var",
        ours("enable_pgversion_env_var", C::Bool),
    ),
    (
        "enable_spilo_wal_path_compat",
        ours("enable_spilo_wal_path_compat", C::Bool),
    ),
    ("pam_configuration", ours("pam_configuration", C::Str)),
    ("pam_role_name", ours("pam_role_name", C::Str)),
    (
        "enable_patroni_failsafe_mode",
        ours("enable_patroni_failsafe_mode", C::Bool),
    ),
    ("enable_shm_volume", ours("enable_shm_volume", C::Bool)),
    (
        "persistent_volume_claim_retention_policy",
        ours("persistent_volume_claim_retention_policy", C::Map),
    ),
    ("db_hosted_zone", ours("db_hosted_zone", C::Str)),
    (
        "master_dns_name_format",
        ours("master_dns_name_format", C::Str),
    ),
    (
        "replica_dns_name_format",
        ours("replica_dns_name_format", C::Str),
    ),
    (
        "external_traffic_policy",
        ours("external_traffic_policy", C::Str),
    ),
    (
        "custom_pod_annotations",
        ours("custom_pod_annotations", C::Map),
    ),
    (
        "custom_service_annotations",
        ours("custom_service_annotations", C::Map),
    ),
    (
        "protected_role_names",
        ours("protected_role_names", C::List),
    ),
    ("super_username", Key::Same("the superuser", "postgres")),
    (
        "replication_username",
        Key::Same("the replication user", "standby"),
    ),
    ("pod_role_label", Key::Same("the role label", "spilo-role")),
    // --- the operator process itself: nothing to render, nothing lost ---
    (
        "api_port",
        unsupported("the operator's REST API port", false, When::Never),
    ),
    (
        "workers",
        unsupported(
            "the operator's worker queues (a run reconciles with max_parallel_clusters)",
            false,
            When::Never,
        ),
    ),
    (
        "resync_period",
        unsupported(
            "the operator's resync interval (the CronJob's schedule here)",
            false,
            When::Never,
        ),
    ),
    (
        "repair_period",
        unsupported(
            "the operator's repair interval (the CronJob's schedule here)",
            false,
            When::Never,
        ),
    ),
    (
        "ready_wait_interval",
        unsupported("operator polling interval", false, When::Never),
    ),
    (
        "ready_wait_timeout",
        unsupported("operator polling timeout", false, When::Never),
    ),
    (
        "resource_check_interval",
        unsupported("operator polling interval", false, When::Never),
    ),
    (
        "resource_check_timeout",
        unsupported("operator polling timeout", false, When::Never),
    ),
    (
        "pod_label_wait_timeout",
        unsupported("operator wait for Patroni's role label", false, When::Never),
    ),
    (
        "pod_deletion_wait_timeout",
        unsupported("operator wait for pod deletion", false, When::Never),
    ),
    (
        "master_pod_move_timeout",
        unsupported(
            "operator wait when moving masters off a node",
            false,
            When::Never,
        ),
    ),
    (
        "patroni_api_check_interval",
        unsupported("operator polling of Patroni's API", false, When::Never),
    ),
    (
        "patroni_api_check_timeout",
        unsupported("operator polling of Patroni's API", false, When::Never),
    ),
    (
        "ring_log_lines",
        unsupported("the operator's in-memory log", false, When::Never),
    ),
    (
        "cluster_history_entries",
        unsupported("the operator's in-memory history", false, When::Never),
    ),
    (
        "debug_logging",
        unsupported(
            "the operator's log level (--log-format and RUST_LOG here)",
            false,
            When::Never,
        ),
    ),
    (
        "enable_crd_registration",
        unsupported(
            "the operator registering its CRDs (install ours from manifests/crds)",
            false,
            When::Never,
        ),
    ),
    (
        "enable_crd_validation",
        unsupported("validation in the operator's CRDs", false, When::Never),
    ),
    (
        "crd_categories",
        unsupported("the categories of the operator's CRDs", false, When::Never),
    ),
    (
        "cluster_domain",
        unsupported(
            "the cluster DNS domain the operator connects through (postgres_host_template here)",
            false,
            When::Never,
        ),
    ),
    (
        "enable_database_access",
        unsupported(
            "roles and databases managed by the operator (always here)",
            false,
            When::Not(&["true"]),
        ),
    ),
    (
        "enable_team_id_clustername_prefix",
        unsupported(
            "cluster names must start with the team id",
            false,
            When::Never,
        ),
    ),
    (
        "storage_resize_mode",
        unsupported(
            "how volumes grow (claims are grown in place here, Zalando's pvc mode)",
            false,
            When::Not(&["pvc"]),
        ),
    ),
    (
        "major_version_upgrade_mode",
        unsupported(
            "in-place major version upgrades",
            false,
            When::Not(&["off", "manual"]),
        ),
    ),
    (
        "major_version_upgrade_team_allow_list",
        unsupported("teams allowed major version upgrades", false, When::Never),
    ),
    (
        "minimal_major_version",
        unsupported(
            "the oldest version major upgrades start from",
            false,
            When::Never,
        ),
    ),
    (
        "target_major_version",
        unsupported("the version major upgrades go to", false, When::Never),
    ),
    (
        "enable_owner_references",
        unsupported(
            "owner references on the cluster's objects (always set here, so objects go with their manifest)",
            false,
            When::Never,
        ),
    ),
    (
        "enable_finalizers",
        unsupported("the operator's deletion finalizer", false, When::Never),
    ),
    (
        "enable_secrets_deletion",
        unsupported(
            "deleting credential Secrets with the cluster (delete_secrets here, off by default: nothing is lost unless asked)",
            false,
            When::Never,
        ),
    ),
    (
        "enable_persistent_volume_claim_deletion",
        unsupported(
            "deleting volume claims with the cluster (delete_pvcs here, off by default)",
            false,
            When::Never,
        ),
    ),
    (
        "delete_annotation_date_key",
        unsupported(
            "deletion confirmation by date annotation (the chart's deletion protection here)",
            false,
            When::Never,
        ),
    ),
    (
        "delete_annotation_name_key",
        unsupported(
            "deletion confirmation by name annotation (the chart's deletionProtection.confirmNameAnnotation here)",
            false,
            When::Never,
        ),
    ),
    (
        "ignore_instance_limits_annotation_key",
        unsupported(
            "an annotation that lifts min/max_instances",
            false,
            When::Set,
        ),
    ),
    (
        "enable_ebs_gp3_migration",
        unsupported("migrating EBS volumes to gp3", false, OFF),
    ),
    (
        "enable_ebs_gp3_migration_max_size",
        unsupported("size limit of the gp3 migration", false, When::Never),
    ),
    (
        "aws_region",
        unsupported("the AWS region of EBS and S3 calls", true, When::Never),
    ),
    (
        "enable_admin_role_for_users",
        unsupported(
            "manifest roles administered by team_admin_role",
            false,
            When::Never,
        ),
    ),
    // --- Spilo pod features not rendered yet: refused when they turn something on ---
    ("wal_s3_bucket", ours("wal_s3_bucket", C::Str)),
    ("wal_gs_bucket", ours("wal_gs_bucket", C::Str)),
    (
        "wal_az_storage_account",
        ours("wal_az_storage_account", C::Str),
    ),
    ("gcp_credentials", ours("gcp_credentials", C::Str)),
    ("log_s3_bucket", ours("log_s3_bucket", C::Str)),
    ("kube_iam_role", ours("kube_iam_role", C::Str)),
    (
        "additional_secret_mount",
        ours("additional_secret_mount", C::Str),
    ),
    (
        "additional_secret_mount_path",
        ours("additional_secret_mount_path", C::Str),
    ),
    (
        "pod_environment_configmap",
        ours("pod_environment_configmap", C::Str),
    ),
    (
        "pod_environment_secret",
        ours("pod_environment_secret", C::Str),
    ),
    (
        "sidecar_docker_images",
        ours("sidecar_docker_images", C::Map),
    ),
    ("sidecars", ours("sidecars", C::Containers)),
    ("enable_sidecars", ours("enable_sidecars", C::Bool)),
    (
        "enable_init_containers",
        unsupported("allow manifests' init containers", true, When::Never),
    ),
    (
        "share_pgsocket_with_sidecars",
        ours("share_pgsocket_with_sidecars", C::Bool),
    ),
    (
        "scalyr_api_key",
        unsupported("the Scalyr log sidecar", true, When::Set),
    ),
    (
        "scalyr_image",
        unsupported("the Scalyr log sidecar", true, When::Never),
    ),
    (
        "scalyr_server_url",
        unsupported("the Scalyr log sidecar", true, When::Never),
    ),
    (
        "scalyr_cpu_request",
        unsupported("the Scalyr log sidecar", true, When::Never),
    ),
    (
        "scalyr_memory_request",
        unsupported("the Scalyr log sidecar", true, When::Never),
    ),
    (
        "scalyr_cpu_limit",
        unsupported("the Scalyr log sidecar", true, When::Never),
    ),
    (
        "scalyr_memory_limit",
        unsupported("the Scalyr log sidecar", true, When::Never),
    ),
    ("toleration", ours("toleration", C::Map)),
    ("node_readiness_label", ours("node_readiness_label", C::Map)),
    (
        "node_readiness_label_merge",
        ours("node_readiness_label_merge", C::Str),
    ),
    (
        "enable_pod_antiaffinity",
        ours("enable_pod_antiaffinity", C::Bool),
    ),
    (
        "pod_antiaffinity_preferred_during_scheduling",
        ours("pod_antiaffinity_preferred_during_scheduling", C::Bool),
    ),
    (
        "pod_antiaffinity_topology_key",
        ours("pod_antiaffinity_topology_key", C::Str),
    ),
    (
        "pod_priority_class_name",
        ours("pod_priority_class_name", C::Str),
    ),
    ("spilo_privileged", ours("spilo_privileged", C::Bool)),
    (
        "spilo_allow_privilege_escalation",
        ours("spilo_allow_privilege_escalation", C::Bool),
    ),
    (
        "additional_pod_capabilities",
        ours("additional_pod_capabilities", C::List),
    ),
    (
        "downscaler_annotations",
        ours("downscaler_annotations", C::List),
    ),
    (
        "ignored_annotations",
        unsupported(
            "annotations ignored when comparing objects",
            false,
            When::Never,
        ),
    ),
    (
        "enable_load_balancer",
        unsupported("deprecated load balancer switch", true, When::Never),
    ),
    (
        "master_legacy_dns_name_format",
        unsupported("the legacy external-dns name of masters", true, When::Never),
    ),
    (
        "replica_legacy_dns_name_format",
        unsupported(
            "the legacy external-dns name of replicas",
            true,
            When::Never,
        ),
    ),
    (
        "pod_service_account_definition",
        unsupported("a custom Spilo ServiceAccount", true, When::Set),
    ),
    (
        "pod_service_account_role_binding_definition",
        unsupported("a custom Spilo RoleBinding", true, When::Set),
    ),
    (
        "enable_cross_namespace_secret",
        ours("enable_cross_namespace_secret", C::Bool),
    ),
    (
        "infrastructure_roles_secret_name",
        unsupported("roles from infrastructure Secrets", false, When::Set),
    ),
    (
        "infrastructure_roles_secrets",
        unsupported("roles from infrastructure Secrets", false, When::Set),
    ),
    (
        "additional_owner_roles",
        unsupported(
            "roles made members of every database owner",
            false,
            When::Set,
        ),
    ),
    ("team_admin_role", ours("team_admin_role", C::Str)),
    ("role_deletion_suffix", ours("role_deletion_suffix", C::Str)),
    (
        "enable_team_member_deprecation",
        ours("enable_team_member_deprecation", C::Bool),
    ),
    ("enable_teams_api", ours("enable_teams_api", C::Bool)),
    ("teams_api_url", ours("teams_api_url", C::Str)),
    (
        "oauth_token_secret_name",
        ours("oauth_token_secret_name", C::Str),
    ),
    (
        "enable_team_superuser",
        ours("enable_team_superuser", C::Bool),
    ),
    (
        "postgres_superuser_teams",
        ours("postgres_superuser_teams", C::List),
    ),
    (
        "team_api_role_configuration",
        ours("team_api_role_configuration", C::Map),
    ),
    (
        "enable_postgres_team_crd",
        ours("enable_postgres_team_crd", C::Bool),
    ),
    (
        "enable_postgres_team_crd_superusers",
        ours("enable_postgres_team_crd_superusers", C::Bool),
    ),
    (
        "enable_password_rotation",
        ours("enable_password_rotation", C::Bool),
    ),
    (
        "password_rotation_interval",
        ours("password_rotation_interval", C::OptInt),
    ),
    (
        "password_rotation_user_retention",
        ours("password_rotation_user_retention", C::OptInt),
    ),
    (
        "enable_master_pooler_load_balancer",
        ours("enable_master_pooler_load_balancer", C::Bool),
    ),
    (
        "enable_replica_pooler_load_balancer",
        ours("enable_replica_pooler_load_balancer", C::Bool),
    ),
    (
        "connection_pooler_image",
        ours("connection_pooler_image", C::Str),
    ),
    (
        "connection_pooler_schema",
        ours("connection_pooler_schema", C::Str),
    ),
    (
        "connection_pooler_user",
        ours("connection_pooler_user", C::Str),
    ),
    (
        "connection_pooler_mode",
        ours("connection_pooler_mode", C::Str),
    ),
    (
        "connection_pooler_number_of_instances",
        ours("connection_pooler_number_of_instances", C::OptInt),
    ),
    (
        "connection_pooler_max_db_connections",
        ours("connection_pooler_max_db_connections", C::OptInt),
    ),
    (
        "connection_pooler_default_cpu_request",
        ours("connection_pooler_default_cpu_request", C::Str),
    ),
    (
        "connection_pooler_default_memory_request",
        ours("connection_pooler_default_memory_request", C::Str),
    ),
    (
        "connection_pooler_default_cpu_limit",
        ours("connection_pooler_default_cpu_limit", C::Str),
    ),
    (
        "connection_pooler_default_memory_limit",
        ours("connection_pooler_default_memory_limit", C::Str),
    ),
    (
        "logical_backup_schedule",
        ours("logical_backup_schedule", C::Str),
    ),
    (
        "logical_backup_docker_image",
        ours("logical_backup_docker_image", C::Str),
    ),
    (
        "logical_backup_provider",
        ours("logical_backup_provider", C::Str),
    ),
    (
        "logical_backup_azure_storage_account_name",
        ours("logical_backup_azure_storage_account_name", C::Str),
    ),
    (
        "logical_backup_azure_storage_container",
        ours("logical_backup_azure_storage_container", C::Str),
    ),
    (
        "logical_backup_azure_storage_account_key",
        ours("logical_backup_azure_storage_account_key", C::Str),
    ),
    (
        "logical_backup_s3_bucket",
        ours("logical_backup_s3_bucket", C::Str),
    ),
    (
        "logical_backup_s3_bucket_prefix",
        ours("logical_backup_s3_bucket_prefix", C::Str),
    ),
    (
        "logical_backup_s3_region",
        ours("logical_backup_s3_region", C::Str),
    ),
    (
        "logical_backup_s3_endpoint",
        ours("logical_backup_s3_endpoint", C::Str),
    ),
    (
        "logical_backup_s3_access_key_id",
        ours("logical_backup_s3_access_key_id", C::Str),
    ),
    (
        "logical_backup_s3_secret_access_key",
        ours("logical_backup_s3_secret_access_key", C::Str),
    ),
    (
        "logical_backup_s3_sse",
        ours("logical_backup_s3_sse", C::Str),
    ),
    (
        "logical_backup_s3_retention_time",
        ours("logical_backup_s3_retention_time", C::Str),
    ),
    (
        "logical_backup_google_application_credentials",
        ours("logical_backup_google_application_credentials", C::Str),
    ),
    (
        "logical_backup_job_prefix",
        ours("logical_backup_job_prefix", C::Str),
    ),
    (
        "logical_backup_cronjob_environment_secret",
        ours("logical_backup_cronjob_environment_secret", C::Str),
    ),
    (
        "logical_backup_cpu_request",
        ours("logical_backup_cpu_request", C::Str),
    ),
    (
        "logical_backup_memory_request",
        ours("logical_backup_memory_request", C::Str),
    ),
    (
        "logical_backup_cpu_limit",
        ours("logical_backup_cpu_limit", C::Str),
    ),
    (
        "logical_backup_memory_limit",
        ours("logical_backup_memory_limit", C::Str),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: &str) -> serde_yaml::Value {
        serde_yaml::from_str(&format!("kind: ConfigMap\ndata:\n{data}")).expect("yaml")
    }

    #[test]
    fn maps_lists_durations_and_templates() {
        let i = import(&cm(r#"
  cluster_labels: "application:spilo,tier:db"
  inherited_labels: "a, b"
  pod_terminate_grace_period: 5m
  secret_name_template: "{username}.{cluster}.credentials.{tprkind}.{tprgroup}"
  pod_management_policy: parallel
  max_instances: "-1"
  spilo_fsgroup: "103"
  watched_namespace: "*"
  protected_role_names: "admin,cron_admin,dba"
"#));
        assert!(i.errors.is_empty(), "{:?}", i.errors);
        let get = |k: &str| i.settings.get(k).cloned();
        assert_eq!(
            get("cluster_labels"),
            Some(Value::from(BTreeMap::from([
                ("application".to_string(), "spilo".to_string()),
                ("tier".to_string(), "db".to_string())
            ])))
        );
        assert_eq!(get("inherited_labels"), Some(Value::from(vec!["a", "b"])));
        assert_eq!(
            get("pod_terminate_grace_period_seconds"),
            Some(Value::from(300))
        );
        assert_eq!(
            get("secret_name_template"),
            Some(Value::from(
                "{username}.{cluster}.credentials.postgresql.acid.zalan.do"
            ))
        );
        assert_eq!(get("pod_management_policy"), Some(Value::from("Parallel")));
        assert_eq!(get("max_instances"), None, "-1 is no bound");
        assert_eq!(get("spilo_fsgroup"), Some(Value::from(103)));
        assert_eq!(
            get("protected_role_names"),
            Some(Value::from(vec!["admin", "cron_admin", "dba"]))
        );
        assert_eq!(
            get("watched_namespaces"),
            Some(Value::from(Vec::<String>::new()))
        );
    }

    #[test]
    fn unsupported_keys_matter_only_when_they_turn_something_on() {
        let i = import(&cm(r#"
  scalyr_api_key: "key"
  infrastructure_roles_secret_name: ""
  enable_ebs_gp3_migration: "false"
  workers: "8"
"#));
        let find = |k: &str| i.unsupported.iter().find(|u| u.key == k).expect(k);
        assert!(find("scalyr_api_key").matters);
        assert!(find("scalyr_api_key").changes_pod);
        assert!(
            !find("infrastructure_roles_secret_name").matters,
            "empty turns nothing on"
        );
        assert!(!find("enable_ebs_gp3_migration").matters);
        assert!(!find("workers").matters);
        assert!(
            find("workers")
                .describe()
                .contains("does not change the pod")
        );
    }

    #[test]
    fn fixed_names_and_bad_values_are_errors() {
        let i = import(&cm(
            "  super_username: admin\n  enable_shm_volume: maybe\n  pod_terminate_grace_period: soon\n",
        ));
        assert_eq!(i.errors.len(), 3, "{:?}", i.errors);
        assert!(i.errors.iter().any(|e| e.starts_with("super_username")));
    }

    #[test]
    fn operator_configuration_groups_are_flattened() {
        let doc: serde_yaml::Value = serde_yaml::from_str(
            r#"
kind: OperatorConfiguration
configuration:
  docker_image: img
  kubernetes:
    cluster_labels: {application: spilo}
    pod_terminate_grace_period: 2m
    spilo_fsgroup: 103
  postgres_pod_resources:
    default_cpu_limit: "2"
  teams_api:
    protected_role_names: [admin, cron_admin]
"#,
        )
        .expect("yaml");
        let i = import(&doc);
        assert!(i.errors.is_empty(), "{:?}", i.errors);
        assert_eq!(i.settings.get("docker_image"), Some(&Value::from("img")));
        assert_eq!(
            i.settings.get("pod_terminate_grace_period_seconds"),
            Some(&Value::from(120))
        );
        assert_eq!(i.settings.get("default_cpu_limit"), Some(&Value::from("2")));
        assert_eq!(i.settings.get("spilo_fsgroup"), Some(&Value::from(103)));
        assert_eq!(
            i.settings.get("protected_role_names"),
            Some(&Value::from(vec!["admin", "cron_admin"]))
        );
    }

    #[test]
    fn durations() {
        assert_eq!(seconds("5m"), Ok(300));
        assert_eq!(seconds("1h30m"), Ok(5400));
        assert_eq!(seconds("90"), Ok(90));
        assert!(seconds("later").is_err());
    }
}
