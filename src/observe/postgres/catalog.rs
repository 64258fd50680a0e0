//! The catalog queries: one per catalog, valid on PostgreSQL 14 to 18.
//!
//! `pg_auth_members` got `grantor` semantics, `inherit_option` and `set_option` in PostgreSQL 16,
//! and may then hold several rows for one (role, member) pair, one per grantor. Only `roleid`,
//! `member` and `admin_option` are read, aggregated per pair, so the result means the same on
//! every version: "member of", and "holds ADMIN OPTION by at least one grant".

use super::connect::PgError;
use crate::render::database::{DefaultPrivilege, ObjectType, RoleAttributes};
use crate::state::{ObservedDatabase, ObservedLookupFunction, ObservedRole, ObservedSchema};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

const ROLES: &str = "\
SELECT a.rolname, a.rolsuper, a.rolcreatedb, a.rolcreaterole, a.rolinherit, a.rolcanlogin,
       a.rolreplication, a.rolbypassrls, a.rolpassword, d.description
FROM pg_catalog.pg_authid a
LEFT JOIN pg_catalog.pg_shdescription d
       ON d.objoid = a.oid AND d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
WHERE a.rolname !~ '^pg_'";

const MEMBERSHIPS: &str = "\
SELECT m.rolname AS member, r.rolname AS role, pg_catalog.bool_or(am.admin_option) AS admin
FROM pg_catalog.pg_auth_members am
JOIN pg_catalog.pg_authid r ON r.oid = am.roleid
JOIN pg_catalog.pg_authid m ON m.oid = am.member
GROUP BY m.rolname, r.rolname";

const ROLE_SETTINGS: &str = "\
SELECT r.rolname, s.setconfig
FROM pg_catalog.pg_db_role_setting s
JOIN pg_catalog.pg_authid r ON r.oid = s.setrole
WHERE s.setdatabase = 0";

const DATABASES: &str = "\
SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba) AS owner, c.description
FROM pg_catalog.pg_database d
LEFT JOIN pg_catalog.pg_shdescription c
       ON c.objoid = d.oid AND c.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass
WHERE d.datname NOT IN ('template0', 'template1')";

/// `aclexplode` grantee 0 is PUBLIC.
const GRANTEE: &str =
    "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END";

fn schemas_query() -> String {
    format!(
        "\
SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
       COALESCE((SELECT pg_catalog.array_agg(({GRANTEE})::text)
                 FROM pg_catalog.aclexplode(n.nspacl) a
                 WHERE a.privilege_type = 'USAGE'), '{{}}') AS usage
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
    )
}

const EXTENSIONS: &str = "\
SELECT e.extname, n.nspname
FROM pg_catalog.pg_extension e
JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace";

fn default_privileges_query() -> String {
    format!(
        "\
SELECT pg_catalog.pg_get_userbyid(d.defaclrole) AS for_role, n.nspname AS schema,
       d.defaclobjtype::text AS object_type, a.privilege_type, {GRANTEE} AS grantee
FROM pg_catalog.pg_default_acl d
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) a"
    )
}

/// `user_lookup(text)` in any schema, with who may execute it: a NULL ACL is the default one
/// (its owner and PUBLIC).
const LOOKUP_FUNCTIONS: &str = "\
SELECT n.nspname, pg_catalog.pg_get_userbyid(p.proowner) AS owner, p.prosecdef, p.prosrc,
       CASE WHEN p.proacl IS NULL THEN NULL
            ELSE COALESCE((SELECT pg_catalog.array_agg((CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                   ELSE pg_catalog.pg_get_userbyid(a.grantee) END)::text)
                           FROM pg_catalog.aclexplode(p.proacl) a
                           WHERE a.privilege_type = 'EXECUTE'), '{}') END AS execute
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = 'user_lookup' AND p.pronargs = 1
  AND p.proargtypes[0] = 'pg_catalog.text'::pg_catalog.regtype";

/// The server-wide catalog queries, each read once per server through the `postgres` database
/// (named for errors): what the benchmark's database floor sends too.
pub const SERVER_WIDE: [(&str, &str); 4] = [
    ("pg_authid", ROLES),
    ("pg_auth_members", MEMBERSHIPS),
    ("pg_db_role_setting", ROLE_SETTINGS),
    ("pg_database", DATABASES),
];

async fn query(
    client: &Client,
    what: &str,
    sql: &str,
) -> Result<Vec<tokio_postgres::Row>, PgError> {
    client
        .query(sql, &[])
        .await
        .map_err(|e| PgError::from_driver(format!("read {what}"), &e))
}

