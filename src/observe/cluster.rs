//! Reading the cluster: the manifests and every object we own, one paginated LIST per kind (per
//! namespace when the scope is a list of namespaces), never one GET per object.

use super::requests::RequestCounter;
use super::retry::{RetrySettings, TransientRetry};
use crate::render::{Manifest, ManifestRef};
use crate::state::CompactJson;
use crate::state::trim::{UpdateRevisions, keep_what_the_plan_reads};
use crate::validate::{Invalid, Limits, read_manifest};
use kube::Resource;
use kube::api::{DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use serde_json::value::RawValue;
use std::path::Path;

/// Selects the objects we own.
pub const OWNED_SELECTOR: &str = "app.kubernetes.io/managed-by=postgres-reconciler";
/// The endpoints controller keeps Endpoints for every Service with a selector and copies the
/// Service's labels onto them (ours included): those are the controller's, never ours.
const ENDPOINTS_CONTROLLER_LABEL: &str = "endpoints.kubernetes.io/managed-by";
const MANAGED_BY_LABEL: &str = crate::render::meta::MANAGED_BY.0;
const PAGE: u32 = 500;

/// A kube client that counts its requests.
#[derive(Clone)]
pub struct ClusterClient {
    pub client: kube::Client,
    /// The same, without kube's retries of 429/503/504: for requests whose refusal is an answer
    /// (an eviction a PodDisruptionBudget does not allow now), not a reason to wait minutes.
    pub without_retries: kube::Client,
    pub requests: RequestCounter,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("listing {what}: {}", crate::observe::describe_kube_error(source))]
    List { what: String, source: kube::Error },
}

impl ClusterClient {
    /// From `--kubeconfig`/`--context`, else the usual inference (KUBECONFIG, ~/.kube/config,
    /// in-cluster service account).
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Self, ClusterError> {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let fail = |e: &dyn std::fmt::Display| ClusterError::Config(e.to_string());
        let config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| fail(&e))?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| fail(&e))?
            }
            None if context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| fail(&e))?,
            None => kube::Config::infer().await.map_err(|e| fail(&e))?,
        };
        Self::from_config(config)
    }

    pub fn from_config(config: kube::Config) -> Result<Self, ClusterError> {
        let requests = RequestCounter::default();
        // kube's own retries (429/503/504 only) are replaced by ours.
        let mut config = config;
        config.default_retry = false;
        let builder = || {
            kube::client::ClientBuilder::try_from(config.clone())
                .map_err(|e| ClusterError::Config(e.to_string()))
                .map(|b| b.with_layer(&requests))
        };
        let without_retries = builder()?.build();
        // Every attempt passes the counter (retries are requests too); tower's `Retry` needs a
        // service it can clone, which the buffer in front of kube's stack provides.
        let retry = TransientRetry::new(RetrySettings::default(), requests.clone());
        let client = builder()?
            .with_layer(&tower::buffer::BufferLayer::new(1024))
            .with_layer(&tower::retry::RetryLayer::new(retry))
            .build();
        Ok(ClusterClient {
            client,
            without_retries,
            requests,
        })
    }
}

/// Which namespaces a run looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(Vec<String>),
}

/// The kinds we create, as (apiVersion, kind, plural).
pub const OWNED_KINDS: &[(&str, &str, &str)] = &[
    ("v1", "ServiceAccount", "serviceaccounts"),
    ("rbac.authorization.k8s.io/v1", "Role", "roles"),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
    ),
    ("v1", "Secret", "secrets"),
    ("v1", "Endpoints", "endpoints"),
    ("v1", "Service", "services"),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ("apps/v1", "StatefulSet", "statefulsets"),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("batch/v1", "CronJob", "cronjobs"),
    ("apps/v1", "Deployment", "deployments"),
];

pub const MANIFEST_KINDS: &[(&str, &str, &str)] = &[
    ("acid.zalan.do/v1", "postgresql", "postgresqls"),
    (
        "containerconf.de/v1",
        "PostgreSQLConfig",
        "postgresqlconfigs",
    ),
];

