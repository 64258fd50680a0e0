//! Reading each PostgreSQL server the desired state targets, a few at a time. A server that
//! cannot be reached becomes "unknown" with the reason; it never stops the run.

use super::postgres::{Inspect, PgConnection, observe_server};
use crate::config::{Config, SslMode};
use crate::plan::sql::server_label;
use crate::plan::{DatabaseObservation, UnknownCause};
use crate::render::database::{DesiredDatabaseState, ServerTarget, secret_name};
use crate::render::{Desired, spilo};
use crate::state::CompactJson;
use crate::state::primary::no_primary_reason;
use crate::state::relevance::Relevance;
use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Where and as whom to reach a cluster's server: its master Service (per the host template) as
/// the superuser whose password is in the cluster's Secret. Without that Secret (a new cluster)
/// there is nothing to try yet.
/// A Secret's password by namespace and name: an index built once per run, so that finding a
/// server's superuser password does not scan every Secret (thousands, in a large fleet).
pub type PasswordOf<'a> = &'a (dyn Fn(&str, &str) -> Option<String> + Sync);

/// The `password` of each live Secret, by namespace and name.
#[derive(Default)]
pub struct SecretPasswords(BTreeMap<(String, String), String>);

impl std::fmt::Debug for SecretPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretPasswords({} Secrets)", self.0.len())
    }
}

impl SecretPasswords {
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a CompactJson>) -> Self {
        let mut index = BTreeMap::new();
        for o in objects {
            if o.head().kind != "Secret" {
                continue;
            }
            let o = &o.value();
            let s = |p: &str| o.pointer(p).and_then(Value::as_str);
            if let (Some(namespace), Some(name), Some(password)) = (
                s("/metadata/namespace"),
                s("/metadata/name"),
                s("/data/password").and_then(decode),
            ) {
                index.insert((namespace.to_string(), name.to_string()), password);
            }
        }
        SecretPasswords(index)
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<String> {
        self.0
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// (namespace, name) → password.
    pub fn iter(&self) -> impl Iterator<Item = (&(String, String), &String)> {
        self.0.iter()
    }
}

fn connection_for_cluster(
    config: &Config,
    namespace: &str,
    cluster: &str,
    password_of: PasswordOf<'_>,
) -> Result<PgConnection, String> {
    let secret = secret_name(
        &config.secret_name_template,
        spilo::SUPERUSER,
        cluster,
        namespace,
    );
    let password = password_of(namespace, &secret).ok_or_else(|| {
        format!("Secret {namespace}/{secret} with the superuser password is missing")
    })?;
    Ok(PgConnection {
        host: config.postgres_host(cluster, namespace),
        port: config.postgres_port,
        user: spilo::SUPERUSER.into(),
        password,
        sslmode: config.postgres_sslmode,
        ca_file: config.postgres_ca_file.clone(),
        connect_timeout: Duration::from_secs(config.postgres_connect_timeout_seconds),
    })
}

fn decode(b64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

/// An external server described by a Secret: `host`, `port`, `user`, `password`, `sslmode`.
async fn connection_for_external(
    client: &kube::Client,
    config: &Config,
    namespace: &str,
    name: &str,
) -> Result<PgConnection, String> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| {
            format!(
                "reading Secret {namespace}/{name}: {}",
                crate::observe::describe_kube_error(&e)
            )
        })?
        .ok_or_else(|| format!("Secret {namespace}/{name} does not exist"))?;
    let data = secret.data.unwrap_or_default();
    let field = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .map(|s| s.trim().to_string())
    };
    let required =
        |k: &str| field(k).ok_or_else(|| format!("Secret {namespace}/{name} has no key {k:?}"));
    let port = match field("port") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("Secret {namespace}/{name}: port {p:?} is not a number"))?,
        None => 5432,
    };
    let sslmode = match field("sslmode") {
        Some(m) => serde_json::from_value::<SslMode>(Value::String(m.clone()))
            .map_err(|_| format!("Secret {namespace}/{name}: unknown sslmode {m:?}"))?,
        None => config.postgres_sslmode,
    };
    Ok(PgConnection {
        host: required("host")?,
        port,
        user: required("user")?,
        password: required("password")?,
        sslmode,
        ca_file: config.postgres_ca_file.clone(),
        connect_timeout: Duration::from_secs(config.postgres_connect_timeout_seconds),
    })
}

