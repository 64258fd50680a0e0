//! The pooler runner: the kubelet's part for the connection pooler pods of one test namespace,
//! with real PgBouncer (Debian's package) behind the kwok pods, as the Spilo runner does for
//! Spilo pods (see [`super::spilo`]).
//!
//! In a cluster the pooler pods run Zalando's image `registry.opensource.zalan.do/acid/pgbouncer`,
//! whose entrypoint writes `pgbouncer.ini` and `auth_file.txt` from the container's environment
//! and runs PgBouncer. When kwok reports a pooler pod (label `application=db-connection-pooler`)
//! Running with a pod IP (a local address: `tests/cluster/up` routes the pod network to lo), the
//! runner writes the same files from the environment of the pod's `connection-pooler` container
//! and starts one PgBouncer for it, as the `postgres` user (PgBouncer refuses root); when the pod
//! is being deleted or is gone it stops it as the kubelet would (SIGTERM, the grace period,
//! SIGKILL). A PgBouncer that exits is started again, as `restartPolicy: Always` would.
//!
//! Rules taken from the image: `* = host=$PGHOST port=$PGPORT auth_user=$PGUSER` (and the same
//! for `postgres`), `auth_type = md5` (PgBouncer answers SCRAM for SCRAM secrets), `auth_file`
//! with `"$PGUSER" "$PGPASSWORD"`, `auth_query = SELECT * FROM $PGSCHEMA.user_lookup($1)`,
//! `admin_users = $PGUSER`, TLS required to the server (not verified) and from clients (with a
//! self-signed certificate, as the entrypoint makes one), the pool sizes from
//! `CONNECTION_POOLER_*`, `ignore_startup_parameters = extra_float_digits,options`.
//! Departures:
//! - PgBouncer listens on the pod IP (the image on `*`: a pod has only its own address), and its
//!   Unix socket is in a short directory of the pod's own under /tmp.
//! - `PGHOST` is resolved here, as the pod's DNS would: a Service name (`acid-x`, `acid-x.ns`)
//!   through the pod's search path (`<ns>.svc`, `svc`) in `/etc/hosts`, where the Spilo runner's
//!   `ServiceForwarder` writes Service names (the environment has no cluster DNS, and PgBouncer's
//!   resolver knows no search path); PgBouncer gets the address.
//! - `stats_users = $PGUSER` (the image's `stats_users_prefix` is a patch of Zalando's build);
//!   no `auth_dbname` (PgBouncer 1.20; 1.18 here): the lookup runs in the client's database,
//!   which has the function too. `min_pool_size` stays off, as the image leaves it.
//! - Connections are logged (the image logs none), for a failing test's log; mounted client
//!   certificates (`CONNECTION_POOLER_CLIENT_TLS_*`) are not used: the self-signed one is.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Debian's package installs it here (`tests/cluster/postgres.sh`).
pub const PGBOUNCER: &str = "/usr/sbin/pgbouncer";
/// The pooler pods' label and container (Zalando's).
const LABEL: &str = "application=db-connection-pooler";
const CONTAINER: &str = "connection-pooler";
/// Longest a test waits for PgBouncer to stop (SIGTERM stops it at once).
const MAX_GRACE: Duration = Duration::from_secs(30);
/// How often the runner looks for a PgBouncer that exited, or a pod it could not start yet.
const RESTART_CHECK: Duration = Duration::from_secs(2);
/// The kubelet's stdout/stderr of the container: everything PgBouncer said, from its first line.
const CONSOLE: &str = "console.log";

type Poolers = Arc<Mutex<BTreeMap<String, Pooler>>>;
/// Pods that could not start yet (a Secret, a Service name not there yet): tried again.
type Pending = Arc<Mutex<BTreeMap<String, Pod>>>;

pub struct PoolerRunner {
    pub root: PathBuf,
    poolers: Poolers,
    task: tokio::task::JoinHandle<()>,
}

