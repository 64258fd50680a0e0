//! The status of a `postgresql` manifest: Zalando's `PostgresClusterStatus` value, and `Ready`
//! from the pods.

use super::cluster;
use super::conditions::{Verdict, verdict};
use super::reconcile::{postgresql_status_changed, reconcile};
use crate::api::status::PostgresqlStatus;
use crate::report::outcome::ManifestOutcome;

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
    } else if outcome.failures().next().is_some()
        || outcome.skipped().next().is_some()
        || outcome.unknown_needs_action()
    {
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
