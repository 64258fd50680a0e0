//! The chaos suite: `apply` against the real local environment while things go wrong: runs
//! killed at random moments, a share of all API requests failing in the ways a flaky apiserver
//! or load balancer fails, two runs at once, the apiserver and PostgreSQL restarted in the middle
//! of a run. Every trial checks the same things ([`fleet::Fleet::check`]): the fleet converges,
//! no password changed, every login role logs in with its Secret's password, nothing was
//! dropped, no password appeared in any output.
//!
//! `make test` runs one short trial of each; `make chaos` runs many (`CHAOS_TRIALS`, default 30)
//! and the restarts (they stop the shared apiserver and PostgreSQL, so they run alone).

#[path = "../support/mod.rs"]
mod support;

mod faults;
mod fleet;
mod kills;
mod restarts;

/// How many trials a test makes: `CHAOS_TRIALS`, else `short` (the `make test` size).
pub fn trials(short: usize) -> usize {
    std::env::var("CHAOS_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(short)
}
