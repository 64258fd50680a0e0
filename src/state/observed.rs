//! What is live: everything a run saw (objects, pods, database catalogs, Patroni), the input of
//! the plan beside the desired state.

use super::{CompactJson, ObservedDatabaseState, PatroniObservation, UnknownCause};
use crate::render::ManifestRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is live: the input of the plan beside the desired state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Every manifest seen, valid or not: the objects of an invalid manifest are never orphans.
    #[serde(default)]
    pub manifests: Vec<ManifestRef>,
    /// Live objects that are ours by label, as the API returned them (with managedFields).
    #[serde(default)]
    pub objects: Vec<CompactJson>,
    /// The state of each PostgreSQL server, by server label ("cluster ns/name").
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseObservation>,
    /// A cluster's objects with its labels but made by someone else (Zalando's operator):
    /// adopted when a manifest wants them, never orphans.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adoptable: Vec<CompactJson>,
    /// The clusters' pods (not ours to delete as orphans: only rollouts restart them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<CompactJson>,
    /// The finalizers each manifest carries, by "kind namespace/name" (only manifests with any).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub finalizers: BTreeMap<String, Vec<String>>,
    /// What each cluster's Patroni says, by "namespace/name" (only when it was asked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub patroni: BTreeMap<String, PatroniObservation>,
    /// When the observation was made (RFC 3339, UTC): maintenance windows are judged by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    /// The Teams API's answer for each team asked about (`enable_teams_api`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, super::TeamObservation>,
    /// Zalando's `PostgresTeam` objects, merged (`enable_postgres_team_crd`).
    #[serde(default, skip_serializing_if = "super::TeamMap::is_empty")]
    pub postgres_teams: super::TeamMap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DatabaseObservation {
    Known(ObservedDatabaseState),
    /// Could not be read: that part of the plan is unknown, the rest stands.
    Unknown {
        reason: String,
        #[serde(default)]
        cause: UnknownCause,
    },
}
