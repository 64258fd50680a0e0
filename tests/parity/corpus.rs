//! The parity corpus: every valid fixture (`fixtures/manifests/valid/`, among them one for each
//! difference the oracle found: initdb flag forms, requests above limits, Zalando's switched-off
//! fields, load balancers) and Zalando's four example manifests (read from its module). Only
//! `postgresql` manifests; names made unique (all go into one namespace).

use crate::support::zalando::module_dir;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use postgres_reconciler::api::Postgresql;
use postgres_reconciler::config::Config;
use postgres_reconciler::render::{self, Manifest, live::LiveFacts};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub const ZALANDO_EXAMPLES: &[&str] = &[
    "minimal-postgres-manifest.yaml",
    "minimal-postgres-lowest-version-manifest.yaml",
    "complete-postgres-manifest.yaml",
    "standby-manifest.yaml",
];

#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it came from, e.g. `fixtures/manifests/valid/01-minimal.yaml`.
    pub source: String,
    pub from_zalando: bool,
    /// The manifest as it is created: name, labels, annotations and spec of the original.
    pub doc: Value,
}

impl Entry {
    pub fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or_default()
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| serde::Deserialize::deserialize(doc).ok())
        .filter_map(|v: serde_yaml::Value| serde_json::to_value(v).ok())
        .filter(|v: &Value| v["kind"] == "postgresql")
        .collect()
}

/// Keeps what a user writes; drops what a fixture carries to stand for a live object.
fn as_created(doc: &Value) -> Value {
    let meta = &doc["metadata"];
    let mut metadata = serde_json::Map::new();
    for key in ["name", "labels", "annotations"] {
        if let Some(v) = meta.get(key) {
            metadata.insert(key.into(), v.clone());
        }
    }
    serde_json::json!({
        "apiVersion": "acid.zalan.do/v1",
        "kind": "postgresql",
        "metadata": metadata,
        "spec": doc["spec"],
    })
}

pub fn load() -> Vec<Entry> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<(PathBuf, bool)> = Vec::new();
    sources.extend(
        yaml_files(&repo.join("fixtures/manifests/valid"))
            .into_iter()
            .map(|p| (p, false)),
    );
    let examples = module_dir().join("manifests");
    sources.extend(ZALANDO_EXAMPLES.iter().map(|f| (examples.join(f), true)));

    let mut names = BTreeSet::new();
    let mut entries = Vec::new();
    for (path, from_zalando) in sources {
        for doc in documents(&path) {
            // Manifests of another controller are passed over by both operators.
            if doc["metadata"]["annotations"]
                .get("acid.zalan.do/controller")
                .is_some()
            {
                continue;
            }
            let mut doc = as_created(&doc);
            let base = doc["metadata"]["name"].as_str().unwrap_or("x").to_string();
            let mut name = base.clone();
            let mut n = 2;
            while !names.insert(name.clone()) {
                name = format!("{base}-{n}");
                n += 1;
            }
            doc["metadata"]["name"] = Value::from(name);
            let source = path
                .strip_prefix(&repo)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| {
                    format!(
                        "zalando:{}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    )
                });
            entries.push(Entry {
                source,
                from_zalando,
                doc,
            });
        }
    }
    entries
}

/// Why we refuse a manifest (its validation and render errors); empty when we render it.
pub fn refusals(doc: &Value, config: &Config, facts: &LiveFacts) -> Vec<String> {
    match postgres_reconciler::validate::deserialize_manifest::<Postgresql>(doc) {
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        Ok(pg) => render::render_with(&[Manifest::Postgresql(Box::new(pg))], config, facts)
            .invalid
            .iter()
            .flat_map(|i| i.errors.iter().map(|e| e.to_string()))
            .collect(),
    }
}

