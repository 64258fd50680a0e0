//! The watch sidecar on the real control plane: a manifest change starts a Job from the CronJob
//! exactly as `kubectl create job --from=cronjob/…` would; while a Job is active it waits and
//! starts one more run after that Job has finished; a cluster pod becoming Ready starts a run.

use crate::support::{TestNamespace, eventually, install_crds};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use postgres_reconciler::config::Config;
use postgres_reconciler::observe::cluster::api_resource;
use postgres_reconciler::watch::{self, WatchOptions};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn ready(addr: std::net::SocketAddr) -> Option<()> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.starts_with("HTTP/1.1 200").then_some(())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts the watcher for `cronjob` in the test namespace and waits until it is ready.
async fn start_watcher(
    ns: &TestNamespace,
    cronjob: &str,
    debounce: Duration,
) -> tokio::task::JoinHandle<Result<(), watch::WatchError>> {
    start_sharded_watcher(ns, cronjob, debounce, 1).await
}

/// [`start_watcher`] for `shards` CronJobs `<cronjob>-shard-i-of-N`.
async fn start_sharded_watcher(
    ns: &TestNamespace,
    cronjob: &str,
    debounce: Duration,
    shards: u32,
) -> tokio::task::JoinHandle<Result<(), watch::WatchError>> {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let config = Config {
        watched_namespaces: vec![ns.name.clone()],
        ..Config::default()
    };
    let options = WatchOptions {
        cronjob: cronjob.into(),
        namespace: ns.name.clone(),
        debounce,
        health_addr: Some(addr),
        lease_namespace: ns.name.clone(),
        shards,
    };
    let client = ns.client.clone();
    let watcher = tokio::spawn(async move { watch::run(client, &config, options).await });
    eventually(Duration::from_secs(30), "the watcher to be ready", || {
        ready(addr)
    })
    .await;
    watcher
}

/// A CronJob whose Jobs are suspended (they stay active until the test ends them): `job_meta`
/// is its job template's metadata, `job_spec` adds to the job template's spec.
async fn suspended_cronjob(
    ns: &TestNamespace,
    name: &str,
    job_meta: Value,
    job_spec: Value,
) -> CronJob {
    let mut spec = json!({"suspend": true, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "apply", "image": "registry.invalid/postgres-reconciler:test", "args": ["apply"]}]}}});
    spec.as_object_mut()
        .expect("object")
        .extend(job_spec.as_object().cloned().unwrap_or_default());
    let cronjob: CronJob = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"schedule": "0 0 1 1 *", "suspend": true,
            "jobTemplate": {"metadata": job_meta, "spec": spec}}
    }))
    .expect("cronjob");
    Api::<CronJob>::namespaced(ns.client.clone(), &ns.name)
        .create(&PostParams::default(), &cronjob)
        .await
        .expect("create cronjob")
}

/// A 1Gi `postgresql` manifest named `name` with `instances` instances.
fn cluster(name: &str, instances: i32) -> Value {
    json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": name},
        "spec": {"teamId": "acid", "numberOfInstances": instances, "volume": {"size": "1Gi"}, "postgresql": {"version": "17"}}})
}

/// Applies `body` as a user would, retrying while the CRD is not served yet.
async fn create_manifest(pg: &Api<kube::api::DynamicObject>, name: &str, body: Value) {
    eventually(
        Duration::from_secs(30),
        "the manifest to be created",
        || async {
            pg.patch(
                name,
                &PatchParams::apply("kubectl"),
                &Patch::Apply(body.clone()),
            )
            .await
            .ok()
        },
    )
    .await;
}

/// The `postgresql` manifests of the test namespace.
fn manifests(ns: &TestNamespace) -> Api<kube::api::DynamicObject> {
    Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &api_resource("acid.zalan.do/v1", "postgresql", "postgresqls"),
    )
}

