pub mod lease;
pub mod objects;
pub mod passwords;
pub mod patroni;
pub mod run;
pub mod sql;
pub mod status;
