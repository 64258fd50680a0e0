//! The `reconcile` part of both kinds' status (conditions, `observedGeneration`, `lastRun`,
//! counts and digest), merged with the previous status, and the change detection that lets a
//! no-op run write nothing.

use super::conditions::{Verdict, degraded, drifted, reconciled, rolling_update};
use super::{DEGRADED, DRIFTED, READY, RECONCILED, ROLLING_UPDATE};
use crate::api::status::{
    AppliedCounts, PostgreSQLConfigStatus, PostgresqlStatus, ReconcileStatus,
};
use crate::plan::Summary;
use crate::report::outcome::ManifestOutcome;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub(super) fn reconcile(
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
    let previous_condition =
        |type_: &str| previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == type_));
    // The transition time moves only when the status does.
    let condition = |type_: &str, v: Verdict| Condition {
        type_: type_.to_string(),
        status: v.status.to_string(),
        reason: v.reason.to_string(),
        message: v.message,
        observed_generation: generation,
        last_transition_time: match previous_condition(type_) {
            Some(c) if c.status == v.status => c.last_transition_time.clone(),
            _ => transition.clone(),
        },
    };
    let mut conditions: Vec<Condition> = vec![
        condition(READY, ready),
        condition(RECONCILED, reconciled(outcome)),
        condition(DEGRADED, degraded(outcome)),
    ];
    let rolling = rolling_update(outcome).map(|v| condition(ROLLING_UPDATE, v));
    let drift =
        drifted(outcome, previous_condition(DRIFTED).is_some()).map(|v| condition(DRIFTED, v));
    // Conditions of other types are someone else's: kept as they are. `RollingUpdate` is kept
    // when this run did not observe the rollout.
    conditions.extend(
        previous
            .into_iter()
            .flat_map(|p| p.conditions.iter())
            .filter(|c| ![READY, RECONCILED, DEGRADED].contains(&c.type_.as_str()))
            .filter(|c| rolling.is_none() || c.type_ != ROLLING_UPDATE)
            .filter(|c| drift.is_none() || c.type_ != DRIFTED)
            .cloned(),
    );
    conditions.extend(rolling);
    conditions.extend(drift);
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

/// `now` as a condition time (whole seconds, as the API server stores it); an unparsable `now`
/// gives the Unix epoch.
pub(super) fn transition_time(now: &str) -> Time {
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
