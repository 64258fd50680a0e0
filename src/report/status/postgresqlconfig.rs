//! The status of a `PostgreSQLConfig` manifest: its phase, and `Ready` from the database.

use super::conditions::{Verdict, verdict};
use super::reconcile::{postgresqlconfig_status_changed, reconcile};
use super::{phase, reason};
use crate::api::status::PostgreSQLConfigStatus;
use crate::report::outcome::ManifestOutcome;

pub fn postgresqlconfig_status(
    outcome: &ManifestOutcome,
    previous: Option<&PostgreSQLConfigStatus>,
    now: &str,
) -> PostgreSQLConfigStatus {
    let new = PostgreSQLConfigStatus {
        phase: Some(config_phase(outcome).to_string()),
        reconcile: reconcile(
            outcome,
            previous.map(|p| &p.reconcile),
            config_ready(outcome),
            now,
        ),
    };
    match previous {
        Some(p) if !postgresqlconfig_status_changed(Some(p), &new) => p.clone(),
        _ => new,
    }
}

fn config_phase(outcome: &ManifestOutcome) -> &'static str {
    if !outcome.invalid.is_empty() {
        phase::INVALID
    } else if outcome.failures().next().is_some() || outcome.skipped().next().is_some() {
        phase::FAILED
    } else if outcome.deleting {
        phase::DELETING
    } else if outcome.unknown_needs_action() {
        phase::FAILED
    } else if !outcome.unknown.is_empty() {
        phase::PENDING
    } else {
        phase::READY
    }
}

fn config_ready(outcome: &ManifestOutcome) -> Verdict {
    if !outcome.invalid.is_empty() {
        verdict("False", reason::INVALID, "the manifest is invalid")
    } else if outcome.deleting {
        verdict("False", "Deleting", "the manifest is being deleted")
    } else if outcome.failures().next().is_some() {
        verdict("False", reason::APPLY_FAILED, "applying the plan failed")
    } else if outcome.unknown_needs_action() {
        verdict(
            "False",
            reason::of_unknown(outcome.unknown_cause),
            "the server's state cannot be read",
        )
    } else if !outcome.unknown.is_empty() {
        verdict(
            "Unknown",
            reason::DATABASE_UNREACHABLE,
            "the server cannot be reached",
        )
    } else {
        verdict("True", "DatabasePresent", "the database exists as declared")
    }
}
