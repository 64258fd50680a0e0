//! `apply` runs against the local control plane and the shared test PostgreSQL: a namespace with
//! its own Lease, a configuration that reaches every cluster at the test server, the Secrets that
//! keep tests from fighting over the shared `postgres`/`standby` roles, and helpers to look at
//! what a run left behind (objects, status, pg_roles, pg_database, logins).
//!
//! PostgreSQL roles are cluster-global and every test shares one server: each test names its
//! roles and databases with its own prefix ([`Harness::name`]), and everything with that prefix
//! is dropped when the harness goes (also when the test panics).

use super::{PgTarget, TestEnv, TestNamespace, eventually, install_crds, unique_name};
use base64::Engine;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use postgres_protocol::escape::{escape_identifier, escape_literal};
use postgres_reconciler::apply::run::{ApplyOptions, run};
use postgres_reconciler::config::{Config, SslMode};
use postgres_reconciler::observe::cluster::{
    ClusterClient, MANIFEST_KINDS, OWNED_KINDS, Scope, api_resource, list_all,
};
use postgres_reconciler::observe::postgres::{PgConnection, connect};
use postgres_reconciler::pipeline::Source;
use postgres_reconciler::plan::scram::verifier_matches;
use postgres_reconciler::report::run::RunReport;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The password of the shared `standby` role in every test's `standby.<cluster>…` Secret.
pub const STANDBY_PASSWORD: &str = "standby-test-password-not-secret";
/// The field manager manifests are applied with, as `kubectl apply --server-side` would.
pub const USER: &str = "kubectl";
/// Limit for waiting on controllers and kwok (a bound, not an expectation).
pub const WAIT: Duration = Duration::from_secs(120);

