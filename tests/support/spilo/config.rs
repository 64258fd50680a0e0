//! Patroni's configuration for one pod, made from the pod's own spec as Spilo's entrypoint
//! (`configure_spilo.py`) makes it. Rules taken from Spilo, and where the runner departs:
//! - `SCOPE` names the cluster; the member is the pod's name; REST API on `<pod IP>:8008`,
//!   PostgreSQL on `<pod IP>:5432` (Spilo listens on every address; a pod has only its own).
//! - Kubernetes DCS: `KUBERNETES_LABELS` (JSON), `KUBERNETES_SCOPE_LABEL`,
//!   `KUBERNETES_ROLE_LABEL`, leader and standby-leader label value `master`; without
//!   `KUBERNETES_USE_CONFIGMAPS` the leader lock lives in Endpoints with the pod IP and port
//!   `postgresql` 5432 (`use_endpoints`), as Spilo does.
//! - Spilo's bootstrap defaults (ttl 30, loop_wait 10, retry_timeout 10, maximum lag 32 MiB,
//!   pg_rewind and slots, its DCS parameters), `initdb` UTF8 / data checksums, its `pg_hba`
//!   (TLS required for every remote login, replication by the standby user), the superuser and
//!   replication users from `PGUSER_*`/`PGPASSWORD_*`; then `SPILO_CONFIGURATION` merged over
//!   all of it with Spilo's `deep_update` (its dicts merged, its lists and values win).
//! - Departures: PostgreSQL is Debian's server (whatever version is installed, whatever
//!   `PGVERSION` says; its `bin_dir` is set); none of Spilo's extensions (`bg_mon`,
//!   `pg_auth_mon`, `set_user`, …) are preloaded, and a `shared_preload_libraries` entry the
//!   installed server lacks is dropped (see [`keep_installed_libraries`]); no WAL-E/WAL-G, no callbacks, no `post_init`
//!   (Spilo's `admin` role and its extensions are not made); the certificate is self-signed per
//!   pod (Spilo makes one too when none is mounted); the Unix socket is in a short directory of
//!   the pod's own under /tmp (Spilo's is /var/run/postgresql);
//!   Patroni reaches the apiserver through a kubeconfig instead of the in-cluster config.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// What the configuration is made of: the pod's resolved environment and where it runs here.
pub struct PodFacts<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub ip: &'a str,
    pub env: &'a BTreeMap<String, String>,
    /// The pod's directory: data, certificate, log.
    pub dir: &'a Path,
    /// PostgreSQL's Unix socket directory (see [`socket_dir`]).
    pub socket_dir: &'a Path,
    pub bin_dir: &'a str,
    /// The kubeconfig context Patroni uses (see `kubeconfig`).
    pub context: &'a str,
}

fn var<'a>(facts: &'a PodFacts, key: &str, default: &'a str) -> &'a str {
    facts
        .env
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(default)
}

/// The Unix socket directory of the member in `dir`: a socket's path has at most 107 bytes, which
/// a test's directory under `target/` can exceed, so it is short and under /tmp, one per member.
pub fn socket_dir(dir: &Path) -> std::path::PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    std::path::PathBuf::from(format!("/tmp/pgr-sock-{:016x}", h.finish()))
}

/// Spilo's `deep_update(a, b)`: dicts merged recursively, otherwise `a` wins.
pub fn deep_update(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, bv) in b {
                let merged = match a.remove(&k) {
                    Some(av) => deep_update(av, bv),
                    None => bv,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (a, _) => a,
    }
}

