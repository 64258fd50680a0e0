//! Installing our CRDs into the test control plane (idempotent; safe from parallel tests).

use super::eventually;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use std::time::Duration;

pub async fn install_crds(client: &kube::Client) {
    for crd in [
        postgres_reconciler::crds::postgresql_crd(),
        postgres_reconciler::crds::postgresqlconfig_crd(),
        postgres_reconciler::crds::postgresteam_crd(),
    ] {
        install_crd(client, &serde_json::to_value(crd).expect("CRD as JSON")).await;
    }
}

/// Applies one CRD (server-side, forced) and waits until it is established.
pub async fn install_crd(client: &kube::Client, crd: &serde_json::Value) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let apply = PatchParams::apply("postgres-reconciler-tests").force();
    let name = crd["metadata"]["name"]
        .as_str()
        .expect("crd name")
        .to_string();
    crds.patch(&name, &apply, &Patch::Apply(crd))
        .await
        .expect("apply CRD");
    eventually(Duration::from_secs(30), "CRD established", || async {
        let crd = crds.get(&name).await.ok()?;
        let established = crd
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;
}
