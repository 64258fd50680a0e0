//! Parity with Zalando's postgres-operator, the reference implementation: every object it makes
//! for the corpus is compared with ours, in both of Patroni's Kubernetes DCS modes. A difference
//! fails the test unless `fixtures/parity/intentional.yaml` lists it with its reason, or
//! `fixtures/parity/known-gaps.yaml` lists it as not fixed yet.

#[path = "../support/mod.rs"]
mod support;

mod adoption;
mod config_file;
mod corpus;
mod cross_namespace;
mod dcs_modes;
mod diff;
mod expectations;
mod harness;
mod normalize;
mod pooler;
mod rotation;
mod zalando_crd;
