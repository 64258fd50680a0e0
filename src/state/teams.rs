//! What the Teams API said about each team a run asked for.

use serde::{Deserialize, Serialize};

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
