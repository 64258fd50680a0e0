pub mod lease;
pub mod objects;
pub mod passwords;
pub mod run;
pub mod sql;
pub mod status;
