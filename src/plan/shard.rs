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
use crate::render::{Desired, DesiredManifest, ManifestRef};
use crate::state::{CompactJson, Observed};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
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
        let fleet = Fleet::new(self.count, &observed.manifests);
        let mine = |o: &CompactJson| self.owns_object(&fleet, o, cluster_name_label);
        observed.objects.retain(mine);
        observed.adoptable.retain(mine);
        observed.pods.retain(mine);
    }

    /// Whether a live object is this shard's: by its cluster, or by its namespace when it has none.
    pub fn owns_object(
        &self,
        fleet: &Fleet,
        object: &CompactJson,
        cluster_name_label: &str,
    ) -> bool {
        let head = object.head();
        let namespace = head.metadata.namespace.as_str();
        match head.label(cluster_name_label) {
            Some(cluster) => fleet.object_owner(namespace, cluster) == self.index,
            None => self.owns_namespace(namespace),
        }
    }

    /// The label selector term that leaves out of this shard's LISTs the objects of clusters
    /// that are all other shards' (`cluster-name notin (…)`; objects without the label stay in).
    /// None when nothing can be left out, or when the term would be too long for a request line.
    pub fn list_narrowing(&self, fleet: &Fleet, cluster_name_label: &str) -> Option<String> {
        let mut term = format!("{cluster_name_label} notin (");
        let mut any = false;
        for name in fleet.names_not_of(self.index) {
            if any {
                term.push(',');
            }
            term.push_str(name);
            any = true;
            if term.len() > MAX_NARROWING_BYTES {
                return None;
            }
        }
        term.push(')');
        any.then_some(term)
    }
}

/// The longest narrowing term sent: the API server reads request lines of up to 1 MiB, and every
/// page of every LIST repeats it.
const MAX_NARROWING_BYTES: usize = 128 * 1024;

/// Which shards own the `postgresql` manifests of each cluster name: what decides, for every
/// shard alike, which live objects a shard's LISTs may leave out and who owns an object whose
/// manifest is gone.
#[derive(Debug, Default)]
pub struct Fleet {
    count: u32,
    owners_by_name: BTreeMap<String, BTreeSet<u32>>,
    clusters: BTreeSet<(String, String)>,
}

impl Fleet {
    pub fn new(count: u32, manifests: &[ManifestRef]) -> Fleet {
        let mut fleet = Fleet {
            count,
            ..Fleet::default()
        };
        for m in manifests.iter().filter(|m| m.kind == "postgresql") {
            fleet
                .owners_by_name
                .entry(m.name.clone())
                .or_default()
                .insert(owner(&m.namespace, &m.name, count));
            fleet.clusters.insert((m.namespace.clone(), m.name.clone()));
        }
        fleet
    }

    /// The cluster names that only other shards' manifests have and that can be label values.
    fn names_not_of(&self, index: u32) -> impl Iterator<Item = &str> {
        self.owners_by_name
            .iter()
            .filter(move |(name, owners)| !owners.contains(&index) && is_label_value(name))
            .map(|(name, _)| name.as_str())
    }

    /// The shard that owns a live object of cluster `namespace/cluster`: its manifest's. An
    /// object whose manifest is gone goes by its own key, unless that shard's LISTs leave its
    /// name out (a cluster of that name elsewhere is another shard's): then it is the first
    /// shard that sees the name.
    pub fn object_owner(&self, namespace: &str, cluster: &str) -> u32 {
        let by_key = owner(namespace, cluster, self.count);
        if self
            .clusters
            .contains(&(namespace.to_string(), cluster.to_string()))
        {
            return by_key;
        }
        match self.owners_by_name.get(cluster) {
            Some(owners) if is_label_value(cluster) && !owners.contains(&by_key) => {
                owners.first().copied().unwrap_or(by_key)
            }
            _ => by_key,
        }
    }
}

