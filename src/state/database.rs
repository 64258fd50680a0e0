//! What one PostgreSQL server holds, as `observe::postgres` reads it from the catalogs. The types
//! are also written by hand in golden fixtures: empty collections and absent values are left out
//! of their serialized form.

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
    /// The `user_lookup(text)` functions (the connection pooler's `auth_query`), by schema.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lookup_functions: BTreeMap<String, ObservedLookupFunction>,
}

/// One `<schema>.user_lookup(text)` function.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedLookupFunction {
    pub owner: String,
    pub security_definer: bool,
    /// Its source (`prosrc`).
    pub body: String,
    /// Who may execute it (`PUBLIC` for everyone), as its ACL says or as the default ACL means.
    pub execute: BTreeSet<String>,
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
