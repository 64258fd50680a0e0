//! `PostgreSQLConfig` manifests: the phase and `Ready`.

use super::*;

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
