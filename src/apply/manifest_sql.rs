//! Runs a manifest's SQL actions, keeping one connection per (server, database) for the manifest.

use super::passwords::Passwords;
use super::sql;
use crate::config::Config;
use crate::observe::cluster::ClusterClient;
use crate::observe::databases::connection_for;
use crate::observe::postgres::connect;
use crate::pipeline::Planned;
use crate::plan::{Action, Change};
use crate::render::DesiredManifest;
use crate::report::outcome::ActionResult;
use std::collections::BTreeMap;

/// A manifest's open connections, by (server, database).
pub(super) type SqlClients = BTreeMap<(String, String), tokio_postgres::Client>;

#[allow(clippy::too_many_arguments)]
pub(super) async fn run_sql(
    cluster: &ClusterClient,
    config: &Config,
    planned: &Planned,
    desired: Option<&DesiredManifest>,
    passwords: &Passwords,
    clients: &mut SqlClients,
    server: &str,
    database: &str,
    action: &Action,
) -> ActionResult {
    let Change::Sql { statements } = &action.change else {
        return ActionResult::Failed("not a SQL action".into());
    };
    let Some(desired) = desired else {
        return ActionResult::Failed(format!("no desired state for {server}"));
    };
    let cache_key = (server.to_string(), database.to_string());
    if !clients.contains_key(&cache_key) {
        // The superuser's Secret may be one this run adopts (Zalando made it).
        let password_of =
            |namespace: &str, name: &str| planned.secret_passwords.get(namespace, name);
        let conn = match connection_for(
            Some(&cluster.client),
            config,
            &desired.database.server,
            &password_of,
        )
        .await
        {
            Ok(c) => c,
            Err(reason) => return ActionResult::Failed(reason),
        };
        match connect(&conn, database).await {
            Ok(client) => {
                clients.insert(cache_key.clone(), client);
            }
            Err(e) => return ActionResult::Failed(e.to_string()),
        }
    }
    let Some(client) = clients.get(&cache_key) else {
        return ActionResult::Failed("no connection".into());
    };
    let limit = std::time::Duration::from_secs(config.postgres_statement_timeout_seconds.max(1));
    let executed = tokio::time::timeout(
        limit,
        sql::execute(client, statements, &|secret| passwords.get(secret)),
    )
    .await;
    let Ok(executed) = executed else {
        // The server may still be working on it: this connection is dropped, not reused.
        clients.remove(&cache_key);
        return ActionResult::Failed(format!(
            "no answer within {} s (postgres_statement_timeout_seconds); it may still be running on the server, e.g. a commit waiting for a synchronous standby that is not streaming",
            limit.as_secs()
        ));
    };
    match executed {
        Ok(()) => ActionResult::Applied,
        // Another manifest on the same server (a PostgreSQLConfig on its cluster, two clusters
        // sharing a server) created it first in this run: it exists, as wanted. It is not
        // marked as ours, and the next run plans whatever else it needs.
        Err(e) if already_exists(&e, statements) => ActionResult::Applied,
        Err(e) => ActionResult::Failed(e.to_string()),
    }
}

/// A CREATE that failed because its object exists: duplicate_object (42710) for roles,
/// duplicate_database (42P04) for databases, unique_violation (23505) when two sessions
/// created the same one at the same moment.
fn already_exists(
    e: &crate::observe::postgres::PgError,
    statements: &[crate::plan::SqlStatement],
) -> bool {
    let first = statements
        .first()
        .map(|s| s.sql.as_str())
        .unwrap_or_default();
    match e.code.as_deref() {
        Some("42710") => first.starts_with("CREATE ROLE "),
        Some("42P04") => first.starts_with("CREATE DATABASE "),
        Some("23505") => first.starts_with("CREATE ROLE ") || first.starts_with("CREATE DATABASE "),
        _ => false,
    }
}
