//! The roles every test cluster shares on the one test server, made before each test.

use super::STANDBY_PASSWORD;
use super::pg_queries::superuser;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use postgres_reconciler::plan::scram::verifier_matches;

/// The roles every cluster shares on the one test server: `admin` (made by Spilo's bootstrap in
/// real clusters) and `standby` with [`STANDBY_PASSWORD`]. Made here, one test at a time, so that
/// parallel runs never race to create or alter them.
pub(super) async fn prepare_shared_roles() {
    let client = superuser().await;
    client
        .batch_execute("SELECT pg_advisory_lock(4242)")
        .await
        .expect("advisory lock");
    let result = async {
        for (role, attributes) in [
            ("admin", "NOLOGIN CREATEDB"),
            ("standby", "LOGIN REPLICATION"),
        ] {
            let exists = client
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                    &[&role],
                )
                .await?
                .is_some();
            if !exists {
                client
                    .batch_execute(&format!(
                        "CREATE ROLE {} WITH {attributes}",
                        escape_identifier(role)
                    ))
                    .await?;
            }
        }
        let stored: Option<String> = client
            .query_one(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = 'standby'",
                &[],
            )
            .await?
            .get(0);
        if !stored.is_some_and(|v| verifier_matches(STANDBY_PASSWORD, &v)) {
            let verifier = postgres_protocol::password::scram_sha_256(STANDBY_PASSWORD.as_bytes());
            client
                .batch_execute(&format!(
                    "ALTER ROLE standby PASSWORD {}",
                    escape_literal(&verifier)
                ))
                .await?;
        }
        Ok::<_, tokio_postgres::Error>(())
    }
    .await;
    client
        .batch_execute("SELECT pg_advisory_unlock(4242)")
        .await
        .expect("advisory unlock");
    result.expect("prepare the shared roles");
}
