//! The facts `tests/cluster/up` wrote into its env file, and kube clients built from them.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone)]
pub struct TestEnv {
    vars: BTreeMap<String, String>,
}

fn env_file() -> PathBuf {
    std::env::var_os("PGRENV_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pgr-cluster/env"))
}

impl TestEnv {
    /// The running environment. Panics with what to do when none is up: an integration test
    /// without its control plane must fail, not pass by skipping.
    pub fn get() -> &'static TestEnv {
        static ENV: OnceLock<TestEnv> = OnceLock::new();
        ENV.get_or_init(|| {
            let path = env_file();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "no local environment at {} ({e}); start one with tests/cluster/up or run `make test`",
                    path.display()
                )
            });
            TestEnv { vars: parse_env(&text) }
        })
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from {}", env_file().display()))
    }

    pub fn kubeconfig_path(&self) -> &str {
        self.var("KUBECONFIG")
    }

    /// The admin client configuration (client certificate in group system:masters).
    pub async fn kube_config(&self) -> kube::Config {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig_path()).expect("read kubeconfig");
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig to client config")
    }

    pub async fn client(&self) -> kube::Client {
        kube::Client::try_from(self.kube_config().await).expect("kube client")
    }

    /// A client that acts as `user` through impersonation (the admin is allowed to impersonate).
    pub async fn impersonating(&self, user: &str) -> kube::Client {
        let mut config = self.kube_config().await;
        config.auth_info.impersonate = Some(user.to_string());
        kube::Client::try_from(config).expect("impersonating kube client")
    }
}

/// `[export ]KEY=value` lines, as written by `up`; blank lines and `#` comments ignored.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .map(|l| l.strip_prefix("export ").unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The Kubernetes version pinned in `tests/cluster/versions.env`.
pub fn pinned_kubernetes_version() -> String {
    parse_env(include_str!("../cluster/versions.env"))
        .remove("K8S_VERSION")
        .expect("K8S_VERSION in versions.env")
}

/// A DNS-1123 name unique to this process and call: tests never share objects.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{:x}{:x}{n}", std::process::id(), nanos & 0xfff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_lines() {
        let vars = parse_env("# c\nexport A=1\n\nB = x=y\n");
        assert_eq!(vars.get("A").map(String::as_str), Some("1"));
        assert_eq!(vars.get("B").map(String::as_str), Some("x=y"));
    }
}
