//! One cluster's database cannot be reached (its superuser Secret holds a wrong password): that
//! cluster's status says so, nothing is tried on its database, and the other cluster of the same
//! run reconciles.

use crate::support::reconciler::{Harness, login, role};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn outcome<'a>(
    report: &'a RunReport,
    name: &str,
) -> &'a postgres_reconciler::report::outcome::ManifestOutcome {
    report
        .manifests
        .iter()
        .find(|m| m.manifest.name == name)
        .unwrap_or_else(|| panic!("{name} in the report:\n{}", text(report)))
}

const WRONG: &str = "not-the-superuser-password";

#[tokio::test]
async fn an_unreachable_database_fails_its_cluster_only() {
    let h = Harness::new("apply-unreach").await;
    let (ok, broken) = ("acid-ok", "acid-broken");
    h.cluster_secrets(ok).await;
    h.cluster_secrets(broken).await;
    let (ok_user, broken_user, extra) = (h.name("ok"), h.name("broken"), h.name("extra"));
    h.apply(h.cluster_manifest(ok, 1, json!({ok_user.as_str(): []}), json!({}), json!({})))
        .await;
    h.apply(h.cluster_manifest(
        broken,
        1,
        json!({broken_user.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(ok, 1).await;
    h.settle(broken, 1).await;

    // The broken cluster's superuser password goes wrong; the other cluster gets a new user, and
    // the broken one too (which must not be attempted).
    h.set_secret_password(&h.secret_name("postgres", broken), WRONG)
        .await;
    h.apply(h.cluster_manifest(
        ok,
        1,
        json!({ok_user.as_str(): [], extra.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;
    let late = h.name("late");
    h.apply(h.cluster_manifest(
        broken,
        1,
        json!({broken_user.as_str(): [], late.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;

    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    assert_eq!(report.result, "partial", "{}", text(&report));

    let failed = outcome(&report, broken);
    assert!(
        failed
            .unknown
            .iter()
            .any(|u| u.contains("password authentication failed")),
        "{:?}",
        failed.unknown
    );
    assert!(
        failed.actions.iter().all(|a| !a.action.starts_with("sql ")),
        "no SQL for an unreachable server: {:?}",
        failed.actions
    );
    let status = h.status("postgresql", broken).await;
    assert_eq!(status["PostgresClusterStatus"], "SyncFailed", "{status}");
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["status"], "True", "{degraded}");
    assert_eq!(
        degraded["reason"], "DatabaseAuthenticationFailed",
        "{degraded}"
    );
    let message = degraded["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains(WRONG), "{message}");
    assert_eq!(condition(&status, "Reconciled")["status"], "False");
    assert!(role(&late).await.is_none());

    // The other cluster reconciled in the same run.
    let done = outcome(&report, ok);
    assert!(done.unknown.is_empty(), "{:?}", done.unknown);
    assert!(
        done.actions
            .iter()
            .any(|a| a.action.starts_with(&format!("sql role {extra} "))),
        "{:?}",
        done.actions
    );
    let password = h
        .secret_password(&h.secret_name(&extra, ok))
        .await
        .expect("extra's Secret");
    login(&extra, &password).await.expect("extra logs in");
    assert_eq!(
        h.status("postgresql", ok).await["PostgresClusterStatus"],
        "Running"
    );

    // Still failing next time: the status stays, the exit code too, and the run writes nothing
    // (the failure's Event came with the run that first saw it).
    let warnings = || async {
        let events: Api<Event> = h.ns.api();
        events
            .list(&Default::default())
            .await
            .expect("Events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(broken))
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .count()
    };
    let before = warnings().await;
    assert!(before >= 1, "the failure's Warning");
    let again = h.run().await;
    assert_eq!(again.exit_code, 2, "{}", text(&again));
    assert_eq!(again.writes, 0, "{:?}", again.requests);
    assert_eq!(warnings().await, before, "an unchanged failure");
    assert_eq!(
        h.status("postgresql", broken).await["PostgresClusterStatus"],
        "SyncFailed"
    );

    // A new failure still gets its Warning.
    h.apply(h.cluster_manifest(
        broken,
        99,
        json!({broken_user.as_str(): [], late.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;
    let invalid = h.run().await;
    assert_ne!(invalid.exit_code, 0, "{}", text(&invalid));
    assert_eq!(warnings().await, before + 1, "the new failure's Warning");
}

#[tokio::test]
async fn a_new_cluster_whose_password_is_refused_fails_to_create_from_the_first_run() {
    let h = Harness::new("apply-never").await;
    let (ok, broken) = ("acid-ok", "acid-never");
    h.cluster_secrets(ok).await;
    h.cluster_secrets_with(broken, WRONG).await;
    let (ok_user, broken_user) = (h.name("ok"), h.name("never"));
    h.apply(h.cluster_manifest(ok, 1, json!({ok_user.as_str(): []}), json!({}), json!({})))
        .await;
    h.apply(h.cluster_manifest(
        broken,
        1,
        json!({broken_user.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;

    let first = h.run().await;
    // Its objects are made (the pods must start before the database can answer)…
    assert!(h.get("StatefulSet", broken).await.is_some());
    assert!(role(&broken_user).await.is_none());
    assert!(role(&ok_user).await.is_some(), "{}", text(&first));
    // …but a server that answers "wrong password" is not a server that is not up yet: the first
    // run already says so, in its exit code and the status.
    assert_eq!(first.exit_code, 2, "{}", text(&first));
    let status = h.status("postgresql", broken).await;
    assert_eq!(status["PostgresClusterStatus"], "CreateFailed", "{status}");
    let degraded = condition(&status, "Degraded");
    assert_eq!(
        degraded["reason"], "DatabaseAuthenticationFailed",
        "{degraded}"
    );
    let message = degraded["message"].as_str().unwrap_or_default();
    assert!(message.contains("authentication failed"), "{degraded}");
    assert!(!message.contains(WRONG), "{message}");
    // Once its pods run and the database still refuses the password, creation stays failed.
    h.settle(ok, 1).await;
    h.wait_ready(broken, 1).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    let status = h.status("postgresql", broken).await;
    assert_eq!(status["PostgresClusterStatus"], "CreateFailed", "{status}");
    let degraded = condition(&status, "Degraded");
    assert_eq!(
        degraded["reason"], "DatabaseAuthenticationFailed",
        "{degraded}"
    );
    assert!(
        degraded["message"]
            .as_str()
            .is_some_and(|m| m.contains("password authentication failed")),
        "{degraded}"
    );
    assert_eq!(
        h.status("postgresql", ok).await["PostgresClusterStatus"],
        "Running"
    );
    assert!(role(&broken_user).await.is_none());
}