impl PoolerRunner {
    /// Starts running the pooler pods of `namespace`; their directories go under `root`.
    pub fn start(client: kube::Client, namespace: &str, root: &Path) -> PoolerRunner {
        std::fs::create_dir_all(root).expect("runner root");
        super::spilo::member::give_to_postgres(root);
        let poolers: Poolers = Arc::default();
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let task = tokio::spawn(run(client, pods, root.to_path_buf(), poolers.clone()));
        PoolerRunner {
            root: root.to_path_buf(),
            poolers,
            task,
        }
    }

    /// What PgBouncer of `pod` said so far (across restarts).
    pub fn log(&self, pod: &str) -> String {
        std::fs::read_to_string(pod_dir(&self.root, pod).join(CONSOLE)).unwrap_or_default()
    }

    /// The pods that have a running PgBouncer.
    pub fn running(&self) -> Vec<String> {
        self.poolers.lock().unwrap().keys().cloned().collect()
    }

    /// The process id of `pod`'s PgBouncer.
    pub fn pid(&self, pod: &str) -> Option<u32> {
        self.poolers.lock().unwrap().get(pod).map(|p| p.child.id())
    }
}

impl Drop for PoolerRunner {
    fn drop(&mut self) {
        self.task.abort();
        let poolers = std::mem::take(&mut *self.poolers.lock().unwrap());
        std::thread::scope(|scope| {
            for (_, p) in poolers {
                scope.spawn(move || p.stop(Duration::from_secs(5)));
            }
        });
        // A failing test keeps the logs and the configuration to look at.
        if std::thread::panicking() {
            eprintln!("pooler runner: kept {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn pod_dir(root: &Path, pod: &str) -> PathBuf {
    root.join(format!("pooler-{pod}"))
}

async fn run(client: kube::Client, pods: Api<Pod>, root: PathBuf, poolers: Poolers) {
    let pending: Pending = Arc::default();
    let config = watcher::Config::default().labels(LABEL);
    let mut events = watcher::watcher(pods, config).boxed();
    let mut tick = tokio::time::interval(RESTART_CHECK);
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Ok(Event::Apply(pod))) | Some(Ok(Event::InitApply(pod))) => {
                    observe(&client, &pod, &root, &poolers, &pending).await
                }
                Some(Ok(Event::Delete(pod))) => {
                    pending.lock().unwrap().remove(&name_of(&pod));
                    stop(&pod, &poolers).await
                }
                _ => {}
            },
            _ = tick.tick() => {
                let retry: Vec<Pod> = std::mem::take(&mut *pending.lock().unwrap()).into_values().collect();
                for pod in retry {
                    observe(&client, &pod, &root, &poolers, &pending).await;
                }
                for (pod, pooler) in poolers.lock().unwrap().iter_mut() {
                    if pooler.restart_if_exited() {
                        eprintln!("pooler runner: PgBouncer of {pod} had exited; started again");
                    }
                }
            }
        }
    }
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// What the kubelet would do about `pod` now.
async fn observe(
    client: &kube::Client,
    pod: &Pod,
    root: &Path,
    poolers: &Poolers,
    pending: &Pending,
) {
    let name = name_of(pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        pending.lock().unwrap().remove(&name);
        return stop(pod, poolers).await;
    }
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let Some(ip) = status.and_then(|s| s.pod_ip.clone()).filter(|_| running) else {
        return;
    };
    let stale = {
        let mut p = poolers.lock().unwrap();
        match p.get(&name) {
            Some(existing) if existing.pod_uid == uid => return,
            Some(_) => p.remove(&name),
            None => None,
        }
    };
    if let Some(old) = stale {
        tokio::task::spawn_blocking(move || old.stop(MAX_GRACE))
            .await
            .ok();
    }
    match start(client, pod, &name, &ip, root).await {
        Ok(pooler) => {
            poolers.lock().unwrap().insert(name, pooler);
        }
        Err(e) => {
            // Said once per reason; tried again on the next check.
            static SAID: Mutex<std::collections::BTreeSet<String>> =
                Mutex::new(std::collections::BTreeSet::new());
            if SAID.lock().unwrap().insert(format!("{uid} {e}")) {
                eprintln!("pooler runner: cannot start pod {name}: {e}");
            }
            pending.lock().unwrap().insert(name, pod.clone());
        }
    }
}

