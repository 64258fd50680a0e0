//! `spec.preparedDatabases`, following Zalando's postgres-operator: per database the NOLOGIN
//! roles `<db>_owner`, `<db>_reader`, `<db>_writer` (plus LOGIN `…_user` variants with
//! `defaultUsers`), the same per schema as `<db>_<schema>_…` (unless `defaultRoles: false`),
//! schemas owned by their owner role, `USAGE` on them and default privileges so that readers and
//! writers can use what the owners create, and extensions.

use super::{
    DatabaseOrigin, DefaultPrivilege, DesiredDatabase, DesiredRole, DesiredSchema, ObjectType,
    RoleAttributes, RoleMode, RoleOrigin,
};
use crate::api::Postgresql;
use crate::api::postgresql::{PreparedDatabase, PreparedSchema};
use std::collections::{BTreeMap, BTreeSet};

/// Role Spilo creates for administrators; Zalando makes it the admin of every `<db>_owner`
/// (and `<db>_owner_user`) so that its members can `SET ROLE` to the owner. One definition,
/// shared with validation, which refuses it in `spec.users`.
pub use crate::validate::names::SPILO_ADMIN_ROLE;
/// The schema a prepared database gets when it lists none.
pub const DEFAULT_SCHEMA: &str = "data";

const OWNER: &str = "_owner";
const READER: &str = "_reader";
const WRITER: &str = "_writer";
const USER: &str = "_user";
/// Start of every prepared role's `search_path`, as with Zalando.
const SEARCH_PATH_USER: &str = "\"$user\"";

type PrivilegeKey = (Option<String>, String, ObjectType, String);
type Privileges = BTreeMap<PrivilegeKey, BTreeSet<&'static str>>;

/// Adds the roles of every prepared database to `roles` and returns the prepared databases.
/// An empty `preparedDatabases: {}` means one database named after the cluster with `-`
/// replaced by `_`, as with Zalando.
pub(super) fn prepared_databases(
    pg: &Postgresql,
    cluster: &str,
    secret_for: &dyn Fn(&str) -> String,
    roles: &mut BTreeMap<String, DesiredRole>,
) -> BTreeMap<String, DesiredDatabase> {
    let Some(prepared) = &pg.spec.prepared_databases else {
        return BTreeMap::new();
    };
    let implied;
    let prepared = if prepared.is_empty() {
        implied = BTreeMap::from([(cluster.replace('-', "_"), PreparedDatabase::default())]);
        &implied
    } else {
        prepared
    };
    prepared
        .iter()
        .map(|(name, spec)| {
            let db = prepared_database(name, spec, secret_for, roles);
            (name.clone(), db)
        })
        .collect()
}

