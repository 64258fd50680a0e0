//! Polling for state that other components (controllers, kwok, RBAC caches) reach eventually.

use std::future::Future;
use std::time::Duration;

/// Polls `probe` every 250 ms until it returns `Some`, or panics after `limit` naming `what`.
/// The limit bounds how long a test waits; it is not a performance assertion.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("gave up after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
