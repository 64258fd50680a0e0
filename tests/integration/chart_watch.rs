//! The watcher run as the Helm chart's ServiceAccount (impersonation) in namespaced mode: a
//! manifest change in its namespace starts a run, a Job from the release's CronJob.

use crate::support::chart::{Release, cluster_client_as, granted};
use crate::support::{TestEnv, TestNamespace, eventually, install_crds};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::json;
use std::time::Duration;

/// The watcher, run as the chart's ServiceAccount in namespaced mode, sees a manifest change in
/// its namespace and starts a run: a Job from the release's CronJob.
#[tokio::test]
async fn watch_as_the_charts_service_account_starts_a_run() {
    use k8s_openapi::api::batch::v1::Job;
    use postgres_reconciler::watch::{WatchOptions, run as watch};
    let client = TestEnv::get().client().await;
    install_crds(&client).await;
    let watched = TestNamespace::new("chart-watch").await;
    let release_ns = TestNamespace::new("chart-watch-rel").await;
    let namespaces = format!(r#"watchedNamespaces=["{}"]"#, watched.name);
    let release = Release::install(
        &release_ns.name,
        &[
            "--skip-crds",
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            &namespaces,
            // Only the watcher starts runs here.
            "--set",
            "cronjob.suspend=true",
        ],
    )
    .await;
    let pg = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &watched.name,
        &postgres_reconciler::observe::cluster::api_resource(
            "acid.zalan.do/v1",
            "postgresql",
            "postgresqls",
        ),
    );
    let manifest = |instances: i64| {
        json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-watched"},
            "spec": {"teamId": "acid", "numberOfInstances": instances, "volume": {"size": "1Gi"},
                     "postgresql": {"version": "17"}}
        })
    };
    let user_apply = kube::api::PatchParams::apply("kubectl");
    eventually(
        Duration::from_secs(30),
        "the postgresql CRD to serve",
        || async {
            pg.patch(
                "acid-watched",
                &user_apply,
                &kube::api::Patch::Apply(manifest(1)),
            )
            .await
            .ok()
        },
    )
    .await;

    let user = release.service_account_user();
    let sa_client = cluster_client_as(&user).await.client;
    granted("the Roles to take effect", || async {
        Api::<Job>::namespaced(sa_client.clone(), &release_ns.name)
            .list(&ListParams::default())
            .await?;
        Api::<Pod>::namespaced(sa_client.clone(), &watched.name)
            .list(&ListParams::default())
            .await
            .map(|_| ())
    })
    .await;
    let config = postgres_reconciler::config::Config {
        watched_namespaces: vec![watched.name.clone()],
        release_namespace: release_ns.name.clone(),
        ..Default::default()
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let options = WatchOptions {
        cronjob: release.fullname(),
        namespace: release_ns.name.clone(),
        debounce: Duration::from_millis(500),
        health_addr: Some(([127, 0, 0, 1], port).into()),
        lease_namespace: release_ns.name.clone(),
        shards: 1,
    };
    let task = tokio::spawn(async move { watch(sa_client, &config, options).await });
    // Ready: its initial listing of the manifests (as the ServiceAccount) is done.
    eventually(
        Duration::from_secs(30),
        "the watcher to be ready",
        || async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()?;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream
                .write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).await.ok()?;
            response.starts_with("HTTP/1.1 200").then_some(())
        },
    )
    .await;

    pg.patch(
        "acid-watched",
        &user_apply,
        &kube::api::Patch::Apply(manifest(2)),
    )
    .await
    .expect("edit the manifest's spec");
    let jobs: Api<Job> = release_ns.api();
    let job = eventually(
        Duration::from_secs(30),
        "a Job from the CronJob",
        || async {
            jobs.list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|j| {
                    j.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("cronjob.kubernetes.io/instantiate"))
                        .map(String::as_str)
                        == Some("manual")
                })
        },
    )
    .await;
    task.abort();
    let owner = job
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.kind == "CronJob")
        .expect("owned by the CronJob");
    assert_eq!(owner.name, release.fullname());
    let pod = job.spec.and_then(|s| s.template.spec).expect("pod spec");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(release.fullname().as_str())
    );
}
