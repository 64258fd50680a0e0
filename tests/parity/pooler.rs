//! The connection pooler against Zalando's operator, which makes it only with database access
//! (its `user_lookup` function comes first): a cluster with both poolers, its settings over the
//! operator's keys, a load balancer in front of the replicas' pooler. Zalando's Deployments,
//! Services and pooler Secret and ours, rendered from the same stored manifest and configuration
//! and dry-run in a twin namespace (so both carry the apiserver's defaults), differ only where
//! `fixtures/parity/intentional.yaml` says why; and our plan, read from the database Zalando
//! prepared, finds its lookup function as we make it. Then our run adopts them in place: no
//! pooler pod restarts, the pooler's password is kept, and the run after it has nothing to do.

use super::diff::diff;
use super::expectations;
use super::harness::{
    Mode, credential_secret, install_pod_cluster_role, our_configuration, password, render_stored,
};
use super::normalize::{Context, normalize};
use crate::support::reconciler::Harness;
use crate::support::spilo::cluster::member_connection;
use crate::support::zalando::Zalando;
use crate::support::{TestNamespace, eventually};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use postgres_reconciler::observe::postgres::{Inspect, observe_server};
use postgres_reconciler::plan::sql::{PasswordState, plan_database};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const CLUSTER: &str = "acid-pool";

fn api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let (group, plural) = match kind {
        "Deployment" => ("apps", "deployments"),
        "Service" => ("", "services"),
        _ => ("", "secrets"),
    };
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// The objects compared: both poolers' Deployment and Service, and the pooler role's Secret.
fn compared() -> Vec<(&'static str, String)> {
    let secret = format!("pooler.{CLUSTER}.credentials.postgresql.acid.zalan.do");
    vec![
        ("Deployment", format!("{CLUSTER}-pooler")),
        ("Deployment", format!("{CLUSTER}-pooler-repl")),
        ("Service", format!("{CLUSTER}-pooler")),
        ("Service", format!("{CLUSTER}-pooler-repl")),
        ("Secret", secret),
    ]
}

