//! Helm chart test helpers: the real helm and kubectl of the local environment (`PGRENV_HELM`,
//! `PGRENV_KUBECTL`) talking to its apiserver, a release of the chart that is uninstalled when
//! dropped, and kube clients acting as the chart's ServiceAccount (impersonation).
//!
//! The CRDs are shared by every test of this apiserver: they are installed once (by
//! `install_crds`) and the chart is installed with `--skip-crds`, except in the test showing that
//! Helm leaves existing CRDs alone. Each test has its own release and namespaces, and uninstalls
//! its release when it ends (also when it panics).

use super::{TestEnv, eventually, unique_name};
use postgres_reconciler::observe::cluster::ClusterClient;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const CHART: &str = "charts/postgres-reconciler";
/// Bound on waiting for controllers, kwok and the RBAC cache (not a performance assertion).
pub const WAIT: Duration = Duration::from_secs(120);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart() -> String {
    repo().join(CHART).display().to_string()
}

/// The real helm or kubectl of the local environment, talking to its apiserver.
fn tool(var: &str) -> Command {
    let env = TestEnv::get();
    let mut cmd = Command::new(env.var(var));
    cmd.env("KUBECONFIG", env.kubeconfig_path())
        .current_dir(repo());
    cmd
}

pub fn helm(args: &[&str]) -> Command {
    let mut cmd = tool("PGRENV_HELM");
    cmd.args(args);
    cmd
}

pub fn kubectl(args: &[&str]) -> Command {
    let mut cmd = tool("PGRENV_KUBECTL");
    cmd.args(args);
    cmd
}

/// Runs a command off the async runtime, feeding it `stdin`.
pub async fn output(mut cmd: Command, stdin: Option<String>) -> Output {
    let what = format!("{cmd:?}");
    tokio::task::spawn_blocking(move || {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        if let Some(input) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("wait for command")
    })
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the command and returns its stdout; panics with its output when it fails.
pub async fn ok(cmd: Command, stdin: Option<String>) -> String {
    let what = format!("{cmd:?}");
    let out = output(cmd, stdin).await;
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A release of the chart, uninstalled when dropped (if the test did not uninstall it).
pub struct Release {
    pub name: String,
    namespace: String,
    /// helm's stderr of the install (warnings from the apiserver show up there).
    pub install_stderr: String,
    uninstalled: bool,
}

impl Release {
    /// `helm install --wait` into `namespace` (which exists), with `--skip-crds` unless
    /// `extra` says otherwise.
    pub async fn install(namespace: &str, extra: &[&str]) -> Release {
        let name = unique_name("pgr");
        let chart = chart();
        // The Spilo pods' ClusterRole is cluster-wide: each release names its own, so releases
        // installed side by side do not fight over one.
        let pod_role = format!("config.pod_cluster_role_name={name}-postgres-pod");
        let mut args = vec![
            "install",
            name.as_str(),
            chart.as_str(),
            "--namespace",
            namespace,
            "--wait",
            "--timeout",
            "2m",
            "--set",
            pod_role.as_str(),
        ];
        args.extend_from_slice(extra);
        let out = output(helm(&args), None).await;
        let release = Release {
            name: name.clone(),
            namespace: namespace.into(),
            install_stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            uninstalled: false,
        };
        assert!(
            out.status.success(),
            "helm install {name}: {}",
            describe(&out)
        );
        release
    }

    /// The Spilo pods' ClusterRole this release installs (named after it, see `install`).
    pub fn pod_cluster_role(&self) -> String {
        format!("{}-postgres-pod", self.name)
    }

    /// The prefix of every object name (the release name is not the chart name).
    pub fn fullname(&self) -> String {
        let full = format!("{}-postgres-reconciler", self.name);
        full[..full.len().min(52)].trim_end_matches('-').to_string()
    }

    /// `system:serviceaccount:<namespace>:<name>` of the chart's ServiceAccount.
    pub fn service_account_user(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace,
            self.fullname()
        )
    }

    pub async fn uninstall(&mut self) {
        let name = self.name.clone();
        let ns = self.namespace.clone();
        ok(
            helm(&["uninstall", &name, "--namespace", &ns, "--wait"]),
            None,
        )
        .await;
        self.uninstalled = true;
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if self.uninstalled {
            return;
        }
        let result = helm(&[
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--ignore-not-found",
        ])
        .stdin(Stdio::null())
        .output();
        match result {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("warning: helm uninstall {}: {}", self.name, describe(&out)),
            Err(e) => eprintln!("warning: helm uninstall {}: {e}", self.name),
        }
    }
}

/// A kube client acting as `user`, counting its requests as `apply` does.
pub async fn cluster_client_as(user: &str) -> ClusterClient {
    let mut config = TestEnv::get().kube_config().await;
    config.auth_info.impersonate = Some(user.to_string());
    ClusterClient::from_config(config).expect("impersonating cluster client")
}

/// Waits until the RBAC cache grants `check` (the authorizer reads RBAC through an informer).
pub async fn granted<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    eventually(Duration::from_secs(30), what, || async {
        check().await.map_err(|e| eprintln!("{what}: {e}")).ok()
    })
    .await;
}
