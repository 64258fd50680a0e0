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

/// Reached through its master Service (the default host template), a cluster whose Endpoints
/// list no address has no primary to connect to: the run says so without trying (no name lookup,
/// no timeout), and the failure, the same every run, writes nothing. Once the Endpoints list an
/// address (as Patroni writes its leader's), the server is tried again.
#[tokio::test]
async fn a_cluster_without_a_primary_is_not_tried() {
    use k8s_openapi::api::core::v1::Endpoints;
    use kube::api::{Patch, PatchParams};
    let mut h = Harness::new("no-primary").await;
    h.config.postgres_host_template = "{cluster}.{namespace}.svc".into();
    let cluster = "acid-leaderless";
    h.cluster_secrets(cluster).await;
    let user = h.name("app");
    h.apply(h.cluster_manifest(cluster, 1, json!({user.as_str(): []}), json!({}), json!({})))
        .await;
    let first = h.run().await;
    // Its pods up (kwok's, with no Patroni in them), so the status's pod count stays.
    h.wait_ready(cluster, 1).await;
    let unknown = |report: &RunReport| outcome(report, cluster).unknown.clone();
    let second = h.run().await;
    assert!(
        unknown(&second).iter().any(|u| u.contains("no primary")
            && u.contains(&format!("Endpoints {}/{cluster}", h.ns.name))),
        "{:?}\nfirst run:\n{}",
        unknown(&second),
        text(&first)
    );
    assert!(
        outcome(&second, cluster)
            .actions
            .iter()
            .all(|a| !a.action.starts_with("sql ")),
        "{}",
        text(&second)
    );
    let status = h.status("postgresql", cluster).await;
    let message = condition(&status, "Degraded")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("no primary"), "{status}");
    let third = h.run().await;
    assert_eq!(third.writes, 0, "{:?}\n{}", third.requests, text(&third));

    // Patroni's leader appears in the Endpoints: the server is tried (and not found here, where
    // the Service's name does not resolve).
    let endpoints: Api<Endpoints> = h.ns.api();
    let leader = json!({
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": cluster},
        "subsets": [{"addresses": [{"ip": "10.255.255.1"}],
                     "ports": [{"name": "postgresql", "port": 5432}]}],
    });
    endpoints
        .patch(
            cluster,
            &PatchParams::apply("patroni-test").force(),
            &Patch::Apply(leader),
        )
        .await
        .expect("the leader's address");
    let tried = h.run().await;
    let unknown = unknown(&tried);
    assert!(!unknown.is_empty(), "{}", text(&tried));
    assert!(
        unknown.iter().all(|u| !u.contains("no primary")),
        "{unknown:?}"
    );
}
