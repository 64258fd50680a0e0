//! Unit tests of SQL planning, one per rule: the shared fixture and helpers and the whole-plan
//! rules here, roles in `roles.rs`, databases and their contents in `databases.rs`.

mod databases;
mod pooler;
mod roles;

use super::roles::split_list;
use super::*;
use crate::api::Postgresql;
use crate::plan::MASKED_PASSWORD;
use crate::render::database::{
    DEFAULT_SECRET_NAME_TEMPLATE, DefaultPrivilege, DesiredDatabaseState, postgresql_database_state,
};
use crate::state::{ObservedDatabase, ObservedRole, ObservedSchema};
use std::collections::{BTreeMap, BTreeSet};

const CLUSTER: &str = r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-shop, namespace: team-a, uid: 1111-2222}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: "17"}
  users:
    app: [createdb]
    reporting: [nologin]
  databases:
    shop: app
  preparedDatabases:
    inv:
      defaultUsers: true
      extensions: {pgcrypto: data}
"#;

fn manifest() -> ManifestRef {
    ManifestRef {
        kind: "postgresql".into(),
        namespace: "team-a".into(),
        name: "acid-shop".into(),
        uid: Some("1111-2222".into()),
        generation: Some(1),
    }
}

fn desired() -> DesiredDatabaseState {
    let pg: Postgresql = serde_yaml::from_str(CLUSTER).expect("test manifest parses");
    postgresql_database_state(&pg, DEFAULT_SECRET_NAME_TEMPLATE)
}

/// Every Secret holds `pw-<secret name>`.
fn password(secret: &str) -> String {
    format!("pw-{secret}")
}

fn known(secret: &SecretKeyRef) -> PasswordState {
    PasswordState::Known(password(&secret.name))
}

fn absent(_: &SecretKeyRef) -> PasswordState {
    PasswordState::SecretAbsent
}

