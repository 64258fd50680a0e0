//! Reads a PostgreSQL server's state — roles, databases and, inside chosen databases, schemas,
//! extensions and default privileges — into [`ObservedDatabaseState`] (a pure type of
//! [`crate::state`]), the counterpart of
//! [`DesiredDatabaseState`](crate::render::database::DesiredDatabaseState) that
//! `plan::sql` compares against.
//!
//! One connection to `postgres` reads the cluster-wide catalogs (one query per catalog), then one
//! connection per inspected database reads that database's catalogs. Every query works on
//! PostgreSQL 14 to 18.

pub mod catalog;
mod connect;
mod tls;

pub use connect::{PgConnection, PgError, connect};

use crate::state::ObservedDatabaseState;
use std::collections::BTreeSet;

/// Which databases' contents are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspect {
    /// These, if they exist.
    Only(Vec<String>),
    /// Every database of the server (the connection pooler's function is wanted in each).
    All,
}

/// Reads the server's roles and databases through one connection to `postgres`, then the
/// schemas, extensions, default privileges and lookup functions of the databases `inspect`
/// names that exist (the others are not inspected: their `schemas` stay `None`).
pub async fn observe_server(
    conn: &PgConnection,
    inspect: &Inspect,
) -> Result<ObservedDatabaseState, PgError> {
    let client = connect(conn, "postgres").await?;
    let roles = catalog::roles(&client).await?;
    let mut dbs = catalog::databases(&client).await?;
    drop(client);

    let wanted: BTreeSet<String> = match inspect {
        Inspect::Only(names) => names.iter().cloned().collect(),
        Inspect::All => dbs.keys().cloned().collect(),
    };
    for name in &wanted {
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
