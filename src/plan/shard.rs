//! Shards: `--shard i/N` reconciles only the manifests that hash to shard `i` of `N`, so N
//! CronJobs (each with its own Lease) share a fleet that one run cannot hold.
//!
//! A manifest's key is the database server its SQL runs on, so every statement for one server
//! comes from one shard: a `postgresql` cluster is keyed by its namespace/name, a
//! `PostgreSQLConfig` by its server (the cluster it names, or the Secret of an external server).
//! Objects follow their cluster (the `cluster_name_label`); the objects shared by a namespace's
//! clusters (the Spilo pods' RBAC) belong to the shard its namespace hashes to. The hash is the
//! first 8 bytes of SHA-256: stable across versions and machines, unlike Rust's `Hasher`.

use crate::render::database::ServerTarget;
use crate::render::{Desired, DesiredManifest};
use crate::state::{CompactJson, Observed};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `i/N`, as `--shard` and the configuration's `shard` take it.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("shard {text:?}: expected i/N with 0 ≤ i < N, e.g. 0/2");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the key namespace/name falls in this shard.
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        owner(namespace, name, self.count) == self.index
    }

    /// Whether the objects shared by `namespace`'s clusters are this shard's.
    pub fn owns_namespace(&self, namespace: &str) -> bool {
        slot(namespace, self.count) == self.index
    }

    /// This shard's name in Lease and CronJob names: `0-of-2`.
    pub fn suffix(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// Keeps the manifests, shared objects and invalid manifests of this shard.
    pub fn restrict_desired(&self, desired: &mut Desired) {
        desired.manifests.retain(|m| {
            let (namespace, name) = manifest_key(m);
            self.owns(&namespace, &name)
        });
        desired.shared.retain(|o| self.owns_namespace(&o.namespace));
        desired
            .invalid
            .retain(|i| match described_key(&i.manifest) {
                Some((namespace, name)) => self.owns(namespace, name),
                None => self.index == 0,
            });
        desired
            .not_ours
            .retain(|m| self.owns(&m.namespace, &m.name));
    }

    /// Keeps the live objects and pods this shard owns. The manifests seen stay whole: they keep
    /// another shard's clusters (and the namespaces that have any) from looking deleted.
    pub fn restrict_observed(&self, observed: &mut Observed, cluster_name_label: &str) {
        let mine = |o: &CompactJson| self.owns_object(o, cluster_name_label);
        observed.objects.retain(mine);
        observed.adoptable.retain(mine);
        observed.pods.retain(mine);
    }

    /// Whether a live object is this shard's: by its cluster, or by its namespace when it has none.
    pub fn owns_object(&self, object: &CompactJson, cluster_name_label: &str) -> bool {
        let head = object.head();
        let namespace = head.metadata.namespace.as_str();
        match head.label(cluster_name_label) {
            Some(cluster) => self.owns(namespace, cluster),
            None => self.owns_namespace(namespace),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl TryFrom<String> for Shard {
    type Error = String;
    fn try_from(text: String) -> Result<Shard, String> {
        Shard::parse(&text)
    }
}

impl From<Shard> for String {
    fn from(shard: Shard) -> String {
        shard.to_string()
    }
}

/// The shard (of `count`) a key falls in.
pub fn slot(key: &str, count: u32) -> u32 {
    let hash = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

/// The key a desired manifest is sharded by: the server its SQL runs on.
pub fn manifest_key(m: &DesiredManifest) -> (String, String) {
    if m.manifest.kind == "postgresql" {
        return (m.manifest.namespace.clone(), m.manifest.name.clone());
    }
    match &m.database.server {
        ServerTarget::Cluster { namespace, cluster } => (namespace.clone(), cluster.clone()),
        ServerTarget::External {
            namespace,
            secret_name,
        } => (namespace.clone(), format!("secret:{secret_name}")),
    }
}

/// The key of a manifest as the API returns it (what the watcher sees): as [`manifest_key`],
/// from the raw object. A `PostgreSQLConfig` without a server is keyed by itself.
pub fn live_manifest_key(
    kind: &str,
    object: &Value,
    default_server: Option<&crate::api::ServerRef>,
) -> (String, String) {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let namespace = s("/metadata/namespace").to_string();
    if kind == "PostgreSQLConfig" {
        let named = |key: &str| {
            object
                .pointer(&format!("/spec/server/{key}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (cluster, secret) = match (named("cluster"), named("secretName")) {
            (None, None) => default_server
                .map(|d| (d.cluster.clone(), d.secret_name.clone()))
                .unwrap_or_default(),
            named => named,
        };
        if let Some(cluster) = cluster {
            return (namespace, cluster);
        }
        if let Some(secret) = secret {
            return (namespace, format!("secret:{secret}"));
        }
    }
    (namespace, s("/metadata/name").to_string())
}

/// The shard (of `count`) that owns the key namespace/name.
pub fn owner(namespace: &str, name: &str, count: u32) -> u32 {
    slot(&format!("{namespace}/{name}"), count)
}

/// The namespace and name in "kind namespace/name" (an invalid manifest's description; its
/// server is unknown, so it is keyed by itself).
fn described_key(description: &str) -> Option<(&str, &str)> {
    let (_, reference) = description.split_once(' ')?;
    reference.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_i_of_n() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse(" 0 / 1 ").map(|s| s.to_string()),
            Ok("0/1".into())
        );
        for bad in ["", "1", "2/2", "0/0", "-1/2", "a/b", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_split_keys_disjointly_and_cover_them_all() {
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("ns-{}/acid-{i}", i % 10))
            .collect();
        let shards = [
            Shard { index: 0, count: 3 },
            Shard { index: 1, count: 3 },
            Shard { index: 2, count: 3 },
        ];
        let mut sizes = [0; 3];
        for key in &keys {
            let (ns, name) = key.split_once('/').unwrap();
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].owns(ns, name)).collect();
            assert_eq!(owners.len(), 1, "{key}: {owners:?}");
            sizes[owners[0]] += 1;
        }
        // Roughly even: each shard holds a fair part.
        assert!(sizes.iter().all(|&s| s > 250), "{sizes:?}");
        // One shard owns everything.
        assert!(keys.iter().all(|k| {
            let (ns, name) = k.split_once('/').unwrap();
            Shard { index: 0, count: 1 }.owns(ns, name)
        }));
    }

    #[test]
    fn the_hash_is_stable() {
        // Changing these moves clusters between shards on upgrade: never do it.
        let fixed: Vec<u32> = ["a/b", "default/acid-minimal-cluster", "team/x"]
            .iter()
            .map(|k| slot(k, 16))
            .collect();
        assert_eq!(fixed, STABLE_SLOTS);
    }
    /// The first 8 bytes of SHA-256, big-endian, mod 16 (checked with Python's hashlib).
    const STABLE_SLOTS: [u32; 3] = [13, 11, 15];

    #[test]
    fn objects_follow_their_cluster_or_namespace() {
        let shard = Shard { index: 0, count: 2 };
        let of_cluster =
            json!({"metadata": {"namespace": "ns", "labels": {"cluster-name": "acid-a"}}}).into();
        assert_eq!(
            shard.owns_object(&of_cluster, "cluster-name"),
            shard.owns("ns", "acid-a")
        );
        let shared = json!({"metadata": {"namespace": "ns"}}).into();
        assert_eq!(
            shard.owns_object(&shared, "cluster-name"),
            shard.owns_namespace("ns")
        );
        assert_eq!(
            described_key("postgresql ns/acid-a"),
            Some(("ns", "acid-a"))
        );
        assert_eq!(described_key("PostgreSQLConfig ns/db"), Some(("ns", "db")));
    }

    #[test]
    fn a_config_goes_with_its_server() {
        let config = json!({"metadata": {"namespace": "ns", "name": "shop"},
            "spec": {"server": {"cluster": "acid-a"}}});
        assert_eq!(
            live_manifest_key("PostgreSQLConfig", &config, None),
            ("ns".into(), "acid-a".into())
        );
        let external = json!({"metadata": {"namespace": "ns", "name": "shop"},
            "spec": {"server": {"secretName": "db"}}});
        assert_eq!(
            live_manifest_key("PostgreSQLConfig", &external, None),
            ("ns".into(), "secret:db".into())
        );
        // A workshop manifest without a server goes with the configured default.
        let workshop = json!({"metadata": {"namespace": "ns", "name": "shop"},
            "spec": {"database": "shop", "owner": "shop"}});
        let default = crate::api::ServerRef {
            cluster: Some("acid-default".into()),
            secret_name: None,
        };
        assert_eq!(
            live_manifest_key("PostgreSQLConfig", &workshop, Some(&default)),
            ("ns".into(), "acid-default".into())
        );
        assert_eq!(
            live_manifest_key("PostgreSQLConfig", &workshop, None),
            ("ns".into(), "shop".into())
        );
        let cluster = json!({"metadata": {"namespace": "ns", "name": "acid-a"}});
        assert_eq!(
            live_manifest_key("postgresql", &cluster, None),
            ("ns".into(), "acid-a".into())
        );
    }
}
