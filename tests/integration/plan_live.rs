//! `plan` against the real control plane: applied objects plan as no-op; only our own fields
//! count; `plan -f` shows a pull request's change and writes nothing.

use crate::support::{TestEnv, TestNamespace, eventually, install_crds};
use base64::Engine;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use postgres_reconciler::config::Config;
use postgres_reconciler::observe::cluster::{
    ClusterClient, OWNED_KINDS, OWNED_SELECTOR, Scope, api_resource, list_all,
};
use postgres_reconciler::pipeline::{self, Source};
use postgres_reconciler::plan::{Op, Target};
use postgres_reconciler::render::{self, Manifest};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn manifest(ns: &str, instances: i32) -> Value {
    json!({
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": "acid-plan", "namespace": ns},
        "spec": {
            "teamId": "acid", "numberOfInstances": instances,
            "volume": {"size": "1Gi"},
            "users": {"app": [], "owner": ["createdb"]},
            "databases": {"app": "owner"},
            "postgresql": {"version": "17", "parameters": {"max_connections": "50"}}
        }
    })
}

fn dynamic(client: &kube::Client, ns: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let plural = OWNED_KINDS
        .iter()
        .chain(postgres_reconciler::observe::cluster::MANIFEST_KINDS)
        .find(|(_, k, _)| *k == kind)
        .map(|(_, _, p)| *p)
        .expect("known kind");
    Api::namespaced_with(client.clone(), ns, &api_resource(api_version, kind, plural))
}

/// Creates the manifest as a user would, then applies its rendered objects as `apply` would
/// (Secrets with a password), and returns the scope and a client that counts requests.
async fn applied_cluster(ns: &TestNamespace) -> (Config, Source, ClusterClient) {
    install_crds(&ns.client).await;
    let user = PatchParams::apply("kubectl-client-side-apply");
    let pg = dynamic(&ns.client, &ns.name, "acid.zalan.do/v1", "postgresql");
    // The CRD can take a moment to be served after it is Established.
    eventually(
        Duration::from_secs(30),
        "the postgresql CRD to be served",
        || async {
            pg.patch("acid-plan", &user, &Patch::Apply(&manifest(&ns.name, 2)))
                .await
                .ok()
        },
    )
    .await;
    let live: postgres_reconciler::api::Postgresql = serde_json::from_value(
        serde_json::to_value(pg.get("acid-plan").await.expect("get manifest")).expect("json"),
    )
    .expect("typed manifest");
    // No Patroni behind kwok's pods here.
    let config = Config {
        sync_patroni_config: false,
        ..Config::default()
    };
    let desired = render::render(&[Manifest::Postgresql(Box::new(live))], &config);
    let ours = PatchParams::apply(&config.field_manager);
    for object in desired
        .manifests
        .iter()
        .flat_map(|m| m.objects.iter())
        .chain(desired.shared.iter())
    {
        // Claims are made by their StatefulSet's controller, never by us.
        if object.policy == postgres_reconciler::render::ApplyPolicy::UpdateOnly {
            continue;
        }
        let mut body = object.body.value();
        if object.kind == "Secret" {
            body["data"]["password"] =
                json!(base64::engine::general_purpose::STANDARD.encode("a-long-test-password"));
        }
        dynamic(&ns.client, &ns.name, &object.api_version, &object.kind)
            .patch(&object.name, &ours, &Patch::Apply(&body))
            .await
            .unwrap_or_else(|e| panic!("apply {} {}: {e}", object.kind, object.name));
    }
    let source = Source {
        files: None,
        offline: false,
        base: None,
        reach_databases: true,
        scope: Scope::Namespaces(vec![ns.name.clone()]),
        default_namespace: ns.name.clone(),
        clock: None,
    };
    let cluster = ClusterClient::from_config(TestEnv::get().kube_config().await).expect("client");
    (config, source, cluster)
}

fn object_actions(
    plan: &postgres_reconciler::plan::Plan,
) -> Vec<&postgres_reconciler::plan::Action> {
    plan.actions
        .iter()
        .filter(|a| matches!(a.target, Target::Object(_)))
        .collect()
}

#[tokio::test]
async fn applied_objects_plan_as_no_op() {
    let ns = TestNamespace::new("plan-noop").await;
    let (config, source, cluster) = applied_cluster(&ns).await;
    let planned = pipeline::plan_live(&config, &cluster, &source)
        .await
        .expect("plan");
    assert_eq!(
        object_actions(&planned.plan),
        Vec::<&postgres_reconciler::plan::Action>::new()
    );
    // The database cannot be reached here (no pods run PostgreSQL): unknown, not an error.
    assert_eq!(planned.plan.unknown.len(), 1, "{:?}", planned.plan.unknown);
    // A few list calls (the manifests, each owned kind, the seven kinds a cluster's objects made
    // by another operator may be of and its namespace's ServiceAccount and RoleBinding by name,
    // the pods), no writes.
    let requests = planned.requests;
    assert_eq!(
        requests.get("list").copied(),
        Some((2 + OWNED_KINDS.len() + 7 + 2 + 1) as u64),
        "{requests:?}"
    );
    assert_eq!(cluster.requests.writes(), 0, "{requests:?}");
}

