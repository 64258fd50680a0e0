//! Pure rendering: (manifests, configuration) → the desired objects and database state.
//! No I/O here; the same inputs always give the same output, in the same order.

pub mod bootstrap_source;
pub mod database;
pub mod endpoints;
pub mod live;
pub mod logical_backup;
pub mod meta;
pub mod output;
pub mod pdb;
pub mod pod_environment;
pub mod pod_rbac;
pub mod pod_volumes;
pub mod pooler;
pub mod quantity;
pub mod resources;
pub mod scheduling;
pub mod secrets;
pub mod services;
pub mod sidecars;
mod sizes;
pub mod spilo;
pub mod spilo_configuration;
pub mod statefulset;
pub mod tls;

use crate::api::{PostgreSQLConfig, Postgresql};
use crate::config::Config;
use crate::state::CompactJson;
use crate::validate::{self, Invalid, Limits};
use database::DesiredDatabaseState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Manifest annotation that allows destructive actions (replace) for that manifest's objects.
pub const ALLOW_DESTRUCTIVE_ANNOTATION: &str = "postgres-reconciler.io/allow-destructive";
/// Lets a single-instance cluster restart its pod (downtime) outside maintenance windows.
pub const ALLOW_RESTART_ANNOTATION: &str = "postgres-reconciler.io/allow-restart";

/// `report`: plan this manifest, change nothing, list what differs in its `Drifted` condition;
/// `apply`: correct it. Overrides the configuration's `mode`.
pub const MODE_ANNOTATION: &str = "postgres-reconciler.io/mode";

/// Annotation that assigns a manifest to one reconciler instance (Zalando's `CONTROLLER_ID`).
pub const CONTROLLER_ANNOTATION: &str = "acid.zalan.do/controller";

/// A manifest as read from the cluster or from files.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    Postgresql(Box<Postgresql>),
    Config(Box<PostgreSQLConfig>),
}

impl Manifest {
    pub fn reference(&self) -> ManifestRef {
        let (kind, meta) = match self {
            Manifest::Postgresql(pg) => ("postgresql", &pg.metadata),
            Manifest::Config(c) => ("PostgreSQLConfig", &c.metadata),
        };
        ManifestRef {
            kind: kind.into(),
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            generation: meta.generation,
        }
    }

    fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Manifest::Postgresql(pg) => pg.metadata.annotations.as_ref(),
            Manifest::Config(c) => c.metadata.annotations.as_ref(),
        }
    }

    /// The manifest opted in to destructive actions with its annotation.
    pub fn allows_destructive(&self) -> bool {
        self.annotations()
            .and_then(|a| a.get(ALLOW_DESTRUCTIVE_ANNOTATION))
            .is_some_and(|v| v == "true")
    }

    /// The digest its `postgres-reconciler.io/approved-plan` annotation approves, if any.
    pub fn approved_plan(&self) -> Option<&str> {
        self.annotations()
            .and_then(|a| a.get(crate::plan::approval::APPROVED_PLAN_ANNOTATION))
            .map(|v| v.trim())
    }

    /// Apply or only report: its annotation, else the configuration's `mode`. (An annotation
    /// that names no mode makes the manifest invalid: it is never applied.)
    pub fn mode(&self, config: &Config) -> crate::config::Mode {
        self.annotations()
            .and_then(|a| a.get(MODE_ANNOTATION))
            .and_then(|v| crate::config::Mode::parse(v))
            .unwrap_or(config.mode)
    }

    /// Ours when its controller annotation equals our `controller_id` (both absent included).
    pub fn is_ours(&self, config: &Config) -> bool {
        let id = self
            .annotations()
            .and_then(|a| a.get(CONTROLLER_ANNOTATION));
        id.map(String::as_str) == config.controller_id.as_deref()
    }
}

/// Which manifest something belongs to, for plans, reports and errors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ManifestRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// How `apply` treats an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyPolicy {
    /// Server-side apply of the fields we own.
    Apply,
    /// Created when absent (with a generated password), never updated: credential Secrets.
    CreateOnly,
    /// Changed when it exists, never created: volume claims (their StatefulSet makes them).
    UpdateOnly,
}

/// One Kubernetes object as we want it: only the fields we own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub policy: ApplyPolicy,
    /// The object's document (kept as text: see [`CompactJson`]).
    pub body: CompactJson,
}

