//! Zalando's postgres-operator (the parity oracle), built by `tests/cluster/build`, run out of
//! cluster against the local control plane and watching one namespace. Its ConfigMap is the
//! module's own `manifests/configmap.yaml`, read at test time, with only what running beside
//! other tests needs changed (`watched_namespace`, `enable_crd_registration`, `api_port`) and
//! whatever a test asks for on top. Stopped when dropped.
//!
//! Zalando's pods run real Patroni too (the Spilo runner, see `spilo`): Patroni bootstraps the
//! oracle's clusters from the oracle's own pod spec and sets the `spilo-role` labels Zalando
//! waits for; a Service forwarder makes its Services reachable (a standby streams from its
//! source's). Both go with the oracle.

use super::spilo::SpiloRunner;
use super::spilo::services::ServiceForwarder;
use super::{TestEnv, eventually};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CONFIGMAP_NAME: &str = "postgres-operator";

/// The module directory of the oracle (its `manifests/`, `docs/`, sources).
pub fn module_dir() -> PathBuf {
    PathBuf::from(TestEnv::get().var("PGRENV_ZALANDO_MODULE"))
}

/// `data:` of the module's `manifests/configmap.yaml`.
pub fn module_configmap() -> BTreeMap<String, String> {
    let path = module_dir().join("manifests/configmap.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let cm: ConfigMap = serde_yaml::from_str(&text).expect("Zalando's configmap.yaml");
    cm.data.expect("data in configmap.yaml")
}

/// One document of a multi-document YAML file from the module's `manifests/`, by kind and name.
pub fn module_manifest(file: &str, kind: &str, name: &str) -> serde_json::Value {
    let path = module_dir().join("manifests").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| serde::Deserialize::deserialize(doc).ok())
        .map(|v: serde_yaml::Value| serde_json::to_value(v).expect("json"))
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} not in {}", path.display()))
}

pub struct Zalando {
    child: Child,
    runner: Option<SpiloRunner>,
    services: Option<ServiceForwarder>,
    pub namespace: String,
    pub log: PathBuf,
    pub api_port: u16,
}

impl Zalando {
    /// Starts the oracle on `namespace` with the module's ConfigMap, `overrides` applied on top,
    /// without database access (it makes the objects; the corpus's databases stay as Spilo made
    /// them).
    pub async fn start(
        client: &Client,
        namespace: &str,
        overrides: &[(&str, &str)],
        dir: &Path,
    ) -> Zalando {
        Self::launch(client, namespace, overrides, dir, false).await
    }

    /// The same, connecting to the clusters' databases as it does in production (roles,
    /// databases, the connection pooler's lookup function), through their master Services.
    pub async fn start_with_database_access(
        client: &Client,
        namespace: &str,
        overrides: &[(&str, &str)],
        dir: &Path,
    ) -> Zalando {
        Self::launch(client, namespace, overrides, dir, true).await
    }

    async fn launch(
        client: &Client,
        namespace: &str,
        overrides: &[(&str, &str)],
        dir: &Path,
        database_access: bool,
    ) -> Zalando {
        let env = TestEnv::get();
        let api_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut data = module_configmap();
        data.insert("watched_namespace".into(), namespace.into());
        data.insert("enable_crd_registration".into(), "false".into());
        // Several oracles run at once (one per DCS mode); each needs its own REST port.
        data.insert("api_port".into(), api_port.to_string());
        for (k, v) in overrides {
            data.insert(k.to_string(), v.to_string());
        }
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(CONFIGMAP_NAME.into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &cm)
            .await
            .expect("create Zalando's ConfigMap");

        let log = dir.join("zalando.log");
        let out = std::fs::File::create(&log).expect("log file");
        // It asks the Teams API only when a test serves one (`support::teams_api`).
        let teams_api = overrides.contains(&("enable_teams_api", "true"));
        let child = Command::new(env.var("PGRENV_ZALANDO"))
            .arg("-outofcluster")
            .args((!database_access).then_some("-nodatabaseaccess"))
            .args((!teams_api).then_some("-noteamsapi"))
            .arg(format!("-kubeconfig={}", env.kubeconfig_path()))
            // Its default client rate limit (10 qps) makes a corpus of clusters crawl.
            .args(["-kubeqps=100", "-kubeburst=200"])
            .env("CONFIG_MAP_NAME", format!("{namespace}/{CONFIGMAP_NAME}"))
            .env("POD_NAMESPACE", namespace)
            .env("OPERATOR_NAMESPACE", namespace)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start Zalando's postgres-operator");
        let runner = SpiloRunner::start(client.clone(), namespace, &dir.join("spilo-runner"));
        // A standby streams from its source's master Service, as in a cluster.
        let services = ServiceForwarder::start(client.clone(), namespace);
        let zalando = Zalando {
            child,
            runner: Some(runner),
            services: Some(services),
            namespace: namespace.to_string(),
            log,
            api_port,
        };
        zalando.wait_ready().await;
        zalando
    }

    async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.api_port);
        let log = self.log.clone();
        eventually(Duration::from_secs(60), "Zalando's operator ready", || {
            let url = url.clone();
            let log = log.clone();
            async move {
                let ok = tokio::task::spawn_blocking(move || {
                    std::process::Command::new("curl")
                        .args(["-fs", &url])
                        .output()
                        .map(|o| o.status.success())
                        .unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                if !ok && std::fs::read_to_string(&log).is_ok_and(|t| t.contains("panic")) {
                    panic!("Zalando's operator panicked; see {}", log.display());
                }
                ok.then_some(())
            }
        })
        .await;
    }

    /// Stops the operator (SIGTERM, then SIGKILL); its clusters' Patroni members stay (an adopted
    /// cluster keeps running) until the oracle is dropped.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Zalando {
    fn drop(&mut self) {
        self.stop();
        self.runner.take();
        self.services.take();
    }
}
