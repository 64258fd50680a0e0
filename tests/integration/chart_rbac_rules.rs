//! RBAC rules of the Helm chart in namespaced mode, asked of the apiserver's authorizer
//! (SubjectAccessReview): the chart's ServiceAccount holds exactly the rights `apply` and `watch`
//! need, nothing elsewhere, and no rule the chart renders has a wildcard.

use crate::support::chart::{Release, chart, helm, ok};
use crate::support::{TestEnv, TestNamespace, eventually};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

/// An authorization request: (verb, API group, resource[/subresource], namespace, name).
type Request<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

/// Whether the apiserver's authorizer allows `user` (a ServiceAccount of `sa_namespace`) the
/// request: `(verb, group, resource, namespace, name)`.
async fn allowed(
    client: &kube::Client,
    user: &str,
    sa_namespace: &str,
    (verb, group, resource, namespace, name): Request<'_>,
) -> bool {
    use k8s_openapi::api::authorization::v1::SubjectAccessReview;
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{sa_namespace}"),
                       "system:authenticated"],
            "resourceAttributes": {
                "verb": verb, "group": group, "resource": resource, "subresource": subresource,
                "namespace": namespace, "name": name,
            }
        }
    }))
    .expect("SubjectAccessReview");
    Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("create SubjectAccessReview")
        .status
        .is_some_and(|s| s.allowed)
}

