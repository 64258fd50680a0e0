//! The Event a run reports for a manifest.

use super::messages::summarize;
use super::reason;
use crate::report::outcome::ManifestOutcome;
use sha2::{Digest, Sha256};

/// The Event a run reports for a manifest, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    /// Warning (true) or Normal.
    pub warning: bool,
    /// `Reconciled`, `Invalid`, `ReconcileFailed` or `DestructiveChangeBlocked`.
    pub reason: &'static str,
    pub note: String,
}

/// A manifest gets an Event when its status changed, and only then: an unchanged failure is
/// already in the status (and in the Event of the run that first saw it), so a steady state
/// writes nothing; a new failure changes the status's messages, and gets its Event. The Event:
/// Warning `Invalid` / `ReconcileFailed` with the first messages, Warning
/// `DestructiveChangeBlocked` for skipped actions, otherwise Normal `Reconciled` with the counts.
pub fn status_event(outcome: &ManifestOutcome, status_changed: bool) -> Option<StatusEvent> {
    if !status_changed {
        return None;
    }
    let event = if !outcome.invalid.is_empty() {
        StatusEvent {
            warning: true,
            reason: "Invalid",
            note: summarize(outcome.invalid.iter().map(String::as_str)),
        }
    } else if outcome.is_failed() {
        StatusEvent {
            warning: true,
            reason: "ReconcileFailed",
            note: summarize(
                outcome
                    .failure_notes()
                    .iter()
                    .chain(&outcome.unknown)
                    .map(String::as_str),
            ),
        }
    } else if outcome.skipped().next().is_some() {
        StatusEvent {
            warning: true,
            reason: reason::DESTRUCTIVE_CHANGE_BLOCKED,
            note: summarize(outcome.skipped()),
        }
    } else {
        StatusEvent {
            warning: false,
            reason: "Reconciled",
            note: format!("applied: {}", outcome.applied),
        }
    };
    Some(event)
}

impl StatusEvent {
    /// Tells a warning apart from another (reason and a digest of the note) where the status
    /// cannot hold its message: under Zalando's CRD, whose status takes strings only.
    pub fn signature(&self) -> String {
        let hash = Sha256::digest(self.note.as_bytes());
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.reason)
    }
}
