//! The database floor: what a run asks each cluster's server (one connection to `postgres`
//! and the server-wide catalog queries of `observe::postgres::catalog`; the benchmark's
//! manifests name no schema, extension or default privilege, so no database is looked into),
//! for N clusters at the run's parallelism, from a client that only counts the rows. With the
//! LIST floor, no run with databases reachable can be faster.

use futures::StreamExt;
use postgres_reconciler::observe::postgres::catalog::SERVER_WIDE;
use postgres_reconciler::observe::postgres::{PgConnection, connect};
use std::time::{Duration, Instant};

/// `clusters` servers (all the one test server here, as for the reconciler), `parallel` at once:
/// the wall time and the rows read.
pub async fn run(conn: &PgConnection, clusters: usize, parallel: usize) -> (Duration, u64) {
    let start = Instant::now();
    let rows: Vec<u64> = futures::stream::iter(0..clusters)
        .map(|_| async {
            let client = connect(conn, "postgres")
                .await
                .unwrap_or_else(|e| panic!("database floor: {e}"));
            let mut rows = 0;
            for (what, sql) in SERVER_WIDE {
                let read = client
                    .query(sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("database floor, {what}: {e}"));
                rows += read.len() as u64;
            }
            rows
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    (start.elapsed(), rows.iter().sum())
}