#[tokio::test]
async fn a_manifest_change_starts_a_job_and_waits_for_an_active_one() {
    let ns = TestNamespace::new("watch").await;
    install_crds(&ns.client).await;
    let cronjob = suspended_cronjob(
        &ns,
        "postgres-reconciler",
        json!({"labels": {"app.kubernetes.io/name": "postgres-reconciler"}}),
        json!({}),
    )
    .await;

    let watcher = start_watcher(&ns, "postgres-reconciler", Duration::from_millis(300)).await;

    let pg = manifests(&ns);
    let manifest = |instances: i32| cluster("acid-watch", instances);
    let user = PatchParams::apply("kubectl");
    create_manifest(&pg, "acid-watch", manifest(1)).await;

    let jobs: Api<Job> = Api::namespaced(ns.client.clone(), &ns.name);
    let uid = cronjob.metadata.uid.clone().expect("uid");
    let owned = |list: Vec<Job>| -> Vec<Job> {
        list.into_iter()
            .filter(|j| {
                j.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == uid && r.controller == Some(true))
            })
            .collect()
    };
    let first = eventually(
        Duration::from_secs(30),
        "a Job from the CronJob",
        || async {
            owned(jobs.list(&ListParams::default()).await.ok()?.items)
                .into_iter()
                .next()
        },
    )
    .await;
    let annotations = first.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("cronjob.kubernetes.io/instantiate")
            .map(String::as_str),
        Some("manual")
    );
    assert_eq!(
        first
            .metadata
            .labels
            .clone()
            .unwrap_or_default()
            .get("app.kubernetes.io/name")
            .map(String::as_str),
        Some("postgres-reconciler")
    );

    // A spec change while that Job is active: nothing new yet; once it has finished (here: it
    // is deleted), exactly one more run starts.
    pg.patch("acid-watch", &user, &Patch::Apply(manifest(2)))
        .await
        .expect("scale");
    // Absence can only be shown by giving it time: several debounce windows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let meanwhile = owned(jobs.list(&ListParams::default()).await.expect("list").items);
    assert_eq!(
        meanwhile.len(),
        1,
        "no second run while the first is active"
    );
    jobs.delete(
        first.metadata.name.as_deref().expect("name"),
        &DeleteParams::background(),
    )
    .await
    .expect("end the first job");
    let second = eventually(
        Duration::from_secs(30),
        "a second Job after the first finished",
        || async {
            let list = owned(jobs.list(&ListParams::default()).await.ok()?.items);
            list.into_iter().find(|j| {
                j.metadata.uid != first.metadata.uid && j.metadata.deletion_timestamp.is_none()
            })
        },
    )
    .await;
    assert_ne!(second.metadata.name, first.metadata.name);
    watcher.abort();
}

/// The parts of a Job that say what it runs, without what the server derives from its identity
/// (name, uid, selector and the labels carrying them).
fn essence(job: &serde_json::Value) -> serde_json::Value {
    let mut spec = job["spec"].clone();
    if let Some(s) = spec.as_object_mut() {
        s.remove("selector");
    }
    if let Some(labels) = spec["template"]["metadata"]["labels"].as_object_mut() {
        labels.retain(|k, _| !k.contains("controller-uid") && !k.ends_with("job-name"));
    }
    let mut owners = job["metadata"]["ownerReferences"].clone();
    if let Some(list) = owners.as_array_mut() {
        for o in list {
            o.as_object_mut().map(|m| m.remove("uid"));
        }
    }
    json!({
        "annotations": job["metadata"]["annotations"],
        "labels": job["metadata"]["labels"],
        "ownerReferences": owners,
        "spec": spec,
    })
}

