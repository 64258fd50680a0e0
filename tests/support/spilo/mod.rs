//! The Spilo runner: the kubelet's part for the Spilo pods of one test namespace, with real
//! Patroni (PyPI) and PostgreSQL (Debian) behind the kwok pods.
//!
//! When kwok reports a Spilo pod Running (it has a pod IP, a local address: `tests/cluster/up`
//! routes the pod network to lo), the runner starts one Patroni for it, configured from the pod's
//! own spec as Spilo's entrypoint would (see [`config`]); when the pod is being deleted it stops
//! it as the kubelet would (SIGTERM, the pod's grace period, SIGKILL). A new pod of the same name
//! starts again on the same data directory: one directory per claim (`pgdata-<pod>`), kept until
//! the runner goes. Patroni itself elects the leader, sets the `spilo-role` labels and keeps its
//! leader and configuration objects, with the pod's ServiceAccount token.

pub mod checkpoints;
pub mod cluster;
pub mod config;
mod credentials;
pub mod member;
mod pod_env;
pub mod rest_proxy;
pub mod services;

use super::TestEnv;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, Event};
use member::Member;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a test waits for a member to stop (the pod's own grace period is 300 s by default).
const MAX_GRACE: Duration = Duration::from_secs(30);

type Members = Arc<Mutex<BTreeMap<String, Member>>>;

/// Pods whose container a test keeps from starting, as a slow node would (an image pull,
/// Spilo's configure step), and the latest of them seen while held.
#[derive(Default)]
struct Held {
    names: BTreeSet<String>,
    waiting: BTreeMap<String, Pod>,
}

type HeldPods = Arc<Mutex<Held>>;

pub struct SpiloRunner {
    pub root: PathBuf,
    members: Members,
    held: HeldPods,
    task: tokio::task::JoinHandle<()>,
}

impl SpiloRunner {
    /// Starts running the Spilo pods (label `application=spilo`) of `namespace`; their
    /// directories go under `root`.
    pub fn start(client: kube::Client, namespace: &str, root: &Path) -> SpiloRunner {
        std::fs::create_dir_all(root).expect("runner root");
        member::give_to_postgres(root);
        let members: Members = Arc::default();
        let held: HeldPods = Arc::default();
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let config = watcher::Config::default().labels("application=spilo");
        let task = tokio::spawn(run(
            client,
            pods,
            config,
            root.to_path_buf(),
            members.clone(),
            held.clone(),
        ));
        SpiloRunner {
            root: root.to_path_buf(),
            members,
            held,
            task,
        }
    }

    /// From now on, a new pod named `pod` gets no Patroni until [`release`](Self::release).
    pub fn hold(&self, pod: &str) {
        self.held.lock().unwrap().names.insert(pod.to_string());
    }

    /// Starts the held pod's Patroni (within the runner's next restart check).
    pub fn release(&self, pod: &str) {
        self.held.lock().unwrap().names.remove(pod);
    }

    /// Patroni's log of a pod (everything its member wrote so far, across restarts).
    pub fn log(&self, pod: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("pgdata-{pod}")).join("patroni.log"))
            .unwrap_or_default()
    }

    /// The pods that have a running member.
    pub fn running(&self) -> Vec<String> {
        self.members.lock().unwrap().keys().cloned().collect()
    }
}

impl Drop for SpiloRunner {
    fn drop(&mut self) {
        self.task.abort();
        let members = std::mem::take(&mut *self.members.lock().unwrap());
        // All at once: a namespace of many clusters stops in one grace period, not one each.
        std::thread::scope(|scope| {
            for (_, m) in members {
                scope.spawn(move || m.stop(Duration::from_secs(5)));
            }
        });
        for entry in std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir_all(config::socket_dir(&entry.path()));
        }
        // A failing test keeps the members' logs and data to look at.
        if std::thread::panicking() {
            eprintln!("Spilo runner: kept {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

async fn run(
    client: kube::Client,
    pods: Api<Pod>,
    config: watcher::Config,
    root: PathBuf,
    members: Members,
    held: HeldPods,
) {
    let mut events = watcher::watcher(pods, config).boxed();
    let mut tick = tokio::time::interval(RESTART_CHECK);
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Ok(Event::Apply(pod))) | Some(Ok(Event::InitApply(pod)))
                    if !hold_back(&pod, &held) =>
                {
                    observe(&client, &pod, &root, &members).await
                }
                Some(Ok(Event::Delete(pod))) => {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    held.lock().unwrap().waiting.remove(&name);
                    stop(&pod, &members).await
                }
                _ => {}
            },
            _ = tick.tick() => {
                let released: Vec<Pod> = {
                    let mut h = held.lock().unwrap();
                    let names = h.names.clone();
                    let (go, stay) = std::mem::take(&mut h.waiting)
                        .into_iter()
                        .partition(|(name, _)| !names.contains(name));
                    h.waiting = stay;
                    go.into_values().collect()
                };
                for pod in released {
                    observe(&client, &pod, &root, &members).await;
                }
                for (pod, member) in members.lock().unwrap().iter_mut() {
                    if member.restart_if_exited() {
                        eprintln!("Spilo runner: Patroni of {pod} had exited; started again");
                    }
                }
            }
        }
    }
}

