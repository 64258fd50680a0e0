//! The status a manifest should have after a run, computed from what the run did to it
//! ([`ManifestOutcome`]) and the status it had before. Pure: the caller passes the time.
//!
//! A run that changes nothing about a manifest leaves its status exactly as it was (`lastRun`
//! included), so a no-op run writes nothing. Failures, unreachable databases and blocked
//! destructive changes are always visible: in the Zalando value, in `Reconciled`/`Degraded`, and
//! in their messages (which come from error strings that hold no secrets).

use super::one_line;
use super::outcome::ManifestOutcome;
use crate::api::status::{
    AppliedCounts, PostgreSQLConfigStatus, PostgresqlStatus, ReconcileStatus,
};
use crate::plan::{Action, Summary};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};

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
/// A rollout: True while pods are outdated, False once all are on the new revision.
pub const ROLLING_UPDATE: &str = "RollingUpdate";

/// Reasons of `Reconciled=False` and `Degraded=True`.
pub mod reason {
    pub const INVALID: &str = "Invalid";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const DATABASE_UNREACHABLE: &str = "DatabaseUnreachable";
    pub const DESTRUCTIVE_CHANGE_BLOCKED: &str = "DestructiveChangeBlocked";
}

/// How many messages a condition message or an event note quotes, and how long each may be.
const MAX_MESSAGES: usize = 3;
const MAX_MESSAGE_CHARS: usize = 300;

pub fn postgresql_status(
    outcome: &ManifestOutcome,
    previous: Option<&PostgresqlStatus>,
    now: &str,
) -> PostgresqlStatus {
    let previous_value = previous.and_then(|p| p.postgres_cluster_status.as_deref());
    let new = PostgresqlStatus {
        postgres_cluster_status: Some(cluster_status(outcome, previous_value).to_string()),
        reconcile: reconcile(
            outcome,
            previous.map(|p| &p.reconcile),
            cluster_ready(outcome),
            now,
        ),
    };
    match previous {
        Some(p) if !postgresql_status_changed(Some(p), &new) => p.clone(),
        _ => new,
    }
}

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

/// Whether writing `new` over `previous` changes anything besides bookkeeping (lastRun,
/// lastTransitionTime): a no-op run writes nothing.
pub fn postgresql_status_changed(
    previous: Option<&PostgresqlStatus>,
    new: &PostgresqlStatus,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    previous.postgres_cluster_status != new.postgres_cluster_status
        || !same_reconcile(&previous.reconcile, &new.reconcile)
}

pub fn postgresqlconfig_status_changed(
    previous: Option<&PostgreSQLConfigStatus>,
    new: &PostgreSQLConfigStatus,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    previous.phase != new.phase || !same_reconcile(&previous.reconcile, &new.reconcile)
}

/// `sha256:` and the first 16 hex digits of the SHA-256 of the actions' JSON.
pub fn plan_digest(actions: &[Action]) -> String {
    // Serializing plain data (strings, numbers, JSON values) cannot fail.
    let json = serde_json::to_vec(actions).unwrap_or_default();
    let hash = Sha256::digest(&json);
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The Event a run reports for a manifest, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    /// Warning (true) or Normal.
    pub warning: bool,
    /// `Reconciled`, `Invalid`, `ReconcileFailed` or `DestructiveChangeBlocked`.
    pub reason: &'static str,
    pub note: String,
}

