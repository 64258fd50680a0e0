//! The `apply` binary as the CronJob runs it, for tests that need a real process (to kill it, or
//! to put a fault-injecting proxy between it and the apiserver).

use super::Harness;
use std::path::Path;
use std::process::{Child, Command, Stdio};

impl Harness {
    /// Starts `postgres-reconciler apply` on this test's namespace with this harness's
    /// configuration, through `kubeconfig`; its output goes to `dir/apply.log`, its run report to
    /// `dir/report.json`.
    pub fn spawn_apply(&self, dir: &Path, kubeconfig: &Path) -> Child {
        let config = dir.join("config.yaml");
        std::fs::write(&config, serde_yaml::to_string(&self.config).expect("yaml"))
            .expect("config");
        let log = std::fs::File::create(dir.join("apply.log")).expect("log file");
        Command::new(env!("CARGO_BIN_EXE_postgres-reconciler"))
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["-n", &self.ns.name, "apply", "--report-file"])
            .arg(dir.join("report.json"))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the apply binary")
    }

    /// [`Harness::spawn_apply`] to its end: its exit status and its output.
    pub async fn run_apply(
        &self,
        dir: &Path,
        kubeconfig: &Path,
    ) -> (std::process::ExitStatus, String) {
        let mut child = self.spawn_apply(dir, kubeconfig);
        let status = tokio::task::spawn_blocking(move || child.wait().expect("wait for the run"))
            .await
            .expect("run");
        let output = std::fs::read_to_string(dir.join("apply.log")).unwrap_or_default();
        (status, output)
    }

    /// A fresh directory for one test's files (under cargo's temp dir for integration tests).
    pub fn temp_dir(&self, what: &str) -> std::path::PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(super::unique_name(what));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