/// What the server shows once `desired` is applied, as PostgreSQL stores it: ADMIN OPTION makes
/// a member, `search_path` elements are re-quoted, schema ACLs include the owner, database-wide
/// default ACLs include the owner's own privileges.
fn applied(desired: &DesiredDatabaseState) -> ObservedDatabaseState {
    let mut roles: BTreeMap<String, ObservedRole> = BTreeMap::new();
    for r in desired.roles.values() {
        let parameters = r
            .parameters
            .iter()
            .map(|(k, v)| {
                let v = if k == "search_path" {
                    split_list(v)
                        .iter()
                        .map(|e| match e.as_str() {
                            "$user" => "\"$user\"".to_string(),
                            e => e.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        let observed = ObservedRole {
            attributes: r.attributes,
            member_of: r.member_of.clone(),
            admin_of: BTreeSet::new(),
            parameters,
            password: r
                .secret
                .as_deref()
                .map(|s| postgres_protocol::password::scram_sha_256(password(s).as_bytes())),
            comment: Some(ownership_comment(&manifest())),
        };
        roles.insert(r.name.clone(), observed);
    }
    for r in desired.roles.values() {
        for admin in &r.admins {
            let a = roles.get_mut(admin).expect("admins are desired roles");
            a.member_of.insert(r.name.clone());
            a.admin_of.insert(r.name.clone());
        }
    }
    let databases = desired
        .databases
        .values()
        .map(|db| {
            let schemas = db
                .schemas
                .values()
                .map(|s| {
                    let mut usage = s.usage.clone();
                    usage.insert(s.owner.clone());
                    let schema = ObservedSchema {
                        owner: s.owner.clone(),
                        usage,
                    };
                    (s.name.clone(), schema)
                })
                .chain([(
                    "public".to_string(),
                    ObservedSchema {
                        owner: "pg_database_owner".into(),
                        usage: BTreeSet::from(["PUBLIC".to_string()]),
                    },
                )])
                .collect();
            let mut extensions = db.extensions.clone();
            extensions.insert("plpgsql".into(), "pg_catalog".into());
            let mut default_privileges = db.default_privileges.clone();
            for p in db.default_privileges.iter().filter(|p| p.schema.is_none()) {
                default_privileges.push(DefaultPrivilege {
                    privileges: vec!["DELETE".into(), "INSERT".into(), "SELECT".into()],
                    grantee: p.for_role.clone(),
                    ..p.clone()
                });
            }
            let observed = ObservedDatabase {
                owner: db.owner.clone(),
                comment: Some(ownership_comment(&manifest())),
                schemas: Some(schemas),
                extensions,
                default_privileges,
                lookup_functions: Default::default(),
            };
            (db.name.clone(), observed)
        })
        .collect();
    ObservedDatabaseState { roles, databases }
}

fn statements(a: &Action) -> Vec<String> {
    match &a.change {
        Change::Sql { statements } => statements.iter().map(SqlStatement::display).collect(),
        other => panic!("not SQL: {other:?}"),
    }
}

fn object(a: &Action) -> String {
    match &a.target {
        Target::Sql { object, .. } => object.clone(),
        other => panic!("not SQL: {other:?}"),
    }
}

fn database(a: &Action) -> String {
    match &a.target {
        Target::Sql { database, .. } => database.clone(),
        other => panic!("not SQL: {other:?}"),
    }
}

fn objects(actions: &[Action]) -> Vec<String> {
    actions.iter().map(object).collect()
}

fn find<'a>(actions: &'a [Action], obj: &str) -> &'a Action {
    actions
        .iter()
        .find(|a| object(a) == obj)
        .unwrap_or_else(|| panic!("no action for {obj} in {:#?}", objects(actions)))
}

#[test]
fn server_labels() {
    let cluster = ServerTarget::Cluster {
        namespace: "ns".into(),
        cluster: "c".into(),
    };
    let external = ServerTarget::External {
        namespace: "ns".into(),
        secret_name: "db".into(),
    };
    assert_eq!(server_label(&cluster), "cluster ns/c");
    assert_eq!(server_label(&external), "external ns/db");
}

#[test]
fn creates_a_cluster_from_nothing() {
    let desired = desired();
    let actions = plan_database(
        &manifest(),
        &desired,
        &ObservedDatabaseState::default(),
        &absent,
    );
    let created: Vec<String> = desired.roles.keys().map(|r| format!("role {r}")).collect();
    assert_eq!(
        objects(&actions[..created.len()]),
        created,
        "roles first, by name"
    );
    for a in &actions {
        assert_eq!(a.manifest, Some(manifest()));
        assert_eq!(a.op, Op::Sql);
        assert_eq!(a.risk, Risk::Safe, "{a:?}");
        let Target::Sql { server, .. } = &a.target else {
            panic!("SQL target")
        };
        assert_eq!(server, "cluster team-a/acid-shop");
    }

    let app = find(&actions, "role app");
    assert_eq!(app.reason, "absent");
    assert_eq!(database(app), "postgres");
    assert_eq!(
        statements(app),
        [
            format!(
                "CREATE ROLE \"app\" WITH NOSUPERUSER CREATEDB NOCREATEROLE INHERIT LOGIN \
                 NOREPLICATION NOBYPASSRLS PASSWORD {MASKED_PASSWORD};"
            ),
            "COMMENT ON ROLE \"app\" IS 'postgres-reconciler: postgresql team-a/acid-shop uid 1111-2222';"
                .to_string(),
        ]
    );
    let Change::Sql {
        statements: app_sql,
    } = &app.change
    else {
        panic!("SQL change")
    };
    assert_eq!(
        app_sql[0].password_from,
        Some(SecretKeyRef {
            namespace: "team-a".into(),
            name: "app.acid-shop.credentials.postgresql.acid.zalan.do".into()
        })
    );
    let reporting = find(&actions, "role reporting");
    assert!(statements(reporting)[0].ends_with("NOLOGIN NOREPLICATION NOBYPASSRLS;"));

    // Settings of a new role come with it.
    let owner = find(&actions, "role inv_owner");
    assert_eq!(
        statements(owner)[2],
        "ALTER ROLE \"inv_owner\" SET \"search_path\" TO '$user', 'data';"
    );

    // Memberships after every role exists, then databases and their contents.
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| {
            let o = object(a);
            let sql = statements(a)[0].clone();
            match () {
                _ if sql.starts_with("CREATE ROLE") => "create role",
                _ if sql.starts_with("GRANT \"") => "membership",
                _ if sql.starts_with("CREATE DATABASE") => "create database",
                _ if o.starts_with("schema ") => "schema",
                _ if o.starts_with("extension ") => "extension",
                _ if o.starts_with("default privileges ") => "default privileges",
                _ => panic!("unexpected {o}: {sql}"),
            }
        })
        .collect();
    let mut sorted = kinds.clone();
    let rank = |k: &&str| {
        [
            "create role",
            "membership",
            "create database",
            "schema",
            "extension",
            "default privileges",
        ]
        .iter()
        .position(|x| x == k)
    };
    sorted.sort_by_key(rank);
    assert_eq!(kinds, sorted);

    let admin = find(&actions, "role admin");
    assert_eq!(
        statements(admin)[0],
        "CREATE ROLE \"admin\" WITH NOSUPERUSER CREATEDB NOCREATEROLE INHERIT NOLOGIN NOREPLICATION NOBYPASSRLS;"
    );
    let shop = find(&actions, "database shop");
    assert_eq!(database(shop), "postgres");
    let Change::Sql {
        statements: shop_sql,
    } = &shop.change
    else {
        panic!("SQL change")
    };
    assert_eq!(shop_sql[0].sql, "CREATE DATABASE \"shop\" OWNER \"app\"");
    assert!(shop_sql[0].outside_transaction);
    assert!(!shop_sql[1].outside_transaction);
    assert!(
        shop_sql[1]
            .sql
            .starts_with("COMMENT ON DATABASE \"shop\" IS 'postgres-reconciler: ")
    );
}

#[test]
fn nothing_to_do_when_the_server_matches() {
    let desired = desired();
    let actions = plan_database(&manifest(), &desired, &applied(&desired), &known);
    assert_eq!(actions, [], "{:#?}", objects(&actions));
}

#[test]
fn roles_and_databases_not_desired_are_left_alone() {
    let desired = desired();
    let mut observed = applied(&desired);
    let stranger = ObservedRole {
        member_of: BTreeSet::from(["app".to_string()]),
        ..observed.roles["reporting"].clone()
    };
    observed.roles.insert("stranger".into(), stranger);
    let db = observed.databases["shop"].clone();
    observed.databases.insert("legacy".into(), db);
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(actions, []);
}

#[test]
fn quoting_survives_odd_names() {
    let mut desired = desired();
    let mut app = desired.roles.remove("app").expect("app");
    app.name = "we\"ird'name".into();
    desired.roles.insert(app.name.clone(), app);
    let actions = plan_database(&manifest(), &desired, &applied(&self::desired()), &known);
    let created = find(&actions, "role we\"ird'name");
    assert!(statements(created)[0].starts_with("CREATE ROLE \"we\"\"ird'name\" WITH"));
}

#[test]
fn plans_are_deterministic() {
    let desired = desired();
    let empty = ObservedDatabaseState::default();
    let a = plan_database(&manifest(), &desired, &empty, &absent);
    let b = plan_database(&manifest(), &desired.clone(), &empty.clone(), &absent);
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).expect("json"),
        serde_json::to_string(&b).expect("json")
    );
}