/// Whether `pod` is a new pod a test holds back: then it waits, with its latest state.
/// A held pod being deleted is not held back: stopping it is the kubelet's part.
fn hold_back(pod: &Pod, held: &HeldPods) -> bool {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut h = held.lock().unwrap();
    if !h.names.contains(&name) || pod.metadata.deletion_timestamp.is_some() {
        h.waiting.remove(&name);
        return false;
    }
    h.waiting.insert(name, pod.clone());
    true
}

/// How often the runner looks for a Patroni that exited (the kubelet's restart loop).
const RESTART_CHECK: Duration = Duration::from_secs(2);

/// What the kubelet would do about `pod` now.
async fn observe(client: &kube::Client, pod: &Pod, root: &Path, members: &Members) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        return stop(pod, members).await;
    }
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let Some(ip) = status.and_then(|s| s.pod_ip.clone()).filter(|_| running) else {
        return;
    };
    let stale = {
        let mut m = members.lock().unwrap();
        match m.get(&name) {
            Some(existing) if existing.pod_uid == uid => return,
            Some(_) => m.remove(&name),
            None => None,
        }
    };
    if let Some(old) = stale {
        tokio::task::spawn_blocking(move || old.stop(MAX_GRACE))
            .await
            .ok();
    }
    match start(client, pod, &name, &ip, root).await {
        Ok(member) => {
            members.lock().unwrap().insert(name, member);
        }
        Err(e) => {
            // Tried again on the pod's next event (a Secret may come); said once per reason.
            static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
                std::sync::Mutex::new(std::collections::BTreeSet::new());
            if SAID.lock().unwrap().insert(format!("{uid} {e}")) {
                eprintln!("Spilo runner: cannot start pod {name}: {e}");
            }
        }
    }
}

async fn start(
    client: &kube::Client,
    pod: &Pod,
    name: &str,
    ip: &str,
    root: &Path,
) -> Result<Member, String> {
    let env = TestEnv::get();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let dir = root.join(format!("pgdata-{name}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let container_env = pod_env::resolve(client, pod).await?;
    // Started as a primary, it would be a second writer under the standby's name.
    if container_env.get("STANDBY_METHOD").map(String::as_str) == Some("STANDBY_WITH_WALE") {
        return Err("a standby restoring from a WAL archive: there is no WAL-E/WAL-G here".into());
    }
    // Started with initdb instead, it would be an empty cluster where a copy was asked for.
    if container_env.get("CLONE_METHOD").map(String::as_str) == Some("CLONE_WITH_WALE") {
        return Err("a clone restoring from a WAL archive: there is no WAL-E/WAL-G here".into());
    }
    credentials::write_kubeconfig(client, pod, &dir.join("kubeconfig")).await?;
    write_certificate(&dir, ip)?;
    let socket_dir = config::socket_dir(&dir);
    std::fs::create_dir_all(&socket_dir).map_err(|e| e.to_string())?;
    member::give_to_postgres(&socket_dir);
    let facts = config::PodFacts {
        name,
        namespace: &namespace,
        ip,
        env: &container_env,
        dir: &dir,
        socket_dir: &socket_dir,
        bin_dir: env.var("PGRENV_PG_BINDIR"),
        context: credentials::CONTEXT,
    };
    let mut patroni = config::patroni_config(&facts);
    if let Some((pgpass, script)) = config::clone_files(&facts) {
        let pgpass_path = dir.join(config::CLONE_PGPASS);
        std::fs::write(&pgpass_path, pgpass).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass_path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join(config::CLONE_SCRIPT), script).map_err(|e| e.to_string())?;
    }
    let lib_dir = Path::new(env.var("PGRENV_PG_BINDIR")).join("../lib");
    let dropped = config::keep_installed_libraries(&mut patroni, &lib_dir);
    if !dropped.is_empty() {
        eprintln!("Spilo runner: {name}: not installed here, not preloaded: {dropped:?}");
    }
    let path = dir.join("patroni.yml");
    std::fs::write(
        &path,
        serde_yaml::to_string(&patroni).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    member::give_to_postgres(&dir);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    Member::start(env.var("PGRENV_PATRONI"), &path, &dir, &uid).map_err(|e| e.to_string())
}

/// A self-signed certificate for the pod's address, as Spilo makes one when none is mounted.
fn write_certificate(dir: &Path, ip: &str) -> Result<(), String> {
    if dir.join("server.crt").exists() {
        return Ok(());
    }
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = rcgen::CertificateParams::new(vec![ip.to_string()])
        .map_err(|e| e.to_string())?
        .self_signed(&key)
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.crt"), cert.pem()).map_err(|e| e.to_string())?;
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, key.serialize_pem()).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())
}

async fn stop(pod: &Pod, members: &Members) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let member = {
        let mut m = members.lock().unwrap();
        match m.get(&name) {
            Some(existing) if existing.pod_uid == uid => m.remove(&name),
            _ => None,
        }
    };
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(MAX_GRACE)
        .min(MAX_GRACE);
    if let Some(member) = member {
        tokio::task::spawn_blocking(move || member.stop(grace))
            .await
            .ok();
    }
}

/// The pods of `namespace` with Patroni's role label, by role value.
pub async fn roles(
    client: &kube::Client,
    namespace: &str,
    cluster: &str,
) -> BTreeMap<String, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("cluster-name={cluster}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.into_iter()
        .filter_map(|p| {
            let role = p.metadata.labels.as_ref()?.get("spilo-role")?.clone();
            Some((p.metadata.name?, role))
        })
        .collect()
}