fn prepared_database(
    db: &str,
    spec: &PreparedDatabase,
    secret_for: &dyn Fn(&str) -> String,
    roles: &mut BTreeMap<String, DesiredRole>,
) -> DesiredDatabase {
    // Zalando treats a missing and an empty `schemas` alike.
    let schemas: BTreeMap<String, PreparedSchema> = match &spec.schemas {
        Some(s) if !s.is_empty() => s.clone(),
        _ => BTreeMap::from([(
            DEFAULT_SCHEMA.to_string(),
            PreparedSchema {
                default_roles: Some(true),
                default_users: None,
            },
        )]),
    };
    let db_users = spec.default_users.unwrap_or(false);
    let db_owner = format!("{db}{OWNER}");
    let roles_set = RoleSet {
        database: db,
        secret_for,
    };

    let search_path = std::iter::once(SEARCH_PATH_USER.to_string())
        .chain(schemas.keys().map(|s| quote(s)))
        .collect::<Vec<_>>()
        .join(", ");
    roles_set.add(roles, db, SPILO_ADMIN_ROLE, db_users, &search_path);

    let mut privileges = Privileges::new();
    for owner in owner_roles(db, db_users) {
        database_wide_privileges(&mut privileges, &owner, db);
    }

    let mut desired_schemas = BTreeMap::new();
    for (schema, schema_spec) in &schemas {
        let schema_roles = schema_spec.default_roles.unwrap_or(true);
        // Schema `_user` roles exist only with the schema's own roles (Zalando).
        let schema_users = schema_roles && schema_spec.default_users.unwrap_or(false);
        let prefix = format!("{db}_{schema}");
        let mut usage = BTreeSet::new();
        let schema_owner = if schema_roles {
            let path = format!("{SEARCH_PATH_USER}, {}", quote(schema));
            roles_set.add(roles, &prefix, &db_owner, schema_users, &path);
            format!("{prefix}{OWNER}")
        } else {
            db_owner.clone()
        };

        // What Zalando runs when it creates the schema (execCreateDatabaseSchema).
        let mut grant = |for_role: &str, prefix: &str| {
            schema_privileges(&mut privileges, &mut usage, schema, for_role, prefix);
        };
        grant(&schema_owner, db);
        if schema_roles {
            if schema_users {
                grant(&format!("{schema_owner}{USER}"), db);
            }
            let owners = owner_roles(db, db_users)
                .into_iter()
                .chain(owner_roles(&prefix, schema_users));
            for owner in owners {
                grant(&owner, &prefix);
            }
        } else if db_users {
            grant(&format!("{db_owner}{USER}"), db);
        }

        desired_schemas.insert(
            schema.clone(),
            DesiredSchema {
                name: schema.clone(),
                owner: schema_owner,
                usage,
            },
        );
    }

    DesiredDatabase {
        name: db.to_string(),
        owner: db_owner,
        schemas: desired_schemas,
        extensions: spec.extensions.clone(),
        default_privileges: privileges
            .into_iter()
            .map(
                |((schema, for_role, object_type, grantee), privs)| DefaultPrivilege {
                    for_role,
                    schema,
                    object_type,
                    privileges: privs.into_iter().map(str::to_string).collect(),
                    grantee,
                },
            )
            .collect(),
        origin: DatabaseOrigin::PreparedDatabase,
    }
}

/// Creates one owner/reader/writer set (and its `_user` variants).
struct RoleSet<'a> {
    database: &'a str,
    secret_for: &'a dyn Fn(&str) -> String,
}

impl RoleSet<'_> {
    /// `<prefix>_owner` (admin: `admin`), `<prefix>_reader` and `<prefix>_writer` (member of the
    /// reader) administered by the owner; with `users`, LOGIN `…_user` roles that are members of
    /// their counterpart, administered like it, with Secrets.
    fn add(
        &self,
        roles: &mut BTreeMap<String, DesiredRole>,
        prefix: &str,
        owner_admin: &str,
        users: bool,
        search_path: &str,
    ) {
        let owner = format!("{prefix}{OWNER}");
        let reader = format!("{prefix}{READER}");
        let writer = format!("{prefix}{WRITER}");
        let groups = [
            (&owner, None, owner_admin),
            (&reader, None, owner.as_str()),
            (&writer, Some(&reader), owner.as_str()),
        ];
        for (name, member_of, admin) in groups {
            self.insert(roles, name, member_of, admin, false, search_path);
        }
        if users {
            let logins = [
                (&owner, owner_admin),
                (&reader, owner.as_str()),
                (&writer, owner.as_str()),
            ];
            for (group, admin) in logins {
                let name = format!("{group}{USER}");
                self.insert(roles, &name, Some(group), admin, true, search_path);
            }
        }
    }

    fn insert(
        &self,
        roles: &mut BTreeMap<String, DesiredRole>,
        name: &str,
        member_of: Option<&String>,
        admin: &str,
        login: bool,
        search_path: &str,
    ) {
        let attributes = if login {
            RoleAttributes::LOGIN
        } else {
            RoleAttributes::NOLOGIN
        };
        roles.insert(
            name.to_string(),
            DesiredRole {
                name: name.to_string(),
                attributes,
                member_of: member_of.into_iter().cloned().collect(),
                admins: BTreeSet::from([admin.to_string()]),
                parameters: BTreeMap::from([("search_path".to_string(), search_path.to_string())]),
                secret: login.then(|| (self.secret_for)(name)),
                secret_namespace: None,
                rotation: None,
                rotation_of: None,
                mode: RoleMode::Managed,
                origin: RoleOrigin::PreparedDatabase {
                    database: self.database.to_string(),
                },
            },
        );
    }
}

