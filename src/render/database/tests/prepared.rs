//! `preparedDatabases`: roles, memberships, owners, schemas, default privileges.

use super::super::*;
use super::{TEMPLATE, names, pg, set};

pub(super) const PREPARED: &str = r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-prep, namespace: apps}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: "18"}
  preparedDatabases:
    foo:
      defaultUsers: true
      schemas:
        bar:
          defaultUsers: true
        public:
          defaultRoles: false
      extensions:
        pg_partman: public
        postgis: bar
"#;

#[test]
fn prepared_database_roles() {
    let state = postgresql_database_state(&pg(PREPARED), TEMPLATE);
    let expected_roles = [
        "admin",
        "foo_bar_owner",
        "foo_bar_owner_user",
        "foo_bar_reader",
        "foo_bar_reader_user",
        "foo_bar_writer",
        "foo_bar_writer_user",
        "foo_owner",
        "foo_owner_user",
        "foo_reader",
        "foo_reader_user",
        "foo_writer",
        "foo_writer_user",
        "postgres",
        "standby",
    ];
    assert_eq!(names(&state.roles), expected_roles);

    // (role, member of, admins, login)
    let expected: [(&str, &[&str], &str, bool); 12] = [
        ("foo_owner", &[], "admin", false),
        ("foo_reader", &[], "foo_owner", false),
        ("foo_writer", &["foo_reader"], "foo_owner", false),
        ("foo_owner_user", &["foo_owner"], "admin", true),
        ("foo_reader_user", &["foo_reader"], "foo_owner", true),
        ("foo_writer_user", &["foo_writer"], "foo_owner", true),
        ("foo_bar_owner", &[], "foo_owner", false),
        ("foo_bar_reader", &[], "foo_bar_owner", false),
        (
            "foo_bar_writer",
            &["foo_bar_reader"],
            "foo_bar_owner",
            false,
        ),
        ("foo_bar_owner_user", &["foo_bar_owner"], "foo_owner", true),
        (
            "foo_bar_reader_user",
            &["foo_bar_reader"],
            "foo_bar_owner",
            true,
        ),
        (
            "foo_bar_writer_user",
            &["foo_bar_writer"],
            "foo_bar_owner",
            true,
        ),
    ];
    for (name, member_of, admin, login) in expected {
        let role = &state.roles[name];
        assert_eq!(role.member_of, set(member_of), "{name} member_of");
        assert_eq!(role.admins, set(&[admin]), "{name} admins");
        assert_eq!(role.attributes.login, login, "{name} login");
        assert_eq!(
            role.attributes,
            if login {
                RoleAttributes::LOGIN
            } else {
                RoleAttributes::NOLOGIN
            }
        );
        assert_eq!(role.mode, RoleMode::Managed);
        assert_eq!(
            role.origin,
            RoleOrigin::PreparedDatabase {
                database: "foo".into()
            }
        );
        assert_eq!(role.secret.is_some(), login, "{name} secret");
    }
    assert_eq!(
        state.roles["foo_bar_writer_user"].secret.as_deref(),
        Some("foo-bar-writer-user.acid-prep.credentials.postgresql.acid.zalan.do")
    );
    assert_eq!(
        state.roles["foo_writer"].parameters["search_path"],
        r#""$user", "bar", "public""#
    );
    assert_eq!(
        state.roles["foo_bar_reader_user"].parameters["search_path"],
        r#""$user", "bar""#
    );
}

