//! Taking over from Zalando's operator while its own `postgresql` CRD stays installed (the chart
//! with `--skip-crds`): that CRD accepts only string values in `status`. On a second apiserver
//! (a CRD name exists once per apiserver) with a CRD shaped like Zalando's: a run writes
//! `PostgresClusterStatus` and a note, adopts Zalando's credential Secrets, and a second run
//! writes nothing at all — no rejected status attempt, no Event.

use crate::support::PgTarget;
use crate::support::reconciler::zalando_secret;
use crate::support::reconciler::{Harness, STANDBY_PASSWORD};
use crate::support::second_apiserver::SecondApiserver;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use postgres_reconciler::apply::run::run;
use postgres_reconciler::observe::cluster::{ClusterClient, Scope, api_resource};
use postgres_reconciler::pipeline::Source;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

/// The facts of Zalando's `postgresqls.acid.zalan.do` that matter here: the status subresource,
/// and a status schema of string values only (`additionalProperties: {type: string}`).
fn zalando_like_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "postgresqls.acid.zalan.do"},
        "spec": {
            "group": "acid.zalan.do",
            "names": {"kind": "postgresql", "listKind": "postgresqlList", "plural": "postgresqls",
                "singular": "postgresql", "shortNames": ["pg"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "status": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }},
            }],
        },
    })
}

async fn install(client: &kube::Client, crd: Value) {
    crate::support::crds::install_crd(client, &crd).await;
}

#[tokio::test]
async fn under_zalandos_crd_the_status_is_written_once_and_then_left_alone() {
    // The harness only prepares the shared PostgreSQL roles and the configuration here.
    let h = Harness::new("status-zalando").await;
    let second = SecondApiserver::start("zalando-crd").await;
    let client = second.client().await;
    install(&client, zalando_like_crd()).await;
    install(
        &client,
        serde_json::to_value(postgres_reconciler::crds::postgresqlconfig_crd()).expect("crd"),
    )
    .await;
    let ns = "zalando";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
        )
        .await
        .expect("namespace");
    let cluster = "acid-zalando";
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let superuser = PgTarget::superuser();
    for (user, password) in [
        (superuser.user.as_str(), superuser.password.as_str()),
        ("standby", STANDBY_PASSWORD),
    ] {
        secrets
            .create(
                &PostParams::default(),
                &zalando_secret(cluster, user, password),
            )
            .await
            .expect("Zalando's Secret");
    }
    let manifests: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &api_resource("acid.zalan.do/v1", "postgresql", "postgresqls"),
    );
    manifests
        .patch(
            cluster,
            &PatchParams::apply("kubectl"),
            &Patch::Apply(json!({
                "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                "metadata": {"name": cluster},
                "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                    "postgresql": {"version": "17"}},
            })),
        )
        .await
        .expect("the manifest");
    // What Zalando's operator left behind.
    manifests
        .patch_status(
            cluster,
            &PatchParams::apply("postgres-operator"),
            &Patch::Merge(json!({"status": {"PostgresClusterStatus": "Running"}})),
        )
        .await
        .expect("Zalando's status");

    let source = Source {
        files: None,
        offline: false,
        base: None,
        reach_databases: true,
        scope: Scope::Namespaces(vec![ns.into()]),
        default_namespace: ns.into(),
        clock: None,
    };
    let mut config = h.config.clone();
    config.release_namespace = ns.into();
    let mut options = h.options("zalando-crd-run");
    options.lease_namespace = ns.into();
    let apply = || async {
        let cluster_client = ClusterClient::from_config(second.config().await).expect("client");
        run(&config, &cluster_client, &source, &options)
            .await
            .unwrap_or_else(|e| panic!("apply run: {e}"))
    };

    let first = apply().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    assert_eq!(first.statuses_written, 1, "{}", text(&first));
    let live = manifests.get_status(cluster).await.expect("manifest");
    let status = &live.data["status"];
    // No pods run on this apiserver: the cluster is being created.
    assert_eq!(status["PostgresClusterStatus"], "Creating", "{status}");
    assert!(
        status["postgresReconcilerNote"]
            .as_str()
            .is_some_and(|n| n.contains("Zalando's")),
        "{status}"
    );
    assert!(status.get("conditions").is_none(), "{status}");
    // Zalando's Secrets were adopted, their passwords kept.
    let superuser_secret = secrets
        .get(&format!(
            "postgres.{cluster}.credentials.postgresql.acid.zalan.do"
        ))
        .await
        .expect("secret");
    assert_eq!(
        superuser_secret
            .metadata
            .labels
            .unwrap_or_default()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("postgres-reconciler")
    );

    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let events_before = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .len();
    let second_run = apply().await;
    assert_eq!(second_run.exit_code, 0, "{}", text(&second_run));
    assert_eq!(second_run.statuses_written, 0, "{}", text(&second_run));
    assert_eq!(
        second_run.writes, 0,
        "not even a rejected status attempt: {:?}",
        second_run.requests
    );
    let events_after = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .len();
    assert_eq!(
        events_after, events_before,
        "no Event for an unchanged status"
    );

    // A new value is written at once, in one request (the note spares the rejected attempt).
    manifests
        .patch(
            cluster,
            &PatchParams::apply("kubectl"),
            &Patch::Merge(json!({"spec": {"numberOfInstances": 99}})),
        )
        .await
        .expect("too many instances");
    let third = apply().await;
    assert_eq!(third.statuses_written, 1, "{}", text(&third));
    // One status request (and the Event of an invalid manifest), no rejected attempt.
    assert_eq!(
        third.requests.get("patch").copied(),
        Some(1),
        "{:?}",
        third.requests
    );
    let live = manifests.get_status(cluster).await.expect("manifest");
    assert_eq!(live.data["status"]["PostgresClusterStatus"], "Invalid");
    let count_events = || async {
        events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .len()
    };
    // Still invalid the same way: no status write, no new Event.
    let events_before = count_events().await;
    let fourth = apply().await;
    assert_eq!(fourth.writes, 0, "{:?}", fourth.requests);
    assert_eq!(count_events().await, events_before, "an unchanged failure");
    // Invalid another way: the limited status cannot hold the message, but its failure signature
    // changes, and the new failure gets its Event.
    manifests
        .patch(
            cluster,
            &PatchParams::apply("kubectl"),
            &Patch::Merge(json!({"spec": {"numberOfInstances": 98}})),
        )
        .await
        .expect("too many instances, another number");
    let fifth = apply().await;
    assert_eq!(fifth.statuses_written, 1, "{}", text(&fifth));
    assert_eq!(count_events().await, events_before + 1, "a new failure");
    drop(second);
}
