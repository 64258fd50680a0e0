//! Human users from the Teams API on the real control plane and PostgreSQL, the API served by
//! a small server of its documented contract (`support::teams_api`): the members of the
//! manifest's team and of a superuser team become LOGIN roles in the PAM role; a member who
//! leaves, with deprecation on, loses LOGIN and is renamed, and comes back under their name; a
//! 401 from the API is an unknown part of the plan, and nothing is revoked meanwhile. Zalando's
//! `PostgresTeam` adds a member and a team.

use crate::support::reconciler::{Harness, memberships, role};
use crate::support::teams_api::TeamsApi;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use postgres_reconciler::api::{PostgresTeam, PostgresTeamSpec};
use postgres_reconciler::report::run::text;
use serde_json::json;
use std::collections::BTreeMap;

const TOKEN: &str = "team-token-0f3a";

async fn token_secret(h: &Harness) {
    let data = BTreeMap::from([
        (
            "read-only-token-type".to_string(),
            ByteString(b"Bearer".to_vec()),
        ),
        (
            "read-only-token-secret".to_string(),
            ByteString(TOKEN.as_bytes().to_vec()),
        ),
    ]);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("postgresql-operator".into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    h.ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("the token Secret");
}

#[tokio::test]
async fn team_members_log_in_leave_as_renamed_roles_and_a_401_changes_nothing() {
    let mut h = Harness::new("teams").await;
    let api = TeamsApi::start(TOKEN).await;
    token_secret(&h).await;
    let (jane, bob, root) = (h.name("jane"), h.name("bob"), h.name("root"));
    let (pam, admin) = (h.name("pam"), h.name("team_admin"));
    h.config.enable_teams_api = true;
    h.config.teams_api_url = api.url.clone();
    h.config.enable_team_member_deprecation = true;
    h.config.pam_role_name = pam.clone();
    h.config.team_admin_role = admin.clone();
    h.config.postgres_superuser_teams = vec!["dba".into()];
    api.set_team("acid", &[&jane, &bob]);
    api.set_team("dba", &[&root]);
    // Zalando's PostgresTeam: a member the Teams API does not list, and a team added to acid.
    let (elephant, webby) = (h.name("elephant"), h.name("webby"));
    h.config.enable_postgres_team_crd = true;
    api.set_team("web", &[&webby]);
    let pg_team = PostgresTeam::new(
        "acid-additions",
        PostgresTeamSpec {
            additional_members: BTreeMap::from([("acid".into(), vec![elephant.clone()])]),
            additional_teams: BTreeMap::from([("acid".into(), vec!["web".into()])]),
            ..PostgresTeamSpec::default()
        },
    );
    h.ns.api::<PostgresTeam>()
        .create(&PostParams::default(), &pg_team)
        .await
        .expect("a PostgresTeam");
    let cluster = "acid-teams";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;

    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    for member in [&jane, &bob] {
        let r = role(member)
            .await
            .unwrap_or_else(|| panic!("role {member}"));
        assert!(r.login && !r.superuser, "{member}");
        assert_eq!(memberships(member).await, [pam.clone(), admin.clone()]);
    }
    for added in [&elephant, &webby] {
        let r = role(added)
            .await
            .unwrap_or_else(|| panic!("PostgresTeam's {added}"));
        assert!(r.login && !r.superuser, "{added}");
        assert_eq!(memberships(added).await, [pam.clone(), admin.clone()]);
    }
    let r = role(&root).await.expect("the superuser team's member");
    assert!(r.login && r.superuser);
    assert_eq!(memberships(&root).await, vec![pam.clone()]);
    assert!(api.asked().contains(&"acid".to_string()));

    // Bob leaves: NOLOGIN and renamed, not dropped.
    api.set_team("acid", &[&jane]);
    let left = h.run().await;
    assert_eq!(left.exit_code, 0, "{}", text(&left));
    assert!(role(&bob).await.is_none());
    let renamed = role(&format!("{bob}_deleted")).await.expect("renamed");
    assert!(!renamed.login);
    assert!(role(&jane).await.expect("jane").login);

    // The token expires and Jane leaves too: the plan cannot know, so nothing is revoked.
    api.set_token("a-newer-token");
    api.set_team("acid", &[]);
    let planned =
        postgres_reconciler::pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
            .await
            .expect("plan");
    let shown = postgres_reconciler::report::text(&planned.plan, false);
    assert!(
        shown.contains("members of team acid") && shown.contains("401"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    let unknown = h.run().await;
    assert_ne!(unknown.exit_code, 1, "{}", text(&unknown));
    assert!(role(&jane).await.expect("jane").login);
    assert!(!text(&unknown).contains(TOKEN));

    // The token works again and Bob is back: his role, renamed back, logs in again.
    api.set_token(TOKEN);
    api.set_team("acid", &[&jane, &bob]);
    let back = h.run().await;
    assert_eq!(back.exit_code, 0, "{}", text(&back));
    assert!(role(&format!("{bob}_deleted")).await.is_none());
    assert!(role(&bob).await.expect("bob is back").login);
    assert!(role(&jane).await.expect("jane").login);
}
