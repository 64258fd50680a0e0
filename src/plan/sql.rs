//! Database DDL: the desired database state of one manifest against what its server holds, as an
//! ordered list of SQL actions. Pure: no I/O, deterministic order everywhere.
//!
//! Order of the actions: create roles → alter roles → memberships → create databases → database
//! owners → schemas → extensions → default privileges → the pooler's lookup function, one action
//! per object, each in name order.
//! A role or database on the server that the desired state does not name is never touched; a
//! database is dropped only through [`plan_drop_database`].
//!
//! Identifiers are quoted with `escape_identifier`, literals with `escape_literal`; statements
//! are exactly what runs, except that a statement with `password_from` gets the SCRAM verifier
//! of that Secret's password appended by `apply` (and is printed with a masked password).

mod databases;
pub mod pooler;
mod roles;
#[cfg(test)]
mod tests;

use super::{Action, Change, Op, Risk, SecretKeyRef, SqlStatement, Target};
use crate::render::ManifestRef;
use crate::render::database::{DesiredDatabaseState, DesiredRole, ServerTarget};
use crate::state::ObservedDatabaseState;
use postgres_protocol::escape::{escape_identifier, escape_literal};

/// What the plan knows of a role's Secret, by Secret name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordState {
    /// The Secret does not exist yet: `apply` creates it with a generated password, which the
    /// role is then given.
    SecretAbsent,
    /// The Secret's current password.
    Known(String),
    /// The Secret exists but its password cannot be read here (an offline plan against a base
    /// branch): no password statement is planned.
    Unreadable,
    /// The Secret gets a new password this run (password rotation), which the role is given.
    Rotating,
}

/// The server as shown in targets: "cluster ns/name" or "external ns/secret".
pub fn server_label(server: &ServerTarget) -> String {
    match server {
        ServerTarget::Cluster { namespace, cluster } => format!("cluster {namespace}/{cluster}"),
        ServerTarget::External {
            namespace,
            secret_name,
        } => format!("external {namespace}/{secret_name}"),
    }
}

/// The SQL actions that bring `observed` to `desired` (see the module documentation for the
/// order). `passwords` tells, per Secret, whether it exists and its password.
pub fn plan_database(
    manifest: &ManifestRef,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
    passwords: &dyn Fn(&SecretKeyRef) -> PasswordState,
) -> Vec<Action> {
    let ctx = Ctx::new(manifest, &desired.server);
    let mut actions = Vec::new();
    actions.extend(roles::create_roles(&ctx, desired, observed));
    actions.extend(roles::alter_roles(&ctx, desired, observed, passwords));
    actions.extend(roles::memberships(&ctx, desired, observed));
    actions.extend(databases::create_databases(&ctx, desired, observed));
    actions.extend(databases::database_owners(&ctx, desired, observed));
    actions.extend(databases::schemas(&ctx, desired, observed));
    actions.extend(databases::extensions(&ctx, desired, observed));
    actions.extend(databases::default_privileges(&ctx, desired, observed));
    actions.extend(pooler::lookup_functions(&ctx, desired, observed));
    actions
}

/// `ALTER ROLE … NOLOGIN` for the login roles this manifest created and no longer lists (the
/// opt-in `removed_roles: nologin`); they run after the manifest's other role statements.
pub fn plan_removed_roles(
    manifest: &ManifestRef,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    roles::retire_removed_roles(&Ctx::new(manifest, &desired.server), desired, observed)
}

