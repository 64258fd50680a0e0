//! The status a manifest should have after a run, computed from what the run did to it
//! ([`ManifestOutcome`]) and the status it had before. Pure: the caller passes the time.
//!
//! A run that changes nothing about a manifest leaves its status exactly as it was (`lastRun`
//! included), so a no-op run writes nothing. Failures, unreachable databases and blocked
//! destructive changes are always visible: in the Zalando value, in `Reconciled`/`Degraded`, and
//! in their messages (which come from error strings that hold no secrets).
//!
//! Split by concern: `postgresql` and `postgresqlconfig` hold each kind's value and `Ready`;
//! `conditions` the verdicts both share; `reconcile` the merge with the previous status and
//! change detection; `messages` how failures are quoted; `event` the Event of a run; and
//! `digest` the plan digest.
//!
//! [`ManifestOutcome`]: super::outcome::ManifestOutcome

mod conditions;
mod digest;
mod event;
mod messages;
mod postgresql;
mod postgresqlconfig;
mod reconcile;

#[cfg(test)]
mod tests;

pub use digest::plan_digest;
pub use event::{StatusEvent, status_event};
pub use postgresql::postgresql_status;
pub use postgresqlconfig::postgresqlconfig_status;
pub use reconcile::{postgresql_status_changed, postgresqlconfig_status_changed};

/// Zalando's `PostgresClusterStatus` values we write.
pub mod cluster {
    pub const INVALID: &str = "Invalid";
    pub const CREATE_FAILED: &str = "CreateFailed";
    pub const SYNC_FAILED: &str = "SyncFailed";
    pub const CREATING: &str = "Creating";
    pub const UPDATING: &str = "Updating";
    pub const RUNNING: &str = "Running";
}

/// `PostgreSQLConfig` phases.
pub mod phase {
    pub const INVALID: &str = "Invalid";
    pub const FAILED: &str = "Failed";
    pub const PENDING: &str = "Pending";
    pub const DELETING: &str = "Deleting";
    pub const READY: &str = "Ready";
}

/// Condition types.
pub const READY: &str = "Ready";
pub const RECONCILED: &str = "Reconciled";
pub const DEGRADED: &str = "Degraded";
/// Report mode: True while something differs from what the manifest says (nothing is changed
/// back), False when nothing does; cleared (False) by the first run in apply mode.
pub const DRIFTED: &str = "Drifted";
/// A rollout: True while pods are outdated, False once all are on the new revision.
pub const ROLLING_UPDATE: &str = "RollingUpdate";

/// Reasons of `Reconciled=False` and `Degraded=True`.
pub mod reason {
    pub const INVALID: &str = "Invalid";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const DATABASE_UNREACHABLE: &str = "DatabaseUnreachable";
    pub const DATABASE_AUTHENTICATION_FAILED: &str = "DatabaseAuthenticationFailed";
    pub const DATABASE_TLS_FAILED: &str = "DatabaseTLSFailed";
    pub const DATABASE_PERMISSION_DENIED: &str = "DatabasePermissionDenied";

    /// The reason for a manifest whose database state is unknown.
    pub fn of_unknown(cause: Option<crate::plan::UnknownCause>) -> &'static str {
        use crate::plan::UnknownCause::*;
        match cause {
            Some(AuthenticationFailed) => DATABASE_AUTHENTICATION_FAILED,
            Some(TlsFailed) => DATABASE_TLS_FAILED,
            Some(PermissionDenied) => DATABASE_PERMISSION_DENIED,
            Some(NotReachable | Other) | None => DATABASE_UNREACHABLE,
        }
    }
    pub const DESTRUCTIVE_CHANGE_BLOCKED: &str = "DestructiveChangeBlocked";
    /// `Reconciled=False`: actions wait for the manifest's approval of this plan.
    pub const APPROVAL_REQUIRED: &str = "ApprovalRequired";
    /// `Reconciled=False`: report mode left what differs as it is.
    pub const REPORT_MODE: &str = "ReportMode";
}
