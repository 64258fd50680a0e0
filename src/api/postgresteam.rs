//! `PostgresTeam` (`acid.zalan.do/v1`), Zalando's CRD for teams and members the Teams API does
//! not list: read, never written, with `enable_postgres_team_crd`.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "acid.zalan.do",
    version = "v1",
    kind = "PostgresTeam",
    plural = "postgresteams",
    shortname = "pgteam",
    namespaced,
    derive = "PartialEq",
    doc = "Additional teams and members for the human users of Zalando-compatible clusters"
)]
#[serde(rename_all = "camelCase")]
pub struct PostgresTeamSpec {
    /// Team → teams whose members are superusers in that team's clusters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_superuser_teams: BTreeMap<String, Vec<String>>,
    /// Team → teams whose members get roles in that team's clusters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_teams: BTreeMap<String, Vec<String>>,
    /// Team → people who count as its members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_members: BTreeMap<String, Vec<String>>,
}
