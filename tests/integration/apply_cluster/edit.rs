//! An edit is applied as exactly the actions it calls for; a destructive change waits for the
//! manifest's opt-in.

use super::{applied, condition, max_connections};
use crate::support::reconciler::{Harness, database_owner, login, role};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::text;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn an_edit_is_applied_as_exactly_its_actions() {
    let h = Harness::new("apply-update").await;
    let cluster = "acid-update";
    h.cluster_secrets(cluster).await;
    let (owner, app, extra, shop) = (
        h.name("owner"),
        h.name("app"),
        h.name("extra"),
        h.name("shop"),
    );
    let gone = h.name("gone");
    h.apply(h.cluster_manifest(
        cluster,
        2,
        json!({owner.as_str(): ["createdb"], app.as_str(): [], gone.as_str(): []}),
        json!({shop.as_str(): owner}),
        json!({"max_connections": "50"}),
    ))
    .await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(cluster, 2).await;
    assert!(role(&owner).await.expect("owner").createdb);

    // A user is added, a flag revoked, an owner changed, the cluster scaled, a parameter
    // changed; and a user left out, which is left alone (nothing is dropped by omission).
    let edited = h
        .apply(h.cluster_manifest(
            cluster,
            3,
            json!({owner.as_str(): [], app.as_str(): [], extra.as_str(): []}),
            json!({shop.as_str(): app}),
            json!({"max_connections": "60"}),
        ))
        .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let ns = &h.ns.name;
    let server = format!("on cluster {ns}/{cluster} (database postgres)");
    let expected: BTreeSet<String> = [
        format!("create Secret {ns}/{}", h.secret_name(&extra, cluster)),
        format!("update StatefulSet {ns}/{cluster}"),
        // Its budget is every instance: it follows numberOfInstances.
        format!("update PodDisruptionBudget {ns}/postgres-{cluster}-critical-op-pdb"),
        format!("sql role {extra} {server}"),
        format!("sql role {owner} {server}"),
        format!("sql database {shop} {server}"),
    ]
    .into();
    assert_eq!(applied(&report), expected, "{}", text(&report));
    assert_eq!(report.totals.create, 1);
    assert_eq!(report.totals.update, 2);
    assert_eq!(report.totals.sql, 3);

    // Reality matches.
    let owner_role = role(&owner).await.expect("owner");
    assert!(!owner_role.createdb && owner_role.login, "{owner_role:?}");
    let extra_role = role(&extra).await.expect("extra");
    assert!(extra_role.login && !extra_role.createdb);
    let password = h
        .secret_password(&h.secret_name(&extra, cluster))
        .await
        .expect("extra's password");
    login(&extra, &password).await.expect("extra logs in");
    assert_eq!(database_owner(&shop).await.as_deref(), Some(app.as_str()));
    assert!(role(&gone).await.expect("the left-out user stays").login);
    assert!(
        h.get("Secret", &h.secret_name(&gone, cluster))
            .await
            .is_some()
    );
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 3);
    let limits = max_connections(&sts);
    assert!(
        !limits.is_empty() && limits.iter().all(|v| v == "60"),
        "{limits:?}"
    );

    // The third pod comes up; the status follows the new generation.
    h.settle(cluster, 3).await;
    let status = h.status("postgresql", cluster).await;
    assert_eq!(
        status["observedGeneration"],
        edited["metadata"]["generation"]
    );
}

#[tokio::test]
async fn a_destructive_change_waits_for_the_opt_in() {
    let h = Harness::new("apply-destructive").await;
    let cluster = "acid-destructive";
    h.cluster_secrets(cluster).await;
    let app = h.name("app");
    let mut manifest =
        h.cluster_manifest(cluster, 1, json!({app.as_str(): []}), json!({}), json!({}));
    h.apply(manifest.clone()).await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(cluster, 1).await;
    let before = h.get("StatefulSet", cluster).await.expect("StatefulSet");

    // The claim template is immutable: another storage class needs the StatefulSet replaced
    // (the claims that exist keep theirs; the pods keep using them).
    manifest["spec"]["volume"]["storageClass"] = json!("standard-copy");
    h.apply(manifest.clone()).await;
    let report = h.run().await;
    assert_eq!(
        report.exit_code,
        2,
        "a blocked change is not a reconciled manifest: {}",
        text(&report)
    );
    let outcome = &report.manifests[0];
    assert!(
        matches!(&outcome.actions[..], [a] if matches!(&a.result, ActionResult::Skipped(m) if m.contains("allow-destructive"))),
        "{}",
        text(&report)
    );
    let same = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(
        same["metadata"]["uid"], before["metadata"]["uid"],
        "not replaced"
    );
    let status = h.status("postgresql", cluster).await;
    assert_eq!(
        condition(&status, "Reconciled")["reason"],
        "ApprovalRequired",
        "{status}"
    );

    // With the manifest's opt-in it is replaced; the pods are adopted, the claims kept.
    manifest["metadata"]["annotations"] =
        json!({"postgres-reconciler.io/allow-destructive": "true"});
    h.apply(manifest).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(
        applied(&report),
        [format!("replace StatefulSet {}/{cluster}", h.ns.name)].into(),
        "{}",
        text(&report)
    );
    let replaced = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_ne!(replaced["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        replaced["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        "standard-copy"
    );
    h.settle(cluster, 1).await;
}