/// `DROP DATABASE … WITH (FORCE)` when `database` exists on the server, for an explicit request
/// (a `PostgreSQLConfig` with `reclaimPolicy: Delete` that was deleted); `None` when it does not
/// exist. `FORCE` (PostgreSQL 13+; Spilo runs 14–18) ends the sessions still connected to it:
/// without it the drop fails for as long as any client — a pooler, a forgotten `psql` — holds a
/// connection, and the request was explicit.
pub fn plan_drop_database(
    manifest: &ManifestRef,
    server: &str,
    database: &str,
    observed: &ObservedDatabaseState,
) -> Option<Action> {
    let db = observed.databases.get(database)?;
    let mut reason = "reclaimPolicy Delete".to_string();
    if db.comment.as_deref() != Some(ownership_comment(manifest).as_str()) {
        reason.push_str("; the database's comment does not name this manifest");
    }
    Some(Action {
        manifest: Some(manifest.clone()),
        target: Target::Sql {
            server: server.to_string(),
            database: MAINTENANCE_DB.to_string(),
            object: format!("database {database}"),
        },
        op: Op::Sql,
        risk: Risk::Destructive,
        reason,
        change: Change::Sql {
            statements: vec![SqlStatement {
                outside_transaction: true,
                ..SqlStatement::plain(format!("DROP DATABASE {} WITH (FORCE)", ident(database)))
            }],
        },
    })
}

/// Where role statements and `CREATE DATABASE` run.
const MAINTENANCE_DB: &str = "postgres";

/// `COMMENT ON ROLE/DATABASE` of what the reconciler creates, so its origin can be told later.
fn ownership_comment(manifest: &ManifestRef) -> String {
    let mut comment = format!(
        "{}{} {}/{}",
        crate::state::relevance::OWNERSHIP_PREFIX,
        manifest.kind,
        manifest.namespace,
        manifest.name
    );
    if let Some(uid) = &manifest.uid {
        comment.push_str(&format!(" uid {uid}"));
    }
    comment
}

/// The comment of a role made by the password rotation of `user`: only a role with exactly
/// this comment is ever dropped by the rotation's retention.
pub(crate) fn rotation_comment(manifest: &ManifestRef, user: &str) -> String {
    format!(
        "{}; password rotation of {user}",
        ownership_comment(manifest)
    )
}

/// The start of the comment of a role made for a member of a team (`plan::human_users`).
pub(crate) fn team_comment_prefix(manifest: &ManifestRef) -> String {
    format!("{}; member of team ", ownership_comment(manifest))
}

pub(crate) fn team_comment(manifest: &ManifestRef, team: &str) -> String {
    format!("{}{team}", team_comment_prefix(manifest))
}

fn ident(name: &str) -> String {
    escape_identifier(name)
}

fn literal(value: &str) -> String {
    escape_literal(value)
}

/// A grantee: `PUBLIC` is a keyword, every other name an identifier.
fn grantee(name: &str) -> String {
    if name == "PUBLIC" {
        name.to_string()
    } else {
        ident(name)
    }
}

/// What every action of one plan shares.
struct Ctx<'a> {
    manifest: &'a ManifestRef,
    server: String,
    /// Namespace of the roles' Secrets: the server's manifest's.
    namespace: String,
}

impl<'a> Ctx<'a> {
    fn new(manifest: &'a ManifestRef, server: &ServerTarget) -> Ctx<'a> {
        let namespace = match server {
            ServerTarget::Cluster { namespace, .. } | ServerTarget::External { namespace, .. } => {
                namespace.clone()
            }
        };
        Ctx {
            manifest,
            server: server_label(server),
            namespace,
        }
    }

    /// A role's Secret: in the server's namespace unless the role says another.
    fn secret_of(&self, role: &DesiredRole) -> Option<SecretKeyRef> {
        Some(SecretKeyRef {
            namespace: role
                .secret_namespace
                .clone()
                .unwrap_or_else(|| self.namespace.clone()),
            name: role.secret.clone()?,
        })
    }

    fn action(
        &self,
        database: &str,
        object: String,
        reason: String,
        risk: Risk,
        statements: Vec<SqlStatement>,
    ) -> Action {
        Action {
            manifest: Some(self.manifest.clone()),
            target: Target::Sql {
                server: self.server.clone(),
                database: database.to_string(),
                object,
            },
            op: Op::Sql,
            risk,
            reason,
            change: Change::Sql { statements },
        }
    }
}
