//! Unit tests of the desired database state; prepared databases in `prepared.rs`.

mod prepared;

use super::*;
use prepared::PREPARED;

pub(super) const TEMPLATE: &str = DEFAULT_SECRET_NAME_TEMPLATE;

pub(super) fn pg(yaml: &str) -> Postgresql {
    serde_yaml::from_str(yaml).expect("test manifest parses")
}

fn config(yaml: &str) -> PostgreSQLConfig {
    serde_yaml::from_str(yaml).expect("test manifest parses")
}

pub(super) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(super) fn names<V>(map: &BTreeMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

const MINIMAL: &str = r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata:
  name: acid-minimal-cluster
  namespace: team-a
spec:
  teamId: acid
  numberOfInstances: 2
  volume: {size: 1Gi}
  postgresql: {version: "18"}
  users:
    zalando: [superuser, createdb]
    foo_user: []
    reporting: [NOLOGIN]
    nullflags:
  databases:
    foo: zalando
"#;

#[test]
fn minimal_cluster() {
    let state = postgresql_database_state(&pg(MINIMAL), TEMPLATE);
    assert_eq!(
        state.server,
        ServerTarget::Cluster {
            namespace: "team-a".into(),
            cluster: "acid-minimal-cluster".into()
        }
    );
    assert_eq!(
        names(&state.roles),
        [
            "admin",
            "foo_user",
            "nullflags",
            "postgres",
            "reporting",
            "standby",
            "zalando"
        ]
    );

    let postgres = &state.roles["postgres"];
    assert_eq!(postgres.mode, RoleMode::EnsureExists);
    assert_eq!(postgres.origin, RoleOrigin::System);
    assert!(postgres.attributes.superuser && postgres.attributes.login);
    assert_eq!(
        postgres.secret.as_deref(),
        Some("postgres.acid-minimal-cluster.credentials.postgresql.acid.zalan.do")
    );
    let standby = &state.roles["standby"];
    assert!(standby.attributes.replication && standby.attributes.login);
    assert!(!standby.attributes.superuser);
    assert_eq!(standby.mode, RoleMode::EnsureExists);

    let zalando = &state.roles["zalando"];
    assert_eq!(zalando.mode, RoleMode::Managed);
    assert_eq!(zalando.origin, RoleOrigin::Manifest);
    assert_eq!(
        zalando.attributes,
        RoleAttributes {
            superuser: true,
            createdb: true,
            ..RoleAttributes::LOGIN
        }
    );
    assert_eq!(
        state.roles["foo_user"].secret.as_deref(),
        Some("foo-user.acid-minimal-cluster.credentials.postgresql.acid.zalan.do")
    );
    assert_eq!(state.roles["nullflags"].attributes, RoleAttributes::LOGIN);
    assert_eq!(state.roles["reporting"].secret, None);

    assert_eq!(names(&state.databases), ["foo"]);
    let foo = &state.databases["foo"];
    assert_eq!(foo.owner, "zalando");
    assert_eq!(foo.origin, DatabaseOrigin::Manifest);
    assert!(foo.schemas.is_empty() && foo.extensions.is_empty());
    assert!(foo.default_privileges.is_empty());

    let secrets: Vec<_> = state.login_roles_with_secrets().collect();
    assert_eq!(
        secrets.iter().map(|(r, _, _)| *r).collect::<Vec<_>>(),
        ["foo_user", "nullflags", "postgres", "standby", "zalando"]
    );
    assert!(secrets.contains(&(
        "zalando",
        "zalando.acid-minimal-cluster.credentials.postgresql.acid.zalan.do",
        None
    )));
}

#[test]
fn flags_resolution() {
    assert_eq!(resolve_user_flags::<&str>(&[]), RoleAttributes::LOGIN);
    assert_eq!(
        resolve_user_flags(&[
            "SuperUser",
            "CREATEROLE",
            "replication",
            "BypassRLS",
            "createDB"
        ]),
        RoleAttributes {
            superuser: true,
            createdb: true,
            createrole: true,
            inherit: true,
            login: true,
            replication: true,
            bypassrls: true,
        }
    );
    assert_eq!(
        resolve_user_flags(&["nologin", "NOINHERIT"]),
        RoleAttributes {
            inherit: false,
            ..RoleAttributes::NOLOGIN
        }
    );
    // Explicit NOX for an attribute that is off anyway, and LOGIN given explicitly.
    assert_eq!(
        resolve_user_flags(&["nosuperuser", "LOGIN"]),
        RoleAttributes::LOGIN
    );
    // Conflicting flags (rejected by validation) resolve to the safe side; unknown ones are ignored.
    assert_eq!(
        resolve_user_flags(&["superuser", "NOSUPERUSER", "login", "nologin", "bogus"]),
        RoleAttributes::NOLOGIN
    );

    let state = postgresql_database_state(
        &pg(r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: c, namespace: ns}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: "17"}
  users:
    group_role: [NoLogin, createrole]
    app: [Login, noinherit]
    admin: [superuser]
    postgres: []
"#),
        TEMPLATE,
    );
    let group = &state.roles["group_role"];
    assert!(!group.attributes.login && group.attributes.createrole);
    assert_eq!(group.secret, None);
    let app = &state.roles["app"];
    assert!(app.attributes.login && !app.attributes.inherit);
    assert!(app.secret.is_some());
    // System names are never taken from `users` (validation refuses them there): `admin` is
    // Spilo's role.
    assert_eq!(state.roles["admin"].origin, RoleOrigin::System);
    assert_eq!(state.roles["admin"].mode, RoleMode::EnsureExists);
    assert!(!state.roles["admin"].attributes.login);
    assert_eq!(state.roles["postgres"].origin, RoleOrigin::System);
}

