//! A cluster on real Patroni for a test: the chart's Spilo pod RBAC (a release of its own), a
//! harness that reads Patroni and reaches each cluster's database through its master Service
//! (as in a cluster: `{cluster}.{namespace}.svc`, see [`ServiceForwarder`]), the cluster's
//! Secrets, the manifest, the Spilo runner, the first run, and Patroni's bootstrap (one leader,
//! every other member a replica).

use super::services::ServiceForwarder;
use super::{SpiloRunner, roles};
use crate::support::chart::Release;
use crate::support::reconciler::Harness;
use crate::support::{TestNamespace, eventually};
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::PgConnection;
use postgres_reconciler::report::run::text;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Patroni's bootstrap (initdb, then a basebackup per replica), or a failover: minutes at most.
pub const PATRONI_WAIT: Duration = Duration::from_secs(240);

/// Fields drop in order: the members stop before their namespace goes, so no pod IP kwok hands
/// to another test is still held by one of them.
pub struct PatroniCluster {
    pub runner: SpiloRunner,
    _services: ServiceForwarder,
    pub h: Harness,
    pub name: String,
    pub instances: usize,
    _release: Release,
    _release_ns: TestNamespace,
}

impl PatroniCluster {
    /// `manifest` makes the cluster's manifest from the harness (its namespace and names).
    pub async fn start(
        test: &str,
        name: &str,
        instances: usize,
        manifest: impl FnOnce(&Harness) -> Value,
    ) -> PatroniCluster {
        let release_ns = TestNamespace::new(&format!("{test}-rel")).await;
        let release = Release::install(&release_ns.name, &["--skip-crds"]).await;
        let mut h = Harness::new(test).await;
        h.config.pod_cluster_role_name = release.pod_cluster_role();
        h.config.sync_patroni_config = true;
        h.config.postgres_host_template = "{cluster}.{namespace}.svc".into();
        h.config.postgres_port = 5432;
        // The pods' certificates are self-signed, as Spilo's own when none is mounted.
        h.config.postgres_sslmode = postgres_reconciler::config::SslMode::Require;
        h.config.postgres_ca_file = None;
        h.cluster_secrets(name).await;
        h.apply(manifest(&h)).await;
        let root = h.temp_dir("spilo-runner");
        let runner = SpiloRunner::start(h.ns.client.clone(), &h.ns.name, &root);
        let services = ServiceForwarder::start(h.ns.client.clone(), &h.ns.name);
        let first = h.run().await;
        assert_eq!(first.exit_code, 0, "{}", text(&first));
        let cluster = PatroniCluster {
            h,
            name: name.into(),
            instances,
            runner,
            _services: services,
            _release: release,
            _release_ns: release_ns,
        };
        cluster.wait_for_roles("Patroni's bootstrap").await;
        cluster
    }

    /// Pod → `spilo-role`, as Patroni labelled them.
    pub async fn roles(&self) -> BTreeMap<String, String> {
        roles(&self.h.ns.client, &self.h.ns.name, &self.name).await
    }

    /// Waits for one leader and every other member a replica; returns the leader's pod.
    pub async fn wait_for_roles(&self, what: &str) -> String {
        wait_for_roles_of(&self.h, &self.name, self.instances, what).await
    }

    /// Another cluster in the same namespace, run by the same runner: its Secrets, its
    /// manifest, a run, and Patroni's bootstrap. Returns its leader's pod.
    pub async fn add(&self, name: &str, instances: usize, manifest: Value) -> String {
        self.h.cluster_secrets(name).await;
        self.h.apply(manifest).await;
        let report = self.h.run().await;
        assert_ne!(report.exit_code, 1, "{}", text(&report));
        wait_for_roles_of(&self.h, name, instances, "Patroni's bootstrap").await
    }
}

/// Waits until `cluster` has one leader and every other of its `instances` members is a
/// replica, as Patroni labels them; returns the leader's pod.
pub async fn wait_for_roles_of(h: &Harness, cluster: &str, instances: usize, what: &str) -> String {
    eventually(
        PATRONI_WAIT,
        &format!("{what}: one leader of {cluster}, the others replicas"),
        || async {
            let r = roles(&h.ns.client, &h.ns.name, cluster).await;
            let leaders: Vec<&String> = r
                .iter()
                .filter(|(_, v)| *v == "master")
                .map(|(p, _)| p)
                .collect();
            let replicas = r.values().filter(|v| *v == "replica").count();
            (leaders.len() == 1 && replicas + 1 == instances).then(|| leaders[0].clone())
        },
    )
    .await
}

impl PatroniCluster {
    /// Pod name → (uid, pod IP) of the cluster's pods that have an address.
    pub async fn pods(&self) -> BTreeMap<String, (String, String)> {
        let api: kube::Api<k8s_openapi::api::core::v1::Pod> = self.h.ns.api();
        let list = api
            .list(&kube::api::ListParams::default().labels(&format!("cluster-name={}", self.name)))
            .await
            .expect("list the cluster's pods");
        list.items
            .into_iter()
            .filter_map(|p| Some((p.metadata.name?, (p.metadata.uid?, p.status?.pod_ip?))))
            .collect()
    }

    /// The superuser's password, from the cluster's Secret.
    pub async fn superuser_password(&self) -> String {
        self.h
            .secret_password(&self.h.secret_name("postgres", &self.name))
            .await
            .expect("the superuser's Secret")
    }
}

/// A connection to a member (by pod IP) or to a Service name, as `user`. The pods' certificates
/// are self-signed, as Spilo's own when none is mounted: TLS is required, not verified.
pub fn member_connection(host: &str, user: &str, password: &str) -> PgConnection {
    PgConnection {
        host: host.into(),
        port: 5432,
        user: user.into(),
        password: password.into(),
        sslmode: SslMode::Require,
        ca_file: None,
        connect_timeout: Duration::from_secs(5),
    }
}
