//! Deletion protection from the chart (a ValidatingAdmissionPolicy and its binding), enforced by
//! the real apiserver: a manifest annotated `postgres-reconciler.io/deletion-protection: "true"`
//! cannot be deleted until the annotation goes; with `confirmNameAnnotation`, a `postgresql` also
//! needs that annotation to hold its name; namespaces outside `watchedNamespaces` are not bound.

use crate::support::chart::Release;
use crate::support::{TestNamespace, eventually, install_crds};
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use postgres_reconciler::observe::cluster::api_resource;
use serde_json::{Value, json};
use std::time::Duration;

const PROTECT: &str = "postgres-reconciler.io/deletion-protection";
const CONFIRM: &str = "delete-clustername";

fn api(ns: &TestNamespace, kind: &str) -> Api<DynamicObject> {
    let resource = match kind {
        "postgresql" => api_resource("acid.zalan.do/v1", "postgresql", "postgresqls"),
        _ => api_resource(
            "containerconf.de/v1",
            "PostgreSQLConfig",
            "postgresqlconfigs",
        ),
    };
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

fn cluster(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"}}})
}

fn database(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"database": "orders", "owner": "orders_owner", "server": {"cluster": "acid-x"}}})
}

async fn put(ns: &TestNamespace, body: Value) {
    let kind = body["kind"].as_str().expect("kind").to_string();
    let name = body["metadata"]["name"].as_str().expect("name").to_string();
    api(ns, &kind)
        .patch(
            &name,
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(body),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
}

/// Deletes the manifest: Ok, or the refusal's status code and message.
async fn delete(ns: &TestNamespace, kind: &str, name: &str) -> Result<(), (u16, String)> {
    match api(ns, kind).delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err((s.code, s.message)),
        Err(e) => panic!("delete {kind} {name}: {e}"),
    }
}

#[tokio::test]
async fn protected_manifests_cannot_be_deleted_until_the_annotation_goes() {
    let ns = TestNamespace::new("chart-protect").await;
    let other = TestNamespace::new("chart-unbound").await;
    install_crds(&ns.client).await;
    let watched = format!("watchedNamespaces[0]={}", ns.name);
    let confirm = format!("deletionProtection.confirmNameAnnotation={CONFIRM}");
    let release = Release::install(
        &ns.name,
        &["--skip-crds", "--set", &watched, "--set", &confirm],
    )
    .await;

    // The policy type-checks against the CRDs without a warning.
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(ns.client.clone());
    let policy_name = format!("{}-deletion-protection", release.fullname());
    let status = eventually(
        Duration::from_secs(30),
        "the policy type-checked",
        || async {
            let p = policies.get(&policy_name).await.ok()?;
            let status = p.status?;
            (status.observed_generation == p.metadata.generation).then_some(status)
        },
    )
    .await;
    let warnings = status
        .type_checking
        .and_then(|t| t.expression_warnings)
        .unwrap_or_default();
    assert!(warnings.is_empty(), "{warnings:?}");

    put(
        &ns,
        cluster("acid-safe", json!({PROTECT: "true", CONFIRM: "acid-safe"})),
    )
    .await;
    put(&ns, database("orders-db", json!({PROTECT: "true"}))).await;
    // The policy takes effect once the apiserver has loaded it: probe with dry-run deletes.
    let probe = api(&ns, "postgresql");
    eventually(Duration::from_secs(30), "the policy in effect", || async {
        let dry = DeleteParams {
            dry_run: true,
            ..DeleteParams::default()
        };
        probe.delete("acid-safe", &dry).await.is_err().then_some(())
    })
    .await;

    // Protected: refused, with a message that names the manifest and the annotation.
    let (code, message) = delete(&ns, "postgresql", "acid-safe")
        .await
        .expect_err("a protected cluster is not deleted");
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains(&format!(
            "postgresql {}/acid-safe has deletion protection",
            ns.name
        )) && message.contains(PROTECT),
        "{message}"
    );
    let (code, message) = delete(&ns, "PostgreSQLConfig", "orders-db")
        .await
        .expect_err("a protected database is not deleted");
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("PostgreSQLConfig"), "{message}");

    // Without the confirmation (or with another name) a cluster stays, too.
    put(&ns, cluster("acid-plain", json!({}))).await;
    let (_, message) = delete(&ns, "postgresql", "acid-plain")
        .await
        .expect_err("no confirmation annotation");
    assert!(
        message.contains(&format!("needs the annotation {CONFIRM}: acid-plain")),
        "{message}"
    );
    put(&ns, cluster("acid-plain", json!({CONFIRM: "acid-other"}))).await;
    delete(&ns, "postgresql", "acid-plain")
        .await
        .expect_err("the confirmation names another cluster");
    put(&ns, cluster("acid-plain", json!({CONFIRM: "acid-plain"}))).await;
    delete(&ns, "postgresql", "acid-plain")
        .await
        .expect("confirmed with its name");

    // The protection goes with its annotation (server-side apply without it removes it).
    put(&ns, cluster("acid-safe", json!({CONFIRM: "acid-safe"}))).await;
    delete(&ns, "postgresql", "acid-safe")
        .await
        .expect("no longer protected");
    put(&ns, database("orders-db", json!({}))).await;
    delete(&ns, "PostgreSQLConfig", "orders-db")
        .await
        .expect("no longer protected");

    // The binding covers the watched namespaces only: elsewhere a cluster without the name
    // confirmation goes. (Other tests' releases bind their policies cluster-wide, without a
    // confirmation; only a protection annotation would meet them.)
    put(&other, cluster("acid-elsewhere", json!({}))).await;
    delete(&other, "postgresql", "acid-elsewhere")
        .await
        .expect("not a watched namespace");
    drop(release);
}