impl DesiredObject {
    fn new<K>(object: &K, policy: ApplyPolicy) -> DesiredObject
    where
        K: k8s_openapi::Resource + kube::ResourceExt + Serialize,
    {
        let mut body = serde_json::to_value(object).unwrap_or(serde_json::Value::Null);
        if let Some(map) = body.as_object_mut() {
            // k8s-openapi types carry apiVersion and kind in their serialization already;
            // make sure they lead the document for readers.
            map.insert("apiVersion".into(), K::API_VERSION.into());
            map.insert("kind".into(), K::KIND.into());
        }
        DesiredObject {
            api_version: K::API_VERSION.into(),
            kind: K::KIND.into(),
            namespace: object.namespace().unwrap_or_default(),
            name: object.name_any(),
            policy,
            body: CompactJson::new(&body),
        }
    }
}

/// Everything one manifest should have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredManifest {
    pub manifest: ManifestRef,
    pub objects: Vec<DesiredObject>,
    pub database: DesiredDatabaseState,
    /// Hash of the rendered pod template (clusters only): decides rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
    /// The manifest is being deleted: nothing is created or updated for it any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    /// Drop its database when it goes (a PostgreSQLConfig with `reclaimPolicy: Delete`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_database_on_delete: bool,
    /// `spec.maintenanceWindows` (clusters): disruptive restarts only inside them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<String>,
    /// The manifest's `postgres-reconciler.io/allow-restart: "true"` (single-instance restarts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_restart: bool,
    /// Patroni's dynamic configuration as the manifest wants it (clusters only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patroni_dynamic: Option<serde_json::Value>,
    /// A standby cluster: read-only, a copy of another cluster's databases, so its database
    /// state is neither observed nor planned (as Zalando skips its roles and databases).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
    /// The running cluster a new cluster copies by `pg_basebackup` (`spec.clone` without a
    /// timestamp): it must exist when the cluster is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_from: Option<String>,
    /// The cluster of its own namespace a new streaming standby follows (its `standby_host` is
    /// `<cluster>`, `<cluster>.<namespace>` or that under `.svc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_of: Option<String>,
}

/// The desired state of every manifest that is ours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub manifests: Vec<DesiredManifest>,
    /// Objects shared by all clusters of a namespace (the Spilo pods' ServiceAccount and RBAC).
    pub shared: Vec<DesiredObject>,
    /// Manifests that failed validation: reported and skipped, never rendered.
    pub invalid: Vec<Invalid>,
    /// Manifests that belong to another controller (`acid.zalan.do/controller`).
    pub not_ours: Vec<ManifestRef>,
}

/// Validates and renders every manifest; one manifest's problems never stop the others.
pub fn render(manifests: &[Manifest], config: &Config) -> Desired {
    render_with(manifests, config, &live::LiveFacts::default())
}

/// [`render`], keeping what running clusters must keep (their DCS mode).
pub fn render_with(manifests: &[Manifest], config: &Config, facts: &live::LiveFacts) -> Desired {
    let limits = limits(config);
    let mut desired = Desired::default();
    let mut clusters_by_namespace: BTreeMap<String, Vec<&Postgresql>> = BTreeMap::new();
    let mut sorted: Vec<&Manifest> = manifests.iter().collect();
    sorted.sort_by_key(|m| m.reference());
    for manifest in sorted {
        if !manifest.is_ours(config) {
            desired.not_ours.push(manifest.reference());
            continue;
        }
        match manifest {
            Manifest::Postgresql(pg) => {
                // An invalid cluster keeps its share of the namespace's Spilo RBAC: its pods
                // still run and use it.
                clusters_by_namespace
                    .entry(manifest.reference().namespace)
                    .or_default()
                    .push(pg);
                // A manifest valid field by field can still render objects too large for the
                // apiserver: measured here, before anything of it is planned.
                let rendered = validate::validate_postgresql(pg, &limits).and_then(|()| {
                    let sourced = pod_environment_of(config, pg, facts)?;
                    let rendered = render_cluster(config, pg, facts, &sourced);
                    validate::validate_rendered(pg, &sizes::measure(&rendered), &limits)
                        .map(|()| rendered)
                });
                match rendered {
                    Ok(rendered) => desired.manifests.push(rendered),
                    Err(invalid) => desired.invalid.push(invalid),
                }
            }
            Manifest::Config(c) => {
                let c = with_default_server(c, config);
                match validate::validate_postgresqlconfig(&c) {
                    Ok(()) => desired.manifests.push(DesiredManifest {
                        manifest: manifest.reference(),
                        objects: Vec::new(),
                        database: database::postgresqlconfig_database_state(&c),
                        pod_template_hash: None,
                        deleting: c.metadata.deletion_timestamp.is_some(),
                        drop_database_on_delete: c.spec.reclaim_policy
                            == crate::api::ReclaimPolicy::Delete,
                        maintenance_windows: Vec::new(),
                        allow_restart: false,
                        patroni_dynamic: None,
                        standby: false,
                        clone_from: None,
                        standby_of: None,
                    }),
                    Err(invalid) => desired.invalid.push(invalid),
                }
            }
        }
    }
    for (namespace, clusters) in &clusters_by_namespace {
        desired.shared.push(DesiredObject::new(
            &pod_rbac::service_account(config, namespace, clusters),
            ApplyPolicy::Apply,
        ));
        desired.shared.push(DesiredObject::new(
            &pod_rbac::role_binding(config, namespace, clusters),
            ApplyPolicy::Apply,
        ));
    }
    desired
}