/// `<prefix>_owner`, and `<prefix>_owner_user` when the `_user` roles exist (Zalando's
/// `getOwnerRoles`).
fn owner_roles(prefix: &str, with_user: bool) -> Vec<String> {
    let owner = format!("{prefix}{OWNER}");
    let mut owners = vec![owner.clone()];
    if with_user {
        owners.push(format!("{owner}{USER}"));
    }
    owners
}

/// Database-wide defaults for objects `for_role` creates (Zalando's
/// `globalDefaultPrivilegesSQL`): readers and writers may use new schemas.
fn database_wide_privileges(privileges: &mut Privileges, for_role: &str, prefix: &str) {
    let (reader, writer) = (format!("{prefix}{READER}"), format!("{prefix}{WRITER}"));
    for grantee in [&reader, &writer] {
        add(
            privileges,
            None,
            for_role,
            ObjectType::Schemas,
            grantee,
            &["USAGE"],
        );
    }
    object_privileges(privileges, None, for_role, &reader, &writer);
}

/// Defaults inside `schema` for objects `for_role` creates, and `USAGE` on the schema for the
/// readers and writers of `prefix` (Zalando's `schemaDefaultPrivilegesSQL`).
fn schema_privileges(
    privileges: &mut Privileges,
    usage: &mut BTreeSet<String>,
    schema: &str,
    for_role: &str,
    prefix: &str,
) {
    let (reader, writer) = (format!("{prefix}{READER}"), format!("{prefix}{WRITER}"));
    usage.insert(reader.clone());
    usage.insert(writer.clone());
    object_privileges(privileges, Some(schema), for_role, &reader, &writer);
}

/// Readers `SELECT` tables and sequences; writers `INSERT`/`UPDATE`/`DELETE` tables and
/// `USAGE`/`UPDATE` sequences (reading through their membership of the reader); both `EXECUTE`
/// functions and use types.
fn object_privileges(
    privileges: &mut Privileges,
    schema: Option<&str>,
    for_role: &str,
    reader: &str,
    writer: &str,
) {
    use ObjectType::*;
    let grants: [(ObjectType, &str, &[&'static str]); 8] = [
        (Tables, reader, &["SELECT"]),
        (Sequences, reader, &["SELECT"]),
        (Tables, writer, &["INSERT", "UPDATE", "DELETE"]),
        (Sequences, writer, &["USAGE", "UPDATE"]),
        (Functions, reader, &["EXECUTE"]),
        (Functions, writer, &["EXECUTE"]),
        (Types, reader, &["USAGE"]),
        (Types, writer, &["USAGE"]),
    ];
    for (object_type, grantee, privs) in grants {
        add(privileges, schema, for_role, object_type, grantee, privs);
    }
}

fn add(
    privileges: &mut Privileges,
    schema: Option<&str>,
    for_role: &str,
    object_type: ObjectType,
    grantee: &str,
    privs: &[&'static str],
) {
    let key = (
        schema.map(str::to_string),
        for_role.to_string(),
        object_type,
        grantee.to_string(),
    );
    privileges
        .entry(key)
        .or_default()
        .extend(privs.iter().copied());
}

/// A double-quoted identifier for `search_path`.
fn quote(ident: &str) -> String {
    postgres_protocol::escape::escape_identifier(ident)
}
