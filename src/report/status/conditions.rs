//! The verdicts behind the conditions both kinds share (`Reconciled`, `Degraded`,
//! `RollingUpdate`), before their bookkeeping is filled in.

use super::messages::{shorten, summarize};
use super::reason;
use crate::report::outcome::ManifestOutcome;

/// A condition before its bookkeeping is filled in.
pub(super) struct Verdict {
    pub(super) status: &'static str,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

pub(super) fn verdict(
    status: &'static str,
    reason: &'static str,
    message: impl Into<String>,
) -> Verdict {
    Verdict {
        status,
        reason,
        message: message.into(),
    }
}

/// `RollingUpdate`: "n of m pods on the new revision", with why the next restart waits.
pub(super) fn rolling_update(outcome: &ManifestOutcome) -> Option<Verdict> {
    let (current, total) = outcome.rollout?;
    let progress = format!("{current} of {total} pods on the new revision");
    Some(if current >= total {
        verdict("False", "UpToDate", progress)
    } else if let Some(why) = &outcome.rollout_held {
        // Lazy upgrades wait by design: a reason of their own, so alerts on "Held" stay quiet.
        let reason = if outcome.rollout_lazy {
            "LazyUpgrade"
        } else {
            "Held"
        };
        verdict("True", reason, shorten(&format!("{progress}; {why}")))
    } else {
        verdict("True", "PodsOutdated", progress)
    })
}

/// `Reconciled`: True when everything planned was applied and nothing is unknown.
pub(super) fn reconciled(outcome: &ManifestOutcome) -> Verdict {
    if !outcome.invalid.is_empty() {
        return verdict(
            "False",
            reason::INVALID,
            summarize(outcome.invalid.iter().map(String::as_str)),
        );
    }
    if let Some(problem) = problem(outcome) {
        return verdict("False", problem.reason, problem.message);
    }
    if outcome.report_mode && !outcome.drift.is_empty() {
        return verdict(
            "False",
            reason::REPORT_MODE,
            format!(
                "report mode: {} planned changes not applied (see Drifted)",
                outcome.drift.len()
            ),
        );
    }
    if outcome.skipped().next().is_some() {
        let waits_for_approval = outcome
            .skipped()
            .any(|m| m.starts_with(crate::report::outcome::HELD_FOR_APPROVAL));
        let why = if waits_for_approval {
            reason::APPROVAL_REQUIRED
        } else {
            reason::DESTRUCTIVE_CHANGE_BLOCKED
        };
        return verdict("False", why, summarize(outcome.skipped()));
    }
    verdict(
        "True",
        "Applied",
        "everything planned was applied; nothing is unknown",
    )
}

/// `Drifted`: in report mode, what differs; after it, in apply mode, cleared once (a manifest
/// that was never in report mode gets no such condition).
pub(super) fn drifted(outcome: &ManifestOutcome, had_condition: bool) -> Option<Verdict> {
    if outcome.report_mode {
        return Some(if outcome.drift.is_empty() {
            verdict("False", "NoDrift", "report mode: nothing differs")
        } else {
            verdict(
                "True",
                "Drifted",
                summarize(outcome.drift.iter().map(String::as_str)),
            )
        });
    }
    had_condition.then(|| {
        verdict(
            "False",
            "ApplyMode",
            "apply mode: what differs is corrected (see Reconciled)",
        )
    })
}

/// `Degraded`: True when something failed or is unknown.
pub(super) fn degraded(outcome: &ManifestOutcome) -> Verdict {
    if !outcome.invalid.is_empty() {
        return verdict(
            "True",
            reason::INVALID,
            summarize(outcome.invalid.iter().map(String::as_str)),
        );
    }
    match problem(outcome) {
        Some(problem) => verdict("True", problem.reason, problem.message),
        None => verdict("False", "AsExpected", "nothing failed; nothing is unknown"),
    }
}

struct Problem {
    reason: &'static str,
    message: String,
}

/// Failures first, then unknown parts.
fn problem(outcome: &ManifestOutcome) -> Option<Problem> {
    let failed = outcome.failures().next().is_some();
    if !failed && outcome.unknown.is_empty() {
        return None;
    }
    Some(Problem {
        reason: if failed {
            reason::APPLY_FAILED
        } else {
            reason::of_unknown(outcome.unknown_cause)
        },
        message: summarize(
            outcome
                .failure_notes()
                .iter()
                .chain(&outcome.unknown)
                .map(String::as_str),
        ),
    })
}