/// A manifest gets an Event when its status changed or when it failed (every run it fails):
/// Warning `Invalid` / `ReconcileFailed` with the first messages, Warning
/// `DestructiveChangeBlocked` for skipped actions, otherwise Normal `Reconciled` with the counts.
pub fn status_event(outcome: &ManifestOutcome, status_changed: bool) -> Option<StatusEvent> {
    if !status_changed && !outcome.is_failed() {
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
                    .failures()
                    .chain(outcome.unknown.iter().map(String::as_str)),
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

/// Zalando's value. Creation lasts from the run that created the StatefulSet until the cluster
/// first runs (previous value Creating or CreateFailed). An unreachable database while pods are
/// still starting is expected (Creating/Updating, still shown as Degraded); with all pods ready
/// it is a failure.
fn cluster_status(outcome: &ManifestOutcome, previous: Option<&str>) -> &'static str {
    let creating =
        outcome.new_cluster || matches!(previous, Some(cluster::CREATING | cluster::CREATE_FAILED));
    let failed = if creating {
        cluster::CREATE_FAILED
    } else {
        cluster::SYNC_FAILED
    };
    if !outcome.invalid.is_empty() {
        cluster::INVALID
    } else if outcome.failures().next().is_some() || outcome.skipped().next().is_some() {
        failed
    } else if !pods_ready(outcome) {
        if creating {
            cluster::CREATING
        } else {
            cluster::UPDATING
        }
    } else if !outcome.unknown.is_empty() {
        failed
    } else {
        cluster::RUNNING
    }
}

/// All wanted pods ready. Unknown pods count as not ready for a cluster created by this run and
/// as ready otherwise (nothing known to wait for).
fn pods_ready(outcome: &ManifestOutcome) -> bool {
    match outcome.pods {
        Some((ready, wanted)) => ready >= wanted,
        None => !outcome.new_cluster,
    }
}

fn config_phase(outcome: &ManifestOutcome) -> &'static str {
    if !outcome.invalid.is_empty() {
        phase::INVALID
    } else if outcome.failures().next().is_some() || outcome.skipped().next().is_some() {
        phase::FAILED
    } else if outcome.deleting {
        phase::DELETING
    } else if !outcome.unknown.is_empty() {
        phase::PENDING
    } else {
        phase::READY
    }
}

/// A condition before its bookkeeping is filled in.
struct Verdict {
    status: &'static str,
    reason: &'static str,
    message: String,
}

fn verdict(status: &'static str, reason: &'static str, message: impl Into<String>) -> Verdict {
    Verdict {
        status,
        reason,
        message: message.into(),
    }
}

fn cluster_ready(outcome: &ManifestOutcome) -> Verdict {
    if outcome.deleting {
        return verdict("False", "Deleting", "the manifest is being deleted");
    }
    match outcome.pods {
        Some((ready, wanted)) if ready >= wanted => {
            verdict("True", "PodsReady", format!("{ready}/{wanted} pods ready"))
        }
        Some((ready, wanted)) => verdict(
            "False",
            "PodsNotReady",
            format!("{ready}/{wanted} pods ready"),
        ),
        None if outcome.new_cluster => verdict("False", "PodsNotReady", "no pods yet"),
        None => verdict("Unknown", "PodsUnknown", "the pods were not observed"),
    }
}

/// `RollingUpdate`: "n of m pods on the new revision", with why the next restart waits.
fn rolling_update(outcome: &ManifestOutcome) -> Option<Verdict> {
    let (current, total) = outcome.rollout?;
    let progress = format!("{current} of {total} pods on the new revision");
    Some(if current >= total {
        verdict("False", "UpToDate", progress)
    } else if let Some(why) = &outcome.rollout_held {
        verdict("True", "Held", shorten(&format!("{progress}; {why}")))
    } else {
        verdict("True", "PodsOutdated", progress)
    })
}

fn config_ready(outcome: &ManifestOutcome) -> Verdict {
    if !outcome.invalid.is_empty() {
        verdict("False", reason::INVALID, "the manifest is invalid")
    } else if outcome.deleting {
        verdict("False", "Deleting", "the manifest is being deleted")
    } else if outcome.failures().next().is_some() {
        verdict("False", reason::APPLY_FAILED, "applying the plan failed")
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

/// `Reconciled`: True when everything planned was applied and nothing is unknown.
fn reconciled(outcome: &ManifestOutcome) -> Verdict {
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
    if outcome.skipped().next().is_some() {
        return verdict(
            "False",
            reason::DESTRUCTIVE_CHANGE_BLOCKED,
            summarize(outcome.skipped()),
        );
    }
    verdict(
        "True",
        "Applied",
        "everything planned was applied; nothing is unknown",
    )
}

/// `Degraded`: True when something failed or is unknown.
fn degraded(outcome: &ManifestOutcome) -> Verdict {
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
            reason::DATABASE_UNREACHABLE
        },
        message: summarize(
            outcome
                .failures()
                .chain(outcome.unknown.iter().map(String::as_str)),
        ),
    })
}

/// The first few messages on one line each, shortened, and how many more there are.
fn summarize<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = messages.collect();
    let text = all
        .iter()
        .take(MAX_MESSAGES)
        .map(|m| shorten(&one_line(m)))
        .collect::<Vec<_>>()
        .join("; ");
    if all.len() > MAX_MESSAGES {
        format!("{text} (and {} more)", all.len() - MAX_MESSAGES)
    } else {
        text
    }
}

fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    format!("{cut}…")
}

