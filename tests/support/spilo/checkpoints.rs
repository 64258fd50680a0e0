//! A standby's first copy of its source waits for a checkpoint on the source: `pg_basebackup`
//! asks for a spread one (Spilo's `basebackup.sh` as Patroni's `basebackup`), which takes up to
//! `checkpoint_timeout` × `checkpoint_completion_target` (4.5 min by default). A test does what
//! an impatient operator does: a `CHECKPOINT` on the source, which finishes the spread one at
//! full speed. Every few seconds, on each pod of the source, until the task is dropped.

use super::cluster::member_connection;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use postgres_reconciler::observe::postgres::connect;
use std::time::Duration;

pub struct Checkpoints(tokio::task::JoinHandle<()>);

impl Checkpoints {
    pub fn start(client: kube::Client, namespace: &str, source: &str, password: String) -> Self {
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        let selector = ListParams::default().labels(&format!("cluster-name={source}"));
        Checkpoints(tokio::spawn(async move {
            loop {
                let ips: Vec<String> = pods
                    .list(&selector)
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.status?.pod_ip)
                    .collect();
                for ip in ips {
                    let conn = member_connection(&ip, "postgres", &password);
                    if let Ok(client) = connect(&conn, "postgres").await {
                        let _ = client.batch_execute("CHECKPOINT").await;
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }))
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}
