//! Report mode: `Drifted` lists what differs, `Reconciled` says nothing was applied, the
//! cluster's value stays what its pods say, and apply mode clears the condition.

use super::*;

fn reporting(drift: &[&str]) -> ManifestOutcome {
    let mut o = cluster();
    o.report_mode = true;
    o.drift = drift.iter().map(|d| d.to_string()).collect();
    o
}

#[test]
fn report_mode_lists_what_differs_and_applies_nothing() {
    let o = reporting(&[
        "update Service ns/acid-a: spec.type: LoadBalancer → ClusterIP",
        "sql role app on cluster ns/acid-a (database postgres): SUPERUSER",
    ]);
    let s = postgresql_status(&o, None, T1);
    assert_eq!(sr(&s.reconcile, DRIFTED), pair("True", "Drifted"));
    assert_eq!(
        cond(&s.reconcile, DRIFTED).message,
        "update Service ns/acid-a: spec.type: LoadBalancer → ClusterIP; \
         sql role app on cluster ns/acid-a (database postgres): SUPERUSER"
    );
    assert_eq!(
        sr(&s.reconcile, RECONCILED),
        pair("False", reason::REPORT_MODE)
    );
    assert_eq!(sr(&s.reconcile, DEGRADED), pair("False", "AsExpected"));
    // Drift is not a failure: the pods run.
    assert_eq!(s.postgres_cluster_status.as_deref(), Some(cluster::RUNNING));
    // The same drift again writes nothing.
    let again = postgresql_status(&o, Some(&s), T2);
    assert!(!postgresql_status_changed(Some(&s), &again));
}

#[test]
fn nothing_differs_in_report_mode_is_no_drift() {
    let s = postgresql_status(&reporting(&[]), None, T1);
    assert_eq!(sr(&s.reconcile, DRIFTED), pair("False", "NoDrift"));
    assert_eq!(sr(&s.reconcile, RECONCILED), pair("True", "Applied"));
}

#[test]
fn apply_mode_clears_drift_and_never_adds_the_condition_itself() {
    let drifted = postgresql_status(&reporting(&["update Service ns/acid-a: x"]), None, T1);
    let corrected = postgresql_status(&applied(cluster()), Some(&drifted), T2);
    assert_eq!(
        sr(&corrected.reconcile, DRIFTED),
        pair("False", "ApplyMode")
    );
    assert_eq!(
        cond(&corrected.reconcile, DRIFTED).last_transition_time,
        crate::report::status::reconcile::transition_time(T2)
    );
    let never = postgresql_status(&applied(cluster()), None, T1);
    assert!(
        never
            .reconcile
            .conditions
            .iter()
            .all(|c| c.type_ != DRIFTED)
    );
    // Config manifests report the same way.
    let mut c = config();
    c.report_mode = true;
    c.drift = vec!["sql database shop: owner".into()];
    let s = postgresqlconfig_status(&c, None, T1);
    assert_eq!(sr(&s.reconcile, DRIFTED), pair("True", "Drifted"));
}
