//! The conditions both kinds share: their reasons and messages, and `RollingUpdate`.

use super::*;
use crate::report::status::messages::MAX_MESSAGE_CHARS;
use crate::report::status::reconcile::transition_time;

#[test]
fn failures_and_unknown_parts_are_both_listed() {
    let o = unreachable(failed(cluster(), "create Secret: forbidden"));
    let s = postgresql_status(&o, None, T1);
    let c = cond(&s.reconcile, DEGRADED);
    assert_eq!(c.reason, reason::APPLY_FAILED);
    assert_eq!(
        c.message,
        "sql role app: create Secret: forbidden; database state: connection refused"
    );
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
    o.rollout_lazy = true;
    let lazy = postgresql_status(&o, Some(&held), T2);
    assert_eq!(
        sr(&lazy.reconcile, ROLLING_UPDATE),
        pair("True", "LazyUpgrade")
    );
    o.rollout = Some((3, 3));
    o.rollout_lazy = false;
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
        "sql role app: failure 0 second line; sql role app: failure 1 second line; sql role app: failure 2 second line (and 2 more)"
    );
    let long = "x".repeat(1000);
    let s = postgresql_status(&failed(cluster(), &long), None, T1);
    let message = &cond(&s.reconcile, DEGRADED).message;
    assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    assert!(message.ends_with('…'));
}
