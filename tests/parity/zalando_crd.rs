//! Which corpus manifests Zalando's own CRD (v1.15.1's `manifests/postgresql.crd.yaml`) would
//! refuse although ours accepts them (a version Zalando does not list yet, an IPv6 source range,
//! …): the harness runs the oracle under our CRD, so it says so instead. Tried on a second
//! apiserver, where that CRD can be installed beside nothing else.

use super::corpus::Entry;
use crate::support::second_apiserver::SecondApiserver;
use crate::support::zalando::module_manifest;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

/// (manifest name, source, the apiserver's refusal) for each manifest Zalando's CRD refuses.
pub async fn refusals(entries: &[Entry]) -> Vec<(String, String, String)> {
    let second = SecondApiserver::start("zalando-crd-corpus").await;
    let client = second.client().await;
    let crd = module_manifest(
        "postgresql.crd.yaml",
        "CustomResourceDefinition",
        "postgresqls.acid.zalan.do",
    );
    crate::support::crds::install_crd(&client, &crd).await;
    let ns = "corpus";
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace");
    let _ = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("acid.zalan.do", "v1", "postgresql"),
        "postgresqls",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &resource);
    let params = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut refused = Vec::new();
    for entry in entries {
        let object: DynamicObject = serde_json::from_value(entry.doc.clone()).expect("manifest");
        if let Err(e) = api.create(&params, &object).await {
            refused.push((
                entry.name().to_string(),
                entry.source.clone(),
                e.to_string(),
            ));
        }
    }
    refused
}
