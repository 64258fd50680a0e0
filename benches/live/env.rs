//! The benchmark's own local environment (`tests/cluster/up`), stopped when dropped, also when
//! the benchmark panics: one environment at a time, never left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Env {
    file: PathBuf,
    vars: BTreeMap<String, String>,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cluster")
        .join(name)
}

impl Env {
    /// Starts an environment whose env file is `file`, with `nodes` fake nodes of `node_pods`
    /// pods each. A file left by an interrupted run is stopped first.
    pub fn up(file: &Path, nodes: usize, node_pods: usize) -> Env {
        if file.exists() {
            eprintln!(
                "bench: stopping the environment an earlier run left ({})",
                file.display()
            );
            down(file);
        }
        let status = Command::new(script("up"))
            .env("PGRENV_FILE", file)
            .env("PGRENV_FAKE_NODES", nodes.to_string())
            .env("PGRENV_NODE_PODS", node_pods.to_string())
            .env("PGRENV_KCM_QPS", "200")
            .status()
            .expect("run tests/cluster/up");
        assert!(status.success(), "tests/cluster/up failed: {status}");
        let text = std::fs::read_to_string(file).expect("env file");
        let vars = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env {
            file: file.to_path_buf(),
            vars,
        }
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from {}", self.file.display()))
    }

    pub fn kubeconfig(&self) -> &str {
        self.var("KUBECONFIG")
    }

    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(self.var("PGRENV_KUBECTL"));
        c.arg(format!("--kubeconfig={}", self.kubeconfig()));
        c
    }

    pub async fn client(&self) -> kube::Client {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig");
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("client config");
        // Setup and polling are not measured; they should not fail on a busy apiserver.
        config.read_timeout = Some(std::time::Duration::from_secs(300));
        kube::Client::try_from(config).expect("kube client")
    }
}

fn down(file: &Path) {
    let status = Command::new(script("down"))
        .env("PGRENV_FILE", file)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("bench: tests/cluster/down failed: {status:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        down(&self.file);
    }
}