/// A row of pg_roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub superuser: bool,
    pub createdb: bool,
    pub createrole: bool,
    pub login: bool,
    pub replication: bool,
    pub comment: Option<String>,
}

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
            ..Config::default()
        };
        let source = Source {
            files: None,
            offline: false,
            base: None,
            scope: Scope::Namespaces(vec![ns.name.clone()]),
            default_namespace: ns.name.clone(),
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

    pub fn api(&self, kind: &str) -> Api<DynamicObject> {
        let (api_version, kind, plural) = OWNED_KINDS
            .iter()
            .chain(MANIFEST_KINDS)
            .find(|(_, k, _)| *k == kind)
            .copied()
            .unwrap_or_else(|| panic!("unknown kind {kind}"));
        Api::namespaced_with(
            self.ns.client.clone(),
            &self.ns.name,
            &api_resource(api_version, kind, plural),
        )
    }

    /// Applies a manifest as a user would (server-side apply under another field manager),
    /// retrying while its CRD is not served yet.
    pub async fn apply(&self, body: Value) -> Value {
        let kind = body["kind"].as_str().expect("kind").to_string();
        let name = body["metadata"]["name"].as_str().expect("name").to_string();
        let api = self.api(&kind);
        let params = PatchParams::apply(USER);
        let applied = eventually(Duration::from_secs(30), "the CRD to be served", || async {
            api.patch(&name, &params, &Patch::Apply(&body))
                .await
                .map_err(|e| eprintln!("apply {kind} {name}: {e}"))
                .ok()
        })
        .await;
        serde_json::to_value(applied).expect("json")
    }

    /// A `postgresql` manifest in this namespace.
    pub fn cluster_manifest(
        &self,
        name: &str,
        instances: i64,
        users: Value,
        databases: Value,
        parameters: Value,
    ) -> Value {
        json!({
            "apiVersion": "acid.zalan.do/v1",
            "kind": "postgresql",
            "metadata": {"name": name, "namespace": self.ns.name},
            "spec": {
                "teamId": "acid",
                "numberOfInstances": instances,
                "volume": {"size": "1Gi"},
                "users": users,
                "databases": databases,
                "postgresql": {"version": "17", "parameters": parameters},
            }
        })
    }

    /// The object, if it exists.
    pub async fn get(&self, kind: &str, name: &str) -> Option<Value> {
        self.api(kind)
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("get {kind} {name}: {e}"))
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    pub async fn status(&self, kind: &str, name: &str) -> Value {
        self.get(kind, name)
            .await
            .unwrap_or_else(|| panic!("{kind} {name} exists"))["status"]
            .clone()
    }

    /// Creates the superuser Secret (with `superuser_password`) and the standby Secret of
    /// `cluster`, labelled as ours, before the reconciler would generate them.
    pub async fn cluster_secrets_with(&self, cluster: &str, superuser_password: &str) {
        let superuser = PgTarget::superuser();
        self.create_secret(cluster, &superuser.user, superuser_password)
            .await;
        self.create_secret(cluster, "standby", STANDBY_PASSWORD)
            .await;
    }

    /// [`Harness::cluster_secrets_with`] the real superuser password.
    pub async fn cluster_secrets(&self, cluster: &str) {
        let password = PgTarget::superuser().password;
        self.cluster_secrets_with(cluster, &password).await;
    }

    /// The credential Secret name of `user` in `cluster` (Zalando's template).
    pub fn secret_name(&self, user: &str, cluster: &str) -> String {
        format!(
            "{}.{cluster}.credentials.postgresql.acid.zalan.do",
            user.replace('_', "-")
        )
    }

    /// Creates a credential Secret the way a user (or an earlier operator) would have.
    pub async fn create_secret(&self, cluster: &str, user: &str, password: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {
                "name": self.secret_name(user, cluster),
                "labels": {
                    "app.kubernetes.io/managed-by": "postgres-reconciler",
                    "application": "spilo",
                    "cluster-name": cluster,
                },
            },
            "type": "Opaque",
            "stringData": {"username": user, "password": password},
        }))
        .expect("secret");
        self.ns
            .api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await
            .unwrap_or_else(|e| panic!("create Secret for {user}: {e}"));
    }

    /// The password in a credential Secret.
    pub async fn secret_password(&self, name: &str) -> Option<String> {
        let secret = self
            .ns
            .api::<Secret>()
            .get_opt(name)
            .await
            .expect("get Secret")?;
        let bytes = secret.data?.get("password")?.0.clone();
        Some(String::from_utf8(bytes).expect("UTF-8 password"))
    }

    /// Sets the password of a credential Secret (as `kubectl edit` would).
    pub async fn set_secret_password(&self, name: &str, password: &str) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(password);
        self.ns
            .api::<Secret>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"password": encoded}})),
            )
            .await
            .unwrap_or_else(|e| panic!("patch Secret {name}: {e}"));
    }

    /// Waits until the StatefulSet of `cluster` has `replicas` pods, all Running and Ready, and
    /// its status says so for its current generation.
    pub async fn wait_ready(&self, cluster: &str, replicas: i64) {
        let sts = self.api("StatefulSet");
        let pods: Api<Pod> = self.ns.api();
        let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
        eventually(
            WAIT,
            &format!("{replicas} pods of {cluster} Running and Ready"),
            || async {
                let s = serde_json::to_value(sts.get_opt(cluster).await.ok()??).ok()?;
                let ready = s.pointer("/status/readyReplicas").and_then(Value::as_i64);
                let observed = s.pointer("/status/observedGeneration");
                if observed != s.pointer("/metadata/generation") || ready != Some(replicas) {
                    return None;
                }
                let running = pods
                    .list(&selector)
                    .await
                    .ok()?
                    .items
                    .iter()
                    .filter(|p| is_running_and_ready(p))
                    .count();
                (running as i64 == replicas).then_some(())
            },
        )
        .await;
    }

    /// Runs until the cluster's status is `Running` for its current generation (after its pods
    /// are ready), and returns the last run's report.
    pub async fn settle(&self, cluster: &str, replicas: i64) -> RunReport {
        self.wait_ready(cluster, replicas).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let report = self.run().await;
            let live = self.get("postgresql", cluster).await;
            let running = live.as_ref().is_some_and(|l| {
                l["status"]["PostgresClusterStatus"] == "Running"
                    && l["status"]["observedGeneration"] == l["metadata"]["generation"]
            });
            if running {
                return report;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting for {cluster} to be Running: {:#}\nlast run: {}",
                live.map(|l| l["status"].clone()).unwrap_or_default(),
                postgres_reconciler::report::run::text(&report)
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// resourceVersions of every object in the namespace that a run could touch or that
    /// controllers derive from what it writes, except the run's own Lease (taken and released
    /// by every run, by design).
    pub async fn resource_versions(&self) -> BTreeMap<String, String> {
        let scope = Scope::Namespaces(vec![self.ns.name.clone()]);
        let extra: &[(&str, &str, &str)] = &[
            ("v1", "Pod", "pods"),
            ("v1", "ConfigMap", "configmaps"),
            ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
            ("events.k8s.io/v1", "Event", "events"),
            ("coordination.k8s.io/v1", "Lease", "leases"),
        ];
        let mut out = BTreeMap::new();
        for &kind in OWNED_KINDS.iter().chain(MANIFEST_KINDS).chain(extra) {
            for o in list_all(&self.ns.client, &scope, kind, None)
                .await
                .expect("list")
            {
                let name = o["metadata"]["name"].as_str().unwrap_or_default();
                if kind.1 == "Lease" && name == postgres_reconciler::apply::lease::LEASE_NAME {
                    continue;
                }
                out.insert(
                    format!("{} {name}", kind.1),
                    o["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        out
    }

    /// [`Harness::resource_versions`] once they stop changing (controllers finishing up).
    pub async fn settled_resource_versions(&self) -> BTreeMap<String, String> {
        eventually(WAIT, "the namespace's objects to settle", || async {
            let first = self.resource_versions().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            (self.resource_versions().await == first).then_some(first)
        })
        .await
    }
}

fn is_running_and_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    running && ready && pod.metadata.deletion_timestamp.is_none()
}

/// A superuser connection to the test server.
pub async fn superuser() -> tokio_postgres::Client {
    let pg = PgTarget::superuser();
    pg.connect(&pg.config("postgres"))
        .await
        .expect("connect as the superuser")
}

/// The role's attributes, if it exists.
pub async fn role(name: &str) -> Option<RoleRow> {
    let client = superuser().await;
    let row = client
        .query_opt(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, \
                    pg_catalog.shobj_description(oid, 'pg_authid') \
             FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .expect("read pg_roles")?;
    Some(RoleRow {
        superuser: row.get(0),
        createdb: row.get(1),
        createrole: row.get(2),
        login: row.get(3),
        replication: row.get(4),
        comment: row.get(5),
    })
}

/// The owner of a database, if it exists.
pub async fn database_owner(name: &str) -> Option<String> {
    superuser()
        .await
        .query_opt(
            "SELECT pg_catalog.pg_get_userbyid(datdba)::text FROM pg_catalog.pg_database \
             WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("read pg_database")
        .map(|r| r.get(0))
}

/// Logs in as `user` with `password` over TLS (verify-full), as a client of the cluster would.
pub async fn login(user: &str, password: &str) -> Result<(), String> {
    let pg = PgTarget::superuser();
    let conn = PgConnection {
        host: pg.host,
        port: pg.port,
        user: user.into(),
        password: password.into(),
        sslmode: SslMode::VerifyFull,
        ca_file: Some(pg.ca_file.into()),
        connect_timeout: Duration::from_secs(10),
    };
    let client = connect(&conn, "postgres")
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(row.get::<_, String>(0), user);
    assert!(row.get::<_, bool>(1), "the login is over TLS");
    Ok(())
}

/// The roles every cluster shares on the one test server: `admin` (made by Spilo's bootstrap in
/// real clusters) and `standby` with [`STANDBY_PASSWORD`]. Made here, one test at a time, so that
/// parallel runs never race to create or alter them.
async fn prepare_shared_roles() {
    let client = superuser().await;
    client
        .batch_execute("SELECT pg_advisory_lock(4242)")
        .await
        .expect("advisory lock");
    let result = async {
        for (role, attributes) in [
            ("admin", "NOLOGIN CREATEDB"),
            ("standby", "LOGIN REPLICATION"),
        ] {
            let exists = client
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                    &[&role],
                )
                .await?
                .is_some();
            if !exists {
                client
                    .batch_execute(&format!(
                        "CREATE ROLE {} WITH {attributes}",
                        escape_identifier(role)
                    ))
                    .await?;
            }
        }
        let stored: Option<String> = client
            .query_one(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = 'standby'",
                &[],
            )
            .await?
            .get(0);
        if !stored.is_some_and(|v| verifier_matches(STANDBY_PASSWORD, &v)) {
            let verifier = postgres_protocol::password::scram_sha_256(STANDBY_PASSWORD.as_bytes());
            client
                .batch_execute(&format!(
                    "ALTER ROLE standby PASSWORD {}",
                    escape_literal(&verifier)
                ))
                .await?;
        }
        Ok::<_, tokio_postgres::Error>(())
    }
    .await;
    client
        .batch_execute("SELECT pg_advisory_unlock(4242)")
        .await
        .expect("advisory unlock");
    result.expect("prepare the shared roles");
}

/// Drops every database and role whose name starts with the prefix, when dropped.
struct PgCleanup {
    prefix: String,
}

impl Drop for PgCleanup {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for PostgreSQL cleanup");
            rt.block_on(drop_prefixed(&prefix))
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: PostgreSQL cleanup: {e}"),
            Err(_) => eprintln!("warning: PostgreSQL cleanup thread panicked"),
        }
    }
}

async fn drop_prefixed(prefix: &str) -> Result<(), tokio_postgres::Error> {
    let pg = PgTarget::superuser();
    let client = pg.connect(&pg.config("postgres")).await?;
    let names = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .filter(|n| n.starts_with(prefix))
            .collect()
    };
    let databases = names(
        client
            .query("SELECT datname::text FROM pg_catalog.pg_database", &[])
            .await?,
    );
    for db in databases {
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                escape_identifier(&db)
            ))
            .await?;
    }
    let roles = names(
        client
            .query("SELECT rolname::text FROM pg_catalog.pg_roles", &[])
            .await?,
    );
    for role in roles {
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", escape_identifier(&role)))
            .await?;
    }
    Ok(())
}