pub fn patroni_config(facts: &PodFacts) -> Value {
    let dir = facts.dir.display().to_string();
    let standby = var(facts, "PGUSER_STANDBY", "standby");
    let labels: Value = serde_json::from_str(var(facts, "KUBERNETES_LABELS", ""))
        .unwrap_or_else(|_| json!({"application": "spilo"}));
    let mut kubernetes = json!({
        "namespace": facts.namespace,
        "labels": labels,
        "scope_label": var(facts, "KUBERNETES_SCOPE_LABEL", "version"),
        "role_label": var(facts, "KUBERNETES_ROLE_LABEL", "spilo-role"),
        "leader_label_value": "master",
        "standby_leader_label_value": "master",
        "context": facts.context,
    });
    if var(facts, "KUBERNETES_USE_CONFIGMAPS", "").is_empty() {
        let k = kubernetes.as_object_mut().expect("object");
        k.insert("use_endpoints".into(), true.into());
        k.insert("pod_ip".into(), facts.ip.into());
        k.insert(
            "ports".into(),
            json!([{"port": 5432, "name": "postgresql"}]),
        );
    }
    let template = json!({
        "scope": var(facts, "SCOPE", facts.name),
        "name": facts.name,
        "restapi": {
            "listen": format!("{}:8008", facts.ip),
            "connect_address": format!("{}:8008", facts.ip),
        },
        "kubernetes": kubernetes,
        "bootstrap": {
            "dcs": {
                "ttl": 30,
                "loop_wait": 10,
                "retry_timeout": 10,
                "maximum_lag_on_failover": 33554432,
                "postgresql": {
                    "use_pg_rewind": true,
                    "use_slots": true,
                    "parameters": {
                        "wal_level": "hot_standby",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_connections": 100,
                        "max_replication_slots": 10,
                        "hot_standby": "on",
                        "log_line_prefix": "%t [%p]: [%l-1] %c %x %d %u %a %h ",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "name": facts.name,
            "listen": format!("{}:5432", facts.ip),
            "connect_address": format!("{}:5432", facts.ip),
            "data_dir": format!("{dir}/pgroot/data"),
            "bin_dir": facts.bin_dir,
            "pgpass": format!("{dir}/pgpass"),
            "use_unix_socket": true,
            "use_unix_socket_repl": true,
            "parameters": {
                "unix_socket_directories": facts.socket_dir.display().to_string(),
                "ssl": "on",
                "ssl_cert_file": format!("{dir}/server.crt"),
                "ssl_key_file": format!("{dir}/server.key"),
                "logging_collector": "off",
            },
            "pg_hba": [
                "local   all             all                                   trust",
                "host    all             all                127.0.0.1/32       md5",
                format!("local   replication     {standby}                    trust"),
                format!("hostssl replication     {standby} all                md5"),
                "hostnossl all           all                all                reject",
                "hostssl all             all                all                md5",
            ],
            "authentication": {
                "superuser": {
                    "username": var(facts, "PGUSER_SUPERUSER", "postgres"),
                    "password": var(facts, "PGPASSWORD_SUPERUSER", ""),
                },
                "replication": {
                    "username": standby,
                    "password": var(facts, "PGPASSWORD_STANDBY", ""),
                },
            },
        },
    });
    let mut template = template;
    if let Some(standby) = standby_cluster(facts) {
        template["bootstrap"]["dcs"]["standby_cluster"] = standby;
    }
    if let Some(clone) = clone_with_basebackup(facts) {
        let b = template["bootstrap"].as_object_mut().expect("object");
        b.insert("method".into(), "clone_with_basebackup".into());
        b.insert("clone_with_basebackup".into(), clone);
    }
    let user: Value = facts
        .env
        .get("SPILO_CONFIGURATION")
        .and_then(|c| serde_yaml::from_str(c).ok())
        .unwrap_or_else(|| json!({}));
    deep_update(user, template)
}

/// A standby of another cluster, streaming from `STANDBY_HOST` (Spilo's `standby_cluster`
/// section, with Patroni's own `basebackup` in place of Spilo's `basebackup_fast_xlog` script).
/// A standby restoring from a WAL archive (`STANDBY_WALE_*`/`STANDBY_WALG_*`) is not run here:
/// there is no WAL-E/WAL-G.
fn standby_cluster(facts: &PodFacts) -> Option<Value> {
    let host = var(facts, "STANDBY_HOST", "");
    if host.is_empty() {
        return None;
    }
    let mut standby = json!({"create_replica_methods": ["basebackup"], "host": host});
    for (key, field) in [
        ("STANDBY_PORT", "port"),
        ("STANDBY_PRIMARY_SLOT_NAME", "primary_slot_name"),
    ] {
        let value = var(facts, key, "");
        if !value.is_empty() {
            standby[field] = value.into();
        }
    }
    Some(standby)
}

/// The files a clone by `pg_basebackup` needs in the pod's directory: Spilo's `.pgpass_<scope>`
/// for the source, and the script standing in for Spilo's `clone_with_basebackup.py`.
pub const CLONE_PGPASS: &str = "pgpass_clone";
pub const CLONE_SCRIPT: &str = "clone_with_basebackup.sh";

/// Spilo's `clone_with_basebackup` bootstrap (`CLONE_METHOD=CLONE_WITH_BASEBACKUP` with
/// `CLONE_SCOPE`, `CLONE_HOST`, `CLONE_USER` and `CLONE_PASSWORD` set): Patroni runs the
/// script with `--scope` and `--datadir`, and it copies the source with `pg_basebackup`, as
/// Spilo's does. A host without a dot is a Service of the pod's namespace (its DNS search path).
fn clone_with_basebackup(facts: &PodFacts) -> Option<Value> {
    if var(facts, "CLONE_METHOD", "") != "CLONE_WITH_BASEBACKUP" {
        return None;
    }
    let required = ["CLONE_SCOPE", "CLONE_HOST", "CLONE_USER", "CLONE_PASSWORD"];
    if required.iter().any(|k| var(facts, k, "").is_empty()) {
        return None; // Spilo warns and bootstraps with initdb
    }
    let host = clone_host(facts);
    let dir = facts.dir.display();
    Some(json!({
        "command": format!(
            "sh {dir}/{CLONE_SCRIPT} --pgpass={dir}/{CLONE_PGPASS} --host={host} --port={} --user={}",
            var(facts, "CLONE_PORT", "5432"),
            var(facts, "CLONE_USER", ""),
        ),
    }))
}

fn clone_host(facts: &PodFacts) -> String {
    let host = var(facts, "CLONE_HOST", "");
    if host.contains('.') {
        host.to_string()
    } else {
        format!("{host}.{}", facts.namespace)
    }
}

/// `(pgpass, script)` for a clone by `pg_basebackup`, when the pod is one.
pub fn clone_files(facts: &PodFacts) -> Option<(String, String)> {
    clone_with_basebackup(facts)?;
    let pgpass = format!(
        "{}:{}:*:{}:{}\n",
        clone_host(facts),
        var(facts, "CLONE_PORT", "5432"),
        var(facts, "CLONE_USER", ""),
        var(facts, "CLONE_PASSWORD", ""),
    );
    // Patroni appends --scope=… --datadir=…; pg_basebackup as Spilo's script runs it.
    let script = format!(
        r#"set -e
for arg in "$@"; do
  case "$arg" in
    --datadir=*) datadir="${{arg#--datadir=}}" ;;
    --pgpass=*) pgpass="${{arg#--pgpass=}}" ;;
    --host=*) host="${{arg#--host=}}" ;;
    --port=*) port="${{arg#--port=}}" ;;
    --user=*) user="${{arg#--user=}}" ;;
  esac
