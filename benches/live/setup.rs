//! What the benchmark prepares and does not measure: the CRDs, the namespaces, the shared
//! PostgreSQL roles, the configurations, the manifests, the pods, the seeded passwords.

use super::env::Env;
use super::kubectl;
use super::manifests::{self, Cluster, NAMESPACES, secret_name};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use postgres_reconciler::config::{Config, SslMode};
use postgres_reconciler::observe::postgres::PgConnection;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The password of the shared `standby` role in every cluster's standby Secret: the clusters
/// share one server, so they must agree on it (as the tests' clusters do).
const STANDBY_PASSWORD: &str = "standby-bench-password-not-secret";
pub const RELEASE_NAMESPACE: &str = "pgr-bench";
/// Namespaces where kubectl applies its copy of the rendered objects: no pods may start there.
pub const KUBECTL_PREFIX: &str = "kubectl";

pub struct Configs {
    pub unreachable: PathBuf,
    pub reachable: PathBuf,
    pub unreachable_config: Config,
}

pub fn prepare(env: &Env, work: &Path) -> Configs {
    let crds = work.join("crds.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_postgres-reconciler"))
        .arg("crds")
        .output()
        .expect("postgres-reconciler crds");
    assert!(
        out.status.success(),
        "crds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&crds, &out.stdout).expect("write CRDs");
    kubectl::apply(env, &crds);
    kubectl::run(
        env,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    );

    let mut namespaces = String::new();
    let names = (0..NAMESPACES)
        .flat_map(|i| ["bench", KUBECTL_PREFIX, "zalando"].map(|p| manifests::namespace(p, i)))
        .chain([
            RELEASE_NAMESPACE.to_string(),
            super::zalando::OPERATOR_NAMESPACE.to_string(),
        ]);
    for name in names {
        namespaces +=
            &format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n");
    }
    for i in 0..NAMESPACES {
        namespaces += &format!(
            "---\napiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: no-pods, namespace: {}}}\nspec: {{hard: {{pods: \"0\", persistentvolumeclaims: \"0\"}}}}\n",
            manifests::namespace(KUBECTL_PREFIX, i)
        );
    }
    kubectl::apply_text(env, &work.join("namespaces.yaml"), &namespaces);
    shared_roles(env);

    let unreachable_config = Config {
        release_namespace: RELEASE_NAMESPACE.into(),
        // No Patroni behind kwok's pods (as in the tests that run no Spilo runner).
        sync_patroni_config: false,
        ..Config::default()
    };
    let reachable_config = Config {
        postgres_host_template: "127.0.0.1".into(),
        postgres_port: env.var("PGRENV_PG_PORT").parse().expect("PGRENV_PG_PORT"),
        postgres_sslmode: SslMode::VerifyFull,
        postgres_ca_file: Some(env.var("PGRENV_PG_CA_FILE").into()),
        ..unreachable_config.clone()
    };
    let write = |name: &str, config: &Config| {
        let path = work.join(name);
        std::fs::write(&path, serde_yaml::to_string(config).expect("yaml")).expect("config");
        path
    };
    Configs {
        unreachable: write("unreachable.yaml", &unreachable_config),
        reachable: write("reachable.yaml", &reachable_config),
        unreachable_config,
    }
}

/// The environment's PostgreSQL as every reachable cluster's superuser reaches it.
pub fn superuser_connection(env: &Env) -> PgConnection {
    PgConnection {
        host: "127.0.0.1".into(),
        port: env.var("PGRENV_PG_PORT").parse().expect("PGRENV_PG_PORT"),
        user: env.var("PGRENV_PG_USER").into(),
        password: env.var("PGRENV_PG_PASSWORD").into(),
        sslmode: SslMode::VerifyFull,
        ca_file: Some(env.var("PGRENV_PG_CA_FILE").into()),
        connect_timeout: Duration::from_secs(10),
    }
}

/// `admin` (Spilo's bootstrap makes it in real clusters) and `standby`, as the tests make them.
fn shared_roles(env: &Env) {
    let sql = format!(
        "CREATE ROLE admin WITH NOLOGIN CREATEDB; CREATE ROLE standby WITH LOGIN REPLICATION PASSWORD '{STANDBY_PASSWORD}';"
    );
    let out = Command::new(format!("{}/psql", env.var("PGRENV_PG_BINDIR")))
        .arg(format!(
            "host={} port={} user={} dbname=postgres sslmode=require",
            env.var("PGRENV_PG_HOST"),
            env.var("PGRENV_PG_PORT"),
            env.var("PGRENV_PG_USER")
        ))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", &sql])
        .env("PGPASSWORD", env.var("PGRENV_PG_PASSWORD"))
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "shared roles: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Applies the clusters' manifests as a user would.
pub fn apply_manifests(env: &Env, work: &Path, clusters: &[Cluster], controller: Option<&str>) {
    let prefix = clusters
        .first()
        .map(|c| c.namespace.clone())
        .unwrap_or_default();
    let path = work.join(format!("manifests-{prefix}.yaml"));
    kubectl::apply_text(env, &path, &manifests::yaml(clusters, controller));
}

/// Waits (at most `bound`) until `expected` pods of the clusters under `prefix` run; how many do.
pub fn wait_for_pods(env: &Env, prefix: &str, expected: usize, bound: Duration) -> usize {
    let start = Instant::now();
    loop {
        let out = kubectl::run(
            env,
            &[
                "get",
                "pods",
                "-A",
                "-l",
                "application=spilo",
                "--field-selector=status.phase=Running",
                "-o",
                "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{end}",
            ],
        );
        let running = out
            .lines()
            .filter(|ns| ns.starts_with(&format!("{prefix}-")))
            .count();
        if running >= expected || start.elapsed() > bound {
            eprintln!(
                "bench: {running}/{expected} pods Running after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            return running;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Sets every cluster's superuser Secret to the test server's superuser password and its standby
/// Secret to the shared standby password, as `kubectl edit` would: the reconciler takes a
/// Secret's password as the truth, so the clusters now log in to the one server.
pub async fn seed_passwords(env: &Env, client: &kube::Client, clusters: &[Cluster]) {
    let superuser = env.var("PGRENV_PG_USER").to_string();
    let password = env.var("PGRENV_PG_PASSWORD").to_string();
    let patches: Vec<(String, String, String)> = clusters
        .iter()
        .flat_map(|c| {
            [
                (
                    c.namespace.clone(),
                    secret_name(&superuser, &c.name),
                    password.clone(),
                ),
                (
                    c.namespace.clone(),
                    secret_name("standby", &c.name),
                    STANDBY_PASSWORD.to_string(),
                ),
            ]
        })
        .collect();
    // The first apply made them; wait until they are all listed.
    let existing = Api::<Secret>::all(client.clone())
        .list_metadata(&ListParams::default().labels("cluster-name"))
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    eprintln!(
        "bench: {existing} credential Secrets; setting {} passwords",
        patches.len()
    );
    futures::stream::iter(patches)
        .for_each_concurrent(16, |(ns, name, password)| {
            let api = Api::<Secret>::namespaced(client.clone(), &ns);
            async move {
                let patch = serde_json::json!({"stringData": {"password": password}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap_or_else(|e| panic!("set the password of {ns}/{name}: {e}"));
            }
        })
        .await;
}