fn reconcile(
    outcome: &ManifestOutcome,
    previous: Option<&ReconcileStatus>,
    ready: Verdict,
    now: &str,
) -> ReconcileStatus {
    let generation = outcome
        .manifest
        .generation
        .or_else(|| previous.and_then(|p| p.observed_generation));
    let transition = transition_time(now);
    let mut conditions: Vec<Condition> = [
        (READY, ready),
        (RECONCILED, reconciled(outcome)),
        (DEGRADED, degraded(outcome)),
    ]
    .into_iter()
    .map(|(type_, v)| {
        let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == type_));
        let last_transition_time = match before {
            Some(c) if c.status == v.status => c.last_transition_time.clone(),
            _ => transition.clone(),
        };
        Condition {
            type_: type_.to_string(),
            status: v.status.to_string(),
            reason: v.reason.to_string(),
            message: v.message,
            observed_generation: generation,
            last_transition_time,
        }
    })
    .collect();
    let rolling = rolling_update(outcome).map(|v| {
        let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == ROLLING_UPDATE));
        Condition {
            type_: ROLLING_UPDATE.to_string(),
            status: v.status.to_string(),
            reason: v.reason.to_string(),
            message: v.message,
            observed_generation: generation,
            last_transition_time: match before {
                Some(c) if c.status == v.status => c.last_transition_time.clone(),
                _ => transition.clone(),
            },
        }
    });
    // Conditions of other types are someone else's: kept as they are. `RollingUpdate` is kept
    // when this run did not observe the rollout.
    conditions.extend(
        previous
            .into_iter()
            .flat_map(|p| p.conditions.iter())
            .filter(|c| ![READY, RECONCILED, DEGRADED].contains(&c.type_.as_str()))
            .filter(|c| rolling.is_none() || c.type_ != ROLLING_UPDATE)
            .cloned(),
    );
    conditions.extend(rolling);
    // A run that planned nothing keeps the counts and digest of the last plan that did.
    let (applied, plan_digest) = match previous {
        Some(p) if outcome.actions.is_empty() && p.applied.is_some() => {
            (p.applied.clone(), p.plan_digest.clone())
        }
        _ => (
            Some(counts(&outcome.applied)),
            Some(outcome.plan_digest.clone()),
        ),
    };
    ReconcileStatus {
        observed_generation: generation,
        conditions,
        last_run: Some(now.to_string()),
        applied,
        plan_digest,
    }
}