/// A valid label value (at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends):
/// only such a name can be in a selector, and only such a name labels an object.
fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
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

    fn cluster(namespace: &str, name: &str) -> ManifestRef {
        ManifestRef {
            kind: "postgresql".into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: None,
            generation: None,
        }
    }

    fn labelled(namespace: &str, cluster: &str) -> CompactJson {
        json!({"metadata": {"namespace": namespace, "labels": {"cluster-name": cluster}}}).into()
    }

    #[test]
    fn objects_follow_their_cluster_or_namespace() {
        let shard = Shard { index: 0, count: 2 };
        let fleet = Fleet::new(2, &[cluster("ns", "acid-a")]);
        assert_eq!(
            shard.owns_object(&fleet, &labelled("ns", "acid-a"), "cluster-name"),
            shard.owns("ns", "acid-a")
        );
        let shared = json!({"metadata": {"namespace": "ns"}}).into();
        assert_eq!(
            shard.owns_object(&fleet, &shared, "cluster-name"),
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

    /// Two shards' names for a fleet where names repeat across namespaces.
    fn colliding_fleet() -> Vec<ManifestRef> {
        (0..60)
            .map(|i| cluster(&format!("ns-{}", i % 4), &format!("acid-{}", i % 25)))
            .collect()
    }

    #[test]
    fn a_shard_lists_all_it_owns_and_leaves_out_only_other_shards_clusters() {
        let manifests = colliding_fleet();
        let count = 3;
        let fleet = Fleet::new(count, &manifests);
        let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
        let left_out = |shard: &Shard| -> BTreeSet<String> {
            let term = shard
                .list_narrowing(&fleet, "cluster-name")
                .expect("each shard leaves some out");
            let names = term
                .strip_prefix("cluster-name notin (")
                .and_then(|t| t.strip_suffix(')'))
                .expect("a notin term");
            names.split(',').map(str::to_string).collect()
        };
        // Live objects: every cluster's, and orphans of gone clusters, some named like a live
        // cluster elsewhere.
        let mut objects: Vec<(String, String)> = manifests
            .iter()
            .map(|m| (m.namespace.clone(), m.name.clone()))
            .collect();
        for i in 0..40 {
            objects.push((format!("ns-{}", 4 + i % 3), format!("acid-{}", i % 30)));
        }
        for (namespace, name) in &objects {
            let object = labelled(namespace, name);
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns_object(&fleet, &object, "cluster-name"))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "{namespace}/{name}: {owners:?}");
            // Its owner's lists include it.
            let owner = &shards[owners[0] as usize];
            assert!(!left_out(owner).contains(name), "{namespace}/{name}");
            // A live cluster's objects are its manifest's shard's.
            if fleet.clusters.contains(&(namespace.clone(), name.clone())) {
                assert!(owner.owns(namespace, name), "{namespace}/{name}");
            }
        }
        // What a shard leaves out is only clusters whose every manifest is another shard's.
        for shard in &shards {
            for name in left_out(shard) {
                assert!(
                    manifests
                        .iter()
                        .filter(|m| m.name == name)
                        .all(|m| !shard.owns(&m.namespace, &m.name)),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn a_narrowing_too_long_for_a_request_line_is_not_sent() {
        let manifests: Vec<ManifestRef> = (0..20_000)
            .map(|i| cluster("ns", &format!("acid-cluster-number-{i}")))
            .collect();
        let fleet = Fleet::new(2, &manifests);
        assert_eq!(
            Shard { index: 0, count: 2 }.list_narrowing(&fleet, "cluster-name"),
            None
        );
        // One shard leaves out nothing; a name that cannot be a label value is never sent.
        let fleet = Fleet::new(1, &manifests);
        assert_eq!(
            Shard { index: 0, count: 1 }.list_narrowing(&fleet, "cluster-name"),
            None
        );
        let long = "a".repeat(64);
        let fleet = Fleet::new(2, &[cluster("ns", &long)]);
        assert_eq!(
            Shard { index: 0, count: 2 }.list_narrowing(&fleet, "cluster-name"),
            None
        );
        assert_eq!(
            Shard { index: 1, count: 2 }.list_narrowing(&fleet, "cluster-name"),
            None
        );
    }
}
