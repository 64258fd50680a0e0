//! The control plane itself: version, server-side apply, RBAC through impersonation, Pod Security.

use crate::support::{TestEnv, TestNamespace, eventually, pinned_kubernetes_version};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn apiserver_reports_the_pinned_version() {
    let client = TestEnv::get().client().await;
    let info = client.apiserver_version().await.expect("GET /version");
    assert_eq!(info.git_version, pinned_kubernetes_version());
}

#[tokio::test]
async fn server_side_apply_of_a_configmap_owns_and_prunes_fields() {
    let ns = TestNamespace::new("ssa").await;
    let api: Api<ConfigMap> = ns.api();
    let params = PatchParams::apply("pgr-test");
    let first = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "probe"},
        "data": {"kept": "1", "dropped": "2"}
    });
    let cm = api
        .patch("probe", &params, &Patch::Apply(&first))
        .await
        .expect("first apply");
    let data = cm.data.clone().unwrap_or_default();
    assert_eq!(data.get("kept").map(String::as_str), Some("1"));
    let managers = cm.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some("pgr-test")
                && m.operation.as_deref() == Some("Apply")),
        "managedFields should name our field manager: {managers:?}"
    );

    // A field we applied before and leave out now is removed: server-side apply prunes it.
    let second = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "probe"},
        "data": {"kept": "1"}
    });
    let cm = api
        .patch("probe", &params, &Patch::Apply(&second))
        .await
        .expect("second apply");
    let data = cm.data.unwrap_or_default();
    assert_eq!(data.len(), 1, "{data:?}");
    assert!(!data.contains_key("dropped"));
}

#[tokio::test]
async fn service_account_needs_a_role_binding() {
    let ns = TestNamespace::new("rbac").await;
    let sa = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some("probe".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ns.api::<ServiceAccount>()
        .create(&PostParams::default(), &sa)
        .await
        .expect("create service account");
    let user = format!("system:serviceaccount:{}:probe", ns.name);
    let as_sa: Api<ConfigMap> =
        Api::namespaced(TestEnv::get().impersonating(&user).await, &ns.name);

    match as_sa.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("listing without a role must be forbidden, got {other:?}"),
    }

    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "read-configmaps"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    }))
    .expect("role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "probe-reads-configmaps"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": ns.name}]
    }))
    .expect("role binding");
    ns.api::<Role>()
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    ns.api::<RoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .expect("create role binding");

    // The authorizer reads RBAC through an informer, so the grant lands a moment later.
    eventually(
        Duration::from_secs(20),
        "the role binding to take effect",
        || async { as_sa.list(&ListParams::default()).await.ok() },
    )
    .await;
}

fn pod(name: &str, security_context: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/probe:1", "securityContext": security_context}]}
    }))
    .expect("pod")
}

#[tokio::test]
async fn restricted_namespace_rejects_a_privileged_pod() {
    let ns = TestNamespace::with_labels(
        "psa",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    )
    .await;
    let pods: Api<Pod> = ns.api();

    let err = pods
        .create(
            &PostParams::default(),
            &pod("privileged", json!({"privileged": true})),
        )
        .await
        .expect_err("a privileged pod must be rejected");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status.message.contains("violates PodSecurity"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a PodSecurity rejection, got {other:?}"),
    }

    // The same namespace admits a pod that meets the restricted profile.
    let compliant = pod(
        "restricted",
        json!({
            "runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
        }),
    );
    pods.create(&PostParams::default(), &compliant)
        .await
        .expect("a restricted-compliant pod is admitted");
}
