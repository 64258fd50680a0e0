//! `postgresql` (`acid.zalan.do/v1`): Zalando-compatible cluster manifests.
//!
//! Field names follow Zalando's CRD so existing manifests apply unchanged. Fields Zalando has and
//! we do not act on are not declared; serde ignores them when a manifest carries them.

use super::status::PostgresqlStatus;
use k8s_openapi::api::core::v1::{Container, EnvVar, NodeAffinity, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// User flags Zalando accepts, in either case; `NOX` undoes `X`.
pub const USER_FLAGS: &[&str] = &[
    "superuser",
    "createdb",
    "createrole",
    "inherit",
    "login",
    "replication",
    "bypassrls",
    "nosuperuser",
    "nocreatedb",
    "nocreaterole",
    "noinherit",
    "nologin",
    "noreplication",
    "nobypassrls",
];

/// PostgreSQL major versions a Spilo image ships.
pub const POSTGRES_VERSIONS: &[&str] = &["13", "14", "15", "16", "17", "18"];

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "acid.zalan.do",
    version = "v1",
    kind = "postgresql",
    root = "Postgresql",
    plural = "postgresqls",
    shortname = "pg",
    category = "all",
    namespaced,
    status = "PostgresqlStatus",
    derive = "PartialEq",
    doc = "A PostgreSQL cluster (Zalando-compatible manifest), reconciled by postgres-reconciler",
    printcolumn(
        name = "Team",
        type_ = "string",
        json_path = ".spec.teamId",
        description = "Team responsible for the cluster"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.postgresql.version",
        description = "PostgreSQL major version"
    ),
    printcolumn(
        name = "Pods",
        type_ = "integer",
        json_path = ".spec.numberOfInstances",
        description = "Number of instances"
    ),
    printcolumn(
        name = "Volume",
        type_ = "string",
        json_path = ".spec.volume.size",
        description = "Size of each instance's volume"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.PostgresClusterStatus",
        description = "Cluster status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PostgresqlSpec {
    /// Team that owns the cluster; labels the objects (`team`).
    #[schemars(length(min = 1))]
    pub team_id: String,

    /// Number of PostgreSQL pods (one master, the rest replicas). 0 stops the pods and keeps the volumes.
    #[schemars(range(min = 0))]
    pub number_of_instances: i32,

    pub volume: Volume,

    pub postgresql: PostgresqlParams,

    /// CPU and memory for the `postgres` container; missing values come from the operator configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,

    /// Roles to create: name → flags (e.g. `[superuser, createdb]`; `[]` for a plain login role).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "users_schema")]
    pub users: BTreeMap<String, Option<Vec<String>>>,

    /// Databases to create: name → owner (a role from `users`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub databases: BTreeMap<String, String>,

    /// Users whose password is rotated every `password_rotation_interval` days by a new role
    /// `<user><YYMMDD>`, a member of the user, that the Secret then names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users_with_secret_rotation: Vec<String>,

    /// Users whose password is rotated in place every `password_rotation_interval` days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users_with_in_place_secret_rotation: Vec<String>,

    /// Users left out of the rotation that `enable_password_rotation` turns on for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users_ignoring_secret_rotation: Vec<String>,

    /// Databases with owner/reader/writer roles, schemas and extensions prepared for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared_databases: Option<BTreeMap<String, PreparedDatabase>>,

    /// Spilo image for this cluster; defaults to the operator configuration's `docker_image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_master_load_balancer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_replica_load_balancer: Option<bool>,
    /// Deprecated spellings of `enableMasterLoadBalancer` and `enableReplicaLoadBalancer`,
    /// used only when neither of those is set (as Zalando does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_load_balancer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_load_balancer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_master_node_port: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub master_node_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_replica_node_port: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub replica_node_port: Option<i32>,

    /// Client address ranges allowed through a load balancer (CIDRs). Empty locks it to 127.0.0.1/32.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_source_ranges: Vec<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patroni: Option<Patroni>,

    /// A standby of another cluster (Zalando's `standby`): it streams from `standby_host` or
    /// restores from a WAL archive, and is read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<Standby>,

    /// A new cluster made from another one's data (Zalando's `clone`): by `pg_basebackup` from
    /// the running cluster, or, with `timestamp`, from its WAL archive up to that time. Used
    /// only when the cluster bootstraps; a running cluster ignores it.
    #[serde(default, rename = "clone", skip_serializing_if = "Option::is_none")]
    pub clone_source: Option<CloneSource>,

    /// Where the pods may run, as given: the pod's `affinity.nodeAffinity` (Zalando's
    /// `nodeAffinity`, with `node_readiness_label` unset and pod anti-affinity off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,

    /// Containers run before Spilo's, as given (Zalando's `initContainers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "open_objects")]
    pub init_containers: Vec<Container>,
    /// Containers run beside Spilo's (Zalando's `sidecars`): each gets the data volume, the
    /// pod's name and namespace, and the superuser's name and password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<Sidecar>,
    /// PostgreSQL's own certificate from a Secret (Zalando's `tls`), mounted at `/tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Volumes added to the pod and mounted into the containers they name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_volumes: Vec<AdditionalVolume>,

    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub master_service_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replica_service_annotations: BTreeMap<String, String>,

    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// The pods' priority class (over the operator's `pod_priority_class_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_priority_class_name: Option<String>,
    /// The scheduler of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// The pods' security context (over the operator's `spilo_runasuser`, …).
    #[serde(
        default,
        rename = "spiloRunAsUser",
        skip_serializing_if = "Option::is_none"
    )]
    pub spilo_run_as_user: Option<i64>,
    #[serde(
        default,
        rename = "spiloRunAsGroup",
        skip_serializing_if = "Option::is_none"
    )]
    pub spilo_run_as_group: Option<i64>,
    #[serde(
        default,
        rename = "spiloFSGroup",
        skip_serializing_if = "Option::is_none"
    )]
    pub spilo_fs_group: Option<i64>,

    /// Extra environment for the Spilo container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,

    /// Mount a memory-backed `/dev/shm`; only `true` overrides the configuration's
    /// `enable_shm_volume` (as in Zalando's operator).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "enableShmVolume"
    )]
    pub enable_shm_volume: Option<bool>,

    /// When disruptive work (pod restarts) may happen, in UTC: `HH:MM-HH:MM` or `Ddd:HH:MM-HH:MM`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<String>,

    /// A CronJob `logical-backup-<cluster>` dumps the databases to object storage (Zalando's
    /// logical backup image and `logical_backup_*` keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_logical_backup: Option<bool>,
    /// Its schedule, in cron format (over `logical_backup_schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"))]
    pub logical_backup_schedule: Option<String>,
    /// How long dumps are kept, e.g. `3 months` (over `logical_backup_s3_retention_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_backup_retention: Option<String>,

    /// PgBouncer in front of the master: the Deployment and Service `<cluster>-pooler`. As in
    /// Zalando, a `connectionPooler` section without this switch turns it on too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_connection_pooler: Option<bool>,
    /// PgBouncer in front of the replicas: `<cluster>-pooler-repl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_replica_connection_pooler: Option<bool>,
    /// The pooler's settings, over the `connection_pooler_*` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pooler: Option<ConnectionPooler>,
    /// A LoadBalancer Service for the master pooler (over `enable_master_pooler_load_balancer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_master_pooler_load_balancer: Option<bool>,
    /// A LoadBalancer Service for the replica pooler (over `enable_replica_pooler_load_balancer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_replica_pooler_load_balancer: Option<bool>,
}

