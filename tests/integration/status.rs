//! Status written by `apply`, on the real control plane: written once, not again for the same
//! outcome, failures visible, an Event per change or failure.

use crate::support::{TestNamespace, eventually, install_crds};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use postgres_reconciler::apply::status::write_status;
use postgres_reconciler::plan::Summary;
use postgres_reconciler::render::ManifestRef;
use postgres_reconciler::report::outcome::{ActionOutcome, ActionResult, ManifestOutcome};
use postgres_reconciler::report::status::plan_digest;
use serde_json::{Value, json};
use std::time::Duration;

const MANAGER: &str = "postgres-reconciler";
const T1: &str = "2026-03-01T10:00:00Z";
const T2: &str = "2026-03-01T10:05:00Z";
const T3: &str = "2026-03-01T10:10:00Z";

fn api(ns: &TestNamespace, api_version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').expect("group/version");
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

/// Creates `body` as a user would (once the CRD is served) and returns it as JSON.
async fn create(api: &Api<DynamicObject>, name: &str, body: Value) -> Value {
    let user = PatchParams::apply("kubectl-client-side-apply");
    eventually(Duration::from_secs(30), "the CRD to be served", || async {
        api.patch(name, &user, &Patch::Apply(&body))
            .await
            .map_err(|e| eprintln!("create {name}: {e}"))
            .ok()
    })
    .await;
    get(api, name).await
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("get manifest")).expect("json")
}

fn reference(kind: &str, live: &Value) -> ManifestRef {
    ManifestRef {
        kind: kind.into(),
        namespace: live["metadata"]["namespace"].as_str().expect("ns").into(),
        name: live["metadata"]["name"].as_str().expect("name").into(),
        uid: live["metadata"]["uid"].as_str().map(String::from),
        generation: live["metadata"]["generation"].as_i64(),
    }
}

fn outcome(manifest: ManifestRef, actions: Vec<ActionOutcome>) -> ManifestOutcome {
    let applied = Summary {
        update: actions
            .iter()
            .filter(|a| a.result == ActionResult::Applied)
            .count(),
        ..Default::default()
    };
    ManifestOutcome {
        manifest,
        invalid: Vec::new(),
        actions,
        applied,
        unknown: Vec::new(),
        unknown_cause: None,
        new_cluster: false,
        rollout: None,
        rollout_held: None,
        rollout_lazy: false,
        pods: Some((2, 2)),
        deleting: false,
        plan_digest: plan_digest(&[]),
        report_mode: false,
        drift: Vec::new(),
    }
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

async fn events_for(ns: &TestNamespace, name: &str) -> Vec<Event> {
    ns.api::<Event>()
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

#[tokio::test]
async fn status_is_written_once_and_failures_are_visible() {
    let ns = TestNamespace::new("status-pg").await;
    install_crds(&ns.client).await;
    let pg = api(&ns, "acid.zalan.do/v1", "postgresql", "postgresqls");
    let live = create(
        &pg,
        "acid-status",
        json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-status", "namespace": ns.name},
            "spec": {
                "teamId": "acid", "numberOfInstances": 2, "volume": {"size": "1Gi"},
                "postgresql": {"version": "17"}
            }
        }),
    )
    .await;
    let manifest = reference("postgresql", &live);
    let generation = manifest.generation.expect("generation");
    let ok = outcome(
        manifest.clone(),
        vec![ActionOutcome {
            action: "update StatefulSet".into(),
            result: ActionResult::Applied,
        }],
    );

    // First run: written.
    let written = write_status(&ns.client, &ok, None, MANAGER, T1)
        .await
        .expect("write status");
    assert!(written);
    let live = get(&pg, "acid-status").await;
    let status = &live["status"];
    assert_eq!(status["PostgresClusterStatus"], "Running", "{status}");
    assert_eq!(status["observedGeneration"], generation);
    assert_eq!(status["lastRun"], T1);
    assert_eq!(status["applied"]["update"], 1);
    assert_eq!(condition(status, "Ready")["status"], "True");
    assert_eq!(condition(status, "Reconciled")["status"], "True");
    assert_eq!(condition(status, "Degraded")["status"], "False");
    assert_eq!(
        condition(status, "Reconciled")["observedGeneration"],
        generation
    );
    // Status is ours alone: only the status subresource was written, by our manager.
    assert!(
        live["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .any(|f| f["manager"] == MANAGER && f["subresource"] == "status")
    );

    // The same outcome again (and a run that planned nothing): nothing written.
    let version = live["metadata"]["resourceVersion"].clone();
    let again = write_status(&ns.client, &ok, Some(status.clone()), MANAGER, T2)
        .await
        .expect("write status");
    assert!(!again);
    let no_op = outcome(manifest.clone(), Vec::new());
    let again = write_status(&ns.client, &no_op, Some(status.clone()), MANAGER, T2)
        .await
        .expect("write status");
    assert!(!again);
    let live = get(&pg, "acid-status").await;
    assert_eq!(live["metadata"]["resourceVersion"], version);
    assert_eq!(live["status"]["lastRun"], T1);

    // A failed run: SyncFailed, with the message.
    let failed = outcome(
        manifest.clone(),
        vec![ActionOutcome {
            action: "sql role app".into(),
            result: ActionResult::Failed("ALTER ROLE app: permission denied".into()),
        }],
    );
    let written = write_status(
        &ns.client,
        &failed,
        Some(live["status"].clone()),
        MANAGER,
        T3,
    )
    .await
    .expect("write status");
    assert!(written);
    let live = get(&pg, "acid-status").await;
    let status = &live["status"];
    assert_eq!(status["PostgresClusterStatus"], "SyncFailed", "{status}");
    let degraded = condition(status, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "ApplyFailed");
    assert_eq!(
        degraded["message"],
        "sql role app: ALTER ROLE app: permission denied"
    );
    assert_eq!(degraded["lastTransitionTime"], T3);
    // Ready did not change: its transition time is the first run's.
    assert_eq!(condition(status, "Ready")["lastTransitionTime"], T1);
    // The spec is untouched.
    assert_eq!(live["spec"]["numberOfInstances"], 2);

    // Events: Reconciled for the first write, ReconcileFailed for the failure.
    let events = eventually(Duration::from_secs(10), "both Events", || async {
        let events = events_for(&ns, "acid-status").await;
        let has = |reason: &str| events.iter().any(|e| e.reason.as_deref() == Some(reason));
        (has("Reconciled") && has("ReconcileFailed")).then_some(events)
    })
    .await;
    let failure = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("ReconcileFailed"))
        .expect("failure event");
    assert_eq!(failure.type_.as_deref(), Some("Warning"));
    assert_eq!(
        failure.note.as_deref(),
        Some("sql role app: ALTER ROLE app: permission denied")
    );
    assert_eq!(failure.reporting_controller.as_deref(), Some(MANAGER));
    let regarding = failure.regarding.as_ref().expect("regarding");
    assert_eq!(regarding.kind.as_deref(), Some("postgresql"));
    assert_eq!(regarding.uid, manifest.uid);
    let reconciled = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Reconciled"))
        .expect("reconciled event");
    assert_eq!(reconciled.type_.as_deref(), Some("Normal"));
    assert!(
        reconciled
            .note
            .as_deref()
            .is_some_and(|n| n.contains("1 update")),
        "{:?}",
        reconciled.note
    );
}