/// The priority classes the corpus and the parity configuration name (pods naming one that does
/// not exist are refused by admission).
pub async fn install_priority_classes(client: &kube::Client, entries: &[Entry]) {
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("scheduling.k8s.io", "v1", "PriorityClass"),
            "priorityclasses",
        ),
    );
    let mut names: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.doc["spec"]["podPriorityClassName"].as_str())
        .collect();
    names.insert(PARITY_PRIORITY_CLASS);
    for name in names {
        let pc = serde_json::json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": 1000, "globalDefault": false,
        });
        api.patch(
            name,
            &PatchParams::apply("parity-harness").force(),
            &Patch::Apply(&pc),
        )
        .await
        .unwrap_or_else(|e| panic!("PriorityClass {name}: {e}"));
    }
}

/// The priority class the parity configuration gives every pod (`pod_priority_class_name`).
pub const PARITY_PRIORITY_CLASS: &str = "parity-postgres";

/// The storage classes the corpus names, as the default one (the hostPath provisioner), so their
/// claims bind.
pub async fn install_storage_classes(client: &kube::Client, entries: &[Entry]) {
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("storage.k8s.io", "v1", "StorageClass"),
            "storageclasses",
        ),
    );
    let names: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.doc["spec"]["volume"]["storageClass"].as_str())
        .collect();
    for name in names {
        let sc = serde_json::json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": "kubernetes.io/host-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate", "allowVolumeExpansion": true,
        });
        api.patch(
            name,
            &PatchParams::apply("parity-harness").force(),
            &Patch::Apply(&sc),
        )
        .await
        .expect("apply a storage class");
    }
}

/// A standby of the corpus streams from the corpus's own source in the namespace it runs in:
/// Zalando's example names `acid-minimal-cluster.default`, which here is
/// `acid-minimal-cluster.<namespace>`.
pub fn in_namespace(doc: &mut Value, namespace: &str) {
    doc["metadata"]["namespace"] = Value::from(namespace);
    // By pointer: indexing would add an empty `standby` to every other manifest.
    if let Some(host) = doc.pointer_mut("/spec/standby/standby_host")
        && let Some((source, _)) = host.as_str().and_then(|h| h.split_once('.'))
    {
        *host = Value::from(format!("{source}.{namespace}"));
    }
}

/// The cluster a streaming standby follows, when it is one of the corpus (`standby_host`
/// `<cluster>.<namespace>`).
pub fn standby_source(doc: &Value) -> Option<String> {
    let host = doc["spec"]["standby"]["standby_host"].as_str()?;
    Some(host.split('.').next()?.to_string())
}

/// The running cluster a clone copies by `pg_basebackup` (a clone without a timestamp).
pub fn clone_source(doc: &Value) -> Option<String> {
    let clone = &doc["spec"]["clone"];
    let cluster = clone["cluster"].as_str().filter(|c| !c.is_empty())?;
    clone["timestamp"].is_null().then(|| cluster.to_string())
}

/// The corpus cluster whose data a manifest starts from, by streaming or by copy: it must be
/// running first.
pub fn bootstrap_source(doc: &Value) -> Option<String> {
    standby_source(doc).or_else(|| clone_source(doc))
}

/// Whether its pods can bootstrap here: a standby or a clone restoring from a WAL archive needs
/// WAL-G or WAL-E, which the Spilo runner does not have (the Go module proxy refuses WAL-G).
/// Such manifests are compared once their objects are made, not once their cluster runs.
pub fn runs_here(doc: &Value) -> bool {
    let spec = &doc["spec"];
    let archive_standby = spec["standby"].is_object() && standby_source(doc).is_none();
    let archive_clone = spec["clone"]["timestamp"]
        .as_str()
        .is_some_and(|t| !t.is_empty());
    !(archive_standby || archive_clone)
}

/// Whether Zalando makes a connection pooler for it: `enableConnectionPooler`, or a
/// `connectionPooler` section without that switch, or `enableReplicaConnectionPooler`.
pub fn has_pooler(doc: &Value) -> bool {
    let spec = &doc["spec"];
    let master = match spec["enableConnectionPooler"].as_bool() {
        Some(on) => on,
        None => spec["connectionPooler"].is_object(),
    };
    master || spec["enableReplicaConnectionPooler"].as_bool() == Some(true)
}