/// In namespaced mode the identity holds exactly what apply and watch need in the watched
/// namespace and in its own, and nothing elsewhere; no `escalate`, no wildcard, `bind` on the
/// Spilo pods' ClusterRole only.
#[tokio::test]
async fn namespaced_mode_grants_exactly_the_needed_rights() {
    let client = TestEnv::get().client().await;
    let watched = TestNamespace::new("chart-sar-a").await;
    let elsewhere = TestNamespace::new("chart-sar-b").await;
    let release_ns = TestNamespace::new("chart-sar-rel").await;
    let namespaces = format!(r#"watchedNamespaces=["{}"]"#, watched.name);
    let release = Release::install(
        &release_ns.name,
        &[
            "--skip-crds",
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            &namespaces,
        ],
    )
    .await;
    let user = release.service_account_user();
    let full = release.fullname();
    let pod_role = release.pod_cluster_role();
    let (a, b, rel) = (
        watched.name.as_str(),
        elsewhere.name.as_str(),
        release_ns.name.as_str(),
    );
    let expectations: Vec<(Request<'_>, bool)> = vec![
        // apply in the watched namespace
        (("list", "acid.zalan.do", "postgresqls", a, ""), true),
        (("list", "acid.zalan.do", "postgresteams", a, ""), true),
        (
            ("watch", "containerconf.de", "postgresqlconfigs", a, ""),
            true,
        ),
        (
            ("patch", "acid.zalan.do", "postgresqls/status", a, "x"),
            true,
        ),
        (
            ("patch", "containerconf.de", "postgresqlconfigs", a, "x"),
            true,
        ),
        (("create", "", "secrets", a, ""), true),
        (("patch", "apps", "statefulsets", a, "x"), true),
        (("delete", "apps", "deployments", a, "x"), true),
        (("delete", "policy", "poddisruptionbudgets", a, "x"), true),
        (
            ("create", "rbac.authorization.k8s.io", "rolebindings", a, ""),
            true,
        ),
        (
            ("delete", "rbac.authorization.k8s.io", "roles", a, "x"),
            true,
        ),
        (("create", "", "endpoints", a, ""), true),
        // Binding the Spilo pods to their ClusterRole, that one only.
        (
            (
                "bind",
                "rbac.authorization.k8s.io",
                "clusterroles",
                a,
                &pod_role,
            ),
            true,
        ),
        (
            (
                "bind",
                "rbac.authorization.k8s.io",
                "clusterroles",
                a,
                "admin",
            ),
            false,
        ),
        (
            ("create", "rbac.authorization.k8s.io", "roles", a, ""),
            false,
        ),
        // What the Spilo pods' ClusterRole grants is not the reconciler's.
        (("create", "", "configmaps", a, ""), false),
        // pod_environment_configmap, in the cluster's namespace or the operator's.
        (("get", "", "configmaps", a, "pod-env"), true),
        (("get", "", "configmaps", rel, "pod-env"), true),
        (("get", "", "configmaps", b, "pod-env"), false),
        (("list", "", "configmaps", a, ""), false),
        (("patch", "", "pods", a, "x"), false),
        (("delete", "", "persistentvolumeclaims", a, "x"), true),
        (("delete", "", "pods", a, "x"), true),
        (("create", "", "pods/eviction", a, "x"), true),
        (("patch", "", "persistentvolumeclaims", a, "x"), true),
        (("create", "events.k8s.io", "events", a, ""), true),
        (("watch", "", "pods", a, ""), true),
        // never: manifests' spec rewrites, escalation, other kinds
        (("update", "acid.zalan.do", "postgresqls", a, "x"), false),
        (("update", "acid.zalan.do", "postgresteams", a, "x"), false),
        (("delete", "acid.zalan.do", "postgresqls", a, "x"), false),
        (
            ("escalate", "rbac.authorization.k8s.io", "roles", a, "x"),
            false,
        ),
        (
            ("bind", "rbac.authorization.k8s.io", "roles", a, "x"),
            false,
        ),
        (("create", "apps", "daemonsets", a, ""), false),
        (("create", "apps", "replicasets", a, ""), false),
        (("create", "", "pods", a, ""), false),
        (("create", "", "pods/exec", a, "x"), false),
        // the release namespace: the Lease, the watcher's Jobs and its own CronJob
        (("create", "coordination.k8s.io", "leases", rel, ""), true),
        (
            (
                "update",
                "coordination.k8s.io",
                "leases",
                rel,
                "postgres-reconciler",
            ),
            true,
        ),
        (
            (
                "update",
                "coordination.k8s.io",
                "leases",
                rel,
                "another-lease",
            ),
            false,
        ),
        (("create", "batch", "jobs", rel, ""), true),
        (("watch", "batch", "jobs", rel, ""), true),
        (("delete", "batch", "jobs", rel, "x"), false),
        (("get", "batch", "cronjobs", rel, &full), true),
        (("get", "batch", "cronjobs", rel, "another-cronjob"), false),
        (("update", "batch", "cronjobs", rel, &full), false),
        (("get", "", "secrets", rel, "x"), false),
        // anywhere else: nothing
        (("get", "", "secrets", b, "x"), false),
        (("list", "acid.zalan.do", "postgresqls", b, ""), false),
        (("list", "acid.zalan.do", "postgresqls", "", ""), false),
        (("create", "batch", "jobs", b, ""), false),
    ];
    // The RBAC cache catches up with the install first.
    eventually(
        Duration::from_secs(30),
        "the Roles to take effect",
        || async {
            (allowed(
                &client,
                &user,
                rel,
                ("list", "acid.zalan.do", "postgresqls", a, ""),
            )
            .await
                && allowed(&client, &user, rel, ("create", "batch", "jobs", rel, "")).await)
                .then_some(())
        },
    )
    .await;
    let mut wrong = Vec::new();
    for (request, expected) in expectations {
        if allowed(&client, &user, rel, request).await != expected {
            wrong.push(format!("{request:?}: expected allowed={expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // No wildcard in any rule the chart renders, in either mode.
    for extra in [
        vec![],
        vec![
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            namespaces.as_str(),
        ],
    ] {
        let chart = chart();
        let mut args = vec!["template", "w", chart.as_str()];
        args.extend(extra.iter().copied());
        let rendered = ok(helm(&args), None).await;
        for doc in serde_yaml::Deserializer::from_str(&rendered) {
            let doc: Value = serde::Deserialize::deserialize(doc).expect("YAML document");
            for rule in doc["rules"].as_array().into_iter().flatten() {
                for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
                    for v in rule[field].as_array().into_iter().flatten() {
                        assert_ne!(v, "*", "wildcard in {rule}");
                    }
                }
            }
        }
    }
}
