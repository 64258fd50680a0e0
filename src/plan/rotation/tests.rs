use super::*;
use crate::api::Postgresql;
use crate::render::database::RoleAttributes;
use crate::render::{Manifest, render};
use crate::state::ObservedRole;
use serde_json::json;

const APP_SECRET: &str = "app.acid-r.credentials.postgresql.acid.zalan.do";

fn desired(spec: Value, config: &Config) -> (ManifestRef, DesiredDatabaseState) {
    let mut full = json!({"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
        "postgresql": {"version": "17"}, "users": {"app": [], "owner": []},
        "databases": {"shop": "owner"}});
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    let pg: Postgresql = serde_json::from_value(json!({
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": "acid-r", "namespace": "ns", "uid": "u-1"},
        "spec": full,
    }))
    .expect("manifest");
    let out = render(&[Manifest::Postgresql(Box::new(pg))], config);
    assert!(out.invalid.is_empty(), "{:?}", out.invalid);
    let m = &out.manifests[0];
    (m.manifest.clone(), m.database.clone())
}

fn secret(username: &str, next_rotation: Option<&str>) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut data = json!({"username": b64(username), "password": b64("old-password")});
    if let Some(next) = next_rotation {
        data["nextRotation"] = Value::from(b64(next));
    }
    json!({"metadata": {"name": APP_SECRET, "namespace": "ns", "uid": "s-1",
        "resourceVersion": "7"}, "data": data})
}

fn at(t: &str) -> Option<Timestamp> {
    Some(t.parse().expect("timestamp"))
}

fn rotate(
    spec: Value,
    config: &Config,
    app_secret: Option<Value>,
    observed: &ObservedDatabaseState,
    now: Option<Timestamp>,
) -> Rotations {
    let (manifest, database) = desired(spec, config);
    let live = move |key: &SecretKeyRef| (key.name == APP_SECRET).then(|| app_secret.clone())?;
    plan_rotations(&manifest, &database, &live, observed, now, config)
}

fn rotation_of(action: &Action) -> &SecretRotation {
    match &action.change {
        Change::SecretRotation(r) => r,
        other => panic!("not a rotation: {other:?}"),
    }
}

fn role(comment: &str) -> ObservedRole {
    ObservedRole {
        attributes: RoleAttributes::LOGIN,
        member_of: BTreeSet::from(["app".to_string()]),
        admin_of: BTreeSet::new(),
        parameters: BTreeMap::new(),
        password: None,
        comment: Some(comment.to_string()),
    }
}

#[test]
fn a_secret_without_a_rotation_date_gets_one_and_keeps_its_password() {
    let r = rotate(
        json!({"usersWithSecretRotation": ["app"]}),
        &Config::default(),
        Some(secret("app", None)),
        &ObservedDatabaseState::default(),
        at("2026-12-01T10:00:00Z"),
    );
    assert_eq!(r.secrets.len(), 1);
    let s = rotation_of(&r.secrets[0]);
    assert_eq!(s.after.username, "app");
    assert_eq!(s.after.next_rotation, "2027-03-01T10:00:00Z");
    assert!(!s.new_password);
    assert!(r.rotating.is_empty());
    assert!(
        r.secrets[0].reason.contains("the first is due 2027-03-01"),
        "{}",
        r.secrets[0].reason
    );
    let db = r.database.expect("state");
    assert_eq!(db.roles["app"].secret.as_deref(), Some(APP_SECRET));
    assert!(!db.roles.keys().any(|n| n.starts_with("app2")));
}

#[test]
fn a_passed_date_makes_a_rotation_role_that_the_secret_names() {
    let r = rotate(
        json!({"usersWithSecretRotation": ["app"]}),
        &Config::default(),
        Some(secret("app", Some("2026-11-30T08:00:00Z"))),
        &ObservedDatabaseState::default(),
        at("2026-12-01T10:00:00Z"),
    );
    let s = rotation_of(&r.secrets[0]);
    assert_eq!(s.after.username, "app261201");
    assert_eq!(s.after.next_rotation, "2027-03-01T10:00:00Z");
    assert!(s.new_password);
    assert_eq!(s.resource_version.as_deref(), Some("7"));
    assert_eq!(
        r.secrets[0].reason,
        "nextRotation 2026-11-30 passed: a new role app261201, a member of app; the next is due 2027-03-01"
    );
    assert!(r.rotating.iter().any(|k| k.name == APP_SECRET));
    let db = r.database.expect("state");
    let new = &db.roles["app261201"];
    assert_eq!(new.member_of, BTreeSet::from(["app".to_string()]));
    assert_eq!(new.secret.as_deref(), Some(APP_SECRET));
    assert_eq!(new.rotation_of.as_deref(), Some("app"));
    assert!(new.attributes.login);
    assert_eq!(db.roles["app"].secret, None, "the user keeps its password");
    // Nothing in the plan's words is the password.
    let (before, after) = s.shown();
    assert!(!format!("{before}{after}").contains("old-password"));
}

