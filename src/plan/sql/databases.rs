//! Databases and what they contain: owner, schemas (with USAGE grants), extensions and default
//! privileges. Only what is missing is granted; nothing here revokes or drops.
//!
//! A database whose contents were not inspected (`schemas: None`: it is created by this plan, or
//! observe did not look inside) gets every schema, extension and default privilege planned; the
//! statements are idempotent (`IF NOT EXISTS`, `GRANT`).

use super::{Ctx, MAINTENANCE_DB, grantee, ident, literal, ownership_comment};
use crate::plan::{Action, Risk, SqlStatement};
use crate::render::database::{DefaultPrivilege, DesiredDatabase, DesiredDatabaseState};
use crate::state::{ObservedDatabase, ObservedDatabaseState};
use std::collections::{BTreeMap, BTreeSet};

/// `CREATE DATABASE … OWNER …` (outside a transaction, in `postgres`) and its ownership comment.
pub(super) fn create_databases(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    desired
        .databases
        .values()
        .filter(|db| !observed.databases.contains_key(&db.name))
        .map(|db| {
            let name = ident(&db.name);
            let create = SqlStatement {
                outside_transaction: true,
                ..SqlStatement::plain(format!("CREATE DATABASE {name} OWNER {}", ident(&db.owner)))
            };
            let comment = SqlStatement::plain(format!(
                "COMMENT ON DATABASE {name} IS {}",
                literal(&ownership_comment(ctx.manifest))
            ));
            ctx.action(
                MAINTENANCE_DB,
                format!("database {}", db.name),
                "absent".into(),
                Risk::Safe,
                vec![create, comment],
            )
        })
        .collect()
}

/// `ALTER DATABASE … OWNER TO …` where the owner differs.
pub(super) fn database_owners(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for db in desired.databases.values() {
        let Some(current) = observed.databases.get(&db.name) else {
            continue;
        };
        if current.owner != db.owner {
            actions.push(ctx.action(
                MAINTENANCE_DB,
                format!("database {}", db.name),
                format!("owner {} → {}", current.owner, db.owner),
                Risk::Safe,
                vec![SqlStatement::plain(format!(
                    "ALTER DATABASE {} OWNER TO {}",
                    ident(&db.name),
                    ident(&db.owner)
                ))],
            ));
        }
    }
    actions
}

/// The inspected contents of a desired database, if any.
fn inspected<'a>(
    observed: &'a ObservedDatabaseState,
    db: &DesiredDatabase,
) -> Option<&'a ObservedDatabase> {
    observed
        .databases
        .get(&db.name)
        .filter(|d| d.schemas.is_some())
}

/// Schemas: created with their owner, owner changed, missing USAGE granted.
pub(super) fn schemas(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for db in desired.databases.values() {
        let current = inspected(observed, db).and_then(|d| d.schemas.as_ref());
        for schema in db.schemas.values() {
            let name = ident(&schema.name);
            let existing = current.and_then(|s| s.get(&schema.name));
            let mut statements = Vec::new();
            let mut reasons = Vec::new();
            match existing {
                None => {
                    statements.push(SqlStatement::plain(format!(
                        "CREATE SCHEMA IF NOT EXISTS {name} AUTHORIZATION {}",
                        ident(&schema.owner)
                    )));
                    reasons.push("absent".to_string());
                }
                Some(s) if s.owner != schema.owner => {
                    statements.push(SqlStatement::plain(format!(
                        "ALTER SCHEMA {name} OWNER TO {}",
                        ident(&schema.owner)
                    )));
                    reasons.push(format!("owner {} → {}", s.owner, schema.owner));
                }
                Some(_) => {}
            }
            let have = existing.map(|s| &s.usage);
            // The owner has USAGE by owning the schema.
            let missing: Vec<&String> = schema
                .usage
                .iter()
                .filter(|g| **g != schema.owner && !have.is_some_and(|h| h.contains(*g)))
                .collect();
            if !missing.is_empty() {
                let list: Vec<String> = missing.iter().map(|g| grantee(g)).collect();
                statements.push(SqlStatement::plain(format!(
                    "GRANT USAGE ON SCHEMA {name} TO {}",
                    list.join(", ")
                )));
                if existing.is_some() {
                    let names: Vec<&str> = missing.iter().map(|g| g.as_str()).collect();
                    reasons.push(format!("USAGE missing for {}", names.join(", ")));
                }
            }
            if !statements.is_empty() {
                actions.push(ctx.action(
                    &db.name,
                    format!("schema {}.{}", db.name, schema.name),
                    reasons.join("; "),
                    Risk::Safe,
                    statements,
                ));
            }
        }
    }
    actions
}