#[test]
fn prepared_database_objects() {
    let state = postgresql_database_state(&pg(PREPARED), TEMPLATE);
    assert_eq!(names(&state.databases), ["foo"]);
    let foo = &state.databases["foo"];
    assert_eq!(foo.owner, "foo_owner");
    assert_eq!(foo.origin, DatabaseOrigin::PreparedDatabase);
    assert_eq!(
        foo.extensions,
        BTreeMap::from([
            ("pg_partman".to_string(), "public".to_string()),
            ("postgis".to_string(), "bar".to_string()),
        ])
    );
    assert_eq!(names(&foo.schemas), ["bar", "public"]);
    let bar = &foo.schemas["bar"];
    assert_eq!(bar.owner, "foo_bar_owner");
    assert_eq!(
        bar.usage,
        set(&[
            "foo_bar_reader",
            "foo_bar_writer",
            "foo_reader",
            "foo_writer"
        ])
    );
    let public = &foo.schemas["public"];
    assert_eq!(public.owner, "foo_owner");
    assert_eq!(public.usage, set(&["foo_reader", "foo_writer"]));

    // Who gets default privileges for whose objects, per schema (None = database-wide).
    let mut pairs: BTreeSet<(Option<&str>, &str, &str)> = BTreeSet::new();
    for p in &foo.default_privileges {
        pairs.insert((p.schema.as_deref(), p.for_role.as_str(), p.grantee.as_str()));
    }
    let expected: BTreeSet<(Option<&str>, &str, &str)> = [
        (None, "foo_owner", "foo_reader"),
        (None, "foo_owner", "foo_writer"),
        (None, "foo_owner_user", "foo_reader"),
        (None, "foo_owner_user", "foo_writer"),
        (Some("bar"), "foo_bar_owner", "foo_reader"),
        (Some("bar"), "foo_bar_owner", "foo_writer"),
        (Some("bar"), "foo_bar_owner_user", "foo_reader"),
        (Some("bar"), "foo_bar_owner_user", "foo_writer"),
        (Some("bar"), "foo_owner", "foo_bar_reader"),
        (Some("bar"), "foo_owner", "foo_bar_writer"),
        (Some("bar"), "foo_owner_user", "foo_bar_reader"),
        (Some("bar"), "foo_owner_user", "foo_bar_writer"),
        (Some("bar"), "foo_bar_owner", "foo_bar_reader"),
        (Some("bar"), "foo_bar_owner", "foo_bar_writer"),
        (Some("bar"), "foo_bar_owner_user", "foo_bar_reader"),
        (Some("bar"), "foo_bar_owner_user", "foo_bar_writer"),
        (Some("public"), "foo_owner", "foo_reader"),
        (Some("public"), "foo_owner", "foo_writer"),
        (Some("public"), "foo_owner_user", "foo_reader"),
        (Some("public"), "foo_owner_user", "foo_writer"),
    ]
    .into_iter()
    .collect();
    assert_eq!(pairs, expected);

    // The exact privileges of one owner, database-wide and in a schema.
    let of = |schema: Option<&str>, for_role: &str| -> Vec<(ObjectType, String, Vec<String>)> {
        foo.default_privileges
            .iter()
            .filter(|p| p.schema.as_deref() == schema && p.for_role == for_role)
            .map(|p| (p.object_type, p.grantee.clone(), p.privileges.clone()))
            .collect()
    };
    let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        of(None, "foo_owner"),
        vec![
            (ObjectType::Tables, "foo_reader".into(), v(&["SELECT"])),
            (
                ObjectType::Tables,
                "foo_writer".into(),
                v(&["DELETE", "INSERT", "UPDATE"])
            ),
            (ObjectType::Sequences, "foo_reader".into(), v(&["SELECT"])),
            (
                ObjectType::Sequences,
                "foo_writer".into(),
                v(&["UPDATE", "USAGE"])
            ),
            (ObjectType::Functions, "foo_reader".into(), v(&["EXECUTE"])),
            (ObjectType::Functions, "foo_writer".into(), v(&["EXECUTE"])),
            (ObjectType::Types, "foo_reader".into(), v(&["USAGE"])),
            (ObjectType::Types, "foo_writer".into(), v(&["USAGE"])),
            (ObjectType::Schemas, "foo_reader".into(), v(&["USAGE"])),
            (ObjectType::Schemas, "foo_writer".into(), v(&["USAGE"])),
        ]
    );
    let in_bar = of(Some("bar"), "foo_bar_owner");
    assert_eq!(
        in_bar.len(),
        16,
        "8 entries each for foo_* and foo_bar_* grantees"
    );
    assert!(in_bar.contains(&(
        ObjectType::Tables,
        "foo_bar_writer".into(),
        v(&["DELETE", "INSERT", "UPDATE"])
    )));
    assert!(
        foo.default_privileges
            .iter()
            .all(|p| p.object_type != ObjectType::Schemas || p.schema.is_none()),
        "ON SCHEMAS is only valid database-wide"
    );
}

#[test]
fn prepared_database_defaults() {
    let state = postgresql_database_state(
        &pg(r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-minimal-cluster, namespace: ns}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: "18"}
  preparedDatabases: {}
"#),
        TEMPLATE,
    );
    let db = "acid_minimal_cluster";
    assert_eq!(names(&state.databases), [db]);
    let database = &state.databases[db];
    assert_eq!(database.owner, "acid_minimal_cluster_owner");
    assert_eq!(names(&database.schemas), ["data"]);
    assert_eq!(
        database.schemas["data"].owner,
        "acid_minimal_cluster_data_owner"
    );
    assert_eq!(
        names(&state.roles),
        [
            "acid_minimal_cluster_data_owner",
            "acid_minimal_cluster_data_reader",
            "acid_minimal_cluster_data_writer",
            "acid_minimal_cluster_owner",
            "acid_minimal_cluster_reader",
            "acid_minimal_cluster_writer",
            "admin",
            "postgres",
            "standby",
        ]
    );
    // No defaultUsers: no prepared role has a Secret.
    assert_eq!(
        state
            .login_roles_with_secrets()
            .map(|(r, _, _)| r)
            .collect::<Vec<_>>(),
        ["postgres", "standby"]
    );
}

#[test]
fn databases_entry_names_prepared_owner() {
    let state = postgresql_database_state(
        &pg(r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: c, namespace: ns}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: "18"}
  users: {legacy_owner: []}
  databases: {foo: legacy_owner}
  preparedDatabases:
    foo:
      schemas: {}
"#),
        TEMPLATE,
    );
    let foo = &state.databases["foo"];
    assert_eq!(foo.owner, "legacy_owner");
    assert_eq!(foo.origin, DatabaseOrigin::PreparedDatabase);
    assert_eq!(
        names(&foo.schemas),
        ["data"],
        "an empty schemas map means `data`"
    );
}