/// Zalando's `connectionPooler` section; every field falls back to its `connection_pooler_*` key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPooler {
    /// Pods per pooler Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub number_of_instances: Option<i32>,
    /// Schema of the `user_lookup` function (`auth_query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// PgBouncer's login role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `session` or `transaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["session", "transaction"]))]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image: Option<String>,
    /// Server connections of all of a Deployment's pods together.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "maxDBConnections"
    )]
    pub max_db_connections: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Size of each instance's volume, a Kubernetes quantity such as `10Gi`.
    pub size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Mount only this path of the volume (with `isSubPathExpr`, an expression such as `$(POD_NAME)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_sub_path_expr: Option<bool>,
    /// Bind only volumes with these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// EBS gp3 settings; Zalando applies them through the AWS API (storage_resize_mode ebs/mixed),
    /// not through any object: postgres-reconciler keeps them and does not act on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 80000))]
    pub iops: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2000))]
    pub throughput: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub volume_type: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct PostgresqlParams {
    /// PostgreSQL major version.
    #[schemars(extend("enum" = POSTGRES_VERSIONS))]
    pub version: String,
    /// postgresql.conf parameters, handed to Patroni.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceAmounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceAmounts>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct ResourceAmounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreparedDatabase {
    /// Also create LOGIN roles `<db>_owner_user`, `<db>_reader_user`, `<db>_writer_user` with Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_users: Option<bool>,
    /// Extensions to install: name → schema.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, String>,
    /// Schemas to create (default: `data`), each with its own owner/reader/writer roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schemas: Option<BTreeMap<String, PreparedSchema>>,
    /// The namespace of the Secrets of its login roles, with `enable_cross_namespace_secret`
    /// (otherwise ignored, as in Zalando).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreparedSchema {
    /// Create `<db>_<schema>_{owner,reader,writer}` roles (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_roles: Option<bool>,
    /// Also create LOGIN `_user` variants of those roles with Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_users: Option<bool>,
}

/// Patroni settings Zalando exposes; rendered into Spilo's `SPILO_CONFIGURATION`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct Patroni {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub initdb: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pg_hba: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub ttl: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub loop_wait: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub retry_timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub maximum_lag_on_failover: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous_mode_strict: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub synchronous_node_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_mode: Option<bool>,
    /// Permanent replication slots Patroni keeps: name → `{type: physical|logical, database, plugin}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, BTreeMap<String, String>>,
}

