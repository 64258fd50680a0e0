//! Operator configuration: built-in defaults < `--config FILE` (YAML) < `PGR_*` environment (read
//! from the process) <
//! command-line `--set key=value`. Read on every run: a one-shot process needs no reload.
//!
//! Keys are flat and snake_case like Zalando's ConfigMap, so `PGR_<KEY>` names every one of them.
//! An unknown key or a value of the wrong type is an error naming the key and its source.

use figment::providers::{Env, Format, Serialized, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const ENV_PREFIX: &str = "PGR_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Spilo image for clusters that do not set `dockerImage`.
    pub docker_image: String,
    /// With an id set, only manifests annotated `acid.zalan.do/controller: <id>` are ours
    /// (lets the reconciler coexist with Zalando's operator or a second instance).
    pub controller_id: Option<String>,
    /// Namespaces whose manifests are reconciled; empty means all namespaces.
    pub watched_namespaces: Vec<String>,
    /// Labels on every object of a cluster; with `cluster_name_label` they form its selector.
    pub cluster_labels: BTreeMap<String, String>,
    pub cluster_name_label: String,
    /// Labels and annotations copied from a manifest to the objects rendered for it.
    pub inherited_labels: Vec<String>,
    pub inherited_annotations: Vec<String>,
    /// Secret names for role passwords: `{username}`, `{cluster}`, `{namespace}` are substituted.
    pub secret_name_template: String,
    /// PodDisruptionBudget name: `{cluster}` is substituted.
    pub pdb_name_format: String,
    pub enable_pod_disruption_budget: bool,
    /// ServiceAccount the Spilo pods run as (Patroni needs it to manage its ConfigMaps).
    pub pod_service_account_name: String,
    /// Resources for the postgres container when a manifest leaves them out.
    pub default_cpu_request: String,
    pub default_memory_request: String,
    pub default_cpu_limit: String,
    pub default_memory_limit: String,
    /// Bounds on `numberOfInstances`; a manifest outside them is invalid.
    pub min_instances: i32,
    pub max_instances: i32,
    /// Where the reconciler reaches a cluster's PostgreSQL: `{cluster}` and `{namespace}` are substituted.
    pub postgres_host_template: String,
    pub postgres_port: u16,
    pub postgres_sslmode: SslMode,
    /// PEM file of the CA that signed the servers' certificates (verify-ca / verify-full).
    pub postgres_ca_file: Option<PathBuf>,
    pub postgres_connect_timeout_seconds: u64,
    /// Delete credential Secrets when their cluster's manifest is deleted (default: keep them).
    pub delete_secrets: bool,
    /// Delete the volume claims when their cluster's manifest is deleted (default: keep them).
    pub delete_pvcs: bool,
    /// Namespace of the reconciler itself: its Lease lives there (the chart sets it to the
    /// release namespace).
    pub release_namespace: String,
    /// How long a run may hold the Lease before another run may take it over.
    pub lease_duration_seconds: u64,
    /// Clusters reconciled at the same time.
    pub max_parallel_clusters: usize,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Take over fields another field manager owns (server-side apply `force`); by default such
    /// conflicts are reported and left alone.
    pub force_conflicts: bool,
    /// Pod management policy of the StatefulSets: OrderedReady or Parallel.
    pub pod_management_policy: PodManagementPolicy,
    /// Load balancers for clusters that do not say (Zalando's switches).
    pub enable_master_load_balancer: bool,
    pub enable_replica_load_balancer: bool,
    /// Patroni's REST API of a pod, for the switchover before a master restarts. Placeholders:
    /// {pod_ip}, {pod}, {namespace}, {cluster}.
    pub patroni_url_template: String,
    /// Clusters whose pods are being restarted at the same time (rolling updates); 0: no limit.
    /// Clusters already rolling finish first; the others wait for a free slot.
    pub max_rolling_clusters: usize,
    /// Update the StatefulSets only: outdated pods take the new revision when they restart for
    /// another reason (Zalando's switch of the same name).
    pub enable_lazy_spilo_upgrade: bool,
    /// What happens to a login role its manifest created and no longer lists: `keep` (default;
    /// nothing is changed by omission) or `nologin` (its logins stop; nothing is dropped).
    pub removed_roles: RemovedRoles,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemovedRoles {
    Keep,
    Nologin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodManagementPolicy {
    OrderedReady,
    Parallel,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            docker_image: "ghcr.io/zalando/spilo-17:4.0-p3".into(),
            controller_id: None,
            watched_namespaces: Vec::new(),
            cluster_labels: BTreeMap::from([("application".into(), "spilo".into())]),
            cluster_name_label: "cluster-name".into(),
            inherited_labels: Vec::new(),
            inherited_annotations: Vec::new(),
            secret_name_template: "{username}.{cluster}.credentials.postgresql.acid.zalan.do"
                .into(),
            pdb_name_format: "postgres-{cluster}-pdb".into(),
            enable_pod_disruption_budget: true,
            pod_service_account_name: "postgres-pod".into(),
            default_cpu_request: "100m".into(),
            default_memory_request: "100Mi".into(),
            default_cpu_limit: "1".into(),
            default_memory_limit: "500Mi".into(),
            min_instances: 0,
            max_instances: 16,
            postgres_host_template: "{cluster}.{namespace}.svc".into(),
            postgres_port: 5432,
            postgres_sslmode: SslMode::Require,
            postgres_ca_file: None,
            postgres_connect_timeout_seconds: 10,
            delete_secrets: false,
            delete_pvcs: false,
            release_namespace: "default".into(),
            lease_duration_seconds: 900,
            max_parallel_clusters: 4,
            field_manager: "postgres-reconciler".into(),
            force_conflicts: false,
            pod_management_policy: PodManagementPolicy::OrderedReady,
            enable_master_load_balancer: false,
            enable_replica_load_balancer: false,
            patroni_url_template: "http://{pod_ip}:8008".into(),
            max_rolling_clusters: 0,
            enable_lazy_spilo_upgrade: false,
            removed_roles: RemovedRoles::Keep,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key {key:?} in {origin}; known keys: {known}")]
    UnknownKey {
        key: String,
        origin: String,
        known: String,
    },
    #[error("--set {0:?}: expected KEY=VALUE")]
    BadSet(String),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("{0}")]
    Figment(#[from] Box<figment::Error>),
}

/// Where configuration comes from, beyond the built-in defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// `--set key=value` flags, in order; a value is parsed as YAML (`true`, `3`, `[a, b]`).
    pub set: Vec<String>,
}

impl Config {
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let known = known_keys();
        if let Some(path) = &sources.file {
            let file = Yaml::file_exact(path);
            check_keys(&file, &known, &format!("config file {}", path.display()))?;
            figment = figment.merge(file);
        }
        let env = Env::prefixed(ENV_PREFIX);
        check_keys(
            &env,
            &known,
            &format!("{ENV_PREFIX}* environment variables"),
        )?;
        figment = figment.merge(env);
        let flags = SetFlags::parse(&sources.set)?;
        check_keys(&flags, &known, "--set flags")?;
        figment = figment.merge(flags);
        let config: Config = figment.extract().map_err(Box::new)?;
        config.check()?;
        Ok(config)
    }

    /// Rules serde cannot express.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.min_instances < 0 || self.max_instances < self.min_instances {
            return bad(format!(
                "min_instances ({}) and max_instances ({}) must satisfy 0 <= min <= max",
                self.min_instances, self.max_instances
            ));
        }
        if self.max_parallel_clusters == 0 {
            return bad("max_parallel_clusters must be at least 1".into());
        }
        if !self.secret_name_template.contains("{username}") {
            return bad("secret_name_template must contain {username}".into());
        }
        if !self.pdb_name_format.contains("{cluster}") {
            return bad("pdb_name_format must contain {cluster}".into());
        }
        if self.field_manager.trim().is_empty() {
            return bad("field_manager must not be empty".into());
        }
        Ok(())
    }

    /// The host name of a cluster's master Service, per `postgres_host_template`.
    pub fn postgres_host(&self, cluster: &str, namespace: &str) -> String {
        self.postgres_host_template
            .replace("{cluster}", cluster)
            .replace("{namespace}", namespace)
    }
}

