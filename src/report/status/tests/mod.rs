//! Tests of the status computed for both kinds, by concern; fixtures here.

use super::*;
use crate::api::status::{PostgresqlStatus, ReconcileStatus};
use crate::plan::Summary;
use crate::render::ManifestRef;
use crate::report::outcome::{ActionOutcome, ActionResult, ManifestOutcome};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

mod conditions;
mod digest;
mod drift;
mod event;
mod postgresql;
mod postgresqlconfig;
mod reconcile;

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
        unknown_cause: None,
        new_cluster: false,
        rollout: None,
        rollout_held: None,
        rollout_lazy: false,
        pods: if kind == "postgresql" {
            Some((2, 2))
        } else {
            None
        },
        deleting: false,
        plan_digest: plan_digest(&[]),
        report_mode: false,
        drift: Vec::new(),
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
    o.unknown_cause = Some(crate::plan::UnknownCause::NotReachable);
    o
}

fn authentication_failed(mut o: ManifestOutcome) -> ManifestOutcome {
    o.unknown.push(
        "database state: authentication failed: password authentication failed for user \"postgres\""
            .into(),
    );
    o.unknown_cause = Some(crate::plan::UnknownCause::AuthenticationFailed);
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
