//! One pod's Patroni (and the PostgreSQL it runs): started as the `postgres` user in a process
//! group of its own, stopped as the kubelet stops a container (SIGTERM, the grace period, then
//! SIGKILL for the whole group).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Member {
    pub pod_uid: String,
    pub dir: PathBuf,
    patroni: String,
    config: PathBuf,
    child: Child,
}

/// uid and gid of the `postgres` user (Debian's package made it; PostgreSQL refuses root).
pub fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&"postgres") || f.len() < 4 {
                return None;
            }
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        })
        .expect("a postgres user")
}

/// Makes `path` (and what is below it) the postgres user's.
pub fn give_to_postgres(path: &Path) {
    let (uid, gid) = postgres_ids();
    let status = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {}", path.display());
}

impl Member {
    pub fn start(
        patroni: &str,
        config: &Path,
        dir: &Path,
        pod_uid: &str,
    ) -> std::io::Result<Member> {
        let (uid, gid) = postgres_ids();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("patroni.log"))?;
        let child = Command::new(patroni)
            .arg(config)
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env("HOME", dir)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .current_dir(dir)
            .uid(uid)
            .gid(gid)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Member {
            pod_uid: pod_uid.into(),
            dir: dir.to_path_buf(),
            patroni: patroni.into(),
            config: config.to_path_buf(),
            child,
        })
    }

    /// As the kubelet restarts a container that exited (`restartPolicy: Always`): Patroni that
    /// stopped (e.g. its address was still held by the process of a pod that had it before)
    /// starts again. Returns whether it had to.
    pub fn restart_if_exited(&mut self) -> bool {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            return false;
        }
        // Whatever the old group left (PostgreSQL's processes) goes first.
        self.signal_group("KILL");
        self.kill_postmaster();
        match Member::start(&self.patroni, &self.config, &self.dir, &self.pod_uid) {
            Ok(fresh) => {
                *self = fresh;
                true
            }
            Err(e) => {
                eprintln!(
                    "Spilo runner: cannot restart Patroni in {}: {e}",
                    self.dir.display()
                );
                false
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([
                &format!("-{signal}"),
                "--",
                &format!("-{}", self.child.id()),
            ])
            .stderr(Stdio::null())
            .status();
    }

    /// SIGTERM, up to `grace` for Patroni to stop PostgreSQL and itself, then SIGKILL.
    pub fn stop(mut self, grace: Duration) {
        self.signal_group("TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // PostgreSQL's own processes are in the group too: none may outlive the container.
        self.signal_group("KILL");
        self.kill_postmaster();
        let _ = self.child.wait();
    }

    /// Patroni starts PostgreSQL in a session of its own, out of the group: when Patroni is
    /// killed before it stopped PostgreSQL, the postmaster of this member's data directory
    /// (its `postmaster.pid`) is killed too; its backends exit when it is gone. A pod's address
    /// goes to another pod later, and a leftover postmaster would still hold it.
    fn kill_postmaster(&self) {
        let data = self.dir.join("pgroot/data");
        let Some(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
        else {
            return;
        };
        let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*data.to_string_lossy()));
        if ours {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}