#[tokio::test]
async fn postgresqlconfig_status_has_a_phase() {
    let ns = TestNamespace::new("status-cfg").await;
    install_crds(&ns.client).await;
    let cfg = api(
        &ns,
        "containerconf.de/v1",
        "PostgreSQLConfig",
        "postgresqlconfigs",
    );
    let live = create(
        &cfg,
        "shop",
        json!({
            "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
            "metadata": {"name": "shop", "namespace": ns.name},
            "spec": {"database": "shop", "owner": "shop_owner", "server": {"cluster": "acid-x"}}
        }),
    )
    .await;
    let mut pending = outcome(reference("PostgreSQLConfig", &live), Vec::new());
    pending.pods = None;
    pending.unknown = vec!["database state: connection refused".into()];
    assert!(
        write_status(&ns.client, &pending, None, MANAGER, T1)
            .await
            .expect("write status")
    );
    let status = get(&cfg, "shop").await["status"].clone();
    assert_eq!(status["phase"], "Pending", "{status}");
    assert_eq!(
        condition(&status, "Reconciled")["reason"],
        "DatabaseUnreachable"
    );
    assert_eq!(condition(&status, "Ready")["status"], "Unknown");
    // The failure's Warning comes with the status that first reports it.
    let warnings = || async {
        events_for(&ns, "shop")
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ReconcileFailed"))
            .count()
    };
    assert_eq!(warnings().await, 1);
    // Still failing the same way: the status is unchanged, and nothing is written, not even an
    // Event (a steady state makes no writes).
    assert!(
        !write_status(&ns.client, &pending, Some(status.clone()), MANAGER, T2)
            .await
            .expect("write status")
    );
    assert_eq!(warnings().await, 1);
    // A new failure changes the status, and gets its Warning.
    pending.unknown = vec!["database state: password authentication failed".into()];
    assert!(
        write_status(&ns.client, &pending, Some(status), MANAGER, T3)
            .await
            .expect("write status")
    );
    assert_eq!(warnings().await, 2);
}
