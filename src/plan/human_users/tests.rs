use super::*;
use crate::api::Postgresql;
use crate::plan::sql::team_comment;
use crate::render::{Manifest, render};
use crate::state::ObservedRole;
use serde_json::json;

fn config() -> Config {
    Config {
        enable_teams_api: true,
        postgres_superuser_teams: vec!["dba".into()],
        ..Config::default()
    }
}

fn desired(config: &Config) -> (ManifestRef, DesiredDatabaseState) {
    let pg: Postgresql = serde_json::from_value(json!({
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": "acid-h", "namespace": "ns", "uid": "u-1"},
        "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"}, "users": {"app": []}},
    }))
    .expect("manifest");
    let out = render(&[Manifest::Postgresql(Box::new(pg))], config);
    let m = &out.manifests[0];
    (m.manifest.clone(), m.database.clone())
}

fn members(list: &[&str]) -> TeamObservation {
    TeamObservation::Members(list.iter().map(|s| s.to_string()).collect())
}

fn teams(acid: TeamObservation) -> BTreeMap<String, TeamObservation> {
    BTreeMap::from([
        ("acid".into(), acid),
        ("dba".into(), members(&["root", "jane"])),
    ])
}

fn observed_role(comment: &str, login: bool) -> ObservedRole {
    ObservedRole {
        attributes: RoleAttributes {
            login,
            ..RoleAttributes::NOLOGIN
        },
        member_of: BTreeSet::new(),
        admin_of: BTreeSet::new(),
        parameters: BTreeMap::new(),
        password: None,
        comment: Some(comment.to_string()),
    }
}

#[test]
fn team_members_become_login_roles_in_the_pam_role_and_superuser_teams_superusers() {
    let config = config();
    let (manifest, db) = desired(&config);
    assert_eq!(
        human_teams("acid", &config, &TeamMap::default())
            .iter()
            .map(|t| (t.team.as_str(), t.superuser))
            .collect::<Vec<_>>(),
        [("dba", true), ("acid", false)]
    );
    let h = plan_human_users(
        &manifest,
        &db,
        &teams(members(&["jane", "app", "admin", "bob"])),
        &TeamMap::default(),
        &ObservedDatabaseState::default(),
        &config,
    )
    .expect("human users");
    let bob = &h.database.roles["bob"];
    assert!(bob.attributes.login && !bob.attributes.superuser);
    assert_eq!(
        bob.member_of,
        BTreeSet::from(["admin".into(), "zalandos".into()])
    );
    assert_eq!(bob.secret, None);
    assert_eq!(bob.parameters["log_statement"], "all");
    // In a superuser team and in the cluster's team: a superuser.
    assert!(h.database.roles["jane"].attributes.superuser);
    assert_eq!(
        h.database.roles["jane"].member_of,
        BTreeSet::from(["zalandos".into()])
    );
    // The manifest's user and the protected role keep what they are.
    assert_eq!(h.database.roles["app"].origin, RoleOrigin::Manifest);
    assert_eq!(h.database.roles["admin"].origin, RoleOrigin::System);
    assert_eq!(h.database.roles["zalandos"].mode, RoleMode::EnsureExists);
    assert!(h.unknown.is_empty() && h.actions.is_empty());
}

