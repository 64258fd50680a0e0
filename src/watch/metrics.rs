//! `/metrics`: on each scrape, the manifests (their status) and the Leases of the runs (their
//! summary), read from the API and rendered by [`crate::report::metrics::render`].

use crate::observe::cluster::{MANIFEST_KINDS, api_resource};
use crate::report::metrics::{LAST_RUN_ANNOTATION, RunSummary, render};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DynamicObject, ListParams};

/// What a scrape reads: the watched namespaces (empty: all) and the runs' Leases.
#[derive(Clone)]
pub struct MetricsSource {
    pub client: kube::Client,
    pub namespaces: Vec<String>,
    pub lease_namespace: String,
    pub leases: Vec<String>,
}

impl MetricsSource {
    /// The metrics text; a read that fails leaves its part out (the scrape still answers).
    pub async fn scrape(&self) -> String {
        let mut manifests = Vec::new();
        for &(api_version, kind, plural) in MANIFEST_KINDS {
            let resource = api_resource(api_version, kind, plural);
            let apis: Vec<Api<DynamicObject>> = if self.namespaces.is_empty() {
                vec![Api::all_with(self.client.clone(), &resource)]
            } else {
                self.namespaces
                    .iter()
                    .map(|ns| Api::namespaced_with(self.client.clone(), ns, &resource))
                    .collect()
            };
            for api in apis {
                match api.list(&ListParams::default()).await {
                    Ok(list) => {
                        manifests.extend(list.items.into_iter().filter_map(|o| {
                            Some((kind.to_string(), serde_json::to_value(o).ok()?))
                        }))
                    }
                    Err(e) => tracing::warn!("metrics: listing {plural}: {e}"),
                }
            }
        }
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.lease_namespace);
        let mut runs = Vec::new();
        for name in &self.leases {
            let summary = match leases.get_opt(name).await {
                Ok(lease) => lease
                    .and_then(|l| l.metadata.annotations)
                    .and_then(|a| a.get(LAST_RUN_ANNOTATION).cloned())
                    .and_then(|s| serde_json::from_str::<RunSummary>(&s).ok()),
                Err(e) => {
                    tracing::warn!("metrics: reading the Lease {name}: {e}");
                    None
                }
            };
            runs.push((name.clone(), summary));
        }
        render(&manifests, &runs)
    }
}
