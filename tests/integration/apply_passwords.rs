//! Passwords: a Secret's password is the source of truth. An existing Secret is never
//! overwritten (its role is given its password); a changed Secret makes the next run alter the
//! role's password; no password or verifier ever shows in a run report, a plan, a status or an
//! Event.

use crate::support::PgTarget;
use crate::support::reconciler::{Harness, login, role, superuser};
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use postgres_reconciler::pipeline;
use postgres_reconciler::plan::{Change, Target};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::json;

const KNOWN: &str = "known-password-chosen-by-a-person-0123";
/// Quotes, a backslash and non-ASCII: the verifier is computed from exactly these bytes.
const CHANGED: &str = "rotated 'pass\"word\\ ä€ set-by-kubectl-edit-4567";

fn role_actions(report: &RunReport, role: &str) -> Vec<(String, ActionResult)> {
    report
        .manifests
        .iter()
        .flat_map(|m| m.actions.iter())
        .filter(|a| a.action.starts_with(&format!("sql role {role} ")))
        .map(|a| (a.action.clone(), a.result.clone()))
        .collect()
}

#[tokio::test]
async fn an_existing_secret_is_kept_and_a_changed_one_is_applied() {
    let h = Harness::new("apply-pw").await;
    let cluster = "acid-pw";
    h.cluster_secrets(cluster).await;
    let (known, fresh, legacy) = (h.name("known"), h.name("fresh"), h.name("legacy"));
    // `known`: the Secret exists before the role. `legacy`: the role exists with another
    // password than its (existing) Secret.
    h.create_secret(cluster, &known, KNOWN).await;
    h.create_secret(cluster, &legacy, KNOWN).await;
    superuser()
        .await
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            escape_identifier(&legacy),
            escape_literal("an-old-password-nobody-remembers")
        ))
        .await
        .expect("create the legacy role");
    let secrets = h.ns.api::<Secret>();
    let version_of = |name: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get(&name)
                .await
                .expect("Secret")
                .metadata
                .resource_version
                .expect("resourceVersion")
        }
    };
    let known_version = version_of(h.secret_name(&known, cluster)).await;
    let legacy_version = version_of(h.secret_name(&legacy, cluster)).await;
    h.apply(h.cluster_manifest(
        cluster,
        1,
        json!({known.as_str(): [], fresh.as_str(): [], legacy.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;

    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    // The existing Secrets are untouched, and the roles took their passwords.
    assert_eq!(
        version_of(h.secret_name(&known, cluster)).await,
        known_version
    );
    assert_eq!(
        version_of(h.secret_name(&legacy, cluster)).await,
        legacy_version
    );
    for user in [&known, &legacy] {
        assert_eq!(
            h.secret_password(&h.secret_name(user, cluster))
                .await
                .as_deref(),
            Some(KNOWN)
        );
        login(user, KNOWN)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in with its Secret's password: {e}"));
    }
    assert!(
        login(&legacy, "an-old-password-nobody-remembers")
            .await
            .is_err()
    );
    let generated = h
        .secret_password(&h.secret_name(&fresh, cluster))
        .await
        .expect("generated Secret");
    login(&fresh, &generated).await.expect("fresh logs in");

    // Nothing to do next time: the passwords match.
    let again = h.run().await;
    for user in [&known, &fresh, &legacy] {
        assert!(role_actions(&again, user).is_empty(), "{}", text(&again));
    }
    let fresh_version = version_of(h.secret_name(&fresh, cluster)).await;
    assert_eq!(
        h.secret_password(&h.secret_name(&fresh, cluster)).await,
        Some(generated.clone()),
        "a generated password is never replaced"
    );

    // The Secret is edited: the plan alters the role's password, the run applies it.
    h.set_secret_password(&h.secret_name(&fresh, cluster), CHANGED)
        .await;
    assert_ne!(
        version_of(h.secret_name(&fresh, cluster)).await,
        fresh_version
    );
    let planned = pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
        .await
        .expect("plan");
    let password_actions: Vec<_> = planned
        .plan
        .actions
        .iter()
        .filter(|a| matches!(&a.target, Target::Sql { object, .. } if *object == format!("role {fresh}")))
        .collect();
    assert_eq!(password_actions.len(), 1, "{password_actions:#?}");
    let action = password_actions[0];
    assert!(
        action.reason.contains("password differs"),
        "{}",
        action.reason
    );
    let Change::Sql { statements } = &action.change else {
        panic!("a SQL action: {action:?}");
    };
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert_eq!(
        statements[0].sql,
        format!("ALTER ROLE {}", escape_identifier(&fresh))
    );
    assert_eq!(
        statements[0].password_from.as_ref().map(|s| s.name.clone()),
        Some(h.secret_name(&fresh, cluster))
    );

    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    assert_eq!(
        role_actions(&report, &fresh),
        [(
            format!(
                "sql role {fresh} on cluster {}/{cluster} (database postgres)",
                h.ns.name
            ),
            ActionResult::Applied
        )]
    );
    login(&fresh, CHANGED)
        .await
        .expect("the new password logs in");
    assert!(
        login(&fresh, &generated).await.is_err(),
        "the old one does not"
    );
    assert!(role(&fresh).await.expect("fresh").login);

    // The Secret is deleted: a new one is generated and the role follows it.
    secrets
        .delete(&h.secret_name(&fresh, cluster), &Default::default())
        .await
        .expect("delete the Secret");
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let regenerated = h
        .secret_password(&h.secret_name(&fresh, cluster))
        .await
        .expect("a new Secret");
    assert_ne!(regenerated, CHANGED);
    login(&fresh, &regenerated)
        .await
        .expect("the regenerated password logs in");
    assert!(login(&fresh, CHANGED).await.is_err());
}

#[tokio::test]
async fn no_password_reaches_a_report_a_plan_a_status_or_an_event() {
    let h = Harness::new("apply-secret").await;
    let cluster = "acid-secret";
    h.cluster_secrets(cluster).await;
    let (app, owner, shop) = (h.name("app"), h.name("owner"), h.name("shop"));
    h.apply(h.cluster_manifest(
        cluster,
        1,
        json!({app.as_str(): [], owner.as_str(): ["createdb"]}),
        json!({shop.as_str(): owner}),
        json!({}),
    ))
    .await;

    // A run that creates Secrets and sets passwords…
    let created = h.run().await;
    assert_eq!(created.exit_code, 0, "{}", text(&created));
    assert!(created.totals.create > 0 && created.totals.sql > 0);
    // …and one that changes a password.
    h.set_secret_password(&h.secret_name(&app, cluster), CHANGED)
        .await;
    let planned = pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
        .await
        .expect("plan");
    let altered = h.run().await;
    assert_eq!(altered.exit_code, 0, "{}", text(&altered));
    assert!(
        !role_actions(&altered, &app).is_empty(),
        "{}",
        text(&altered)
    );

    // Every password there is, and the verifiers the server stores for them.
    let mut secrets: Vec<String> =
        h.ns.api::<Secret>()
            .list(&ListParams::default())
            .await
            .expect("Secrets")
            .items
            .into_iter()
            .filter_map(|s| s.data?.get("password").cloned())
            .map(|b| String::from_utf8(b.0).expect("UTF-8"))
            .collect();
    secrets.push(PgTarget::superuser().password);
    assert!(secrets.len() >= 4, "{}", secrets.len());
    assert!(secrets.iter().all(|s| s.len() >= 16));
    let client = superuser().await;
    for user in [&app, &owner] {
        let verifier: String = client
            .query_one(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
                &[user],
            )
            .await
            .expect("pg_authid")
            .get(0);
        secrets.push(verifier);
    }
    let b64 = |s: &String| base64::engine::general_purpose::STANDARD.encode(s);
    let encoded: Vec<String> = secrets.iter().map(b64).collect();

    let mut shown = Vec::new();
    for report in [&created, &altered] {
        shown.push((
            "json report",
            serde_json::to_string_pretty(report).expect("json"),
        ));
        shown.push(("text report", text(report)));
    }
    shown.push((
        "text plan",
        postgres_reconciler::report::text(&planned.plan, false),
    ));
    shown.push((
        "markdown plan",
        postgres_reconciler::report::markdown(
            &planned.plan,
            postgres_reconciler::report::MARKDOWN_LIMIT,
        ),
    ));
    shown.push((
        "json plan",
        postgres_reconciler::report::json(&planned.plan),
    ));
    let live = h.get("postgresql", cluster).await.expect("manifest");
    shown.push(("status", live["status"].to_string()));
    let events =
        h.ns.api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("Events");
    shown.push((
        "events",
        serde_json::to_string(&events.items).expect("json"),
    ));

    for (what, output) in &shown {
        for (secret, b64) in secrets.iter().zip(&encoded) {
            assert!(
                !output.contains(secret.as_str()),
                "a password in the {what}"
            );
            assert!(
                !output.contains(b64.as_str()),
                "a base64 password in the {what}"
            );
        }
    }
    // The password statements are there, masked.
    let json_plan = postgres_reconciler::report::json(&planned.plan);
    assert!(json_plan.contains("(sensitive)"), "{json_plan}");
}

#[tokio::test]
async fn a_secret_made_by_zalandos_operator_is_adopted_with_its_password() {
    // Zalando's operator labels its Secrets with the cluster labels, not with our managed-by
    // label: the run adopts them (adds our labels) and keeps their data.
    let h = Harness::new("apply-zalando").await;
    let cluster = "acid-zalando";
    h.cluster_secrets(cluster).await;
    let app = h.name("app");
    let name = h.secret_name(&app, cluster);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": {"application": "spilo", "cluster-name": cluster, "team": "acid"},
        },
        "type": "Opaque",
        "stringData": {"username": app, "password": KNOWN},
    }))
    .expect("secret");
    let secrets = h.ns.api::<Secret>();
    let created = secrets
        .create(
            &kube::api::PostParams {
                field_manager: Some("postgres-operator".into()),
                ..Default::default()
            },
            &secret,
        )
        .await
        .expect("create the Secret");
    h.apply(h.cluster_manifest(cluster, 1, json!({app.as_str(): []}), json!({}), json!({})))
        .await;

    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let adopted = report
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .find(|a| a.action.contains(&name))
        .unwrap_or_else(|| panic!("no action on {name}: {}", text(&report)));
    assert_eq!(
        adopted.action,
        format!("update Secret {}/{name}", h.ns.name)
    );
    assert_eq!(adopted.result, ActionResult::Applied);
    let live = secrets.get(&name).await.expect("the Secret");
    assert_eq!(
        live.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/managed-by"))
            .map(String::as_str),
        Some("postgres-reconciler"),
        "adopted"
    );
    assert_eq!(live.data, created.data, "its data is untouched");
    assert_eq!(live.metadata.uid, created.metadata.uid, "the same Secret");
    assert_eq!(h.secret_password(&name).await.as_deref(), Some(KNOWN));
    login(&app, KNOWN)
        .await
        .expect("the role has the Secret's password");

    // Later runs list it as ours: nothing more to do with it.
    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    let touched: Vec<&String> = again
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .map(|a| &a.action)
        .filter(|a| a.contains(&name))
        .collect();
    assert!(touched.is_empty(), "{}", text(&again));
    assert_eq!(
        secrets
            .get(&name)
            .await
            .expect("the Secret")
            .metadata
            .resource_version,
        live.metadata.resource_version
    );
    login(&app, KNOWN)
        .await
        .expect("still the Secret's password");
}
