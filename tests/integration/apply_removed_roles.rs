//! A user removed from its manifest: kept as it is by default (nothing changes by omission); with
//! `removed_roles: nologin` its role loses LOGIN — its Secret, password and grants stay — and
//! listing it again gives LOGIN back with the same password.

use crate::support::reconciler::{Harness, login, role};
use postgres_reconciler::config::RemovedRoles;
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};

fn role_results(report: &RunReport, name: &str) -> Vec<ActionResult> {
    report
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .filter(|a| a.action.starts_with(&format!("sql role {name} ")))
        .map(|a| a.result.clone())
        .collect()
}

fn manifest(h: &Harness, cluster: &str, users: Value) -> Value {
    h.cluster_manifest(cluster, 1, users, json!({}), json!({}))
}

#[tokio::test]
async fn a_removed_user_keeps_login_unless_removed_roles_is_nologin() {
    let mut h = Harness::new("apply-removed").await;
    let cluster = "acid-removed";
    h.cluster_secrets(cluster).await;
    let (stays, goes) = (h.name("stays"), h.name("goes"));
    h.apply(manifest(
        &h,
        cluster,
        json!({stays.as_str(): [], goes.as_str(): []}),
    ))
    .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let secret = h.secret_name(&goes, cluster);
    let password = h.secret_password(&secret).await.expect("its Secret");
    login(&goes, &password).await.expect("a login role");

    // Removed from the manifest, default configuration: nothing changes.
    h.apply(manifest(&h, cluster, json!({stays.as_str(): []})))
        .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert!(role_results(&report, &goes).is_empty(), "{}", text(&report));
    assert!(role(&goes).await.expect("the role").login);

    // removed_roles: nologin — its logins stop, nothing else goes.
    h.config.removed_roles = RemovedRoles::Nologin;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(
        role_results(&report, &goes),
        [ActionResult::Applied],
        "{}",
        text(&report)
    );
    assert!(!role(&goes).await.expect("the role stays").login);
    assert!(login(&goes, &password).await.is_err(), "no more logins");
    assert_eq!(
        h.secret_password(&secret).await.as_deref(),
        Some(password.as_str()),
        "its Secret stays"
    );
    assert!(role(&stays).await.expect("the other role").login);
    let again = h.run().await;
    assert!(role_results(&again, &goes).is_empty(), "{}", text(&again));

    // Listed again: LOGIN back, with the password of its Secret.
    h.apply(manifest(
        &h,
        cluster,
        json!({stays.as_str(): [], goes.as_str(): []}),
    ))
    .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert!(role(&goes).await.expect("the role").login);
    login(&goes, &password).await.expect("logins again");
}