done
PGPASSFILE="$pgpass" exec {}/pg_basebackup -D "$datadir" -X stream -w -d "host=$host port=$port user=$user dbname=postgres"
"#,
        facts.bin_dir
    );
    Some((pgpass, script))
}

/// Spilo's image has its extensions (`bg_mon`, `pg_auth_mon`, `set_user`, …); Debian's server
/// does not, and PostgreSQL refuses to start with a `shared_preload_libraries` entry it cannot
/// load. The runner keeps the entries the installed server has (its `lib` directory) and drops
/// the others, wherever the configuration sets them. Returns what it dropped.
pub fn keep_installed_libraries(config: &mut Value, lib_dir: &Path) -> Vec<String> {
    let mut dropped = Vec::new();
    for pointer in [
        "/postgresql/parameters",
        "/bootstrap/dcs/postgresql/parameters",
    ] {
        let Some(parameters) = config.pointer_mut(pointer).and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(libraries) = parameters
            .get("shared_preload_libraries")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let (kept, gone): (Vec<&str>, Vec<&str>) = libraries
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .partition(|l| lib_dir.join(format!("{l}.so")).exists());
        dropped.extend(gone.iter().map(|l| l.to_string()));
        let kept = kept.join(",");
        parameters.insert("shared_preload_libraries".into(), kept.into());
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilo_configuration_wins_and_dicts_merge() {
        let merged = deep_update(
            json!({"postgresql": {"parameters": {"max_connections": 200}}, "list": [1]}),
            json!({"postgresql": {"parameters": {"ssl": "on", "max_connections": 100}}, "list": [2, 3]}),
        );
        assert_eq!(merged["postgresql"]["parameters"]["max_connections"], 200);
        assert_eq!(merged["postgresql"]["parameters"]["ssl"], "on");
        assert_eq!(merged["list"], json!([1]));
    }

    #[test]
    fn a_standby_streams_from_its_source_with_patronis_basebackup() {
        let env: BTreeMap<String, String> = [
            ("STANDBY_HOST", "acid-source.ns"),
            ("STANDBY_PORT", "5433"),
            ("STANDBY_PRIMARY_SLOT_NAME", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let facts = PodFacts {
            name: "acid-standby-0",
            namespace: "ns",
            ip: "10.1.0.5",
            env: &env,
            dir: Path::new("/tmp/x"),
            socket_dir: Path::new("/tmp/s"),
            bin_dir: "/usr/lib/postgresql/15/bin",
            context: "spilo-pod",
        };
        assert_eq!(
            patroni_config(&facts)["bootstrap"]["dcs"]["standby_cluster"],
            json!({"create_replica_methods": ["basebackup"], "host": "acid-source.ns", "port": "5433"})
        );
        let none = BTreeMap::new();
        let plain = PodFacts {
            env: &none,
            ..facts
        };
        assert!(
            patroni_config(&plain)["bootstrap"]["dcs"]
                .get("standby_cluster")
                .is_none()
        );
    }

    #[test]
    fn only_the_installed_libraries_are_preloaded() {
        let lib = std::env::temp_dir().join(format!("spilo-libs-{}", std::process::id()));
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("pg_stat_statements.so"), b"").unwrap();
        let mut config = json!({
            "postgresql": {"parameters": {"shared_preload_libraries": "bg_mon, pg_stat_statements"}},
            "bootstrap": {"dcs": {"postgresql": {"parameters": {"shared_preload_libraries": "set_user"}}}},
        });
        let dropped = keep_installed_libraries(&mut config, &lib);
        std::fs::remove_dir_all(&lib).unwrap();
        assert_eq!(dropped, ["bg_mon", "set_user"]);
        assert_eq!(
            config["postgresql"]["parameters"]["shared_preload_libraries"],
            "pg_stat_statements"
        );
        assert_eq!(
            config["bootstrap"]["dcs"]["postgresql"]["parameters"]["shared_preload_libraries"],
            ""
        );
    }
}