#[test]
fn secret_names() {
    assert_eq!(
        secret_name(TEMPLATE, "foo_user", "acid-test", "ns"),
        "foo-user.acid-test.credentials.postgresql.acid.zalan.do"
    );
    assert_eq!(
        secret_name("{namespace}.{username}.{cluster}", "a_b_c", "cl", "team-ns"),
        "team-ns.a-b-c.cl"
    );
    assert_eq!(
        secret_name(
            "{username}.{cluster}.credentials.{tprkind}.{tprgroup}",
            "x",
            "c",
            "n"
        ),
        "x.c.credentials.postgresql.acid.zalan.do"
    );
    // Placeholders may repeat; text without placeholders is kept.
    assert_eq!(
        secret_name("{cluster}-{cluster}-static", "u", "c", "n"),
        "c-c-static"
    );
}

#[test]
fn postgresqlconfig_on_cluster() {
    let state = postgresqlconfig_database_state(&config(
        r#"
apiVersion: containerconf.de/v1
kind: PostgreSQLConfig
metadata: {name: shop, namespace: shop-ns}
spec:
  database: shop
  owner: shop_owner
  server: {cluster: acid-main}
"#,
    ));
    assert_eq!(
        state.server,
        ServerTarget::Cluster {
            namespace: "shop-ns".into(),
            cluster: "acid-main".into()
        }
    );
    assert_eq!(names(&state.roles), ["shop_owner"]);
    let owner = &state.roles["shop_owner"];
    assert_eq!(owner.attributes, RoleAttributes::NOLOGIN);
    assert!(!owner.attributes.createdb);
    assert_eq!(owner.mode, RoleMode::EnsureExists);
    assert_eq!(owner.origin, RoleOrigin::ConfigOwner);
    assert_eq!(owner.secret, None);
    assert_eq!(state.login_roles_with_secrets().count(), 0);
    let db = &state.databases["shop"];
    assert_eq!(db.owner, "shop_owner");
    assert_eq!(db.origin, DatabaseOrigin::Config);
}

#[test]
fn postgresqlconfig_on_external_server() {
    let state = postgresqlconfig_database_state(&config(
        r#"
apiVersion: containerconf.de/v1
kind: PostgreSQLConfig
metadata: {name: crm, namespace: crm-ns}
spec:
  database: crm
  owner: crm
  server: {secretName: rds-admin}
  reclaimPolicy: Delete
"#,
    ));
    assert_eq!(
        state.server,
        ServerTarget::External {
            namespace: "crm-ns".into(),
            secret_name: "rds-admin".into()
        }
    );
    assert_eq!(state.databases["crm"].owner, "crm");
    let yaml = serde_yaml::to_string(&state).unwrap();
    assert!(yaml.contains("kind: external"), "{yaml}");
    assert!(yaml.contains("secretName: rds-admin"), "{yaml}");
}

#[test]
fn deterministic_and_round_trips() {
    for manifest in [MINIMAL, PREPARED] {
        let a = postgresql_database_state(&pg(manifest), TEMPLATE);
        let b = postgresql_database_state(&pg(manifest), TEMPLATE);
        assert_eq!(a, b);
        let yaml_a = serde_yaml::to_string(&a).unwrap();
        let yaml_b = serde_yaml::to_string(&b).unwrap();
        assert_eq!(yaml_a, yaml_b);
        let back: DesiredDatabaseState = serde_yaml::from_str(&yaml_a).unwrap();
        assert_eq!(back, a, "YAML round trip");
        let json = serde_json::to_string(&a).unwrap();
        let back: DesiredDatabaseState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a, "JSON round trip");
    }
}

#[test]
fn odd_input_never_panics() {
    // No name, no namespace, a prepared database with defaultRoles off and defaultUsers on.
    let state = postgresql_database_state(
        &pg(r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {}
spec:
  teamId: acid
  numberOfInstances: 0
  volume: {size: 1Gi}
  postgresql: {version: "18"}
  users: {"": [x], weird: ["", LOGIN]}
  preparedDatabases:
    d:
      schemas:
        s: {defaultRoles: false, defaultUsers: true}
"#),
        TEMPLATE,
    );
    assert_eq!(
        state.server,
        ServerTarget::Cluster {
            namespace: "default".into(),
            cluster: String::new()
        }
    );
    assert_eq!(state.databases["d"].schemas["s"].owner, "d_owner");
    assert!(!state.roles.contains_key("d_s_owner_user"));

    let external = postgresqlconfig_database_state(&config(
        r#"
apiVersion: containerconf.de/v1
kind: PostgreSQLConfig
metadata: {name: x}
spec: {database: x, owner: x, server: {}}
"#,
    ));
    assert!(matches!(external.server, ServerTarget::External { .. }));
}
