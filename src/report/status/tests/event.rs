//! The Event of a run.

use super::*;

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
    // A failure gets its Event when it changes the status, and no other.
    let bad = status_event(&failed(cluster(), "boom"), true).expect("an event");
    assert!(bad.warning);
    assert_eq!(
        (bad.reason, bad.note.as_str()),
        ("ReconcileFailed", "sql role app: boom")
    );
    assert_eq!(status_event(&failed(cluster(), "boom"), false), None);
    let unknown = status_event(&unreachable(cluster()), true).expect("an event");
    assert_eq!(unknown.reason, "ReconcileFailed");
    assert_eq!(status_event(&unreachable(cluster()), false), None);
    // Signatures tell failures apart, and only by what they say.
    let other = status_event(&failed(cluster(), "bang"), true).expect("an event");
    assert_ne!(bad.signature(), other.signature());
    assert_eq!(
        bad.signature(),
        status_event(&failed(cluster(), "boom"), true)
            .expect("an event")
            .signature()
    );
    assert!(bad.signature().starts_with("ReconcileFailed:"));
    let mut invalid = cluster();
    invalid.invalid = vec!["spec.teamId: required".into()];
    let e = status_event(&invalid, true).expect("an event");
    assert_eq!(status_event(&invalid, false), None);
    assert_eq!((e.reason, e.warning), ("Invalid", true));
    assert_eq!(status_event(&skipped(cluster()), false), None);
    let blocked = status_event(&skipped(cluster()), true).expect("an event");
    assert_eq!(
        (blocked.reason, blocked.warning),
        (reason::DESTRUCTIVE_CHANGE_BLOCKED, true)
    );
}
