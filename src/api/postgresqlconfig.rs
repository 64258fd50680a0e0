//! `PostgreSQLConfig` (`containerconf.de/v1`): one database and its owner on a server, from the
//! workshop the product grew from, plus where the server is and what deleting the manifest does.

use super::status::PostgreSQLConfigStatus;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "containerconf.de",
    version = "v1",
    kind = "PostgreSQLConfig",
    plural = "postgresqlconfigs",
    shortname = "pgconfig",
    namespaced,
    status = "PostgreSQLConfigStatus",
    derive = "PartialEq",
    doc = "A database and its owner on a PostgreSQL server, reconciled by postgres-reconciler",
    printcolumn(name = "Database", type_ = "string", json_path = ".spec.database"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.server.cluster"),
    printcolumn(name = "Reclaim", type_ = "string", json_path = ".spec.reclaimPolicy"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PostgreSQLConfigSpec {
    /// Name of the database. Immutable: renaming would leave the old database behind.
    #[x_kube(validation = Rule::new("self == oldSelf").message("database is immutable; create a new PostgreSQLConfig instead"))]
    #[schemars(length(min = 1, max = 63))]
    pub database: String,

    /// Role that owns the database; created (NOLOGIN) when missing.
    #[schemars(length(min = 1, max = 63))]
    pub owner: String,

    /// The server the database lives on; absent: the operator configuration's
    /// `default_database_server` (the workshop's manifests name none). Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("server is immutable"))]
    #[serde(default, skip_serializing_if = "ServerRef::is_unset")]
    pub server: ServerRef,

    /// What deleting this manifest does to the database: `Retain` (default) keeps it, `Delete` drops it.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

/// Exactly one of: a `postgresql` cluster in the same namespace, or a Secret describing an
/// external server (keys `host`, `port`, `user`, `password`, optional `sslmode`, `dbname`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[x_kube(validation = Rule::new("has(self.cluster) != has(self.secretName)").message("set exactly one of server.cluster and server.secretName"))]
#[serde(rename_all = "camelCase")]
pub struct ServerRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

impl ServerRef {
    /// Neither a cluster nor a Secret: the configuration's default applies.
    pub fn is_unset(&self) -> bool {
        self.cluster.is_none() && self.secret_name.is_none()
    }
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ReclaimPolicy {
    #[default]
    Retain,
    Delete,
}