pub fn api_resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Every object of one kind in scope, as JSON with apiVersion and kind set on each item (list
/// responses leave them out), following `continue` tokens.
pub async fn list_all(
    client: &kube::Client,
    scope: &Scope,
    kind: (&str, &str, &str),
    selector: Option<&str>,
) -> Result<Vec<Value>, ClusterError> {
    list_filtered(client, scope, kind, selector, None, None, |_| {}).await
}

/// [`list_all`] keeping of each object only what the plan reads (see [`keep_what_the_plan_reads`])
/// as each page arrives, each as `T` (a [`CompactJson`] takes a tenth of a `Value`'s bytes);
/// `manager` is our field manager.
pub async fn list_for_plan<T: From<Value>>(
    client: &kube::Client,
    scope: &Scope,
    kind: (&str, &str, &str),
    selector: Option<&str>,
    manager: &str,
) -> Result<Vec<T>, ClusterError> {
    list_filtered(client, scope, kind, selector, None, Some(manager), |_| {}).await
}

/// The objects of one kind in scope with one name (a field selector).
async fn list_by_name(
    client: &kube::Client,
    scope: &Scope,
    kind: (&str, &str, &str),
    name: &str,
) -> Result<Vec<Value>, ClusterError> {
    list_filtered(
        client,
        scope,
        kind,
        None,
        Some(&format!("metadata.name={name}")),
        None,
        |_| {},
    )
    .await
}

async fn list_filtered<T: From<Value>>(
    client: &kube::Client,
    scope: &Scope,
    kind: (&str, &str, &str),
    selector: Option<&str>,
    fields: Option<&str>,
    trim_for: Option<&str>,
    also_trim: impl Fn(&mut Value),
) -> Result<Vec<T>, ClusterError> {
    let (api_version, kind_name, _) = kind;
    list_each(client, scope, kind, selector, fields, |mut v| {
        if let Some(map) = v.as_object_mut() {
            map.insert("apiVersion".into(), api_version.into());
            map.insert("kind".into(), kind_name.into());
        }
        if let Some(manager) = trim_for {
            keep_what_the_plan_reads(&mut v, kind_name, manager);
        }
        also_trim(&mut v);
        Some(T::from(v))
    })
    .await
}

/// One page of a list as the API server sends it. Its items stay raw text until each is parsed
/// on its own: a page of hundreds of objects is never one tree in memory.
#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

#[derive(serde::Deserialize, Default)]
struct PageMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// Every object of one kind in scope, following `continue` tokens, each parsed as its page
/// arrives and handed to `keep` (which returns what is kept of it, if anything).
pub async fn list_each<T>(
    client: &kube::Client,
    scope: &Scope,
    (api_version, kind, plural): (&str, &str, &str),
    selector: Option<&str>,
    fields: Option<&str>,
    mut keep: impl FnMut(Value) -> Option<T>,
) -> Result<Vec<T>, ClusterError> {
    let resource = api_resource(api_version, kind, plural);
    let paths: Vec<String> = match scope {
        Scope::All => vec![DynamicObject::url_path(&resource, None)],
        Scope::Namespaces(nss) => nss
            .iter()
            .map(|ns| DynamicObject::url_path(&resource, Some(ns)))
            .collect(),
    };
    let failed = |source| ClusterError::List {
        what: plural.to_string(),
        source,
    };
    let mut out = Vec::new();
    for path in paths {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(s) = selector {
            params = params.labels(s);
        }
        if let Some(f) = fields {
            params = params.fields(f);
        }
        loop {
            let mut request = kube::core::Request::new(&path)
                .list(&params)
                .map_err(|e| failed(kube::Error::BuildRequest(e)))?;
            request.extensions_mut().insert("list");
            let text = client.request_text(request).await.map_err(failed)?;
            let page: Page =
                serde_json::from_str(&text).map_err(|e| failed(kube::Error::SerdeError(e)))?;
            for item in page.items {
                let value = serde_json::from_str(item.get())
                    .map_err(|e| failed(kube::Error::SerdeError(e)))?;
                out.extend(keep(value));
            }
            match page.metadata.continue_token.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    Ok(out)
}

/// The manifests in scope, each read on its own so one malformed manifest is reported as
/// invalid instead of failing the whole list.
#[derive(Debug, Default)]
pub struct ObservedManifests {
    pub manifests: Vec<Manifest>,
    pub invalid: Vec<Invalid>,
    /// Every manifest seen, readable or not.
    pub seen: Vec<ManifestRef>,
    /// The current `status` of each manifest, by "kind namespace/name": a run writes status only
    /// when it changes.
    pub statuses: std::collections::BTreeMap<String, Value>,
    /// The finalizers of each manifest that has any, by "kind namespace/name".
    pub finalizers: std::collections::BTreeMap<String, Vec<String>>,
}

pub async fn observe_manifests(
    client: &kube::Client,
    scope: &Scope,
    limits: &Limits,
) -> Result<ObservedManifests, ClusterError> {
    let mut out = ObservedManifests::default();
    for &kind in MANIFEST_KINDS {
        for item in list_all(client, scope, kind, None).await? {
            let namespace = item
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = item
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let finalizers: Vec<String> = item
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            if !finalizers.is_empty() {
                out.finalizers
                    .insert(format!("{} {namespace}/{name}", kind.1), finalizers);
            }
            if let Some(status) = item.get("status") {
                out.statuses
                    .insert(format!("{} {namespace}/{name}", kind.1), status.clone());
            }
            out.seen.push(ManifestRef {
                kind: kind.1.to_string(),
                namespace: namespace.clone(),
                name: name.clone(),
                uid: item
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                generation: item.pointer("/metadata/generation").and_then(Value::as_i64),
            });
            let parsed = match kind.1 {
                "postgresql" => {
                    read_manifest(&item, limits).map(|pg| Manifest::Postgresql(Box::new(pg)))
                }
                _ => read_manifest(&item, limits).map(|c| Manifest::Config(Box::new(c))),
            };
            match parsed {
                Ok(m) => out.manifests.push(m),
                Err(errors) => out.invalid.push(Invalid {
                    manifest: format!("{} {namespace}/{name}", kind.1),
                    errors,
                }),
            }
        }
    }
    Ok(out)
}

/// Every object we own in scope: one paginated list per kind.
pub async fn observe_objects(
    client: &kube::Client,
    scope: &Scope,
    config: &crate::config::Config,
    narrowing: Option<&str>,
) -> Result<Vec<CompactJson>, ClusterError> {
    let clusters = cluster_selector(config);
    // One list per kind, all at once: the run's floor is the time these take.
    let lists =
        OWNED_KINDS.iter().map(|&kind| {
            // Volume claims carry the cluster's labels (its StatefulSet's claim template is Zalando's,
            // so an adopted StatefulSet keeps its template); the plan never deletes a claim of a
            // cluster that exists.
            let selector = match kind.1 {
                "PersistentVolumeClaim" => clusters.clone(),
                "Endpoints" => format!("{OWNED_SELECTOR},!{ENDPOINTS_CONTROLLER_LABEL}"),
                _ => OWNED_SELECTOR.to_string(),
            };
            let selector = narrowed(selector, narrowing);
            async move {
                list_for_plan(client, scope, kind, Some(&selector), &config.field_manager).await
            }
        });
    Ok(futures::future::try_join_all(lists)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// The clusters' Spilo pods in scope: one paginated list with the cluster labels, without the
/// connection pooler's pods (they share the cluster name label). Pods are never owned objects
/// (no orphan deletes); rollouts read them.
pub async fn observe_pods(
    client: &kube::Client,
    scope: &Scope,
    config: &crate::config::Config,
    narrowing: Option<&str>,
    revisions: &UpdateRevisions,
) -> Result<Vec<CompactJson>, ClusterError> {
    let selector = pod_selector(config, narrowing);
    list_filtered(
        client,
        scope,
        POD_KIND,
        Some(&selector),
        None,
        Some(&config.field_manager),
        |pod| revisions.trim_pod(pod),
    )
    .await
}

/// The same pods as [`observe_pods`], only their identity and labels: what a run's report reads
/// at its end, while the plan's own copy of the pods is still held.
pub async fn observe_pod_heads(
    client: &kube::Client,
    scope: &Scope,
    config: &crate::config::Config,
    narrowing: Option<&str>,
) -> Result<Vec<crate::state::Head>, ClusterError> {
    let selector = pod_selector(config, narrowing);
    list_each(client, scope, POD_KIND, Some(&selector), None, |pod| {
        serde_json::from_value(pod).ok()
    })
    .await
}

fn pod_selector(config: &crate::config::Config, narrowing: Option<&str>) -> String {
    let selector = format!(
        "{},application!={}",
        cluster_selector(config),
        crate::render::pooler::APPLICATION
    );
    narrowed(selector, narrowing)
}

/// Objects of a cluster made by someone else — Zalando's operator labels them with the cluster
/// labels and no `app.kubernetes.io/managed-by` label at all: one paginated list per kind a
/// cluster has its own of. The plan adopts those a manifest wants (credential Secrets keep their
/// passwords); they are never orphans.
pub async fn observe_adoptable(
    client: &kube::Client,
    scope: &Scope,
    config: &crate::config::Config,
    narrowing: Option<&str>,
) -> Result<Vec<CompactJson>, ClusterError> {
    let selector = format!("{},!{MANAGED_BY_LABEL}", cluster_selector(config));
    let lists =
        ADOPTABLE_KINDS.iter().map(|&kind| {
            let selector = match kind.1 {
                "Endpoints" => format!("{selector},!{ENDPOINTS_CONTROLLER_LABEL}"),
                // The pooler's objects (and the Secret of a role named `pooler`) carry
                // `application: db-connection-pooler` instead of the cluster labels'
                // `application`; the plan adopts only those a manifest wants.
                "Service" | "Deployment" | "Secret" => {
                    format!("{},!{MANAGED_BY_LABEL}", config.cluster_name_label)
                }
                _ => selector.clone(),
            };
            let selector = narrowed(selector, narrowing);
            async move {
                list_for_plan(client, scope, kind, Some(&selector), &config.field_manager).await
            }
        });
    let mut out: Vec<CompactJson> = futures::future::try_join_all(lists)
        .await?
        .into_iter()
        .flatten()
        .collect();
    // The namespace's Spilo ServiceAccount and RoleBinding carry no labels when Zalando made
    // them: found by name (one list per kind), adopted when a namespace of ours wants them.
    for kind in SHARED_KINDS {
        let by_name: Vec<Value> =
            list_by_name(client, scope, kind, &config.pod_service_account_name).await?;
        out.extend(
            by_name
                .into_iter()
                .filter(|o| {
                    o.pointer(&format!(
                        "/metadata/labels/{}",
                        MANAGED_BY_LABEL.replace('/', "~1")
                    ))
                    .is_none()
                })
                .map(CompactJson::from),
        );
    }
    Ok(out)
}

const SHARED_KINDS: [(&str, &str, &str); 2] = [
    ("v1", "ServiceAccount", "serviceaccounts"),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
    ),
];

/// The kinds of a cluster's own objects that may be adopted (volume claims belong to their
/// StatefulSet).
const ADOPTABLE_KINDS: [(&str, &str, &str); 7] = [
    ("v1", "Secret", "secrets"),
    ("v1", "Endpoints", "endpoints"),
    ("v1", "Service", "services"),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ("apps/v1", "StatefulSet", "statefulsets"),
    ("batch/v1", "CronJob", "cronjobs"),
    ("apps/v1", "Deployment", "deployments"),
];

/// `selector` and a shard's narrowing term, which both must match.
pub fn narrowed(selector: String, narrowing: Option<&str>) -> String {
    match narrowing {
        Some(term) => format!("{selector},{term}"),
        None => selector,
    }
}

/// The cluster labels and the presence of the cluster-name label, as a label selector.
fn cluster_selector(config: &crate::config::Config) -> String {
    config
        .cluster_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(std::iter::once(config.cluster_name_label.clone()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Pods, as (apiVersion, kind, plural): read by observe, deleted only by rollouts.
pub const POD_KIND: (&str, &str, &str) = ("v1", "Pod", "pods");