#[tokio::test]
async fn an_edited_owned_field_plans_exactly_that_update() {
    let ns = TestNamespace::new("plan-edit").await;
    let (config, source, cluster) = applied_cluster(&ns).await;
    // `kubectl edit` of a field we own, under another manager.
    let sts = dynamic(&ns.client, &ns.name, "apps/v1", "StatefulSet");
    sts.patch(
        "acid-plan",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .expect("edit replicas");
    let planned = pipeline::plan_live(&config, &cluster, &source)
        .await
        .expect("plan");
    let actions = object_actions(&planned.plan);
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let action = actions[0];
    assert_eq!(action.op, Op::Update);
    assert!(matches!(&action.target, Target::Object(o) if o.kind == "StatefulSet"));
    match &action.change {
        postgres_reconciler::plan::Change::Object {
            patch: Some(patch), ..
        } => {
            let patch = serde_json::to_value(patch).expect("patch json");
            assert_eq!(
                patch,
                json!([{"op": "replace", "path": "/spec/replicas", "value": 2}])
            );
        }
        other => panic!("expected an object patch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_field_of_another_manager_plans_nothing() {
    let ns = TestNamespace::new("plan-other").await;
    let (config, source, cluster) = applied_cluster(&ns).await;
    let svc = dynamic(&ns.client, &ns.name, "v1", "Service");
    svc.patch(
        "acid-plan",
        &PatchParams::apply("external-dns"),
        &Patch::Apply(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "acid-plan",
            "annotations": {"external-dns.alpha.kubernetes.io/hostname": "db.example.com"},
            "labels": {"cost-center": "42"}}}),
        ),
    )
    .await
    .expect("another manager's annotation");
    let planned = pipeline::plan_live(&config, &cluster, &source)
        .await
        .expect("plan");
    assert!(
        object_actions(&planned.plan).is_empty(),
        "{:#?}",
        planned.plan.actions
    );
}

async fn resource_versions(client: &kube::Client, ns: &str) -> BTreeMap<String, String> {
    let scope = Scope::Namespaces(vec![ns.to_string()]);
    let mut out = BTreeMap::new();
    for &kind in OWNED_KINDS
        .iter()
        .chain(postgres_reconciler::observe::cluster::MANIFEST_KINDS)
    {
        for o in list_all(client, &scope, kind, None).await.expect("list") {
            let key = format!(
                "{}/{}",
                kind.1,
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            out.insert(
                key,
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    let _ = OWNED_SELECTOR;
    out
}

#[tokio::test]
async fn plan_from_files_shows_the_change_and_writes_nothing() {
    let ns = TestNamespace::new("plan-files").await;
    let (config, mut source, cluster) = applied_cluster(&ns).await;
    let dir = std::env::temp_dir().join(crate::support::unique_name("pr"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut changed = manifest(&ns.name, 3);
    changed["spec"]["users"]["reporting"] = json!([]);
    std::fs::write(
        dir.join("cluster.yaml"),
        serde_yaml::to_string(&changed).expect("yaml"),
    )
    .expect("write");
    source.files = Some(dir.clone());

    // Let the controllers finish with the new objects (status, claims) so that only our own
    // writes could change a resourceVersion.
    let before = eventually(Duration::from_secs(60), "the objects to settle", || async {
        let first = resource_versions(&ns.client, &ns.name).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        (resource_versions(&ns.client, &ns.name).await == first).then_some(first)
    })
    .await;
    let planned = pipeline::plan_live(&config, &cluster, &source)
        .await
        .expect("plan");
    let after = resource_versions(&ns.client, &ns.name).await;
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(before, after, "planning must not change any object");
    assert_eq!(
        cluster.requests.writes(),
        0,
        "{:?}",
        cluster.requests.snapshot()
    );
    let described: Vec<String> = object_actions(&planned.plan)
        .iter()
        .map(|a| format!("{:?} {}", a.op, a.target))
        .collect();
    assert!(
        described.contains(&format!("Update StatefulSet {}/acid-plan", ns.name)),
        "{described:?}"
    );
    assert!(
        described.contains(&format!(
            "Create Secret {}/reporting.acid-plan.credentials.postgresql.acid.zalan.do",
            ns.name
        )),
        "{described:?}"
    );
    // Its budget is every instance: it follows numberOfInstances.
    assert!(
        described.contains(&format!(
            "Update PodDisruptionBudget {}/postgres-acid-plan-critical-op-pdb",
            ns.name
        )),
        "{described:?}"
    );
    assert_eq!(described.len(), 3, "{described:?}");
}