/// `users`: a map of role name to a nullable list of flags from [`USER_FLAGS`] (either case).
/// `spec.standby` (Zalando's `StandbyDescription`): one source, a host to stream from or a WAL
/// archive to restore from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct Standby {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_wal_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gs_wal_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_port: Option<String>,
}

impl Standby {
    fn set(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
    pub fn host(&self) -> Option<&str> {
        Self::set(&self.standby_host)
    }
    pub fn port(&self) -> Option<&str> {
        Self::set(&self.standby_port)
    }
    pub fn s3_wal_path(&self) -> Option<&str> {
        Self::set(&self.s3_wal_path)
    }
    pub fn gs_wal_path(&self) -> Option<&str> {
        Self::set(&self.gs_wal_path)
    }
}

/// `spec.tls` (Zalando's `TLSDescription`): file names are relative to the mount unless
/// absolute; the CA may come from a Secret of its own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(
        default,
        rename = "caSecretName",
        skip_serializing_if = "Option::is_none"
    )]
    pub ca_secret_name: Option<String>,
}

/// A container of `spec.sidecars` (Zalando's `Sidecar`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct Sidecar {
    /// Empty: `sidecar-<index>`, as Zalando names it.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "open_objects")]
    pub ports: Vec<k8s_openapi::api::core::v1::ContainerPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "open_objects")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// `spec.clone` (Zalando's `CloneDescription`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct CloneSource {
    /// The cluster to copy: its master Service (in this namespace), or its name in the archive.
    #[serde(default)]
    pub cluster: String,
    /// The source manifest's uid: its archive's path in the operator's bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Restore up to (not including) this time (RFC 3339 with an offset), from the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_wal_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_secret_access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_force_path_style: Option<bool>,
}

impl CloneSource {
    fn set(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
    /// Zalando renders nothing for a clone without a cluster.
    pub fn is_on(&self) -> bool {
        !self.cluster.is_empty()
    }
    pub fn timestamp(&self) -> Option<&str> {
        Self::set(&self.timestamp)
    }
    pub fn uid(&self) -> Option<&str> {
        Self::set(&self.uid)
    }
    pub fn s3_wal_path(&self) -> Option<&str> {
        Self::set(&self.s3_wal_path)
    }
    pub fn s3_endpoint(&self) -> Option<&str> {
        Self::set(&self.s3_endpoint)
    }
    pub fn s3_access_key_id(&self) -> Option<&str> {
        Self::set(&self.s3_access_key_id)
    }
    pub fn s3_secret_access_key(&self) -> Option<&str> {
        Self::set(&self.s3_secret_access_key)
    }
    /// By `pg_basebackup` from the running source (no timestamp), not from its archive.
    pub fn from_running_cluster(&self) -> bool {
        self.is_on() && self.timestamp().is_none()
    }
}

/// A volume of `spec.additionalVolumes` (Zalando's `AdditionalVolume`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalVolume {
    pub name: String,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_sub_path_expr: Option<bool>,
    /// Container names, or `all`; none means the postgres container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_containers: Vec<String>,
    /// A Kubernetes volume source (`emptyDir`, `secret`, `configMap`, …), as in a pod's volume.
    #[schemars(schema_with = "open_object")]
    pub volume_source: serde_json::Map<String, serde_json::Value>,
}

/// Objects Kubernetes defines (a container, a volume source), kept as given: as in Zalando's
/// CRD, the apiserver checks them where they land, in the StatefulSet.
fn open_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn open_objects(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "nullable": true,
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

fn users_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut flags: Vec<String> = USER_FLAGS.iter().map(|f| f.to_string()).collect();
    flags.extend(USER_FLAGS.iter().map(|f| f.to_uppercase()));
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": {
            "type": "array",
            "nullable": true,
            "items": {"type": "string", "enum": flags}
        }
    })
}
