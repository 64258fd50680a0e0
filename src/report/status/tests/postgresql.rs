//! `postgresql` manifests: Zalando's value, `Ready`, and the status as serialized.

use super::*;
use crate::api::status::AppliedCounts;

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
fn a_wrong_password_on_a_new_cluster_is_a_failure_not_creation() {
    let mut o = authentication_failed(new_cluster(applied(cluster())));
    o.pods = None;
    let s = postgresql_status(&o, None, T1);
    assert_eq!(
        s.postgres_cluster_status.as_deref(),
        Some(cluster::CREATE_FAILED)
    );
    assert_eq!(
        sr(&s.reconcile, DEGRADED),
        pair("True", reason::DATABASE_AUTHENTICATION_FAILED)
    );
    assert!(
        cond(&s.reconcile, DEGRADED)
            .message
            .contains("authentication failed")
    );
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
        "sql role app: ALTER ROLE app: permission denied"
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
