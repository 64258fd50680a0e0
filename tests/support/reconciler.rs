//! `apply` runs against the local control plane and the shared test PostgreSQL: a namespace with
//! its own Lease, a configuration that reaches every cluster at the test server, the Secrets that
//! keep tests from fighting over the shared `postgres`/`standby` roles, and helpers to look at
//! what a run left behind (objects, status, pg_roles, pg_database, logins).
//!
//! PostgreSQL roles are cluster-global and every test shares one server: each test names its
//! roles and databases with its own prefix ([`Harness::name`]), and everything with that prefix
//! is dropped when the harness goes (also when the test panics).

mod binary;
mod objects;
mod pg_cleanup;
mod pg_queries;
mod readiness;
mod secrets;
mod shared_roles;

use super::{TestEnv, TestNamespace, install_crds, unique_name};
use pg_cleanup::PgCleanup;
use postgres_reconciler::apply::run::{ApplyOptions, run};
use postgres_reconciler::config::{Config, SslMode};
use postgres_reconciler::observe::cluster::{ClusterClient, Scope};
use postgres_reconciler::pipeline::Source;
use postgres_reconciler::report::run::RunReport;
use shared_roles::prepare_shared_roles;
use std::time::Duration;

pub use pg_queries::{RoleRow, database_owner, login, memberships, role, superuser};
pub use secrets::zalando_secret;

/// The password of the shared `standby` role in every test's `standby.<cluster>…` Secret.
pub const STANDBY_PASSWORD: &str = "standby-test-password-not-secret";
/// The field manager manifests are applied with, as `kubectl apply --server-side` would.
pub const USER: &str = "kubectl";
/// Limit for waiting on controllers and kwok (a bound, not an expectation).
pub const WAIT: Duration = Duration::from_secs(120);

/// One test's namespace, configuration and PostgreSQL names.
pub struct Harness {
    pub ns: TestNamespace,
    pub config: Config,
    pub source: Source,
    /// Starts every role and database name of this test (lower case, `_` separated).
    pub prefix: String,
    _cleanup: PgCleanup,
}

impl Harness {
    pub async fn new(test: &str) -> Harness {
        let ns = TestNamespace::new(test).await;
        install_crds(&ns.client).await;
        let env = TestEnv::get();
        let config = Config {
            postgres_host_template: "127.0.0.1".into(),
            postgres_port: env.var("PGRENV_PG_PORT").parse().expect("PGRENV_PG_PORT"),
            postgres_sslmode: SslMode::VerifyFull,
            postgres_ca_file: Some(env.var("PGRENV_PG_CA_FILE").into()),
            release_namespace: ns.name.clone(),
            // No Patroni behind kwok's pods unless a test runs the Spilo runner (and turns it on).
            sync_patroni_config: false,
            ..Config::default()
        };
        let source = Source {
            files: None,
            offline: false,
            base: None,
            reach_databases: true,
            scope: Scope::Namespaces(vec![ns.name.clone()]),
            default_namespace: ns.name.clone(),
            clock: None,
        };
        let prefix = unique_name(test).replace('-', "_");
        prepare_shared_roles().await;
        Harness {
            ns,
            config,
            source,
            _cleanup: PgCleanup {
                prefix: prefix.clone(),
            },
            prefix,
        }
    }

    /// A role or database name unique to this test: `<prefix>_<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    pub fn options(&self, identity: &str) -> ApplyOptions {
        ApplyOptions {
            allow_destructive: false,
            lease_namespace: self.ns.name.clone(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(60),
            lease_wait: Duration::ZERO,
        }
    }

    /// A client that counts only its own requests.
    pub async fn cluster_client(&self) -> ClusterClient {
        ClusterClient::from_config(TestEnv::get().kube_config().await).expect("cluster client")
    }

    /// One `apply` run with a fresh client (its report counts this run's requests only).
    pub async fn run(&self) -> RunReport {
        let cluster = self.cluster_client().await;
        let identity = unique_name("test-run");
        run(
            &self.config,
            &cluster,
            &self.source,
            &self.options(&identity),
        )
        .await
        .unwrap_or_else(|e| panic!("apply run: {e}"))
    }
}
