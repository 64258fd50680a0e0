//! Patroni talks to the apiserver as the pod would: with a token of the pod's ServiceAccount
//! (TokenRequest, bound to the pod), so the RBAC we render for Spilo pods is what authorizes it.
//! Out of cluster Patroni reads a kubeconfig and the context `kubernetes.context` names.

use crate::support::TestEnv;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use std::path::Path;

/// The context name in the kubeconfigs written here.
pub const CONTEXT: &str = "spilo-pod";

/// Writes a kubeconfig for `pod`'s ServiceAccount to `path`.
pub async fn write_kubeconfig(client: &kube::Client, pod: &Pod, path: &Path) -> Result<(), String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: None,
            expiration_seconds: Some(3600),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        }),
        ..Default::default()
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let token = accounts
        .create_token_request(&account, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("TokenRequest for ServiceAccount {namespace}/{account}: {e}"))?
        .status
        .map(|s| s.token)
        .ok_or("TokenRequest without a token")?;
    let env = TestEnv::get();
    let admin: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(env.kubeconfig_path()).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let ca = admin["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .ok_or("no CA in the admin kubeconfig")?;
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
        "clusters": [{"name": "local", "cluster": {
            "server": env.var("PGRENV_API_URL"), "certificate-authority-data": ca}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {
            "cluster": "local", "user": account, "namespace": namespace}}],
    });
    std::fs::write(
        path,
        serde_yaml::to_string(&kubeconfig).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}
