//! Pure data: what `observe` saw (live objects, pods, database catalogs, Patroni), filled by
//! `observe` and read by `plan`, so that the pure stages never import an I/O module.

mod compact;
mod database;
pub mod managed_fields;
mod observed;
mod patroni;
pub mod primary;
pub mod relevance;
mod teams;
pub mod trim;
mod unknown;

pub use compact::{CompactJson, Head, by_name};
pub use database::{
    ObservedDatabase, ObservedDatabaseState, ObservedLookupFunction, ObservedRole, ObservedSchema,
};
pub use observed::{DatabaseObservation, Observed};
pub use patroni::{PatroniMember, PatroniObservation};
pub use teams::{TeamAdditions, TeamMap, TeamObservation};
pub use unknown::UnknownCause;
