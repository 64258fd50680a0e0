//! What a run did, per manifest: the input of the status written to each manifest and of the
//! run report. Plain data; `apply` fills it in.

use crate::plan::{Summary, Unknown, UnknownCause};
use crate::render::ManifestRef;
use serde::{Deserialize, Serialize};

/// How a skipped action's message starts when it waits for the manifest's approval.
pub const HELD_FOR_APPROVAL: &str = "held for approval";

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    /// "update StatefulSet ns/name", "sql role app on cluster ns/x (database postgres)".
    pub action: String,
    pub result: ActionResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status", content = "message")]
pub enum ActionResult {
    Applied,
    /// Not attempted: e.g. a destructive action without permission, or an earlier step failed.
    Skipped(String),
    Failed(String),
}

/// Everything a run learned and did about one manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestOutcome {
    pub manifest: ManifestRef,
    /// Validation errors: the manifest was not reconciled at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    #[serde(default)]
    pub actions: Vec<ActionOutcome>,
    /// Counts of the actions that were applied.
    pub applied: Summary,
    /// Parts that could not be planned (a database that cannot be reached), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// The most telling cause among them (anything before "not reachable").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_cause: Option<UnknownCause>,
    /// The cluster's StatefulSet did not exist before this run (Zalando's "Creating").
    #[serde(default)]
    pub new_cluster: bool,
    /// Pods ready / wanted, from the StatefulSet's status (clusters only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<(i32, i32)>,
    /// Pods on the StatefulSet's update revision / pods (clusters with a StatefulSet only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<(i32, i32)>,
    /// Why the rollout's next restart waits, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_held: Option<String>,
    /// The rollout waits on purpose (lazy upgrades), not for something that blocks it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollout_lazy: bool,
    /// The manifest is being deleted.
    #[serde(default)]
    pub deleting: bool,
    /// Digest of this manifest's part of the plan (empty plan: digest of nothing).
    pub plan_digest: String,
    /// Report mode: nothing was applied; `drift` lists what differs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_mode: bool,
    /// In report mode, each planned action that was not applied: "update Service ns/x: why".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
}

impl ManifestOutcome {
    pub fn failures(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match &a.result {
            ActionResult::Failed(m) => Some(m.as_str()),
            _ => None,
        })
    }

    /// Each failure with the action it belongs to ("create StatefulSet ns/x: why"): what a
    /// status or an Event must say for the failure to be found.
    pub fn failure_notes(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match &a.result {
                ActionResult::Failed(m) => Some(format!("{}: {m}", a.action)),
                _ => None,
            })
            .collect()
    }

    pub fn skipped(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match &a.result {
            ActionResult::Skipped(m) => Some(m.as_str()),
            _ => None,
        })
    }

    /// Something could not be read for a reason someone has to fix (a password, a certificate,
    /// a permission), as opposed to a server that does not answer yet.
    pub fn unknown_needs_action(&self) -> bool {
        !self.unknown.is_empty()
            && matches!(self.unknown_cause, Some(c) if c != UnknownCause::NotReachable)
    }

    /// Failed, invalid or partly unknown: the run did not fully reconcile it.
    pub fn is_failed(&self) -> bool {
        !self.invalid.is_empty() || self.failures().next().is_some() || !self.unknown.is_empty()
    }
}

/// "database state: authentication failed: connect to …": the class is named unless the reason
/// says it already or there is none to name.
pub fn describe_unknown(u: &Unknown) -> String {
    match u.cause {
        UnknownCause::Other | UnknownCause::NotReachable => format!("{}: {}", u.part, u.reason),
        cause => format!("{}: {}: {}", u.part, cause.label(), u.reason),
    }
}

pub fn most_telling_cause(unknown: &[&Unknown]) -> Option<UnknownCause> {
    unknown
        .iter()
        .map(|u| u.cause)
        .find(|c| *c != UnknownCause::NotReachable)
        .or(unknown.first().map(|u| u.cause))
}