/// A `PostgreSQLConfig` that names no server, on the configuration's `default_database_server`.
pub fn with_default_server<'a>(
    c: &'a PostgreSQLConfig,
    config: &Config,
) -> std::borrow::Cow<'a, PostgreSQLConfig> {
    match &config.default_database_server {
        Some(server) if c.spec.server.is_unset() => {
            let mut defaulted = c.clone();
            defaulted.spec.server = server.clone();
            std::borrow::Cow::Owned(defaulted)
        }
        _ => std::borrow::Cow::Borrowed(c),
    }
}

/// The operator configuration's bounds on one manifest.
pub fn limits(config: &Config) -> Limits {
    Limits {
        min_instances: config.min_instances,
        max_instances: config.max_instances,
        max_users: config.max_users_per_manifest,
        max_databases: config.max_databases_per_manifest,
        max_prepared_databases: config.max_prepared_databases_per_manifest,
        max_parameter_value_bytes: config.max_parameter_value_bytes,
        max_env_entries: config.max_env_entries,
        max_spilo_configuration_bytes: config.max_spilo_configuration_bytes,
        max_statefulset_bytes: config.max_statefulset_bytes,
        protected_role_names: config.protected_role_names.clone(),
        operator_wal_archive: !(config.wal_s3_bucket.is_empty()
            && config.wal_gs_bucket.is_empty()
            && config.wal_az_storage_account.is_empty()),
        sidecars_enabled: config.enable_sidecars,
        operator_sidecars: config
            .sidecars
            .iter()
            .map(|c| c.name.clone())
            .chain(config.sidecar_docker_images.keys().cloned())
            .collect(),
        cross_namespace_secrets: config.enable_cross_namespace_secret,
    }
}

/// What the configured pod environment sources give this cluster, or why it cannot be
/// rendered without losing them.
fn pod_environment_of(
    config: &Config,
    pg: &Postgresql,
    facts: &live::LiveFacts,
) -> Result<pod_environment::SourcedEnv, Invalid> {
    let namespace = pg.metadata.namespace.as_deref().unwrap_or("default");
    let logical_backup = logical_backup::enabled(pg);
    pod_environment::sourced_env(config, &facts.pod_environment, namespace, logical_backup).map_err(
        |unread| {
            let errors = unread
            .into_iter()
            .map(|(key, why)| {
                let (what, whose) = match key {
                    "pod_environment_secret" => (
                        format!("Secret {namespace}/{}", config.pod_environment_secret),
                        "its variables (often the WAL archive's) would be missing from the pods",
                    ),
                    "logical_backup_cronjob_environment_secret" => (
                        format!(
                            "Secret {namespace}/{}",
                            config.logical_backup_cronjob_environment_secret
                        ),
                        "its variables would be missing from the logical backup pods",
                    ),
                    _ => (
                        format!("ConfigMap {}", config.pod_environment_configmap),
                        "its variables (often the WAL archive's) would be missing from the pods",
                    ),
                };
                validate::FieldError {
                    path: format!("(operator configuration) {key}"),
                    message: format!(
                        "{what}: {why}; {whose}, so nothing of this cluster is changed"
                    ),
                }
            })
            .collect();
            validate::invalid_postgresql(pg, errors)
        },
    )
}

