//! The merge with the previous status, and change detection.

use super::*;
use crate::report::status::reconcile::transition_time;

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
    assert_eq!(
        cond(&third.reconcile, DEGRADED).message,
        "sql role app: boom again"
    );
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