#[tokio::test]
async fn only_spec_changes_start_a_run_and_a_burst_starts_one() {
    let ns = TestNamespace::new("watch-burst").await;
    install_crds(&ns.client).await;
    suspended_cronjob(
        &ns,
        "pgr",
        json!({"labels": {"app.kubernetes.io/name": "postgres-reconciler"}, "annotations": {"team": "db"}}),
        json!({"backoffLimit": 0}),
    )
    .await;
    let debounce = Duration::from_secs(1);
    let watcher = start_watcher(&ns, "pgr", debounce).await;

    let pg = manifests(&ns);
    let manifest = |instances: i32| cluster("acid-burst", instances);
    let user = PatchParams::apply("kubectl");
    create_manifest(&pg, "acid-burst", manifest(1)).await;
    let jobs: Api<Job> = Api::namespaced(ns.client.clone(), &ns.name);
    let live_jobs = || async {
        jobs.list(&ListParams::default())
            .await
            .expect("list jobs")
            .items
    };
    // The creation is a change: one Job, within the debounce and a second.
    let first = eventually(
        debounce + Duration::from_secs(1),
        "a Job for the new manifest",
        || async { live_jobs().await.into_iter().next() },
    )
    .await;

    // The Job is identical to what `kubectl create job --from=cronjob/pgr` makes.
    let kubectl = std::process::Command::new(crate::support::TestEnv::get().var("PGRENV_KUBECTL"))
        .args([
            "--kubeconfig",
            crate::support::TestEnv::get().kubeconfig_path(),
        ])
        .args([
            "-n",
            &ns.name,
            "create",
            "job",
            "--from=cronjob/pgr",
            "by-kubectl",
            "--dry-run=server",
            "-o",
            "json",
        ])
        .output()
        .expect("run kubectl");
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let by_kubectl: serde_json::Value =
        serde_json::from_slice(&kubectl.stdout).expect("kubectl json");
    let ours = serde_json::to_value(&first).expect("job json");
    assert_eq!(essence(&ours), essence(&by_kubectl));

    // With no Job active: a status-only update starts nothing.
    jobs.delete(
        first.metadata.name.as_deref().expect("name"),
        &DeleteParams::background(),
    )
    .await
    .expect("end the first job");
    eventually(Duration::from_secs(30), "the first Job to go", || async {
        live_jobs().await.is_empty().then_some(())
    })
    .await;
    pg.patch_status(
        "acid-burst",
        &PatchParams::apply("postgres-reconciler").force(),
        &Patch::Apply(json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": "acid-burst"},
            "status": {"PostgresClusterStatus": "Running"}})),
    )
    .await
    .expect("status write");
    // Absence needs time to show: three debounce windows.
    tokio::time::sleep(debounce * 3).await;
    assert!(
        live_jobs().await.is_empty(),
        "a status write must not start a run"
    );

    // Ten quick spec edits: one run.
    for instances in 2..12 {
        pg.patch("acid-burst", &user, &Patch::Apply(manifest(instances)))
            .await
            .expect("edit");
    }
    eventually(
        debounce + Duration::from_secs(1) + Duration::from_secs(5),
        "a Job for the burst",
        || async { (!live_jobs().await.is_empty()).then_some(()) },
    )
    .await;
    tokio::time::sleep(debounce * 3).await;
    assert_eq!(live_jobs().await.len(), 1, "ten quick edits make one run");
    watcher.abort();
}

