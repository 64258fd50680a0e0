//! Reads a PostgreSQL server's state — roles, databases and, inside chosen databases, schemas,
//! extensions and default privileges — into [`ObservedDatabaseState`], the counterpart of
//! [`DesiredDatabaseState`](crate::render::database::DesiredDatabaseState) that
//! `plan::sql` compares against.
//!
//! One connection to `postgres` reads the cluster-wide catalogs (one query per catalog), then one
//! connection per inspected database reads that database's catalogs. Every query works on
//! PostgreSQL 14 to 18. The types are also written by hand in golden fixtures: empty collections
//! and absent values are left out of their serialized form.

mod catalog;
mod connect;
mod tls;

pub use connect::{PgConnection, PgError, connect};

use crate::render::database::{DefaultPrivilege, RoleAttributes};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What one PostgreSQL server holds.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservedDatabaseState {
    /// Roles by name (PostgreSQL's predefined `pg_*` roles left out).
    #[serde(default)]
    pub roles: BTreeMap<String, ObservedRole>,
    /// Databases by name (`template0` and `template1` left out).
    #[serde(default)]
    pub databases: BTreeMap<String, ObservedDatabase>,
}

/// One role as `pg_authid`, `pg_auth_members`, `pg_db_role_setting` and `pg_shdescription` have it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRole {
    pub attributes: RoleAttributes,
    /// Roles this role is a member of (with or without ADMIN OPTION).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub member_of: BTreeSet<String>,
    /// Roles this role holds ADMIN OPTION on (a subset of `member_of`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub admin_of: BTreeSet<String>,
    /// Role-wide settings (`ALTER ROLE … SET`, not per database): name → value as stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// The stored password verifier (`SCRAM-SHA-256$…`, or an MD5 hash), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One database.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedDatabase {
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Schemas (`pg_*` and `information_schema` left out); `None` when the database's contents
    /// were not inspected — then `extensions` and `default_privileges` are empty too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schemas: Option<BTreeMap<String, ObservedSchema>>,
    /// Extension name → schema.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, String>,
    /// `pg_default_acl`, one entry per (schema, role, object type, grantee), ordered like the
    /// desired state's. Database-wide entries include the owner's own privileges, as stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_privileges: Vec<DefaultPrivilege>,
}

/// One schema.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedSchema {
    pub owner: String,
    /// Roles granted `USAGE` explicitly (`PUBLIC` for everyone; the owner when the schema has an
    /// explicit ACL).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub usage: BTreeSet<String>,
}

/// Reads the server's roles and databases through one connection to `postgres`, then the
/// schemas, extensions and default privileges of each database in `databases` that exists
/// (the others are not inspected: their `schemas` stay `None`).
pub async fn observe_server(
    conn: &PgConnection,
    databases: &[String],
) -> Result<ObservedDatabaseState, PgError> {
    let client = connect(conn, "postgres").await?;
    let roles = catalog::roles(&client).await?;
    let mut dbs = catalog::databases(&client).await?;
    drop(client);

    let wanted: BTreeSet<&String> = databases.iter().collect();
    for name in wanted {
        let Some(db) = dbs.get_mut(name) else {
            continue;
        };
        let client = connect(conn, name).await?;
        catalog::inspect_database(&client, db)
            .await
            .map_err(|e| PgError {
                context: format!("{} in database {name}", e.context),
                ..e
            })?;
    }
    Ok(ObservedDatabaseState {
        roles,
        databases: dbs,
    })
}
