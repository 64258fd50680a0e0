//! A small fleet for chaos trials (clusters with users and databases, and PostgreSQLConfigs on
//! the first cluster), `apply` runs of the real binary, and the checks every trial ends with.

use crate::support::TestEnv;
use crate::support::reconciler::{Harness, database_owner, login};
use k8s_openapi::api::core::v1::Secret;
use postgres_reconciler::apply::run::{ApplyOptions, run};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Lease of the fleet's runs: short, so a killed run blocks the next one briefly.
pub const LEASE_SECONDS: u64 = 5;

pub struct Fleet {
    pub h: Harness,
    pub clusters: Vec<String>,
    /// cluster → users (each owns a database of the same name).
    users: BTreeMap<String, Vec<String>>,
    /// PostgreSQLConfig databases (owned by `<database>_owner`).
    config_databases: Vec<String>,
    /// Every password seen so far, by Secret name: a password never changes.
    passwords: BTreeMap<String, String>,
    /// Every file a run wrote (logs, reports): no password may appear in them.
    outputs: Vec<PathBuf>,
}

/// How one run of the binary ended.
pub struct Ended {
    pub code: Option<i32>,
    pub report: Option<RunReport>,
    pub log: String,
}

impl Ended {
    pub fn describe(&self) -> String {
        let report = self.report.as_ref().map(text).unwrap_or_default();
        format!("exit {:?}\n{report}\n{}", self.code, tail(&self.log, 40))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Fleet {
    pub async fn new(test: &str, clusters: usize) -> Fleet {
        let mut h = Harness::new(test).await;
        h.config.lease_duration_seconds = LEASE_SECONDS;
        h.config.lease_wait_seconds = 4 * LEASE_SECONDS;
        let mut fleet = Fleet {
            clusters: (0..clusters).map(|i| format!("acid-chaos-{i}")).collect(),
            users: BTreeMap::new(),
            config_databases: Vec::new(),
            passwords: BTreeMap::new(),
            outputs: Vec::new(),
            h,
        };
        for (i, cluster) in fleet.clusters.clone().iter().enumerate() {
            fleet.h.cluster_secrets(cluster).await;
            let users = vec![
                fleet.h.name(&format!("c{i}_app")),
                fleet.h.name(&format!("c{i}_ro")),
            ];
            fleet.users.insert(cluster.clone(), users);
            fleet.apply_cluster(cluster).await;
        }
        for name in ["orders", "billing"] {
            let database = fleet.h.name(name);
            fleet
                .h
                .apply(json!({
                    "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
                    "metadata": {"name": name, "namespace": fleet.h.ns.name},
                    "spec": {
                        "database": database,
                        "owner": format!("{database}_owner"),
                        "server": {"cluster": fleet.clusters[0]},
                    }
                }))
                .await;
            fleet.config_databases.push(database);
        }
        fleet
    }

    async fn apply_cluster(&self, cluster: &str) {
        let users = &self.users[cluster];
        let user_flags: serde_json::Map<String, Value> =
            users.iter().map(|u| (u.clone(), json!([]))).collect();
        let databases: serde_json::Map<String, Value> =
            users.iter().map(|u| (u.clone(), json!(u))).collect();
        self.h
            .apply(self.h.cluster_manifest(
                cluster,
                1,
                Value::Object(user_flags),
                Value::Object(databases),
                json!({}),
            ))
            .await;
    }

    /// Gives a cluster one more user (and its database): work for the next run.
    pub async fn add_user(&mut self, cluster: &str, suffix: &str) {
        let user = self.h.name(suffix);
        self.users
            .get_mut(cluster)
            .expect("a cluster of the fleet")
            .push(user);
        self.apply_cluster(cluster).await;
    }

    /// Starts `apply` (the binary) through `kubeconfig`, or straight to the apiserver.
    pub fn spawn(
        &mut self,
        what: &str,
        kubeconfig: Option<&Path>,
    ) -> (std::process::Child, PathBuf) {
        let dir = self.h.temp_dir(what);
        let direct = PathBuf::from(TestEnv::get().kubeconfig_path());
        let child = self
            .h
            .spawn_apply(&dir, kubeconfig.unwrap_or(direct.as_path()));
        self.outputs.push(dir.join("apply.log"));
        self.outputs.push(dir.join("report.json"));
        (child, dir)
    }

    pub async fn wait(child: std::process::Child, dir: &Path) -> Ended {
        let mut child = child;
        let status = tokio::task::spawn_blocking(move || child.wait().expect("wait for apply"))
            .await
            .expect("join");
        Ended {
            code: status.code(),
            report: std::fs::read_to_string(dir.join("report.json"))
                .ok()
                .and_then(|r| serde_json::from_str(&r).ok()),
            log: std::fs::read_to_string(dir.join("apply.log")).unwrap_or_default(),
        }
    }

    /// Runs the binary to its end.
    pub async fn run_binary(&mut self, what: &str, kubeconfig: Option<&Path>) -> Ended {
        let (child, dir) = self.spawn(what, kubeconfig);
        Fleet::wait(child, &dir).await
    }

    /// A run may only say "done" (exit 0) when everything it planned was applied.
    pub fn assert_honest(ended: &Ended) {
        if ended.code != Some(0) {
            return;
        }
        let report = ended
            .report
            .as_ref()
            .unwrap_or_else(|| panic!("exit 0 without a run report:\n{}", ended.describe()));
        for m in &report.manifests {
            let unfinished = m
                .actions
                .iter()
                .filter(|a| a.result != ActionResult::Applied)
                .count();
            assert!(
                unfinished == 0 && m.invalid.is_empty(),
                "exit 0, but {} was not fully applied:\n{}",
                m.manifest,
                ended.describe()
            );
        }
        assert!(
            report.notes.iter().all(|n| !n.contains("failed")),
            "{}",
            ended.describe()
        );
    }

    /// Every Secret's password now; one that was seen before must not have changed.
    pub async fn record_passwords(&mut self) {
        let secrets = self
            .h
            .ns
            .api::<Secret>()
            .list(&Default::default())
            .await
            .expect("list Secrets");
        for s in secrets.items {
            let name = s.metadata.name.clone().unwrap_or_default();
            let Some(password) = s
                .data
                .as_ref()
                .and_then(|d| d.get("password"))
                .map(|b| String::from_utf8_lossy(&b.0).to_string())
            else {
                continue;
            };
            if let Some(before) = self.passwords.get(&name) {
                assert!(*before == password, "the password in Secret {name} changed");
            }
            self.passwords.insert(name, password);
        }
    }

    /// A run in this process, waiting for the Lease as long as a crashed run can hold it.
    pub async fn run_direct(&self) -> RunReport {
        let cluster = self.h.cluster_client().await;
        let options = ApplyOptions {
            lease_wait: Duration::from_secs(4 * LEASE_SECONDS),
            lease_duration: Duration::from_secs(LEASE_SECONDS),
            ..self.h.options(&crate::support::unique_name("chaos-check"))
        };
        run(&self.h.config, &cluster, &self.h.source, &options)
            .await
            .unwrap_or_else(|e| panic!("apply run: {e}"))
    }

    /// The end of every trial: converged (every cluster Running, then a run that writes nothing),
    /// no password changed, every user logs in with its Secret's password, every database is
    /// there, and no password appears in anything a run wrote.
    pub async fn check(&mut self) {
        for cluster in &self.clusters {
            self.h.wait_ready(cluster, 1).await;
        }
        let mut quiet = None;
        for _ in 0..10 {
            let report = self.run_direct().await;
            assert_eq!(report.exit_code, 0, "{}", text(&report));
            if report.writes == 0 {
                quiet = Some(report);
                break;
            }
            // Statuses catch up with pods that became ready meanwhile.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(
            quiet.is_some(),
            "no run without writes: the fleet does not converge"
        );
        self.record_passwords().await;
        for (cluster, users) in &self.users {
            for user in users {
                let secret = self.h.secret_name(user, cluster);
                let password = self
                    .passwords
                    .get(&secret)
                    .unwrap_or_else(|| panic!("no Secret {secret}"));
                login(user, password)
                    .await
                    .unwrap_or_else(|e| panic!("{user} cannot log in: {e}"));
                assert_eq!(database_owner(user).await.as_deref(), Some(user.as_str()));
            }
        }
        for database in &self.config_databases {
            assert!(
                database_owner(database).await.is_some(),
                "database {database} is gone"
            );
        }
        for file in &self.outputs {
            let Ok(output) = std::fs::read_to_string(file) else {
                continue;
            };
            for (secret, password) in &self.passwords {
                assert!(
                    !output.contains(password.as_str()),
                    "the password of {secret} appears in {}",
                    file.display()
                );
            }
        }
    }
}
