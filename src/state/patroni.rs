//! What each cluster's Patroni says: its members (`GET /patroni`) and the leader's dynamic
//! configuration (`GET /config`).

use super::UnknownCause;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What Patroni says about one cluster, by "namespace/name" in [`super::Observed`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PatroniObservation {
    Known {
        members: Vec<PatroniMember>,
        /// `GET /config` of the leader: the dynamic configuration in the DCS.
        config: Value,
    },
    Unknown {
        reason: String,
        #[serde(default)]
        cause: UnknownCause,
    },
}

/// One member, from its own `GET /patroni`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatroniMember {
    pub pod: String,
    /// Its REST API (`patroni_url_template`).
    pub url: String,
    /// "primary" (Patroni 4; "master" before), "replica", "standby_leader", …
    pub role: String,
    #[serde(default)]
    pub pending_restart: bool,
    /// The parameters that wait for the restart (Patroni's `pending_restart_reason`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_parameters: Vec<String>,
    /// A replica's `replication_state` ("streaming" once it receives WAL from the leader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_state: Option<String>,
    /// A synchronous standby of a cluster in `synchronous_mode` (Patroni's `sync_standby`): the
    /// only members Patroni switches over to in that mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync_standby: bool,
}

impl PatroniMember {
    pub fn is_leader(&self) -> bool {
        matches!(self.role.as_str(), "primary" | "master" | "standby_leader")
    }
}