#[tokio::test]
async fn the_poolers_objects_and_lookup_function_are_zalandos() {
    let mut h = Harness::new("parity-pool").await;
    let client = h.ns.client.clone();
    let dir = h.temp_dir("pooler");
    // No users of its own: Zalando's role sync needs Spilo's `admin` role, which the Spilo
    // runner's bootstrap does not make (the pooler's role needs none).
    let mut manifest = h.cluster_manifest(CLUSTER, 1, json!({}), json!({}), json!({}));
    manifest["spec"]["enableConnectionPooler"] = json!(true);
    manifest["spec"]["enableReplicaConnectionPooler"] = json!(true);
    manifest["spec"]["enableReplicaPoolerLoadBalancer"] = json!(true);
    manifest["spec"]["allowedSourceRanges"] = json!(["10.0.0.0/8"]);
    manifest["spec"]["connectionPooler"] = json!({
        "numberOfInstances": 1, "mode": "session", "maxDBConnections": 20,
        "resources": {"requests": {"cpu": "50m", "memory": "50Mi"}, "limits": {"memory": "80Mi"}},
    });
    h.apply(manifest).await;
    // The Spilo pods' permissions (the oracle's RoleBinding refers to them): Patroni runs.
    install_pod_cluster_role(&client).await;
    let mut zalando = Zalando::start_with_database_access(&client, &h.ns.name, &[], &dir).await;
    let theirs = eventually(
        Duration::from_secs(300),
        "Zalando's pooler Deployments, Services and Secret",
        || async {
            let mut found = Vec::new();
            for (kind, name) in compared() {
                let object = api(&client, &h.ns.name, kind).get_opt(&name).await.ok()??;
                found.push((kind.to_string(), serde_json::to_value(object).ok()?));
            }
            Some(found)
        },
    )
    .await;

    // Zalando installed its lookup function before it made the Deployments: our plan, read
    // from those databases, has nothing to change in it.
    let superuser = password(&credential_secret(&client, &h.ns.name, "postgres", CLUSTER).await);
    let host = format!("{CLUSTER}.{}.svc", h.ns.name);
    let observed = observe_server(
        &member_connection(&host, "postgres", &superuser),
        &Inspect::All,
    )
    .await
    .expect("read the cluster's databases");
    zalando.stop();
    let function = observed
        .databases
        .get("postgres")
        .and_then(|d| d.lookup_functions.get("pooler"));
    assert!(
        function.is_some(),
        "Zalando's lookup function in postgres: see {}",
        zalando.log.display()
    );

    let config = our_configuration(&h.ns.name, Mode::Endpoints, &dir);
    let desired = render_stored(&h, CLUSTER, &config).await;
    let ours_manifest = &desired.manifests[0];
    let lookups: Vec<String> = plan_database(
        &ours_manifest.manifest,
        &ours_manifest.database,
        &observed,
        &|_| PasswordState::Unreadable,
    )
    .into_iter()
    .filter(|a| a.reason.starts_with("connection pooler's auth_query"))
    .map(|a| format!("{}: {}", a.target, a.reason))
    .collect();
    assert_eq!(lookups, Vec::<String>::new());

    // The objects, ours dry-run in a twin namespace.
    let twin = TestNamespace::new("parity-pool-twin").await;
    let mut ours = Vec::new();
    for (kind, name) in compared() {
        let object = ours_manifest
            .objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
            .unwrap_or_else(|| panic!("our {kind} {name}"));
        let mut body = object.body.value();
        body["metadata"]["namespace"] = Value::from(twin.name.clone());
        if kind == "Secret" {
            // What apply adds when it creates a credential Secret.
            body["data"]["password"] = Value::from("cGFyaXR5");
        }
        let dry = api(&client, &twin.name, kind)
            .patch(
                &name,
                &PatchParams::apply("postgres-reconciler").dry_run().force(),
                &Patch::Apply(&body),
            )
            .await
            .unwrap_or_else(|e| panic!("dry run {kind} {name}: {e}"));
        ours.push((kind.to_string(), serde_json::to_value(dry).expect("json")));
    }
    let no_ports = BTreeSet::new();
    let ctx = Context {
        twin: &twin.name,
        oracle: &h.ns.name,
        requested_node_ports: &no_ports,
    };
    let intentional = expectations::load("intentional.yaml");
    let mut unexplained = Vec::new();
    for ((kind, mut a), (_, mut b)) in ours.into_iter().zip(theirs) {
        normalize(&kind, &mut a, &ctx, true);
        normalize(&kind, &mut b, &ctx, false);
        let name = a["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .replace(CLUSTER, "{cluster}");
        for (path, o, z) in diff(Some(&a), Some(&b)) {
            let d = super::diff::Difference {
                manifest: CLUSTER.into(),
                kind: kind.clone(),
                name: name.clone(),
                path,
                ours: o,
                zalando: z,
            };
            if !intentional
                .iter()
                .any(|e| e.applies_to(Mode::Endpoints.name()) && e.matches(&d))
            {
                unexplained.push(format!(
                    "{} {} {}: ours {:?}, Zalando's {:?}",
                    d.kind, d.name, d.path, d.ours, d.zalando
                ));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "{} unexplained difference(s):\n{}\n(see {})",
        unexplained.len(),
        unexplained.join("\n"),
        zalando.log.display()
    );

    // Adopted in place: our run on Zalando's cluster, reaching its database through the master
    // Service, changes no pooler pod, keeps the pooler's password, and then has nothing to do.
    let before = theirs_again(&h).await;
    h.config = postgres_reconciler::config::Config {
        postgres_host_template: "{cluster}.{namespace}.svc".into(),
        postgres_port: 5432,
        postgres_sslmode: postgres_reconciler::config::SslMode::Require,
        postgres_ca_file: None,
        release_namespace: h.config.release_namespace.clone(),
        ..config
    };
    let adopted = h.run().await;
    let said = postgres_reconciler::report::run::text(&adopted);
    assert_eq!(adopted.exit_code, 0, "{said}");
    let after = theirs_again(&h).await;
    for ((kind, b), (_, a)) in before.iter().zip(&after) {
        let name = &a["metadata"]["name"];
        assert_eq!(
            a["metadata"]["uid"], b["metadata"]["uid"],
            "{kind} {name} adopted, not replaced"
        );
        assert_eq!(
            a["metadata"]["labels"]["app.kubernetes.io/managed-by"], "postgres-reconciler",
            "{kind} {name}"
        );
        match kind.as_str() {
            "Deployment" => assert_eq!(
                a["metadata"]["generation"], b["metadata"]["generation"],
                "{kind} {name}: the pod template is Zalando's, no pod restarts: {said}"
            ),
            "Secret" => assert_eq!(a["data"], b["data"], "the pooler's password kept"),
            _ => assert_eq!(a["spec"], b["spec"], "{kind} {name}"),
        }
    }
    let settling = h.run().await;
    assert_eq!(
        settling.exit_code,
        0,
        "{}",
        postgres_reconciler::report::run::text(&settling)
    );
    let quiet = h.run().await;
    assert_eq!(
        quiet.writes,
        0,
        "{}",
        postgres_reconciler::report::run::text(&quiet)
    );
}

/// The compared objects as they are live now.
async fn theirs_again(h: &Harness) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (kind, name) in compared() {
        let object = api(&h.ns.client, &h.ns.name, kind)
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
        out.push((
            kind.to_string(),
            serde_json::to_value(object).expect("json"),
        ));
    }
    out
}