/// Extensions: created in their schema, or moved to it.
pub(super) fn extensions(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for db in desired.databases.values() {
        let current = inspected(observed, db).map(|d| &d.extensions);
        for (extension, schema) in &db.extensions {
            let (sql, reason) = match current.and_then(|e| e.get(extension)) {
                None => (
                    format!(
                        "CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}",
                        ident(extension),
                        ident(schema)
                    ),
                    "absent".to_string(),
                ),
                Some(have) if have != schema => (
                    format!(
                        "ALTER EXTENSION {} SET SCHEMA {}",
                        ident(extension),
                        ident(schema)
                    ),
                    format!("schema {have} → {schema}"),
                ),
                Some(_) => continue,
            };
            actions.push(ctx.action(
                &db.name,
                format!("extension {}.{extension}", db.name),
                reason,
                Risk::Safe,
                vec![SqlStatement::plain(sql)],
            ));
        }
    }
    actions
}

/// (schema, role) of default privileges; `None` is database-wide.
type Scope<'a> = (Option<&'a String>, &'a String);
/// A desired default privilege and those of its privileges not granted yet.
type Missing<'a> = (&'a DefaultPrivilege, Vec<&'a String>);

/// `ALTER DEFAULT PRIVILEGES … GRANT` for the privileges not yet in `pg_default_acl`; one action
/// per (database, schema, role), database-wide first.
pub(super) fn default_privileges(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for db in desired.databases.values() {
        let current = inspected(observed, db).map(|d| d.default_privileges.as_slice());
        let mut groups: BTreeMap<Scope<'_>, Vec<Missing<'_>>> = BTreeMap::new();
        for wanted in &db.default_privileges {
            let have: BTreeSet<&String> = current
                .unwrap_or_default()
                .iter()
                .filter(|o| {
                    o.for_role == wanted.for_role
                        && o.schema == wanted.schema
                        && o.object_type == wanted.object_type
                        && o.grantee == wanted.grantee
                })
                .flat_map(|o| &o.privileges)
                .collect();
            let missing: Vec<&String> = wanted
                .privileges
                .iter()
                .filter(|p| !have.contains(p))
                .collect();
            if !missing.is_empty() {
                groups
                    .entry((wanted.schema.as_ref(), &wanted.for_role))
                    .or_default()
                    .push((wanted, missing));
            }
        }
        for ((schema, for_role), entries) in groups {
            let scope = match schema {
                Some(s) => format!(" IN SCHEMA {}", ident(s)),
                None => String::new(),
            };
            let mut statements = Vec::new();
            let mut parts = Vec::new();
            for (wanted, missing) in entries {
                let privileges: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
                let what = format!(
                    "{} ON {} TO {}",
                    privileges.join(", "),
                    wanted.object_type.sql(),
                    grantee(&wanted.grantee)
                );
                statements.push(SqlStatement::plain(format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {}{scope} GRANT {what}",
                    ident(for_role)
                )));
                parts.push(format!(
                    "{} on {} to {}",
                    privileges.join(", "),
                    wanted.object_type.sql(),
                    wanted.grantee
                ));
            }
            let object = match schema {
                Some(s) => format!("default privileges {}.{s} for role {for_role}", db.name),
                None => format!("default privileges {} for role {for_role}", db.name),
            };
            actions.push(ctx.action(
                &db.name,
                object,
                format!("missing: {}", parts.join("; ")),
                Risk::Safe,
                statements,
            ));
        }
    }
    actions
}
