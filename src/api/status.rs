//! What `apply` writes into each manifest's `status` (only when it changes).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of a `postgresql` manifest: Zalando's `PostgresClusterStatus` value plus
/// Kubernetes-style fields that CD tools can read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresqlStatus {
    /// Zalando's values: Creating, Updating, Running, SyncFailed, UpdateFailed, CreateFailed, Invalid.
    #[serde(
        rename = "PostgresClusterStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub postgres_cluster_status: Option<String>,
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
}

/// Status of a `PostgreSQLConfig` manifest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgreSQLConfigStatus {
    /// Ready, Pending, Failed, Invalid or Deleting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(flatten)]
    pub reconcile: ReconcileStatus,
}

/// The part both manifests share.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileStatus {
    /// The `metadata.generation` the last run acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciled`, `Degraded` (and `RollingUpdate` during a rollout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the last run that acted on this manifest finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// Counts of the plan that run applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedCounts>,
    /// Digest of that plan, to tell runs apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AppliedCounts {
    pub create: i64,
    pub update: i64,
    pub replace: i64,
    pub delete: i64,
    pub sql: i64,
    pub restart: i64,
}