/// `now` as a condition time (whole seconds, as the API server stores it); an unparsable `now`
/// gives the Unix epoch.
fn transition_time(now: &str) -> Time {
    let ts = now
        .parse::<Timestamp>()
        .ok()
        .and_then(|t| Timestamp::from_second(t.as_second()).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Time(ts)
}

fn counts(s: &Summary) -> AppliedCounts {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    AppliedCounts {
        create: n(s.create),
        update: n(s.update),
        replace: n(s.replace),
        delete: n(s.delete),
        sql: n(s.sql),
        restart: n(s.restart),
    }
}

/// Equal apart from bookkeeping: `lastRun` and the conditions' `lastTransitionTime`.
fn same_reconcile(a: &ReconcileStatus, b: &ReconcileStatus) -> bool {
    let strip = |s: &ReconcileStatus| {
        let mut s = s.clone();
        s.last_run = None;
        for c in &mut s.conditions {
            c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Op, Risk, SqlStatement, Target};
    use crate::render::ManifestRef;
    use crate::report::outcome::{ActionOutcome, ActionResult};

    const T1: &str = "2026-01-02T03:04:05.678Z";
    const T2: &str = "2026-01-02T04:00:00Z";

    fn outcome(kind: &str) -> ManifestOutcome {
        ManifestOutcome {
            manifest: ManifestRef {
                kind: kind.into(),
                namespace: "ns".into(),
                name: "acid-a".into(),
                uid: Some("uid-1".into()),
                generation: Some(7),
            },
            invalid: Vec::new(),
            actions: Vec::new(),
            applied: Summary::default(),
            unknown: Vec::new(),
            new_cluster: false,
            rollout: None,
            rollout_held: None,
            pods: if kind == "postgresql" {
                Some((2, 2))
            } else {
                None
            },
            deleting: false,
            plan_digest: plan_digest(&[]),
        }
    }

    fn cluster() -> ManifestOutcome {
        outcome("postgresql")
    }

    fn config() -> ManifestOutcome {
        outcome("PostgreSQLConfig")
    }

    fn with(mut o: ManifestOutcome, action: &str, result: ActionResult) -> ManifestOutcome {
        if result == ActionResult::Applied {
            o.applied.update += 1;
        }
        o.actions.push(ActionOutcome {
            action: action.into(),
            result,
        });
        o
    }

    fn applied(o: ManifestOutcome) -> ManifestOutcome {
        with(o, "update StatefulSet ns/acid-a", ActionResult::Applied)
    }

    fn failed(o: ManifestOutcome, message: &str) -> ManifestOutcome {
        with(o, "sql role app", ActionResult::Failed(message.into()))
    }

    fn skipped(o: ManifestOutcome) -> ManifestOutcome {
        with(
            o,
            "replace StatefulSet ns/acid-a",
            ActionResult::Skipped("destructive: needs --allow-destructive".into()),
        )
    }

    fn unreachable(mut o: ManifestOutcome) -> ManifestOutcome {
        o.unknown.push("database state: connection refused".into());
        o
    }

    fn pods(mut o: ManifestOutcome, ready: i32, wanted: i32) -> ManifestOutcome {
        o.pods = Some((ready, wanted));
        o
    }

    fn new_cluster(mut o: ManifestOutcome) -> ManifestOutcome {
        o.new_cluster = true;
        o
    }

    fn cond<'a>(r: &'a ReconcileStatus, type_: &str) -> &'a Condition {
        r.conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition in {:?}", r.conditions))
    }

    /// (status, reason) of a condition.
    fn sr(r: &ReconcileStatus, type_: &str) -> (String, String) {
        let c = cond(r, type_);
        (c.status.clone(), c.reason.clone())
    }

    fn pair(status: &str, reason: &str) -> (String, String) {
        (status.to_string(), reason.to_string())
    }

    fn value(o: &ManifestOutcome, previous: Option<&PostgresqlStatus>) -> String {
        postgresql_status(o, previous, T1)
            .postgres_cluster_status
            .expect("a value")
    }

    #[test]
    fn running_when_everything_applied_and_all_pods_ready() {
        let s = postgresql_status(&applied(cluster()), None, T1);
        assert_eq!(s.postgres_cluster_status.as_deref(), Some(cluster::RUNNING));
        let r = &s.reconcile;
        assert_eq!(sr(r, READY), pair("True", "PodsReady"));
        assert_eq!(cond(r, READY).message, "2/2 pods ready");
        assert_eq!(sr(r, RECONCILED), pair("True", "Applied"));
        assert_eq!(sr(r, DEGRADED), pair("False", "AsExpected"));
        assert_eq!(r.observed_generation, Some(7));
        assert!(
            r.conditions
                .iter()
                .all(|c| c.observed_generation == Some(7))
        );
        assert_eq!(r.last_run.as_deref(), Some(T1));
        assert_eq!(
            r.applied,
            Some(AppliedCounts {
                update: 1,
                ..Default::default()
            })
        );
        assert_eq!(r.plan_digest.as_deref(), Some(plan_digest(&[]).as_str()));
        let types: Vec<&str> = r.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, RECONCILED, DEGRADED]);
    }

    #[test]
    fn creating_for_a_new_cluster_and_until_its_pods_are_ready() {
        // The run that created the StatefulSet: no pods yet, the database not reachable yet.
        let first = unreachable(new_cluster(applied(cluster())));
        let mut first = first;
        first.pods = None;
        let s = postgresql_status(&first, None, T1);
        assert_eq!(
            s.postgres_cluster_status.as_deref(),
            Some(cluster::CREATING)
        );
        assert_eq!(sr(&s.reconcile, READY), pair("False", "PodsNotReady"));
        // Still visible: not reconciled, degraded, with the reason.
        assert_eq!(
            sr(&s.reconcile, RECONCILED),
            pair("False", reason::DATABASE_UNREACHABLE)
        );
        assert_eq!(
            sr(&s.reconcile, DEGRADED),
            pair("True", reason::DATABASE_UNREACHABLE)
        );
        assert!(
            cond(&s.reconcile, DEGRADED)
                .message
                .contains("connection refused")
        );
        // The next run: the StatefulSet exists, one pod of two is ready.
        let next = pods(unreachable(cluster()), 1, 2);
        assert_eq!(value(&next, Some(&s)), cluster::CREATING);
        // Once it ran, pods that are not ready mean an update.
        let running = postgresql_status(&cluster(), Some(&s), T2);
        assert_eq!(
            running.postgres_cluster_status.as_deref(),
            Some(cluster::RUNNING)
        );
        assert_eq!(value(&next, Some(&running)), cluster::UPDATING);
    }

    #[test]
    fn updating_when_pods_of_an_existing_cluster_are_not_ready() {
        let s = postgresql_status(&pods(applied(cluster()), 1, 3), None, T1);
        assert_eq!(
            s.postgres_cluster_status.as_deref(),
            Some(cluster::UPDATING)
        );
        assert_eq!(sr(&s.reconcile, READY), pair("False", "PodsNotReady"));
        assert_eq!(cond(&s.reconcile, READY).message, "1/3 pods ready");
        assert_eq!(sr(&s.reconcile, RECONCILED), pair("True", "Applied"));
    }

    #[test]
    fn create_failed_for_failures_on_a_new_cluster() {
        let o = failed(
            new_cluster(pods(cluster(), 0, 2)),
            "create Service: forbidden",
        );
        let s = postgresql_status(&o, None, T1);
        assert_eq!(
            s.postgres_cluster_status.as_deref(),
            Some(cluster::CREATE_FAILED)
        );
        assert_eq!(
            sr(&s.reconcile, RECONCILED),
            pair("False", reason::APPLY_FAILED)
        );
        // A cluster that never ran stays in creation.
        let again = failed(pods(cluster(), 0, 2), "create Service: forbidden");
        assert_eq!(value(&again, Some(&s)), cluster::CREATE_FAILED);
    }

    #[test]
    fn sync_failed_for_failures_on_an_existing_cluster() {
        let o = failed(applied(cluster()), "ALTER ROLE app: permission denied");
        let s = postgresql_status(&o, None, T1);
        assert_eq!(
            s.postgres_cluster_status.as_deref(),
            Some(cluster::SYNC_FAILED)
        );
        let r = &s.reconcile;
        assert_eq!(sr(r, RECONCILED), pair("False", reason::APPLY_FAILED));
        assert_eq!(sr(r, DEGRADED), pair("True", reason::APPLY_FAILED));
        assert_eq!(
            cond(r, DEGRADED).message,
            "ALTER ROLE app: permission denied"
        );
        // Pods are still ready.
        assert_eq!(sr(r, READY), pair("True", "PodsReady"));
        // What did apply is counted.
        assert_eq!(r.applied.as_ref().map(|a| a.update), Some(1));
    }

    #[test]
    fn an_unreachable_database_with_ready_pods_is_sync_failed_not_swallowed() {
        let s = postgresql_status(&unreachable(cluster()), None, T1);
        assert_eq!(
            s.postgres_cluster_status.as_deref(),
            Some(cluster::SYNC_FAILED)
        );
        assert_eq!(
            sr(&s.reconcile, RECONCILED),
            pair("False", reason::DATABASE_UNREACHABLE)
        );
        assert_eq!(
            cond(&s.reconcile, RECONCILED).message,
            "database state: connection refused"
        );
        assert_eq!(
            sr(&s.reconcile, DEGRADED),
            pair("True", reason::DATABASE_UNREACHABLE)
        );
    }

    #[test]
    fn failures_and_unknown_parts_are_both_listed() {
        let o = unreachable(failed(cluster(), "create Secret: forbidden"));
        let s = postgresql_status(&o, None, T1);
        let c = cond(&s.reconcile, DEGRADED);
        assert_eq!(c.reason, reason::APPLY_FAILED);
        assert_eq!(
            c.message,
            "create Secret: forbidden; database state: connection refused"
        );
    }

    #[test]
    fn invalid_manifest() {
        let mut o = cluster();
        o.invalid = vec![
            "spec.teamId: required".into(),
            "spec.volume.size: not a quantity".into(),
        ];
        let s = postgresql_status(&o, None, T1);
        assert_eq!(s.postgres_cluster_status.as_deref(), Some(cluster::INVALID));
        let r = &s.reconcile;
        assert_eq!(sr(r, RECONCILED), pair("False", reason::INVALID));
        assert_eq!(sr(r, DEGRADED), pair("True", reason::INVALID));
        assert_eq!(
            cond(r, RECONCILED).message,
            "spec.teamId: required; spec.volume.size: not a quantity"
        );
    }

    #[test]
    fn skipped_destructive_change_is_not_running_but_not_degraded() {
        let s = postgresql_status(&skipped(applied(cluster())), None, T1);
        assert_eq!(
            s.postgres_cluster_status.as_deref(),
            Some(cluster::SYNC_FAILED)
        );
        let r = &s.reconcile;
        assert_eq!(
            sr(r, RECONCILED),
            pair("False", reason::DESTRUCTIVE_CHANGE_BLOCKED)
        );
        assert_eq!(
            cond(r, RECONCILED).message,
            "destructive: needs --allow-destructive"
        );
        assert_eq!(sr(r, DEGRADED), pair("False", "AsExpected"));
    }

    #[test]
    fn unobserved_pods_and_deletion() {
        let mut o = cluster();
        o.pods = None;
        let s = postgresql_status(&o, None, T1);
        assert_eq!(sr(&s.reconcile, READY), pair("Unknown", "PodsUnknown"));
        assert_eq!(s.postgres_cluster_status.as_deref(), Some(cluster::RUNNING));
        o.deleting = true;
        let s = postgresql_status(&o, None, T1);
        assert_eq!(sr(&s.reconcile, READY), pair("False", "Deleting"));
    }

    #[test]
    fn config_phases_and_ready() {
        let phase_of = |o: &ManifestOutcome| {
            let s = postgresqlconfig_status(o, None, T1);
            (s.phase.clone().expect("a phase"), sr(&s.reconcile, READY))
        };
        assert_eq!(
            phase_of(&applied(config())),
            (phase::READY.into(), pair("True", "DatabasePresent"))
        );
        assert_eq!(
            phase_of(&unreachable(config())),
            (
                phase::PENDING.into(),
                pair("Unknown", reason::DATABASE_UNREACHABLE)
            )
        );
        assert_eq!(
            phase_of(&failed(config(), "CREATE DATABASE shop: permission denied")),
            (phase::FAILED.into(), pair("False", reason::APPLY_FAILED))
        );
        let mut deleting = applied(config());
        deleting.deleting = true;
        assert_eq!(
            phase_of(&deleting),
            (phase::DELETING.into(), pair("False", "Deleting"))
        );
        let mut invalid = config();
        invalid.invalid = vec!["spec.database: required".into()];
        assert_eq!(
            phase_of(&invalid),
            (phase::INVALID.into(), pair("False", reason::INVALID))
        );
        assert_eq!(phase_of(&skipped(config())).0, phase::FAILED);
        // Conditions as for clusters.
        let s = postgresqlconfig_status(&unreachable(config()), None, T1);
        assert_eq!(
            sr(&s.reconcile, DEGRADED),
            pair("True", reason::DATABASE_UNREACHABLE)
        );
        assert_eq!(s.reconcile.observed_generation, Some(7));
    }

    #[test]
    fn a_no_op_run_keeps_the_previous_status_entirely() {
        let first = postgresql_status(&applied(cluster()), None, T1);
        // The next run plans nothing: same conditions, no actions.
        let second = postgresql_status(&cluster(), Some(&first), T2);
        assert_eq!(second, first);
        assert_eq!(second.reconcile.last_run.as_deref(), Some(T1));
        assert!(!postgresql_status_changed(Some(&first), &second));
        // The counts and digest of the last plan that did something are kept.
        assert_eq!(second.reconcile.applied.as_ref().map(|a| a.update), Some(1));

        let c1 = postgresqlconfig_status(&applied(config()), None, T1);
        let c2 = postgresqlconfig_status(&config(), Some(&c1), T2);
        assert_eq!(c2, c1);
        assert!(!postgresqlconfig_status_changed(Some(&c1), &c2));
    }

    #[test]
    fn a_failing_run_repeated_changes_nothing() {
        let o = failed(cluster(), "ALTER ROLE app: permission denied");
        let first = postgresql_status(&o, None, T1);
        let second = postgresql_status(&o, Some(&first), T2);
        assert_eq!(second, first);
    }

    #[test]
    fn changed_ignores_only_bookkeeping() {
        let s = postgresql_status(&applied(cluster()), None, T1);
        assert!(postgresql_status_changed(None, &s));
        let mut bookkeeping = s.clone();
        bookkeeping.reconcile.last_run = Some(T2.into());
        bookkeeping.reconcile.conditions[0].last_transition_time = transition_time(T2);
        assert!(!postgresql_status_changed(Some(&s), &bookkeeping));
        let mut message = s.clone();
        message.reconcile.conditions[0].message = "1/2 pods ready".into();
        assert!(postgresql_status_changed(Some(&s), &message));
        let mut generation = s.clone();
        generation.reconcile.observed_generation = Some(8);
        assert!(postgresql_status_changed(Some(&s), &generation));
        let mut value = s.clone();
        value.postgres_cluster_status = Some(cluster::UPDATING.into());
        assert!(postgresql_status_changed(Some(&s), &value));

        let c = postgresqlconfig_status(&config(), None, T1);
        assert!(postgresqlconfig_status_changed(None, &c));
        let mut phase = c.clone();
        phase.phase = Some(phase::PENDING.into());
        assert!(postgresqlconfig_status_changed(Some(&c), &phase));
    }

    #[test]
    fn a_new_generation_is_a_change() {
        let first = postgresql_status(&cluster(), None, T1);
        let mut o = cluster();
        o.manifest.generation = Some(8);
        let second = postgresql_status(&o, Some(&first), T2);
        assert_eq!(second.reconcile.observed_generation, Some(8));
        assert_eq!(second.reconcile.last_run.as_deref(), Some(T2));
        // No condition changed status: every transition time is kept.
        assert_eq!(
            second
                .reconcile
                .conditions
                .iter()
                .map(|c| &c.last_transition_time)
                .collect::<Vec<_>>(),
            first
                .reconcile
                .conditions
                .iter()
                .map(|c| &c.last_transition_time)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn last_transition_time_moves_only_with_the_status() {
        let first = postgresql_status(&pods(cluster(), 1, 2), None, T1);
        let t1 = transition_time(T1);
        let t2 = transition_time(T2);
        assert!(
            first
                .reconcile
                .conditions
                .iter()
                .all(|c| c.last_transition_time == t1)
        );
        // Whole seconds, as the API server keeps them.
        assert_eq!(
            serde_json::to_value(&t1).expect("json"),
            serde_json::json!("2026-01-02T03:04:05Z")
        );
        let second = postgresql_status(&pods(failed(cluster(), "boom"), 2, 2), Some(&first), T2);
        assert_eq!(cond(&second.reconcile, READY).last_transition_time, t2);
        assert_eq!(cond(&second.reconcile, RECONCILED).last_transition_time, t2);
        assert_eq!(cond(&second.reconcile, DEGRADED).last_transition_time, t2);
        // Still failing, with another message: reason and message change, the time does not.
        let third = postgresql_status(
            &pods(failed(cluster(), "boom again"), 2, 2),
            Some(&second),
            "2026-01-02T05:00:00Z",
        );
        assert_eq!(cond(&third.reconcile, DEGRADED).message, "boom again");
        assert_eq!(cond(&third.reconcile, DEGRADED).last_transition_time, t2);
        assert_eq!(
            third.reconcile.last_run.as_deref(),
            Some("2026-01-02T05:00:00Z")
        );
    }

    #[test]
    fn other_conditions_are_kept() {
        let mut previous = postgresql_status(&cluster(), None, T1);
        let rolling = Condition {
            type_: "RollingUpdate".into(),
            status: "True".into(),
            reason: "PodsOnOldRevision".into(),
            message: "1 pod to restart".into(),
            observed_generation: Some(7),
            last_transition_time: transition_time(T1),
        };
        previous.reconcile.conditions.push(rolling.clone());
        let next = postgresql_status(&failed(cluster(), "boom"), Some(&previous), T2);
        assert_eq!(next.reconcile.conditions.len(), 4);
        assert_eq!(next.reconcile.conditions[3], rolling);
    }

    #[test]
    fn rolling_update_says_how_far_the_rollout_is() {
        let mut o = applied(cluster());
        o.rollout = Some((1, 3));
        let first = postgresql_status(&o, None, T1);
        assert_eq!(
            sr(&first.reconcile, ROLLING_UPDATE),
            pair("True", "PodsOutdated")
        );
        assert_eq!(
            cond(&first.reconcile, ROLLING_UPDATE).message,
            "1 of 3 pods on the new revision"
        );
        o.rollout = Some((2, 3));
        o.rollout_held = Some("pod acid-x-1 is Pending".into());
        let held = postgresql_status(&o, Some(&first), T2);
        assert_eq!(sr(&held.reconcile, ROLLING_UPDATE), pair("True", "Held"));
        assert_eq!(
            cond(&held.reconcile, ROLLING_UPDATE).message,
            "2 of 3 pods on the new revision; pod acid-x-1 is Pending"
        );
        assert_eq!(
            cond(&held.reconcile, ROLLING_UPDATE).last_transition_time,
            transition_time(T1)
        );
        assert_eq!(held.reconcile.conditions.len(), 4, "replaced, not added");
        o.rollout = Some((3, 3));
        o.rollout_held = None;
        let done = postgresql_status(&o, Some(&held), T2);
        assert_eq!(
            sr(&done.reconcile, ROLLING_UPDATE),
            pair("False", "UpToDate")
        );
        assert_eq!(done.reconcile.conditions.len(), 4);
    }

    #[test]
    fn messages_are_few_short_and_on_one_line() {
        let mut o = cluster();
        for i in 0..5 {
            o = failed(o, &format!("failure {i}\nsecond line"));
        }
        let s = postgresql_status(&o, None, T1);
        assert_eq!(
            cond(&s.reconcile, DEGRADED).message,
            "failure 0 second line; failure 1 second line; failure 2 second line (and 2 more)"
        );
        let long = "x".repeat(1000);
        let s = postgresql_status(&failed(cluster(), &long), None, T1);
        let message = &cond(&s.reconcile, DEGRADED).message;
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(message.ends_with('…'));
    }

    #[test]
    fn deterministic() {
        let o = unreachable(skipped(failed(applied(cluster()), "boom")));
        let previous = postgresql_status(&cluster(), None, T1);
        let a = postgresql_status(&o, Some(&previous), T2);
        let b = postgresql_status(&o, Some(&previous), T2);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            serde_json::to_string(&b).expect("json")
        );
        let c = postgresqlconfig_status(&unreachable(config()), None, T2);
        assert_eq!(c, postgresqlconfig_status(&unreachable(config()), None, T2));
    }

    #[test]
    fn serialized_with_zalando_and_camel_case_names() {
        let s = postgresql_status(&applied(cluster()), None, T1);
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["PostgresClusterStatus"], "Running");
        assert_eq!(json["observedGeneration"], 7);
        assert_eq!(json["lastRun"], T1);
        assert_eq!(json["applied"]["update"], 1);
        assert!(
            json["planDigest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
        assert_eq!(json["conditions"][0]["type"], "Ready");
    }

    fn action(sql: &str) -> Action {
        Action {
            manifest: None,
            target: Target::Sql {
                server: "cluster ns/acid-a".into(),
                database: "postgres".into(),
                object: "role app".into(),
            },
            op: Op::Sql,
            risk: Risk::Safe,
            reason: "absent".into(),
            change: Change::Sql {
                statements: vec![SqlStatement::plain(sql)],
            },
        }
    }

    #[test]
    fn plan_digest_is_short_stable_and_tells_plans_apart() {
        let a = plan_digest(&[action("CREATE ROLE app")]);
        assert_eq!(a.len(), "sha256:".len() + 16);
        assert!(a.starts_with("sha256:"));
        assert!(a["sha256:".len()..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, plan_digest(&[action("CREATE ROLE app")]));
        assert_ne!(a, plan_digest(&[action("CREATE ROLE other")]));
        assert_ne!(a, plan_digest(&[]));
        // The digest of nothing: sha256 of "[]".
        assert_eq!(plan_digest(&[]), "sha256:4f53cda18c2baa0c");
    }

    #[test]
    fn events() {
        assert_eq!(status_event(&cluster(), false), None);
        let ok = status_event(&applied(cluster()), true).expect("an event");
        assert!(!ok.warning);
        assert_eq!(ok.reason, "Reconciled");
        assert_eq!(
            ok.note,
            "applied: 0 create, 1 update, 0 replace, 0 delete, 0 sql"
        );
        // A failing manifest gets a warning every run, changed or not.
        let bad = status_event(&failed(cluster(), "boom"), false).expect("an event");
        assert!(bad.warning);
        assert_eq!((bad.reason, bad.note.as_str()), ("ReconcileFailed", "boom"));
        let unknown = status_event(&unreachable(cluster()), false).expect("an event");
        assert_eq!(unknown.reason, "ReconcileFailed");
        let mut invalid = cluster();
        invalid.invalid = vec!["spec.teamId: required".into()];
        let e = status_event(&invalid, false).expect("an event");
        assert_eq!((e.reason, e.warning), ("Invalid", true));
        assert_eq!(status_event(&skipped(cluster()), false), None);
        let blocked = status_event(&skipped(cluster()), true).expect("an event");
        assert_eq!(
            (blocked.reason, blocked.warning),
            (reason::DESTRUCTIVE_CHANGE_BLOCKED, true)
        );
    }
}