#[test]
fn a_member_who_left_is_renamed_and_loses_login_and_one_back_is_renamed_back() {
    let config = Config {
        enable_team_member_deprecation: true,
        ..config()
    };
    let (manifest, db) = desired(&config);
    let ours = team_comment(&manifest, "acid");
    let observed = ObservedDatabaseState {
        roles: BTreeMap::from([
            ("left".to_string(), observed_role(&ours, true)),
            ("back_deleted".to_string(), observed_role(&ours, false)),
            // Made by someone else: never touched.
            ("stranger".to_string(), observed_role("by hand", true)),
        ]),
        ..ObservedDatabaseState::default()
    };
    let h = plan_human_users(
        &manifest,
        &db,
        &teams(members(&["back"])),
        &TeamMap::default(),
        &observed,
        &config,
    )
    .expect("human users");
    let sql: Vec<Vec<String>> = h
        .actions
        .iter()
        .map(|a| match &a.change {
            Change::Sql { statements } => statements.iter().map(|s| s.sql.clone()).collect(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        sql,
        [
            vec![r#"ALTER ROLE "back_deleted" RENAME TO "back""#.to_string()],
            vec![
                r#"ALTER ROLE "left" NOLOGIN"#.to_string(),
                r#"ALTER ROLE "left" RENAME TO "left_deleted""#.to_string(),
            ],
        ]
    );
    assert!(h.actions.iter().all(|a| !a.reason.contains("DROP")));
    // The rest of the plan sees "back" (and gives it LOGIN as for any role).
    assert!(h.observed.roles.contains_key("back"));
    assert!(!h.observed.roles.contains_key("back_deleted"));
}

#[test]
fn an_unknown_team_is_reported_and_nothing_is_deprecated() {
    let config = Config {
        enable_team_member_deprecation: true,
        ..config()
    };
    let (manifest, db) = desired(&config);
    let observed = ObservedDatabaseState {
        roles: BTreeMap::from([(
            "bob".to_string(),
            observed_role(&team_comment(&manifest, "acid"), true),
        )]),
        ..ObservedDatabaseState::default()
    };
    let h = plan_human_users(
        &manifest,
        &db,
        &teams(TeamObservation::Unknown {
            reason: "the Teams API answered 401 Unauthorized".into(),
        }),
        &TeamMap::default(),
        &observed,
        &config,
    )
    .expect("human users");
    assert_eq!(
        h.unknown,
        ["members of team acid: the Teams API answered 401 Unauthorized"]
    );
    assert!(h.actions.is_empty());
    assert!(!h.database.roles.contains_key("bob"));
    // Off, there is nothing to ask.
    let (manifest, db) = desired(&Config::default());
    assert!(
        plan_human_users(
            &manifest,
            &db,
            &BTreeMap::new(),
            &TeamMap::default(),
            &observed,
            &Config::default()
        )
        .is_none()
    );
}

fn team_map() -> TeamMap {
    let additions = |superuser_teams: &[&str], teams: &[&str], members: &[&str]| {
        let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        crate::state::TeamAdditions {
            superuser_teams: set(superuser_teams),
            teams: set(teams),
            members: set(members),
        }
    };
    TeamMap {
        teams: BTreeMap::from([
            ("acid".into(), additions(&["sre"], &["web"], &["elephant"])),
            // Transitive, and a cycle back to acid.
            (
                "web".into(),
                additions(&[], &["mobile", "acid"], &["webby"]),
            ),
            ("mobile".into(), additions(&[], &[], &["phone"])),
        ]),
        unreadable: None,
    }
}

#[test]
fn postgres_team_objects_add_teams_transitively_and_members_without_the_teams_api() {
    let config = Config {
        enable_postgres_team_crd: true,
        enable_postgres_team_crd_superusers: true,
        ..Config::default()
    };
    let map = team_map();
    let shown: Vec<(String, bool)> = human_teams("acid", &config, &map)
        .into_iter()
        .map(|t| (t.team, t.superuser))
        .collect();
    let own = |t: &str, s: bool| (t.to_string(), s);
    assert_eq!(
        shown,
        [
            own("sre", true),
            own("web", false),
            own("mobile", false),
            own("acid", false)
        ]
    );
    let (manifest, db) = desired(&config);
    assert_eq!(db.human_team.as_deref(), Some("acid"));
    // The Teams API is off: the members are PostgresTeam's alone, and nobody is asked.
    let h = plan_human_users(
        &manifest,
        &db,
        &BTreeMap::new(),
        &map,
        &ObservedDatabaseState::default(),
        &config,
    )
    .expect("human users");
    assert!(h.unknown.is_empty(), "{:?}", h.unknown);
    for member in ["elephant", "webby", "phone"] {
        assert!(h.database.roles[member].attributes.login, "{member}");
    }
    // Without the superuser switch, sre is not a team of this cluster at all.
    let config = Config {
        enable_postgres_team_crd_superusers: false,
        ..config
    };
    assert!(
        human_teams("acid", &config, &map)
            .iter()
            .all(|t| t.team != "sre" && !t.superuser)
    );
    // Unreadable PostgresTeam objects: nothing is known, nothing is deprecated.
    let broken = TeamMap {
        unreadable: Some("PostgresTeam objects could not be listed: forbidden".into()),
        ..TeamMap::default()
    };
    let h = plan_human_users(
        &manifest,
        &db,
        &BTreeMap::new(),
        &broken,
        &ObservedDatabaseState::default(),
        &config,
    )
    .expect("human users");
    assert_eq!(h.unknown.len(), 1);
    assert!(!h.database.roles.contains_key("elephant"));
}
