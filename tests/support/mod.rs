//! Test support for the integration tests: the running local environment (`tests/cluster/up`),
//! a kube `Client`, a fresh namespace per test (removed afterwards) and PostgreSQL connections.
#![allow(dead_code, unused_imports)] // each test binary uses a different part

pub mod chart;
pub mod crds;
pub mod env;
pub mod fault_proxy;
pub mod json;
pub mod namespace;
pub mod pgbouncer;
pub mod postgres;
pub mod reconciler;
pub mod rollout;
pub mod second_apiserver;
pub mod spilo;
pub mod teams_api;
pub mod wait;
pub mod zalando;

pub use crds::install_crds;
pub use env::{TestEnv, pinned_kubernetes_version, unique_name};
pub use namespace::TestNamespace;
pub use postgres::PgTarget;
pub use wait::eventually;