async fn start(
    client: &kube::Client,
    pod: &Pod,
    name: &str,
    ip: &str,
    root: &Path,
) -> Result<Pooler, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let env = container_env(client, pod).await?;
    let host = env.get("PGHOST").ok_or("no PGHOST")?;
    let server = server_address(host, &namespace).await?;
    let dir = pod_dir(root, name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let socket_dir = super::spilo::config::socket_dir(&dir);
    std::fs::create_dir_all(&socket_dir).map_err(|e| e.to_string())?;
    write_certificate(&dir, ip)?;
    write_private(&dir.join("auth_file.txt"), &auth_file(&env))?;
    let ini = dir.join("pgbouncer.ini");
    std::fs::write(&ini, pgbouncer_ini(&env, &server, ip, &dir, &socket_dir))
        .map_err(|e| e.to_string())?;
    super::spilo::member::give_to_postgres(&dir);
    super::spilo::member::give_to_postgres(&socket_dir);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    Pooler::start(&ini, &dir, &socket_dir, &uid).map_err(|e| format!("{PGBOUNCER}: {e}"))
}

/// The environment of the pod's `connection-pooler` container as the kubelet gives it: plain
/// values and Secret keys (read through the API), or why it cannot be made.
async fn container_env(
    client: &kube::Client,
    pod: &Pod,
) -> Result<BTreeMap<String, String>, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let container = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .find(|c| c.name == CONTAINER)
        .ok_or(format!("the pod has no container {CONTAINER}"))?;
    let mut env = BTreeMap::new();
    for var in container.env.iter().flatten() {
        let value = match (
            &var.value,
            var.value_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref()),
        ) {
            (Some(v), _) => v.clone(),
            (None, Some(key)) => {
                let secret = secrets
                    .get_opt(&key.name)
                    .await
                    .map_err(|e| format!("Secret {}: {e}", key.name))?;
                match secret
                    .and_then(|s| s.data)
                    .and_then(|d| d.get(&key.key).cloned())
                {
                    Some(b) => String::from_utf8_lossy(&b.0).into_owned(),
                    None if key.optional == Some(true) => continue,
                    None => return Err(format!("Secret {} has no key {}", key.name, key.key)),
                }
            }
            (None, None) if var.value_from.is_none() => String::new(),
            (None, None) => continue, // fieldRef and the like: the pooler's pods use none
        };
        env.insert(var.name.clone(), value);
    }
    Ok(env)
}

/// `PGHOST` as an address, the way the pod's resolver finds it: an address as it is, a Service
/// name through the search path in `/etc/hosts` (no DNS queries for names that are not there:
/// this machine's DNS knows no Services), any other name through the system resolver.
async fn server_address(host: &str, namespace: &str) -> Result<String, String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(host.to_string());
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for candidate in [
        format!("{host}.{namespace}.svc"),
        format!("{host}.svc"),
        host.to_string(),
    ] {
        if let Some(ip) = hosts_lookup(&hosts, &candidate) {
            return Ok(ip);
        }
    }
    let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("resolve PGHOST {host}: {e}"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .map(|a| a.ip().to_string())
        .ok_or(format!("PGHOST {host} has no address"))
}

fn hosts_lookup(hosts: &str, name: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let mut fields = line.split('#').next()?.split_whitespace();
        let ip = fields.next()?;
        fields.any(|n| n == name).then(|| ip.to_string())
    })
}

fn var<'a>(env: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    env.get(key).map(String::as_str).unwrap_or_default()
}

/// The image's `auth_file.txt`: the pooler user's own password, for the lookups and the console.
fn auth_file(env: &BTreeMap<String, String>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    format!(
        "{} {}\n",
        quote(var(env, "PGUSER")),
        quote(var(env, "PGPASSWORD"))
    )
}

