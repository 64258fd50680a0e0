//! postgres-reconciler: a one-shot reconciler for PostgreSQL on Kubernetes.
//!
//! Every run is observe → render → plan → apply → report, then exit (see DESIGN.md).
//! Pure stages (render, plan, report) never do I/O; observe and apply do.

pub mod api;
pub mod apply;
pub mod config;
pub mod crds;
pub mod logging;
pub mod observe;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod report;
pub mod state;
pub mod validate;
pub mod version;
pub mod watch;

#[cfg(test)]
mod layout_tests;