#[test]
fn in_place_rotation_replaces_the_users_password() {
    let r = rotate(
        json!({"usersWithInPlaceSecretRotation": ["app"]}),
        &Config::default(),
        Some(secret("app", Some("2026-11-30T08:00:00Z"))),
        &ObservedDatabaseState::default(),
        at("2026-12-01T10:00:00Z"),
    );
    let s = rotation_of(&r.secrets[0]);
    assert_eq!(s.after.username, "app");
    assert!(s.new_password);
    assert_eq!(r.secrets[0].risk, Risk::Disruptive);
    let db = r.database.expect("state");
    assert_eq!(db.roles["app"].secret.as_deref(), Some(APP_SECRET));
    // Switching a rotated user to in-place rotation rotates at once, back to the user.
    let r = rotate(
        json!({"usersWithInPlaceSecretRotation": ["app"]}),
        &Config::default(),
        Some(secret("app261201", Some("2027-03-01T10:00:00Z"))),
        &ObservedDatabaseState::default(),
        at("2026-12-02T10:00:00Z"),
    );
    assert_eq!(rotation_of(&r.secrets[0]).after.username, "app");
}

#[test]
fn a_date_not_yet_reached_changes_nothing_and_the_secret_keeps_naming_its_role() {
    let r = rotate(
        json!({"usersWithSecretRotation": ["app"]}),
        &Config::default(),
        Some(secret("app261201", Some("2027-03-01T10:00:00Z"))),
        &ObservedDatabaseState::default(),
        at("2026-12-15T10:00:00Z"),
    );
    assert!(r.secrets.is_empty());
    let db = r.database.expect("state");
    assert_eq!(db.roles["app261201"].secret.as_deref(), Some(APP_SECRET));
    // A shorter interval brings the date closer.
    let config = Config {
        password_rotation_interval: 7,
        ..Config::default()
    };
    let r = rotate(
        json!({"usersWithSecretRotation": ["app"]}),
        &config,
        Some(secret("app261201", Some("2027-03-01T10:00:00Z"))),
        &ObservedDatabaseState::default(),
        at("2026-12-15T10:00:00Z"),
    );
    let s = rotation_of(&r.secrets[0]);
    assert_eq!(s.after.username, "app261201");
    assert_eq!(s.after.next_rotation, "2026-12-22T10:00:00Z");
    assert!(!s.new_password);
    assert_eq!(
        r.secrets[0].reason,
        "password_rotation_interval is 7 days: the next rotation moves from 2027-03-01 to 2026-12-22"
    );
}

#[test]
fn global_rotation_skips_owners_ignored_users_and_standbys_and_needs_a_clock() {
    let config = Config {
        enable_password_rotation: true,
        ..Config::default()
    };
    let (_, db) = desired(json!({"usersIgnoringSecretRotation": ["app"]}), &config);
    assert_eq!(db.roles["app"].rotation, None);
    assert_eq!(db.roles["owner"].rotation, None, "owns a database");
    assert_eq!(db.roles["postgres"].rotation, None);
    let (_, db) = desired(json!({}), &config);
    assert_eq!(db.roles["app"].rotation, Some(RotationMode::NewRole));
    let r = rotate(
        json!({}),
        &config,
        Some(secret("app", Some("2026-11-30T08:00:00Z"))),
        &ObservedDatabaseState::default(),
        None,
    );
    assert!(r.secrets.is_empty() && r.database.is_none());
}

#[test]
fn rotation_turned_off_names_the_user_again_with_a_new_password() {
    let r = rotate(
        json!({}),
        &Config::default(),
        Some(secret("app261201", Some("2027-03-01T10:00:00Z"))),
        &ObservedDatabaseState::default(),
        at("2026-12-15T10:00:00Z"),
    );
    let s = rotation_of(&r.secrets[0]);
    assert_eq!(s.after.username, "app");
    assert_eq!(s.after.next_rotation, "");
    assert!(s.new_password);
    let db = r.database.expect("state");
    assert_eq!(db.roles["app"].secret.as_deref(), Some(APP_SECRET));
}

#[test]
fn only_this_manifests_rotation_roles_past_their_retention_are_dropped() {
    let (manifest, _) = desired(json!({}), &Config::default());
    let ours = rotation_comment(&manifest, "app");
    let observed = ObservedDatabaseState {
        roles: BTreeMap::from([
            // 210 days old: past the default 180.
            ("app260505".to_string(), role(&ours)),
            // 91 days: kept.
            ("app260901".to_string(), role(&ours)),
            // Old, but not made by a rotation of this manifest.
            (
                "app250101".to_string(),
                role("postgres-reconciler: postgresql ns/acid-r uid u-1"),
            ),
            ("app250102".to_string(), role("made by hand")),
            // Old, ours, and what the Secret names: kept.
            ("app250103".to_string(), role(&ours)),
        ]),
        ..ObservedDatabaseState::default()
    };
    let r = rotate(
        json!({"usersWithSecretRotation": ["app"]}),
        &Config::default(),
        Some(secret("app250103", Some("2027-03-01T10:00:00Z"))),
        &observed,
        at("2026-12-01T10:00:00Z"),
    );
    let dropped: Vec<String> = r
        .drops
        .iter()
        .flat_map(|a| match &a.change {
            Change::Sql { statements } => statements.iter().map(|s| s.sql.clone()).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(dropped, ["DROP ROLE \"app260505\""]);
    assert!(
        r.drops[0]
            .reason
            .contains("made 2026-05-05, past its retention of 180 days"),
        "{}",
        r.drops[0].reason
    );
    // The retention is at least two intervals.
    let config = Config {
        password_rotation_user_retention: 30,
        password_rotation_interval: 110,
        ..Config::default()
    };
    let r = rotate(
        json!({"usersWithSecretRotation": ["app"]}),
        &config,
        Some(secret("app250103", Some("2027-03-01T10:00:00Z"))),
        &observed,
        at("2026-12-01T10:00:00Z"),
    );
    assert!(r.drops.is_empty(), "{:?}", r.drops);
}
