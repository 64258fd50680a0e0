//! I/O that reads the world: manifests from files (this module) and, in the cluster, the
//! manifests, the objects they own and the database catalogs.

pub mod cluster;
pub mod databases;
pub mod errors;
pub mod files;
pub mod http;
pub mod patroni;
pub mod pod_environment;
pub mod postgres;
pub mod requests;
pub mod retry;
pub mod teams;

pub use errors::{describe_kube_error, error_chain};