#[tokio::test]
async fn a_cluster_pod_becoming_ready_starts_a_run() {
    let ns = TestNamespace::new("watch-pod").await;
    install_crds(&ns.client).await;
    suspended_cronjob(&ns, "pgr", json!({}), json!({})).await;
    let debounce = Duration::from_millis(300);
    let watcher = start_watcher(&ns, "pgr", debounce).await;
    let jobs: Api<Job> = Api::namespaced(ns.client.clone(), &ns.name);
    let live_jobs = || async {
        jobs.list(&ListParams::default())
            .await
            .expect("list jobs")
            .items
    };

    // A pod of a cluster (Spilo's labels), as a StatefulSet would recreate it in a rollout:
    // kwok schedules it and makes it Ready, and that alone starts the next run.
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "acid-pod-0", "labels": {"application": "spilo", "cluster-name": "acid-pod"}},
        "spec": {"containers": [{"name": "postgres", "image": "registry.invalid/spilo:test"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    let job = eventually(
        Duration::from_secs(60),
        "a Job once the pod is Ready",
        || async { live_jobs().await.into_iter().next() },
    )
    .await;
    let live = pods.get("acid-pod-0").await.expect("pod");
    let ready = live
        .status
        .and_then(|s| s.conditions)
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    assert!(ready, "the run started after the pod became Ready");
    assert!(job.metadata.name.is_some());

    // A pod without the cluster labels is not ours to wait for: no run.
    jobs.delete(
        job.metadata.name.as_deref().expect("name"),
        &DeleteParams::background(),
    )
    .await
    .expect("end the Job");
    eventually(Duration::from_secs(30), "the Job to go", || async {
        live_jobs().await.is_empty().then_some(())
    })
    .await;
    let other: Pod = serde_json::from_value(json!({
        "metadata": {"name": "unrelated", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:test"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &other)
        .await
        .expect("create pod");
    eventually(
        Duration::from_secs(60),
        "the unrelated pod Ready",
        || async {
            let p = pods.get("unrelated").await.ok()?;
            p.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(())
        },
    )
    .await;
    // Absence can only be shown by giving it time: several debounce windows.
    tokio::time::sleep(debounce * 5).await;
    assert!(live_jobs().await.is_empty(), "no run for an unrelated pod");
    watcher.abort();
}

/// Another run (a manual `apply`, or one that crashed) holds the Lease: a Job started now would
/// only wait for it and could end `skipped`. The watcher holds its run back and starts it once
/// the holder has let go.
#[tokio::test]
async fn a_held_lease_defers_the_run_until_its_holder_is_gone() {
    use k8s_openapi::api::coordination::v1::Lease;
    use postgres_reconciler::apply::lease::LEASE_NAME;
    let ns = TestNamespace::new("watch-lease").await;
    install_crds(&ns.client).await;
    suspended_cronjob(&ns, "pgr", json!({}), json!({})).await;
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    let now = jiff::Timestamp::now().to_string();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": LEASE_NAME},
        "spec": {"holderIdentity": "laptop-apply", "leaseDurationSeconds": 300,
            "acquireTime": now, "renewTime": now}
    }))
    .expect("lease");
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the Lease");
    let watcher = start_watcher(&ns, "pgr", Duration::from_millis(300)).await;
    let jobs: Api<Job> = Api::namespaced(ns.client.clone(), &ns.name);
    create_manifest(&manifests(&ns), "acid-held", cluster("acid-held", 1)).await;

    // Several of its polls later, still no Job: the Lease is held for minutes yet.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let early = jobs.list(&ListParams::default()).await.expect("jobs").items;
    assert!(early.is_empty(), "a Job started while the Lease was held");

    // The holder lets go (as a run does at its end): the run starts.
    leases
        .patch(
            LEASE_NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": null}})),
        )
        .await
        .expect("release the Lease");
    eventually(
        Duration::from_secs(30),
        "a Job once the Lease is free",
        || async {
            jobs.list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .next()
        },
    )
    .await;
    watcher.abort();
}

#[tokio::test]
async fn with_shards_a_change_starts_only_the_owning_shards_cronjob() {
    use postgres_reconciler::plan::shard::owner;
    let ns = TestNamespace::new("watch-shards").await;
    install_crds(&ns.client).await;
    let mut uids = Vec::new();
    for i in 0..2 {
        let cronjob =
            suspended_cronjob(&ns, &format!("pgr-shard-{i}-of-2"), json!({}), json!({})).await;
        uids.push(cronjob.metadata.uid.clone().expect("uid"));
    }
    let watcher = start_sharded_watcher(&ns, "pgr", Duration::from_millis(300), 2).await;
    // A cluster of each shard.
    let of_shard = |shard: u32| {
        (0..)
            .map(|i| format!("acid-s{i}"))
            .find(|name| owner(&ns.name, name, 2) == shard)
            .expect("a name")
    };
    let jobs: Api<Job> = Api::namespaced(ns.client.clone(), &ns.name);
    let started_by = |shard: usize| {
        let jobs = jobs.clone();
        let uid = uids[shard].clone();
        async move {
            jobs.list(&ListParams::default())
                .await
                .expect("list Jobs")
                .items
                .into_iter()
                .filter(|j| {
                    j.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|r| r.uid == uid)
                })
                .count()
        }
    };
    let pg = manifests(&ns);
    let second = of_shard(1);
    create_manifest(&pg, &second, cluster(&second, 1)).await;
    eventually(Duration::from_secs(30), "a Job of shard 1", || async {
        (started_by(1).await == 1).then_some(())
    })
    .await;
    // Absence can only be shown by giving it time: several debounce windows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(started_by(0).await, 0, "shard 0 owns nothing that changed");

    let first = of_shard(0);
    create_manifest(&pg, &first, cluster(&first, 1)).await;
    eventually(Duration::from_secs(30), "a Job of shard 0", || async {
        (started_by(0).await == 1).then_some(())
    })
    .await;
    assert_eq!(started_by(1).await, 1, "shard 1 owns nothing that changed");
    watcher.abort();
}
