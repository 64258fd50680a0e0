//! Drops a test's prefixed PostgreSQL roles and databases when its harness goes.

use super::super::PgTarget;
use postgres_protocol::escape::escape_identifier;

/// Drops every database and role whose name starts with the prefix, when dropped.
pub(super) struct PgCleanup {
    pub(super) prefix: String,
}

impl Drop for PgCleanup {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for PostgreSQL cleanup");
            rt.block_on(drop_prefixed(&prefix))
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: PostgreSQL cleanup: {e}"),
            Err(_) => eprintln!("warning: PostgreSQL cleanup thread panicked"),
        }
    }
}

async fn drop_prefixed(prefix: &str) -> Result<(), tokio_postgres::Error> {
    let pg = PgTarget::superuser();
    let client = pg.connect(&pg.config("postgres")).await?;
    let names = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .filter(|n| n.starts_with(prefix))
            .collect()
    };
    let databases = names(
        client
            .query("SELECT datname::text FROM pg_catalog.pg_database", &[])
            .await?,
    );
    for db in databases {
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                escape_identifier(&db)
            ))
            .await?;
    }
    let roles = names(
        client
            .query("SELECT rolname::text FROM pg_catalog.pg_roles", &[])
            .await?,
    );
    for role in roles {
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", escape_identifier(&role)))
            .await?;
    }
    Ok(())
}
