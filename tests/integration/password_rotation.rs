//! Password rotation over simulated days on the real control plane and PostgreSQL: the run's
//! clock is an input (`Source::clock`). A user listed in `usersWithSecretRotation` gets its
//! first rotation date, then at each passed date a new role `<user><YYMMDD>` that the Secret
//! names with a new password, while the earlier credentials keep working; a rotation role past
//! its retention is dropped, and nothing else is.

use crate::support::reconciler::{Harness, login, memberships, role, superuser};
use jiff::Timestamp;
use postgres_reconciler::report::run::text;
use serde_json::json;

/// The plan a run would make now, as `plan` prints it.
async fn planned(h: &Harness) -> String {
    let planned =
        postgres_reconciler::pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
            .await
            .expect("plan");
    postgres_reconciler::report::text(&planned.plan, false)
}

fn at(t: &str) -> Option<Timestamp> {
    Some(t.parse().expect("timestamp"))
}

/// The Secret's username, password and nextRotation.
async fn credentials(h: &Harness, secret: &str) -> (String, String, String) {
    let s = h.get("Secret", secret).await.expect("the Secret");
    let key = |k: &str| {
        let b64 = s["data"][k].as_str().unwrap_or_default();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        String::from_utf8(bytes).expect("UTF-8")
    };
    (key("username"), key("password"), key("nextRotation"))
}

async fn roles_of(prefix: &str) -> Vec<String> {
    superuser()
        .await
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
            &[&prefix],
        )
        .await
        .expect("roles")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn rotation_roles_come_with_passed_dates_and_go_after_their_retention() {
    let mut h = Harness::new("rotation").await;
    let cluster = "acid-rot";
    h.cluster_secrets(cluster).await;
    let app = h.name("app");
    let mut manifest = h.cluster_manifest(
        cluster,
        1,
        json!({ app.as_str(): [] }),
        json!({}),
        json!({}),
    );
    manifest["spec"]["usersWithSecretRotation"] = json!([app]);
    h.apply(manifest).await;
    let secret = h.secret_name(&app, cluster);

    // Day 0: the Secret, then its first rotation date.
    h.source.clock = at("2026-12-01T09:00:00Z");
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    let (user0, password0, _) = credentials(&h, &secret).await;
    assert_eq!(user0, app);
    let plan = planned(&h).await;
    assert!(plan.contains("the first is due 2027-03-01"), "{plan}");
    let dated = h.run().await;
    assert_eq!(dated.exit_code, 0, "{}", text(&dated));
    let (user, password, next) = credentials(&h, &secret).await;
    assert_eq!(
        (user.as_str(), password.as_str(), next.as_str()),
        (app.as_str(), password0.as_str(), "2027-03-01T09:00:00Z")
    );
    h.wait_ready(cluster, 1).await;
    h.run().await;
    let quiet = h.run().await;
    assert_eq!(quiet.writes, 0, "{}", text(&quiet));

    // Day 91: a rotation role, a member of the user, named by the Secret with a new password.
    h.source.clock = at("2027-03-02T09:00:00Z");
    let shown = planned(&h).await;
    assert!(shown.contains("nextRotation 2027-03-01 passed"), "{shown}");
    let rotated = h.run().await;
    assert_eq!(rotated.exit_code, 0, "{}", text(&rotated));
    let (user1, password1, next1) = credentials(&h, &secret).await;
    assert_eq!(user1, format!("{app}270302"));
    assert_eq!(next1, "2027-05-31T09:00:00Z");
    assert_ne!(password1, password0);
    assert!(!shown.contains(&password1) && !shown.contains(&password0));
    assert_eq!(memberships(&user1).await, vec![app.clone()]);
    login(&user1, &password1)
        .await
        .expect("the new credentials");
    login(&app, &password0)
        .await
        .expect("the old ones still work");
    let steady = h.run().await;
    assert_eq!(steady.exit_code, 0, "{}", text(&steady));
    let quiet = h.run().await;
    assert_eq!(quiet.writes, 0, "{}", text(&quiet));

    // Day 182: the next rotation; the first rotation role is within its retention.
    h.source.clock = at("2027-06-01T09:00:00Z");
    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    let (user2, password2, _) = credentials(&h, &secret).await;
    assert_eq!(user2, format!("{app}270601"));
    login(&user2, &password2)
        .await
        .expect("the newest credentials");
    login(&user1, &password1)
        .await
        .expect("the previous rotation's still work");

    // Day 273: the first rotation role is past its 180 days and goes; nothing else does.
    let before = roles_of(&h.prefix).await;
    h.source.clock = at("2027-08-31T09:00:00Z");
    let expired = h.run().await;
    assert_eq!(expired.exit_code, 0, "{}", text(&expired));
    let after = roles_of(&h.prefix).await;
    let gone: Vec<&String> = before.iter().filter(|r| !after.contains(r)).collect();
    assert_eq!(gone, [&user1], "{}", text(&expired));
    assert!(role(&user1).await.is_none());
    for kept in [app.clone(), user2.clone(), format!("{app}270831")] {
        assert!(role(&kept).await.is_some(), "{kept}: {}", text(&expired));
    }
    login(&user2, &password2)
        .await
        .expect("the previous rotation's still work");
    let (user3, password3, _) = credentials(&h, &secret).await;
    login(&user3, &password3)
        .await
        .expect("the newest credentials");
}
