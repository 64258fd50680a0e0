//! The Helm chart installed with the real helm (`PGRENV_HELM`, `PGRENV_KUBECTL`) against the
//! local control plane: install and uninstall (Helm leaves the existing CRDs alone; the CRDs and
//! the users' manifests outlive the release), and the pods admitted under Pod Security
//! `restricted`.

use crate::support::chart::{Release, WAIT, helm, kubectl, ok, output};
use crate::support::{TestEnv, TestNamespace, eventually, install_crds};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;
use std::time::Duration;

const CRDS: [&str; 2] = [
    "postgresqls.acid.zalan.do",
    "postgresqlconfigs.containerconf.de",
];

fn crd_helm_managers(crd: &CustomResourceDefinition) -> usize {
    crd.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some("helm"))
        .count()
}

#[tokio::test]
async fn install_succeeds_and_uninstall_leaves_crds_and_manifests() {
    let client = TestEnv::get().client().await;
    install_crds(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut helm_before = Vec::new();
    for name in CRDS {
        helm_before.push(crd_helm_managers(&crds.get(name).await.expect("CRD")));
    }
    let ns = TestNamespace::new("chart-install").await;
    // Without --skip-crds: Helm creates only missing CRDs, and both exist.
    let mut release = Release::install(&ns.name, &[]).await;
    for (name, before) in CRDS.iter().zip(&helm_before) {
        let crd = crds.get(name).await.expect("CRD");
        assert_eq!(
            crd_helm_managers(&crd),
            *before,
            "helm must leave the existing CRD {name} alone"
        );
    }
    let full = release.fullname();
    let cronjob = ns.api::<CronJob>().get(&full).await.expect("CronJob");
    let spec = cronjob.spec.clone();
    assert_eq!(spec.schedule, "*/5 * * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let job = spec.job_template.spec.expect("job spec");
    assert_eq!(job.backoff_limit, Some(0));
    let pod = job.template.spec.expect("pod spec");
    assert_eq!(pod.service_account_name.as_deref(), Some(full.as_str()));
    let args = pod.containers[0].args.clone().unwrap_or_default();
    assert_eq!(
        args,
        [
            "apply",
            "--config",
            "/etc/postgres-reconciler/config.yaml",
            "--log-format",
            "json"
        ]
    );
    let deployment = ns
        .api::<Deployment>()
        .get(&format!("{full}-watch"))
        .await
        .expect("watch Deployment");
    assert_eq!(
        deployment.status.and_then(|s| s.ready_replicas),
        Some(1),
        "--wait waited for the watcher (kwok runs it)"
    );

    // User data: a manifest in the release namespace.
    let pg = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &ns.name,
        &postgres_reconciler::observe::cluster::api_resource(
            "acid.zalan.do/v1",
            "postgresql",
            "postgresqls",
        ),
    );
    let manifest: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": "acid-kept"},
        "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                 "postgresql": {"version": "17"}}
    }))
    .expect("manifest");
    eventually(
        Duration::from_secs(30),
        "the postgresql CRD to serve",
        || async {
            pg.create(&PostParams::default(), &manifest)
                .await
                .map_err(|e| eprintln!("create postgresql: {e}"))
                .ok()
        },
    )
    .await;

    release.uninstall().await;
    let status = output(helm(&["status", &release.name, "-n", &ns.name]), None).await;
    assert!(!status.status.success(), "the release is gone");
    assert!(
        ns.api::<CronJob>()
            .get_opt(&full)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        ns.api::<Deployment>()
            .get_opt(&format!("{full}-watch"))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        ns.api::<ConfigMap>()
            .get_opt(&format!("{full}-config"))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        ns.api::<ServiceAccount>()
            .get_opt(&full)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        Api::<ClusterRole>::all(client.clone())
            .get_opt(&full)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        Api::<ClusterRoleBinding>::all(client.clone())
            .get_opt(&full)
            .await
            .expect("get")
            .is_none()
    );
    for name in CRDS {
        let crd = crds.get_opt(name).await.expect("get CRD");
        assert!(
            crd.is_some_and(|c| c.metadata.deletion_timestamp.is_none()),
            "{name} stays"
        );
    }
    assert!(
        pg.get_opt("acid-kept").await.expect("get").is_some(),
        "the manifest stays"
    );
}

#[tokio::test]
async fn pods_are_admitted_in_a_restricted_namespace() {
    let client = TestEnv::get().client().await;
    install_crds(&client).await;
    let ns = TestNamespace::with_labels(
        "chart-psa",
        &[
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
            ("pod-security.kubernetes.io/warn", "restricted"),
        ],
    )
    .await;
    let release = Release::install(&ns.name, &["--skip-crds"]).await;
    assert!(
        !release.install_stderr.contains("PodSecurity"),
        "no Pod Security warnings: {}",
        release.install_stderr
    );
    let full = release.fullname();
    let pods: Api<Pod> = ns.api();

    // The watcher: its ReplicaSet's pod was admitted (helm --wait saw it Ready).
    let watch_pods = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=watch"))
        .await
        .expect("list pods");
    assert_eq!(watch_pods.items.len(), 1, "{watch_pods:?}");

    // A forced run, with the real kubectl: the Job controller's pod is admitted too.
    let job = format!("{full}-manual");
    ok(
        kubectl(&[
            "-n",
            &ns.name,
            "create",
            "job",
            &format!("--from=cronjob/{full}"),
            &job,
        ]),
        None,
    )
    .await;
    let pod = eventually(WAIT, "the forced run's pod", || async {
        pods.list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    let spec = pod.spec.expect("pod spec");
    assert_eq!(spec.service_account_name.as_deref(), Some(full.as_str()));
    assert_eq!(
        spec.containers[0]
            .args
            .as_ref()
            .and_then(|a| a.first())
            .map(String::as_str),
        Some("apply")
    );
    let security = spec.containers[0]
        .security_context
        .clone()
        .expect("securityContext");
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
}