fn render_cluster(
    config: &Config,
    pg: &Postgresql,
    facts: &live::LiveFacts,
    sourced: &pod_environment::SourcedEnv,
) -> DesiredManifest {
    let mut pg = pg.clone();
    let namespace = pg
        .metadata
        .namespace
        .get_or_insert_with(|| "default".into())
        .clone();
    let cluster = pg.metadata.name.clone().unwrap_or_default();
    let secret_of = |user: &str| {
        database::secret_name(&config.secret_name_template, user, &cluster, &namespace)
    };
    let mut database = database::postgresql_database_state(&pg, &config.secret_name_template);
    if config.enable_cross_namespace_secret {
        database.place_cross_namespace_secrets(&pg, &namespace);
    }
    pooler::add_to_database(config, &pg, &mut database);
    database.mark_rotations(&pg, config.enable_password_rotation);
    database.mark_human_team(&pg.spec.team_id, config);

    let mut objects = Vec::new();
    for (role, secret, elsewhere) in database.login_roles_with_secrets() {
        objects.push(DesiredObject::new(
            &secrets::credential_secret(config, &pg, role, secret, elsewhere),
            ApplyPolicy::CreateOnly,
        ));
    }
    // Patroni on etcd keeps nothing in Kubernetes; Zalando then treats it like Endpoints mode.
    let use_configmaps = config.etcd_host.is_empty()
        && facts.configmaps(&namespace, &cluster, config.kubernetes_use_configmaps);
    if !use_configmaps {
        objects.push(DesiredObject::new(
            &endpoints::master_endpoints(config, &pg),
            ApplyPolicy::Apply,
        ));
    }
    for service in services::services(config, &pg, use_configmaps) {
        objects.push(DesiredObject::new(&service, ApplyPolicy::Apply));
    }
    for pdb in pdb::pdbs(config, &pg) {
        objects.push(DesiredObject::new(&pdb, ApplyPolicy::Apply));
    }
    let sts = statefulset::statefulset(config, &pg, &secret_of, use_configmaps, sourced);
    let hash = sts
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(meta::POD_TEMPLATE_HASH))
        .cloned();
    objects.push(DesiredObject::new(&sts, ApplyPolicy::Apply));
    for claim in statefulset::claim_sizes(&pg) {
        objects.push(DesiredObject::new(&claim, ApplyPolicy::UpdateOnly));
    }
    if logical_backup::enabled(&pg) {
        objects.push(DesiredObject::new(
            &logical_backup::cronjob(config, &pg, &secret_of, sourced),
            ApplyPolicy::Apply,
        ));
    }
    for role in [services::Role::Master, services::Role::Replica] {
        if pooler::enabled(&pg, role) {
            objects.push(DesiredObject::new(
                &pooler::deployment(config, &pg, role),
                ApplyPolicy::Apply,
            ));
            objects.push(DesiredObject::new(
                &pooler::service(config, &pg, role),
                ApplyPolicy::Apply,
            ));
        }
    }

    let deleting = pg.metadata.deletion_timestamp.is_some();
    let allow_restart = pg
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ALLOW_RESTART_ANNOTATION))
        .is_some_and(|v| v == "true");
    let maintenance_windows = pg.spec.maintenance_windows.clone();
    let standby = pg.spec.standby.is_some();
    let clone_from = pg
        .spec
        .clone_source
        .as_ref()
        .filter(|c| c.from_running_cluster())
        .map(|c| c.cluster.clone());
    let standby_of = pg
        .spec
        .standby
        .as_ref()
        .and_then(|s| s.host())
        .and_then(|h| service_of_namespace(h, &namespace));
    let patroni_dynamic = Some(spilo_configuration::desired_dynamic_configuration(
        config, &pg,
    ));
    DesiredManifest {
        manifest: Manifest::Postgresql(Box::new(pg)).reference(),
        objects,
        database,
        pod_template_hash: hash,
        deleting,
        drop_database_on_delete: false,
        maintenance_windows,
        allow_restart,
        patroni_dynamic,
        standby,
        clone_from,
        standby_of,
    }
}

/// The Service a host names when it is one of `namespace`: `svc`, `svc.ns`, `svc.ns.svc` or
/// `svc.ns.svc.cluster.local`.
fn service_of_namespace(host: &str, namespace: &str) -> Option<String> {
    let mut parts = host.split('.');
    let service = parts.next().filter(|s| !s.is_empty())?;
    let rest: Vec<&str> = parts.collect();
    let ours = match rest.as_slice() {
        [] => true,
        [ns] | [ns, "svc"] | [ns, "svc", "cluster", "local"] => *ns == namespace,
        _ => false,
    };
    ours.then(|| service.to_string())
}