/// How to reach a server of the desired state, or why it cannot be reached.
pub async fn connection_for(
    client: Option<&kube::Client>,
    config: &Config,
    target: &ServerTarget,
    password_of: PasswordOf<'_>,
) -> Result<PgConnection, String> {
    match target {
        ServerTarget::Cluster { namespace, cluster } => {
            connection_for_cluster(config, namespace, cluster, password_of)
        }
        ServerTarget::External {
            namespace,
            secret_name,
        } => match client {
            Some(c) => connection_for_external(c, config, namespace, secret_name).await,
            None => Err("external server: not read without a cluster".into()),
        },
    }
}

/// The databases of a state that need a look inside (schemas, extensions, privileges).
/// Every server the plan would read, unknown for `reason`, without connecting to any.
pub fn not_reached(desired: &Desired, reason: &str) -> BTreeMap<String, DatabaseObservation> {
    desired
        .manifests
        .iter()
        .filter(|m| !m.standby)
        .map(|m| {
            let observation = DatabaseObservation::Unknown {
                reason: reason.to_string(),
                cause: UnknownCause::Other,
            };
            (server_label(&m.database.server), observation)
        })
        .collect()
}

fn inspected(state: &DesiredDatabaseState) -> Vec<String> {
    state
        .databases
        .values()
        .filter(|d| {
            !d.schemas.is_empty() || !d.extensions.is_empty() || !d.default_privileges.is_empty()
        })
        .map(|d| d.name.clone())
        .collect()
}

/// Observes every server of the desired state, at most `config.max_parallel_clusters` at once.
/// A cluster reached through its master Service whose Endpoints are in `without_primary`
/// ((namespace, name), see [`crate::state::primary`]) is not tried: it is unknown at once.
pub async fn observe_databases(
    client: Option<&kube::Client>,
    config: &Config,
    desired: &Desired,
    password_of: PasswordOf<'_>,
    without_primary: &BTreeSet<(String, String)>,
) -> BTreeMap<String, DatabaseObservation> {
    let through_service = config.connects_through_master_service();
    let mut servers: BTreeMap<String, (ServerTarget, Inspect, Relevance)> = BTreeMap::new();
    for m in desired.manifests.iter().filter(|m| !m.standby) {
        let entry = servers
            .entry(server_label(&m.database.server))
            .or_insert_with(|| {
                let target = m.database.server.clone();
                (target, Inspect::Only(Vec::new()), Relevance::default())
            });
        entry.2.add(&m.manifest, &m.database);
        if m.database.pooler_lookup.is_some() {
            entry.1 = Inspect::All;
        }
        if let Inspect::Only(dbs) = &mut entry.1 {
            dbs.extend(inspected(&m.database));
        }
    }
    let jobs = servers
        .into_iter()
        .map(|(label, (target, mut dbs, relevance))| async move {
            if let Inspect::Only(dbs) = &mut dbs {
                dbs.sort();
                dbs.dedup();
            }
            if let ServerTarget::Cluster { namespace, cluster } = &target
                && through_service
                && without_primary.contains(&(namespace.clone(), cluster.clone()))
            {
                let observation = DatabaseObservation::Unknown {
                    reason: no_primary_reason(namespace, cluster),
                    cause: UnknownCause::NotReachable,
                };
                return (label, observation);
            }
            let connection = connection_for(client, config, &target, password_of).await;
            let observation = match connection {
                // No credentials yet (a new cluster's Secret) or no server described.
                Err(reason) => DatabaseObservation::Unknown {
                    reason,
                    cause: UnknownCause::NotReachable,
                },
                Ok(conn) => match observe_server(&conn, &dbs).await {
                    Ok(mut state) => {
                        state.retain_relevant(&relevance);
                        DatabaseObservation::Known(state)
                    }
                    Err(e) => DatabaseObservation::Unknown {
                        reason: e.to_string(),
                        cause: e.cause(),
                    },
                },
            };
            (label, observation)
        });
    futures::stream::iter(jobs)
        .buffer_unordered(config.max_parallel_clusters.max(1))
        .collect::<BTreeMap<_, _>>()
        .await
}
