//! Executes the statements of one SQL action.
//!
//! Consecutive statements run in one transaction; a statement marked `outside_transaction`
//! (`CREATE DATABASE`, `DROP DATABASE`) runs on its own. A statement with `password_from` gets
//! ` PASSWORD '<SCRAM verifier>'` appended, the verifier computed here from the Secret's
//! password, so the password itself never reaches the server. Its transaction first turns off
//! everything that would write the statement down: `log_statement`, `log_min_duration_statement`,
//! `log_min_error_statement` (a failing statement is logged with its text) and, when those
//! modules are loaded, `pg_stat_statements.track_utility` and `pgaudit.log`. These settings are
//! superuser-only: when they cannot be set, the password is not sent (fail closed).

use crate::observe::postgres::PgError;
use crate::plan::{SecretKeyRef, SqlStatement};
use postgres_protocol::escape::escape_literal;
use tokio_postgres::Client;

/// Run before a statement that carries a verifier, inside its transaction.
const QUIET: &[&str] = &[
    "SET LOCAL log_statement = 'none'",
    "SET LOCAL log_min_duration_statement = -1",
    "SET LOCAL log_min_error_statement = 'panic'",
    "SELECT pg_catalog.set_config(s.name, v.setting, true) \
     FROM (VALUES ('pg_stat_statements.track_utility', 'off'), ('pgaudit.log', 'none')) \
          AS v(name, setting) \
     JOIN pg_catalog.pg_settings s ON s.name = v.name",
];

/// A statement ready to send, and how it is shown in errors.
struct Ready {
    sql: String,
    shown: String,
    secret: bool,
    outside_transaction: bool,
}

/// Executes `statements` in order (see the module documentation). `password_of` gives the
/// password of a Secret; a statement whose Secret has none fails before anything runs, with an
/// error naming the Secret. `client` must not be used by anything else meanwhile: transactions
/// are opened with `BEGIN` on it.
pub async fn execute(
    client: &Client,
    statements: &[SqlStatement],
    password_of: &dyn Fn(&SecretKeyRef) -> Option<String>,
) -> Result<(), PgError> {
    let mut ready = Vec::with_capacity(statements.len());
    for s in statements {
        let sql = match &s.password_from {
            None => s.sql.clone(),
            Some(secret) => {
                let password = password_of(secret).ok_or_else(|| {
                    PgError::new(
                        s.display(),
                        format!(
                            "no password for Secret {}/{}",
                            secret.namespace, secret.name
                        ),
                    )
                })?;
                let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
                format!("{} PASSWORD {}", s.sql, escape_literal(&verifier))
            }
        };
        ready.push(Ready {
            sql,
            shown: s.display(),
            secret: s.password_from.is_some(),
            // A password statement always gets its transaction, for the logging settings.
            outside_transaction: s.outside_transaction && s.password_from.is_none(),
        });
    }

    let mut rest = ready.as_slice();
    while let Some(first) = rest.first() {
        if first.outside_transaction {
            run(client, &first.sql, &first.shown).await?;
            rest = &rest[1..];
            continue;
        }
        let n = rest
            .iter()
            .position(|s| s.outside_transaction)
            .unwrap_or(rest.len());
        in_transaction(client, &rest[..n]).await?;
        rest = &rest[n..];
    }
    Ok(())
}

async fn in_transaction(client: &Client, statements: &[Ready]) -> Result<(), PgError> {
    run(client, "BEGIN", "BEGIN").await?;
    let result = async {
        if statements.iter().any(|s| s.secret) {
            for quiet in QUIET {
                run(client, quiet, "turn off statement logging for a password").await?;
            }
        }
        for s in statements {
            run(client, &s.sql, &s.shown).await?;
        }
        run(client, "COMMIT", "COMMIT").await
    }
    .await;
    if result.is_err() {
        // The error is what matters; a failed ROLLBACK means the connection is gone anyway.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

/// One statement through the simple query protocol (one statement per message, so the logging
/// settings of the transaction apply to each).
async fn run(client: &Client, sql: &str, shown: &str) -> Result<(), PgError> {
    tracing::debug!(statement = %shown, "executing");
    client
        .batch_execute(sql)
        .await
        .map_err(|e| PgError::from_driver(shown, &e))
}