fn known_keys() -> Vec<String> {
    match Serialized::defaults(Config::default()).data() {
        Ok(map) => map.values().flat_map(|dict| dict.keys().cloned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// An unknown key is refused per source, so the error can say where it came from.
fn check_keys(provider: &dyn Provider, known: &[String], source: &str) -> Result<(), ConfigError> {
    let data = provider.data().map_err(Box::new)?;
    let mut keys: Vec<&String> = data.values().flat_map(|d| d.keys()).collect();
    keys.sort();
    for key in keys {
        if !known.contains(key) {
            return Err(ConfigError::UnknownKey {
                key: key.clone(),
                origin: source.to_string(),
                known: known.join(", "),
            });
        }
    }
    Ok(())
}

/// `--set key=value` flags: the highest-priority source.
struct SetFlags(Dict);

impl SetFlags {
    fn parse(set: &[String]) -> Result<Self, ConfigError> {
        let mut dict = Dict::new();
        for item in set {
            let (key, raw) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::BadSet(item.clone()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(ConfigError::BadSet(item.clone()));
            }
            let value: Value =
                serde_yaml::from_str(raw).unwrap_or_else(|_| Value::from(raw.to_string()));
            dict.insert(key.to_string(), value);
        }
        Ok(SetFlags(dict))
    }
}

impl Provider for SetFlags {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag --set")
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Map::from([(Profile::Global, self.0.clone())]))
    }
}

/// The configuration a file would hold to change nothing: every key with its default, for docs.
pub fn defaults_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&Config::default())
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in(jail: &mut Jail, file: Option<&str>, set: &[&str]) -> Result<Config, ConfigError> {
        let file = file.map(|text| {
            jail.create_file("config.yaml", text)
                .expect("write config file");
            PathBuf::from("config.yaml")
        });
        Config::load(&Sources {
            file,
            set: set.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn defaults_without_sources() {
        Jail::expect_with(|jail| {
            assert_eq!(load_in(jail, None, &[]).expect("load"), Config::default());
            Ok(())
        });
    }

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        Jail::expect_with(|jail| {
            let file = "docker_image: from-file\nmax_parallel_clusters: 2\npostgres_port: 6432\ndelete_pvcs: true\n";
            jail.set_env("PGR_MAX_PARALLEL_CLUSTERS", "3");
            jail.set_env("PGR_POSTGRES_PORT", "7432");
            let c = load_in(jail, Some(file), &["postgres_port=8432"]).expect("load");
            assert_eq!(c.docker_image, "from-file");
            assert_eq!(c.max_parallel_clusters, 3, "env beats file");
            assert_eq!(c.postgres_port, 8432, "flags beat env");
            assert!(c.delete_pvcs);
            assert_eq!(
                c.field_manager, "postgres-reconciler",
                "untouched keys keep defaults"
            );
            Ok(())
        });
    }

    #[test]
    fn structured_values_from_env_and_flags() {
        Jail::expect_with(|jail| {
            jail.set_env("PGR_WATCHED_NAMESPACES", "[team-a, team-b]");
            let c = load_in(
                jail,
                None,
                &[
                    "cluster_labels={application: spilo, tier: db}",
                    "postgres_sslmode=verify-full",
                ],
            )
            .expect("load");
            assert_eq!(c.watched_namespaces, ["team-a", "team-b"]);
            assert_eq!(c.cluster_labels.get("tier").map(String::as_str), Some("db"));
            assert_eq!(c.postgres_sslmode, SslMode::VerifyFull);
            Ok(())
        });
    }

    #[test]
    fn unknown_key_names_key_and_source() {
        Jail::expect_with(|jail| {
            let err = load_in(jail, Some("docker_imgae: x\n"), &[]).expect_err("unknown key");
            let msg = err.to_string();
            assert!(msg.contains("\"docker_imgae\""), "{msg}");
            assert!(msg.contains("config file config.yaml"), "{msg}");

            jail.set_env("PGR_NO_SUCH_KEY", "1");
            let msg = load_in(jail, None, &[])
                .expect_err("unknown env key")
                .to_string();
            assert!(
                msg.contains("\"no_such_key\"") && msg.contains("PGR_* environment"),
                "{msg}"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            let msg = load_in(jail, None, &["nope=1"])
                .expect_err("unknown flag key")
                .to_string();
            assert!(msg.contains("\"nope\"") && msg.contains("--set"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn wrong_type_names_key_and_source() {
        Jail::expect_with(|jail| {
            let msg = load_in(jail, Some("max_parallel_clusters: many\n"), &[])
                .expect_err("wrong type")
                .to_string();
            assert!(msg.contains("max_parallel_clusters"), "{msg}");
            assert!(msg.contains("config.yaml"), "{msg}");

            jail.set_env("PGR_DELETE_PVCS", "perhaps");
            let msg = load_in(jail, None, &[])
                .expect_err("wrong type in env")
                .to_string();
            assert!(msg.contains("DELETE_PVCS") && msg.contains("PGR_"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn rules_beyond_types() {
        Jail::expect_with(|jail| {
            let msg = load_in(jail, None, &["max_parallel_clusters=0"])
                .expect_err("zero")
                .to_string();
            assert!(msg.contains("max_parallel_clusters"), "{msg}");
            let msg = load_in(jail, None, &["secret_name_template=static"])
                .expect_err("template")
                .to_string();
            assert!(msg.contains("{username}"), "{msg}");
            assert!(matches!(
                load_in(jail, None, &["oops"]),
                Err(ConfigError::BadSet(_))
            ));
            Ok(())
        });
    }

    #[test]
    fn host_template() {
        let c = Config::default();
        assert_eq!(
            c.postgres_host("acid-main", "team-a"),
            "acid-main.team-a.svc"
        );
    }
}
