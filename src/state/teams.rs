//! What the Teams API said about each team a run asked for, and Zalando's `PostgresTeam`
//! objects.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TeamObservation {
    /// The team's members (`member` of its answer); none for a team the API does not know
    /// (404), as Zalando's operator treats it.
    Members(Vec<String>),
    /// No answer to go by (401, an unreachable API, no token): the team's roles stay as they
    /// are.
    Unknown { reason: String },
}

/// Zalando's `PostgresTeam` objects merged, per team (its `PostgresTeamMap`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamMap {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, TeamAdditions>,
    /// Why they could not be listed: then no team's members are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamAdditions {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub superuser_teams: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub teams: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub members: BTreeSet<String>,
}

impl TeamMap {
    pub fn is_empty(&self) -> bool {
        self.teams.is_empty() && self.unreadable.is_none()
    }

    /// The additional teams of `team`, and theirs, transitively (without `team`).
    pub fn additional_teams(&self, team: &str, superusers: bool) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut queue = vec![team.to_string()];
        let mut seen = BTreeSet::from([team.to_string()]);
        while let Some(t) = queue.pop() {
            let Some(additions) = self.teams.get(&t) else {
                continue;
            };
            let next = if superusers {
                &additions.superuser_teams
            } else {
                &additions.teams
            };
            for n in next {
                if seen.insert(n.clone()) {
                    found.push(n.clone());
                    queue.push(n.clone());
                }
            }
        }
        found
    }

    /// The people `PostgresTeam` objects add to `team`.
    pub fn additional_members(&self, team: &str) -> Vec<String> {
        self.teams
            .get(team)
            .map(|a| a.members.iter().cloned().collect())
            .unwrap_or_default()
    }
}