/// Roles with their attributes, verifier, comment, memberships and role-wide settings.
pub(super) async fn roles(client: &Client) -> Result<BTreeMap<String, ObservedRole>, PgError> {
    let mut roles = BTreeMap::new();
    for row in query(client, "pg_authid", ROLES).await? {
        let attributes = RoleAttributes {
            superuser: row.get(1),
            createdb: row.get(2),
            createrole: row.get(3),
            inherit: row.get(4),
            login: row.get(5),
            replication: row.get(6),
            bypassrls: row.get(7),
        };
        let role = ObservedRole {
            attributes,
            member_of: BTreeSet::new(),
            admin_of: BTreeSet::new(),
            parameters: BTreeMap::new(),
            password: row.get(8),
            comment: row.get(9),
        };
        roles.insert(row.get::<_, String>(0), role);
    }
    for row in query(client, "pg_auth_members", MEMBERSHIPS).await? {
        let (member, role, admin): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
        // Memberships of predefined roles (pg_monitor in pg_read_all_stats, …) are not ours.
        if let Some(m) = roles.get_mut(&member) {
            if admin {
                m.admin_of.insert(role.clone());
            }
            m.member_of.insert(role);
        }
    }
    for row in query(client, "pg_db_role_setting", ROLE_SETTINGS).await? {
        let (name, settings): (String, Option<Vec<String>>) = (row.get(0), row.get(1));
        if let Some(r) = roles.get_mut(&name) {
            for setting in settings.unwrap_or_default() {
                if let Some((k, v)) = setting.split_once('=') {
                    r.parameters.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    Ok(roles)
}

/// Databases with owner and comment; their contents are not inspected here.
pub(super) async fn databases(
    client: &Client,
) -> Result<BTreeMap<String, ObservedDatabase>, PgError> {
    let rows = query(client, "pg_database", DATABASES).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let db = ObservedDatabase {
                owner: row.get(1),
                comment: row.get(2),
                schemas: None,
                extensions: BTreeMap::new(),
                default_privileges: Vec::new(),
                lookup_functions: BTreeMap::new(),
            };
            (row.get::<_, String>(0), db)
        })
        .collect())
}

/// Schemas (with USAGE grants), extensions, default privileges and the pooler's lookup functions
/// of the database `client` is connected to.
pub(super) async fn inspect_database(
    client: &Client,
    db: &mut ObservedDatabase,
) -> Result<(), PgError> {
    let mut schemas = BTreeMap::new();
    for row in query(client, "pg_namespace", &schemas_query()).await? {
        let usage: Vec<String> = row.get(2);
        let schema = ObservedSchema {
            owner: row.get(1),
            usage: usage.into_iter().collect(),
        };
        schemas.insert(row.get::<_, String>(0), schema);
    }
    db.schemas = Some(schemas);

    db.extensions = query(client, "pg_extension", EXTENSIONS)
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();

    type Key = (Option<String>, String, ObjectType, String);
    let mut privileges: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    for row in query(client, "pg_default_acl", &default_privileges_query()).await? {
        let object_type: String = row.get(2);
        // Large objects (PostgreSQL 18) and future kinds are outside the desired state's reach.
        let Some(object_type) = object_type_of(&object_type) else {
            continue;
        };
        let key = (row.get(1), row.get(0), object_type, row.get(4));
        privileges.entry(key).or_default().insert(row.get(3));
    }
    db.default_privileges = privileges
        .into_iter()
        .map(
            |((schema, for_role, object_type, grantee), privs)| DefaultPrivilege {
                for_role,
                schema,
                object_type,
                privileges: privs.into_iter().collect(),
                grantee,
            },
        )
        .collect();

    db.lookup_functions = query(client, "pg_proc", LOOKUP_FUNCTIONS)
        .await?
        .into_iter()
        .map(|row| {
            let owner: String = row.get(1);
            let execute: Option<Vec<String>> = row.get(4);
            let execute = match execute {
                Some(grantees) => grantees.into_iter().collect(),
                None => BTreeSet::from([owner.clone(), "PUBLIC".to_string()]),
            };
            let function = ObservedLookupFunction {
                owner,
                security_definer: row.get(2),
                body: row.get(3),
                execute,
            };
            (row.get::<_, String>(0), function)
        })
        .collect();
    Ok(())
}

/// `pg_default_acl.defaclobjtype`.
fn object_type_of(code: &str) -> Option<ObjectType> {
    Some(match code {
        "r" => ObjectType::Tables,
        "S" => ObjectType::Sequences,
        "f" => ObjectType::Functions,
        "T" => ObjectType::Types,
        "n" => ObjectType::Schemas,
        _ => return None,
    })
}
