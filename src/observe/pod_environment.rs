//! Reading `pod_environment_configmap` and `pod_environment_secret` for the namespaces that have
//! clusters, where Zalando's operator looks for them: the ConfigMap in its own namespace (the
//! operator's when unqualified), else in the cluster's; the Secret in the cluster's. One GET per
//! namespace and source, only when configured. Of the Secret only key names are kept.

use crate::config::Config;
use crate::render::Manifest;
use crate::render::pod_environment::PodEnvironmentSources;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use std::collections::{BTreeMap, BTreeSet};

/// The namespaces whose pods need the sources: those with a `postgresql` manifest.
pub fn cluster_namespaces(manifests: &[Manifest]) -> BTreeSet<String> {
    manifests
        .iter()
        .filter(|m| matches!(m, Manifest::Postgresql(_)))
        .map(|m| m.reference().namespace)
        .collect()
}

pub async fn observe_pod_environment(
    client: &kube::Client,
    config: &Config,
    namespaces: &BTreeSet<String>,
) -> PodEnvironmentSources {
    let mut sources = PodEnvironmentSources::default();
    if let Some((home, name)) = config.pod_environment_configmap_ref() {
        let first = get_configmap(client, &home, &name).await;
        for ns in namespaces {
            let found = match &first {
                Ok(None) if *ns != home => get_configmap(client, ns, &name).await,
                other => other.clone(),
            };
            let data = found.and_then(|cm| {
                cm.ok_or_else(|| {
                    if *ns == home {
                        format!("not found in namespace {home}")
                    } else {
                        format!("not found in namespace {home} nor in {ns}")
                    }
                })
            });
            sources.configmap.insert(ns.clone(), data);
        }
    }
    if !config.pod_environment_secret.is_empty() {
        sources.secret_keys = secret_keys(client, &config.pod_environment_secret, namespaces).await;
    }
    if !config.logical_backup_cronjob_environment_secret.is_empty() {
        sources.backup_secret_keys = secret_keys(
            client,
            &config.logical_backup_cronjob_environment_secret,
            namespaces,
        )
        .await;
    }
    sources
}

/// The key names of the Secret `name` in each namespace, or why they could not be read.
async fn secret_keys(
    client: &kube::Client,
    name: &str,
    namespaces: &BTreeSet<String>,
) -> BTreeMap<String, Result<Vec<String>, String>> {
    let mut out = BTreeMap::new();
    for ns in namespaces {
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        let keys = match api.get_opt(name).await {
            Ok(Some(secret)) => Ok(secret
                .data
                .unwrap_or_default()
                .into_keys()
                .collect::<Vec<_>>()),
            Ok(None) => Err(format!("not found in namespace {ns}")),
            Err(e) => Err(format!(
                "cannot be read: {}",
                super::describe_kube_error(&e)
            )),
        };
        out.insert(ns.clone(), keys);
    }
    out
}

/// A ConfigMap's data; `None` when it does not exist.
async fn get_configmap(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(found) => Ok(found.map(|cm| cm.data.unwrap_or_default())),
        Err(e) => Err(format!(
            "cannot be read in namespace {namespace}: {}",
            super::describe_kube_error(&e)
        )),
    }
}
