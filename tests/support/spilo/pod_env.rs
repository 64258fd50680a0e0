//! The Spilo container's environment as the kubelet would give it: plain values, Secret keys,
//! and the downward API fields Spilo's pods use.

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use std::collections::BTreeMap;

/// The environment of the pod's first container, or why it cannot be made (a Secret missing:
/// the kubelet would not start the container either).
pub async fn resolve(client: &kube::Client, pod: &Pod) -> Result<BTreeMap<String, String>, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .ok_or("the pod has no container")?;
    let mut env = BTreeMap::new();
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => {
                if let Some(key) = &from.secret_key_ref {
                    let secret = secrets
                        .get_opt(&key.name)
                        .await
                        .map_err(|e| format!("Secret {}: {e}", key.name))?;
                    let bytes = secret
                        .and_then(|s| s.data)
                        .and_then(|d| d.get(&key.key).cloned());
                    match bytes {
                        Some(b) => String::from_utf8_lossy(&b.0).into_owned(),
                        None if key.optional == Some(true) => continue,
                        None => return Err(format!("Secret {} has no key {}", key.name, key.key)),
                    }
                } else if let Some(field) = &from.field_ref {
                    field_value(pod, &field.field_path)
                        .ok_or_else(|| format!("unknown field {}", field.field_path))?
                } else {
                    continue; // resourceFieldRef, configMapKeyRef: Spilo's pods use neither
                }
            }
            (None, None) => String::new(),
        };
        env.insert(var.name.clone(), value);
    }
    Ok(env)
}

fn field_value(pod: &Pod, path: &str) -> Option<String> {
    match path {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "status.podIP" => pod.status.as_ref()?.pod_ip.clone(),
        "spec.nodeName" => pod.spec.as_ref()?.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.as_ref()?.service_account_name.clone(),
        _ => None,
    }
}