/// The image's `pgbouncer.ini`, with the departures the module documents.
fn pgbouncer_ini(
    env: &BTreeMap<String, String>,
    server: &str,
    ip: &str,
    dir: &Path,
    socket_dir: &Path,
) -> String {
    let v = |key: &str| var(env, key);
    let (port, user) = (v("PGPORT"), v("PGUSER"));
    let target = format!("host={server} port={port} auth_user={user}");
    let dir = dir.display();
    format!(
        "[databases]
* = {target}
postgres = {target}

[pgbouncer]
pool_mode = {mode}
listen_addr = {ip}
listen_port = {listen_port}
unix_socket_dir = {socket_dir}
auth_type = md5
auth_file = {dir}/auth_file.txt
admin_users = {user}
stats_users = {user}
auth_query = SELECT * FROM {schema}.user_lookup($1)
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid

server_tls_sslmode = require
server_tls_protocols = secure
client_tls_sslmode = require
client_tls_key_file = {dir}/pgbouncer.key
client_tls_cert_file = {dir}/pgbouncer.crt

log_connections = 1
log_disconnections = 1

default_pool_size = {default_size}
reserve_pool_size = {reserve_size}
max_client_conn = {max_client}
max_db_connections = {max_db}
idle_transaction_timeout = 600
server_login_retry = 5
ignore_startup_parameters = extra_float_digits,options
",
        mode = v("CONNECTION_POOLER_MODE"),
        listen_port = v("CONNECTION_POOLER_PORT"),
        socket_dir = socket_dir.display(),
        schema = v("PGSCHEMA"),
        default_size = v("CONNECTION_POOLER_DEFAULT_SIZE"),
        reserve_size = v("CONNECTION_POOLER_RESERVE_SIZE"),
        max_client = v("CONNECTION_POOLER_MAX_CLIENT_CONN"),
        max_db = v("CONNECTION_POOLER_MAX_DB_CONN"),
    )
}

/// A self-signed certificate for the pod's address, as the image's entrypoint makes one.
fn write_certificate(dir: &Path, ip: &str) -> Result<(), String> {
    if dir.join("pgbouncer.crt").exists() {
        return Ok(());
    }
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = rcgen::CertificateParams::new(vec![ip.to_string()])
        .map_err(|e| e.to_string())?
        .self_signed(&key)
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("pgbouncer.crt"), cert.pem()).map_err(|e| e.to_string())?;
    write_private(&dir.join("pgbouncer.key"), &key.serialize_pem())
}

/// Writes a file only its owner reads (a key, a password).
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())
}

async fn stop(pod: &Pod, poolers: &Poolers) {
    let name = name_of(pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let pooler = {
        let mut p = poolers.lock().unwrap();
        match p.get(&name) {
            Some(existing) if existing.pod_uid == uid => p.remove(&name),
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
    if let Some(pooler) = pooler {
        tokio::task::spawn_blocking(move || pooler.stop(grace))
            .await
            .ok();
    }
}

/// One pod's PgBouncer: started as the `postgres` user in a process group of its own.
struct Pooler {
    pod_uid: String,
    ini: PathBuf,
    dir: PathBuf,
    socket_dir: PathBuf,
    child: Child,
}

impl Pooler {
    fn start(ini: &Path, dir: &Path, socket_dir: &Path, pod_uid: &str) -> std::io::Result<Pooler> {
        let (uid, gid) = super::spilo::member::postgres_ids();
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(CONSOLE))?;
        // In the foreground, as the image runs it: it logs to stderr and to its logfile.
        let child = Command::new(PGBOUNCER)
            .arg(ini)
            .env("HOME", dir)
            .current_dir(dir)
            .uid(uid)
            .gid(gid)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console)
            .spawn()?;
        Ok(Pooler {
            pod_uid: pod_uid.into(),
            ini: ini.to_path_buf(),
            dir: dir.to_path_buf(),
            socket_dir: socket_dir.to_path_buf(),
            child,
        })
    }

    /// As the kubelet restarts a container that exited; returns whether it had to.
    fn restart_if_exited(&mut self) -> bool {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            return false;
        }
        match Pooler::start(&self.ini, &self.dir, &self.socket_dir, &self.pod_uid) {
            Ok(fresh) => {
                *self = fresh;
                true
            }
            Err(e) => {
                eprintln!(
                    "pooler runner: cannot restart {PGBOUNCER} in {}: {e}",
                    self.dir.display()
                );
                false
            }
        }
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

    /// SIGTERM (PgBouncer's immediate shutdown), up to `grace` for it to exit, then SIGKILL.
    fn stop(mut self, grace: Duration) {
        self.signal_group("TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal_group("KILL");
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}