/// `state::relevance` tells a manifest's roles from another's by these comments.
#[test]
fn every_ownership_comment_names_its_manifest_for_relevance() {
    use crate::state::relevance::made_for;
    let m = manifest();
    let name = m.to_string();
    for comment in [
        ownership_comment(&m),
        rotation_comment(&m, "app"),
        team_comment(&m, "acid"),
    ] {
        assert_eq!(made_for(&comment), Some(name.as_str()), "{comment}");
    }
}

/// A whole plan is the same whether or not the roles and databases of other manifests on the
/// same server were left out of the observation.
#[test]
fn leaving_other_manifests_roles_out_plans_the_same() {
    use crate::state::relevance::Relevance;
    let desired = desired();
    let other = ManifestRef {
        name: "acid-other".into(),
        uid: Some("3333".into()),
        ..manifest()
    };
    // A steady state but for one missing role, so the plan is not empty.
    let mut full = applied(&desired);
    full.roles.remove("reporting");
    for i in 0..3 {
        let role = full.roles["app"].clone();
        full.roles.insert(
            format!("other_{i}"),
            ObservedRole {
                comment: Some(ownership_comment(&other)),
                ..role
            },
        );
    }
    let mut trimmed = full.clone();
    let mut relevance = Relevance::default();
    relevance.add(&manifest(), &desired);
    trimmed.retain_relevant(&relevance);
    assert!(!trimmed.roles.contains_key("other_0"));
    assert_eq!(trimmed.roles.len() + 3, full.roles.len());
    let plan = |observed| plan_database(&manifest(), &desired, observed, &known);
    assert!(!plan(&full).is_empty());
    assert_eq!(plan(&trimmed), plan(&full));
}
