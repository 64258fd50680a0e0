//! Re-captures the live objects of the plan scenarios (`fixtures/plans/*/observed.yaml`) from the
//! local control plane, so that they are what this version's apply really leaves behind:
//!
//!   cargo test --test integration -- --ignored capture_plan_scenarios
//!   (CAPTURE_SCENARIOS=04-image-change,17-kubectl-edit to restrict it)
//!
//! For each scenario whose observed state has objects of ours: its base manifests (`capture.yaml`
//! may name a `base` file and merge patches of manifests.yaml; by default the scenario's own
//! manifests) are created in scratch namespaces, rendered and applied as `apply` does
//! (credential Secrets keep the passwords the scenario's database state was made with), the
//! edits other field managers made to our objects are made again (from their managedFields),
//! and the objects are read back under the scenario's namespaces and manifest UIDs. Everything
//! that is not ours (volume claims, pods, other operators' objects, database state) is kept as
//! it was; so is a StatefulSet's status when the scenario has pods (their revisions must match).
//! Run it on a quiet environment; review the diff of the plans it changes.

use crate::support::json::replace_in_strings;
use crate::support::{TestNamespace, install_crds};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use postgres_reconciler::config::{Config, Sources};
use postgres_reconciler::observe::files::{Loaded, parse_documents};
use postgres_reconciler::render::{self, ApplyPolicy, Manifest, live::LiveFacts};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const OURS: &str = "postgres-reconciler";
/// Managers whose fields come from the controllers, not from an edit.
const CONTROLLERS: &[&str] = &[OURS, "kube-controller-manager", "kube-scheduler"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recipe {
    /// The manifests that were applied, when they are not the scenario's manifests.yaml.
    #[serde(default)]
    base: Option<String>,
    /// Merge patches on manifests.yaml's documents, by manifest name: what was applied before
    /// the change the scenario is about.
    #[serde(default)]
    base_patch: BTreeMap<String, Value>,
    /// The observed state is a snapshot of an older version's objects: left as it is.
    #[serde(default)]
    keep: bool,
}

/// (kind, namespace, name) of a listed object.
fn identity(o: &Value) -> (String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}

fn plural(kind: &str) -> String {
    match kind {
        "Endpoints" => "endpoints".into(),
        "postgresql" => "postgresqls".into(),
        "PostgreSQLConfig" => "postgresqlconfigs".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

fn api_for(client: &kube::Client, ns: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, &plural(kind)),
    )
}

/// Ours to capture again: volume claims are the StatefulSet controller's (kept as they were).
fn is_ours(o: &Value) -> bool {
    o["metadata"]["labels"][MANAGED_BY] == OURS && o["kind"] != "PersistentVolumeClaim"
}

/// A merge patch holding exactly the fields `fields` (a managedFields `fieldsV1`) of `object`.
fn owned_values(fields: &Value, object: &Value) -> Option<Value> {
    let map = fields.as_object()?;
    if map.is_empty() || map.keys().all(|k| k == ".") {
        return Some(object.clone());
    }
    let mut out = serde_json::Map::new();
    for (k, sub) in map {
        let Some(name) = k.strip_prefix("f:") else {
            continue; // list items by key (k:, v:) are not needed for the edits we replay
        };
        if let Some(v) = object.get(name)
            && let Some(part) = owned_values(sub, v)
        {
            out.insert(name.to_string(), part);
        }
    }
    Some(Value::Object(out))
}

fn base_manifests(dir: &Path, recipe: &Recipe) -> Vec<Value> {
    let file = recipe
        .base
        .clone()
        .unwrap_or_else(|| "manifests.yaml".into());
    let text = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter_map(|v: serde_yaml::Value| serde_json::to_value(v).ok())
        .filter(|v: &Value| v.is_object())
        .map(|mut v| {
            let name = v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(patch) = recipe.base_patch.get(&name) {
                json_patch::merge(&mut v, patch);
            }
            v
        })
        .collect()
}

async fn capture(dir: &Path, client: &kube::Client) {
    let recipe: Recipe = std::fs::read_to_string(dir.join("capture.yaml"))
        .map(|t| serde_yaml::from_str(&t).expect("capture.yaml"))
        .unwrap_or_default();
    if recipe.keep {
        return;
    }
    let observed_path = dir.join("observed.yaml");
    let old: serde_yaml::Mapping =
        serde_yaml::from_str(&std::fs::read_to_string(&observed_path).expect("observed.yaml"))
            .expect("observed.yaml is a map");
    let get = |k: &str| old.get(k).cloned().unwrap_or(serde_yaml::Value::Null);
    let old_objects: Vec<Value> =
        serde_json::from_value(serde_json::to_value(get("objects")).expect("json"))
            .unwrap_or_default();
    let has_pods = !matches!(get("pods"), serde_yaml::Value::Null);
    // Objects another operator made stay theirs: the scenario adopts them.
    let adoptable: Vec<Value> =
        serde_json::from_value(serde_json::to_value(get("adoptable")).expect("json"))
            .unwrap_or_default();
    let theirs: std::collections::BTreeSet<_> = adoptable.iter().map(identity).collect();
    let config_path = dir.join("config.yaml");
    let mut config = Config::load(&Sources {
        file: config_path.exists().then_some(config_path),
        set: Vec::new(),
    })
    .expect("scenario config");
    // No Patroni behind the fake pods: the scenarios' observations hold none.
    config.sync_patroni_config = false;

    // Scratch namespaces stand for the scenario's; the manifests exist there for real, so the
    // garbage collector leaves their objects alone.
    let docs = base_manifests(dir, &recipe);
    let mut scratch: BTreeMap<String, TestNamespace> = BTreeMap::new();
    let mut uids: BTreeMap<String, String> = BTreeMap::new(); // real → fixture
    let mut loaded = Loaded::default();
    for doc in &docs {
        let ns = doc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        if !scratch.contains_key(&ns) {
            scratch.insert(ns.clone(), TestNamespace::new("capture").await);
        }
        let target = &scratch[&ns].name;
        let mut body = doc.clone();
        let fixture_uid = body["metadata"]["uid"].as_str().map(str::to_string);
        if let Some(m) = body["metadata"].as_object_mut() {
            // A finalizer would keep the scratch namespace from going.
            for k in [
                "uid",
                "generation",
                "resourceVersion",
                "creationTimestamp",
                "finalizers",
                "deletionTimestamp",
            ] {
                m.remove(k);
            }
            m.insert("namespace".into(), Value::from(target.clone()));
        }
        let kind = body["kind"].as_str().unwrap_or_default().to_string();
        let api_version = body["apiVersion"].as_str().unwrap_or_default().to_string();
        let created = api_for(client, target, &api_version, &kind)
            .create(
                &PostParams::default(),
                &serde_json::from_value(body).expect("manifest"),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: create {kind}: {e}", dir.display()));
        let real_uid = created.metadata.uid.clone().unwrap_or_default();
        if let Some(f) = fixture_uid {
            uids.insert(real_uid.clone(), f);
        }
        let mut value = serde_json::to_value(&created).expect("json");
        value["apiVersion"] = Value::from(api_version);
        value["kind"] = Value::from(kind);
        let text = serde_yaml::to_string(&value).expect("yaml");
        parse_documents(&text, "base", target, &mut loaded);
    }
    assert!(
        loaded.invalid.is_empty() || !loaded.manifests.is_empty(),
        "{:?}",
        loaded.invalid
    );
    let to_scratch = |v: &mut Value| {
        for (ns, t) in &scratch {
            if v["metadata"]["namespace"] == ns.as_str() {
                v["metadata"]["namespace"] = Value::from(t.name.clone());
            }
        }
    };
    let facts = LiveFacts::from_objects(
        old_objects
            .iter()
            .chain(&adoptable)
            .map(|o| {
                let mut o = o.clone();
                to_scratch(&mut o);
                postgres_reconciler::state::CompactJson::from(o)
            })
            .collect::<Vec<_>>()
            .iter(),
    );
    let manifests: Vec<Manifest> = loaded.manifests;
    let desired = render::render_with(&manifests, &config, &facts);
    let password_of = |name: &str| {
        old_objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
            .and_then(|o| o["data"]["password"].as_str().map(str::to_string))
    };
    let objects = desired
        .manifests
        .iter()
        .filter(|m| !m.deleting)
        .flat_map(|m| m.objects.iter())
        .chain(desired.shared.iter())
        .filter(|o| o.policy != ApplyPolicy::UpdateOnly)
        .filter(|o| {
            let ns = scratch
                .iter()
                .find(|(_, t)| t.name == o.namespace)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            !theirs.contains(&(o.kind.clone(), ns, o.name.clone()))
        });
    let mut applied = Vec::new();
    for o in objects {
        let api = api_for(client, &o.namespace, &o.api_version, &o.kind);
        if o.policy == ApplyPolicy::CreateOnly {
            let mut body = o.body.value();
            body["data"]["password"] =
                Value::from(password_of(&o.name).unwrap_or_else(|| "Y2FwdHVyZWQ=".into()));
            let params = PostParams {
                field_manager: Some(config.field_manager.clone()),
                ..Default::default()
            };
            api.create(&params, &serde_json::from_value(body).expect("secret"))
                .await
                .unwrap_or_else(|e| panic!("create {} {}: {e}", o.kind, o.name));
        } else {
            api.patch(
                &o.name,
                &PatchParams::apply(&config.field_manager),
                &Patch::Apply(&o.body),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {} {}: {e}", o.kind, o.name));
        }
        applied.push(o.clone());
    }
    // Edits of other field managers on our objects, made again as they were made.
    for old in old_objects.iter().filter(|o| is_ours(o)) {
        let (Some(kind), Some(name)) = (old["kind"].as_str(), old["metadata"]["name"].as_str())
        else {
            continue;
        };
        let Some(ns) = old["metadata"]["namespace"]
            .as_str()
            .and_then(|n| scratch.get(n))
        else {
            continue;
        };
        for entry in old["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let manager = entry["manager"].as_str().unwrap_or_default();
            if CONTROLLERS.contains(&manager) || entry.get("subresource").is_some() {
                continue;
            }
            let Some(patch) = owned_values(&entry["fieldsV1"], old) else {
                continue;
            };
            let api = api_for(
                client,
                &ns.name,
                old["apiVersion"].as_str().unwrap_or("v1"),
                kind,
            );
            let params = PatchParams {
                field_manager: Some(manager.to_string()),
                ..Default::default()
            };
            api.patch(name, &params, &Patch::Merge(&patch))
                .await
                .unwrap_or_else(|e| panic!("{manager}'s edit of {kind} {name}: {e}"));
        }
    }
    // Controllers fill statuses and defaults.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut captured = Vec::new();
    for o in &applied {
        let api = api_for(client, &o.namespace, &o.api_version, &o.kind);
        let live = api.get(&o.name).await.expect("read back");
        let mut v = serde_json::to_value(&live).expect("json");
        v["apiVersion"] = Value::from(o.api_version.clone());
        v["kind"] = Value::from(o.kind.clone());
        if o.kind == "StatefulSet" && has_pods {
            // The pods are the scenario's: the revisions they are on must stay the ones it names.
            if let Some(status) = old_objects
                .iter()
                .find(|x| x["kind"] == "StatefulSet" && x["metadata"]["name"] == o.name.as_str())
                .map(|x| x["status"].clone())
            {
                v["status"] = status;
            }
        }
        for (ns, t) in &scratch {
            replace_in_strings(&mut v, &t.name, ns);
        }
        for (real, fixture) in &uids {
            replace_in_strings(&mut v, real, fixture);
        }
        captured.push(v);
    }
    // What is not ours stays as it was.
    captured.extend(old_objects.iter().filter(|o| !is_ours(o)).cloned());

    let mut out = serde_yaml::Mapping::new();
    out.insert("manifests".into(), get("manifests"));
    out.insert(
        "objects".into(),
        serde_yaml::to_value(&captured).expect("yaml"),
    );
    for key in ["adoptable", "pods", "finalizers", "now", "databases"] {
        if let Some(v) = old.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let header = "# Live objects: captured from a local kube-apiserver v1.36.3 by tests/integration/golden_capture.rs\n\
# (server-side apply of this version's render of the scenario's base manifests, field manager\n\
# postgres-reconciler; other managers' edits made again; Secrets with the passwords the database state\n\
# was written with). Volume claims, pods, other operators' objects and the database state are the\n\
# scenario's own.\n";
    std::fs::write(
        &observed_path,
        format!("{header}{}", serde_yaml::to_string(&out).expect("yaml")),
    )
    .expect("write observed.yaml");
    eprintln!("captured {}", dir.display());
    // Gone before the next scenario: node ports and names are the cluster's, not the namespace's.
    let names: Vec<String> = scratch.values().map(|n| n.name.clone()).collect();
    drop(scratch);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for name in names {
        crate::support::eventually(Duration::from_secs(120), "scratch namespace gone", || {
            let namespaces = namespaces.clone();
            let name = name.clone();
            async move {
                namespaces
                    .get_opt(&name)
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                    .then_some(())
            }
        })
        .await;
    }
}

#[tokio::test]
#[ignore = "rewrites fixtures/plans/*/observed.yaml from the live control plane; run it by hand"]
async fn capture_plan_scenarios() {
    let env = crate::support::TestEnv::get();
    let client = env.client().await;
    install_crds(&client).await;
    let only: Option<Vec<String>> = std::env::var("CAPTURE_SCENARIOS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("plans")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if only.as_ref().is_some_and(|o| !o.contains(&name)) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("observed.yaml")).unwrap_or_default();
        let observed: serde_yaml::Mapping = serde_yaml::from_str(&text).unwrap_or_default();
        let objects: Vec<Value> = observed
            .get("objects")
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|o| serde_json::from_value(o).ok())
            .unwrap_or_default();
        let ours = objects.iter().any(is_ours);
        if ours {
            capture(&dir, &client).await;
        }
    }
}
