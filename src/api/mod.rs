//! CRD types only: the two manifests the reconciler reads and the status it writes.

// kube-derive repeats attributes for each printer column.
#![allow(clippy::duplicated_attributes)]

pub mod postgresql;
pub mod postgresqlconfig;
pub mod postgresteam;
pub mod status;

pub use postgresql::{Postgresql, PostgresqlSpec};
pub use postgresqlconfig::{PostgreSQLConfig, PostgreSQLConfigSpec, ReclaimPolicy, ServerRef};
pub use postgresteam::{PostgresTeam, PostgresTeamSpec};
pub use status::{AppliedCounts, PostgreSQLConfigStatus, PostgresqlStatus};
