//! The Helm chart with the real helm and kubectl (`PGRENV_HELM`, `PGRENV_KUBECTL`) against the
//! local control plane: lint, values the binary would refuse, the committed install manifest,
//! server-side dry run of the rendered objects, install and uninstall, Pod Security
//! `restricted`, and RBAC: `apply` and `watch` run as the chart's ServiceAccount (impersonation)
//! reconcile a cluster and start a run; in namespaced mode the identity holds exactly the rights
//! it needs and cannot read other namespaces (403).
//!
//! The CRDs are shared by every test of this apiserver: they are installed once (by
//! `install_crds`) and the chart is installed with `--skip-crds`, except in the test showing that
//! Helm leaves existing CRDs alone. Each test has its own release and namespaces, and uninstalls
//! its release when it ends (also when it panics).

use crate::support::reconciler::Harness;
use crate::support::{TestEnv, TestNamespace, eventually, install_crds, unique_name};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use postgres_reconciler::apply::run::{ApplyOptions, run};
use postgres_reconciler::observe::cluster::{
    ClusterClient, MANIFEST_KINDS, OWNED_KINDS, OWNED_SELECTOR, Scope, list_all,
};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CHART: &str = "charts/postgres-reconciler";
/// Bound on waiting for controllers, kwok and the RBAC cache (not a performance assertion).
const WAIT: Duration = Duration::from_secs(120);
const CRDS: [&str; 2] = [
    "postgresqls.acid.zalan.do",
    "postgresqlconfigs.containerconf.de",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> String {
    repo().join(CHART).display().to_string()
}

/// The real helm or kubectl of the local environment, talking to its apiserver.
fn tool(var: &str) -> Command {
    let env = TestEnv::get();
    let mut cmd = Command::new(env.var(var));
    cmd.env("KUBECONFIG", env.kubeconfig_path())
        .current_dir(repo());
    cmd
}

fn helm(args: &[&str]) -> Command {
    let mut cmd = tool("PGRENV_HELM");
    cmd.args(args);
    cmd
}

fn kubectl(args: &[&str]) -> Command {
    let mut cmd = tool("PGRENV_KUBECTL");
    cmd.args(args);
    cmd
}

/// Runs a command off the async runtime, feeding it `stdin`.
async fn output(mut cmd: Command, stdin: Option<String>) -> Output {
    let what = format!("{cmd:?}");
    tokio::task::spawn_blocking(move || {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        if let Some(input) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("wait for command")
    })
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the command and returns its stdout; panics with its output when it fails.
async fn ok(cmd: Command, stdin: Option<String>) -> String {
    let what = format!("{cmd:?}");
    let out = output(cmd, stdin).await;
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A release of the chart, uninstalled when dropped (if the test did not uninstall it).
struct Release {
    name: String,
    namespace: String,
    /// helm's stderr of the install (warnings from the apiserver show up there).
    install_stderr: String,
    uninstalled: bool,
}

impl Release {
    /// `helm install --wait` into `namespace` (which exists), with `--skip-crds` unless
    /// `extra` says otherwise.
    async fn install(namespace: &str, extra: &[&str]) -> Release {
        let name = unique_name("pgr");
        let chart = chart();
        let mut args = vec![
            "install",
            name.as_str(),
            chart.as_str(),
            "--namespace",
            namespace,
            "--wait",
            "--timeout",
            "2m",
        ];
        args.extend_from_slice(extra);
        let out = output(helm(&args), None).await;
        let release = Release {
            name: name.clone(),
            namespace: namespace.into(),
            install_stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            uninstalled: false,
        };
        assert!(
            out.status.success(),
            "helm install {name}: {}",
            describe(&out)
        );
        release
    }

    /// The prefix of every object name (the release name is not the chart name).
    fn fullname(&self) -> String {
        let full = format!("{}-postgres-reconciler", self.name);
        full[..full.len().min(52)].trim_end_matches('-').to_string()
    }

    /// `system:serviceaccount:<namespace>:<name>` of the chart's ServiceAccount.
    fn service_account_user(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace,
            self.fullname()
        )
    }

    async fn uninstall(&mut self) {
        let name = self.name.clone();
        let ns = self.namespace.clone();
        ok(
            helm(&["uninstall", &name, "--namespace", &ns, "--wait"]),
            None,
        )
        .await;
        self.uninstalled = true;
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if self.uninstalled {
            return;
        }
        let result = helm(&[
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--ignore-not-found",
        ])
        .stdin(Stdio::null())
        .output();
        match result {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("warning: helm uninstall {}: {}", self.name, describe(&out)),
            Err(e) => eprintln!("warning: helm uninstall {}: {e}", self.name),
        }
    }
}

/// A kube client acting as `user`, counting its requests as `apply` does.
async fn cluster_client_as(user: &str) -> ClusterClient {
    let mut config = TestEnv::get().kube_config().await;
    config.auth_info.impersonate = Some(user.to_string());
    ClusterClient::from_config(config).expect("impersonating cluster client")
}

/// The request was refused by RBAC (the response itself is never printed: it may hold Secrets).
fn forbidden<T>(result: Result<T, kube::Error>) -> bool {
    match result {
        Err(kube::Error::Api(s)) => s.code == 403,
        Err(e) => panic!("expected 403 Forbidden, got {e}"),
        Ok(_) => panic!("expected 403 Forbidden, the request succeeded"),
    }
}

/// Every action of the run applied; panics with the report otherwise.
fn assert_all_applied(report: &RunReport) {
    assert_eq!(report.exit_code, 0, "{}", text(report));
    for a in report
        .manifests
        .iter()
        .flat_map(|m| m.actions.iter())
        .chain(&report.shared)
    {
        assert_eq!(
            a.result,
            ActionResult::Applied,
            "{}: {:?}\n{}",
            a.action,
            a.result,
            text(report)
        );
    }
}

fn crd_helm_managers(crd: &CustomResourceDefinition) -> usize {
    crd.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some("helm"))
        .count()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lint_is_clean_with_default_and_namespaced_values() {
    let chart = chart();
    for extra in [
        vec![],
        vec![
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            r#"watchedNamespaces=["team-a","team-b"]"#,
        ],
        vec![
            "--set-json",
            r#"config={"postgres_sslmode":"verify-full","postgres_ca_file":"/etc/pg-ca/ca.crt","max_parallel_clusters":8}"#,
            "--set",
            "watch.enabled=false",
        ],
    ] {
        let mut args = vec!["lint", "--strict", chart.as_str()];
        args.extend(extra.iter().copied());
        let out = ok(helm(&args), None).await;
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "helm lint {extra:?}:\n{out}"
        );
    }
}

#[tokio::test]
async fn values_the_binary_would_refuse_are_refused_at_install_time() {
    let chart = chart();
    for (extra, expected) in [
        (
            vec!["--set", "config.docker_imgae=x"],
            "additional properties 'docker_imgae' not allowed",
        ),
        // `--set` makes 1 a number; the binary wants the string "1".
        (vec!["--set", "config.default_cpu_limit=1"], "want string"),
        (
            vec!["--set", "config.postgres_sslmode=on"],
            "postgres_sslmode",
        ),
        (
            vec!["--set", "rbac.scope=namespaced"],
            "set watchedNamespaces",
        ),
        (
            vec!["--set-json", r#"config={"watched_namespaces":["a"]}"#],
            "use the value watchedNamespaces",
        ),
        (
            vec!["--set", "config.release_namespace=x"],
            "release_namespace is set by the chart",
        ),
    ] {
        let mut args = vec!["template", "r", chart.as_str()];
        args.extend(extra.iter().copied());
        let out = output(helm(&args), None).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "helm template {extra:?} should fail naming {expected:?}: {}",
            describe(&out)
        );
    }
}

/// The configuration keys in values.schema.json are exactly the binary's.
#[test]
fn schema_knows_every_configuration_key() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("values.schema.json"))
            .expect("read values.schema.json"),
    )
    .expect("values.schema.json is JSON");
    let in_schema: std::collections::BTreeSet<String> = schema
        .pointer("/properties/config/properties")
        .and_then(Value::as_object)
        .expect("config properties")
        .keys()
        .cloned()
        .collect();
    let defaults = serde_json::to_value(postgres_reconciler::config::Config::default())
        .expect("config as JSON");
    let in_binary: std::collections::BTreeSet<String> = defaults
        .as_object()
        .expect("config object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        in_schema, in_binary,
        "charts/postgres-reconciler/values.schema.json (config) and src/config.rs disagree: \
         add the key to the schema and to the list in values.yaml"
    );
}

#[tokio::test]
async fn install_manifest_is_the_chart_rendered_with_default_values() {
    let mut cmd = Command::new(repo().join("tests/chart/render-install"));
    cmd.arg("--stdout")
        .env("HELM", TestEnv::get().var("PGRENV_HELM"));
    let rendered = ok(cmd, None).await;
    let committed =
        std::fs::read_to_string(repo().join("manifests/install.yaml")).unwrap_or_default();
    assert!(
        rendered == committed,
        "manifests/install.yaml is out of date with charts/postgres-reconciler: regenerate it \
         with `make install-manifest` (tests/chart/render-install) and commit it"
    );
}

#[tokio::test]
async fn rendered_chart_is_accepted_by_a_server_side_dry_run() {
    let client = TestEnv::get().client().await;
    install_crds(&client).await;
    let release_ns = TestNamespace::new("chart-dry").await;
    let team_a = TestNamespace::new("chart-dry-a").await;
    let team_b = TestNamespace::new("chart-dry-b").await;
    let chart = chart();
    let namespaces = format!(r#"watchedNamespaces=["{}","{}"]"#, team_a.name, team_b.name);
    for extra in [
        vec!["--include-crds"],
        vec![
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            namespaces.as_str(),
        ],
        vec![
            "--set-json",
            r#"config={"max_parallel_clusters":2,"postgres_sslmode":"verify-full"}"#,
            "--set",
            "cronjob.reportFile=/tmp/report.json",
            "--set",
            "cronjob.allowDestructive=true",
        ],
    ] {
        let mut args = vec![
            "template",
            "dry",
            chart.as_str(),
            "--namespace",
            &release_ns.name,
        ];
        args.extend(extra.iter().copied());
        let rendered = ok(helm(&args), None).await;
        let applied = ok(
            kubectl(&[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--dry-run=server",
                "-f",
                "-",
            ]),
            Some(rendered.clone()),
        )
        .await;
        // Every object was sent (kubectl stops at the first rejected one with an error).
        let objects = rendered.matches("\nkind: ").count();
        assert_eq!(
            applied.matches("(server dry run)").count(),
            objects,
            "{extra:?}:\n{applied}"
        );
        if extra.contains(&"rbac.scope=namespaced") {
            // A Role and RoleBinding in each watched namespace, nothing cluster-wide.
            let roles = applied
                .lines()
                .filter(|l| {
                    l.starts_with("role.rbac.authorization.k8s.io/dry-postgres-reconciler ")
                })
                .count();
            assert_eq!(roles, 2, "{applied}");
            for ns in [&team_a.name, &team_b.name] {
                assert!(
                    rendered.contains(&format!("namespace: \"{ns}\"")),
                    "{rendered}"
                );
            }
            assert!(!applied.contains("clusterrole"), "{applied}");
        }
    }
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

/// Waits until the RBAC cache grants `check` (the authorizer reads RBAC through an informer).
async fn granted<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    eventually(Duration::from_secs(30), what, || async {
        check().await.map_err(|e| eprintln!("{what}: {e}")).ok()
    })
    .await;
}

/// A one-instance cluster with a user and a database (names prefixed by the test).
async fn cluster_manifest(h: &Harness, cluster: &str) {
    h.cluster_secrets(cluster).await;
    let (owner, db) = (h.name("owner"), h.name("shop"));
    h.apply(h.cluster_manifest(
        cluster,
        1,
        json!({owner.as_str(): ["createdb"]}),
        json!({db.as_str(): owner}),
        json!({}),
    ))
    .await;
}

#[tokio::test]
async fn apply_as_the_charts_service_account_reconciles_a_cluster() {
    // The manifests' namespace (with the configuration reaching the test PostgreSQL).
    let h = Harness::new("chart-rbac").await;
    let release_ns = TestNamespace::new("chart-rbac-rel").await;
    let release = Release::install(&release_ns.name, &["--skip-crds"]).await;
    let user = release.service_account_user();
    let cluster_client = cluster_client_as(&user).await;
    let client = cluster_client.client.clone();

    // Cluster scope: the identity lists manifests and owned objects in every namespace.
    granted("the ClusterRoleBinding to take effect", || async {
        list_all(&client, &Scope::All, MANIFEST_KINDS[0], None)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                postgres_reconciler::observe::cluster::ClusterError::List { source, .. } => source,
                other => panic!("{other}"),
            })
    })
    .await;
    for &kind in MANIFEST_KINDS {
        list_all(&client, &Scope::All, kind, None)
            .await
            .unwrap_or_else(|e| panic!("list {} in all namespaces: {e}", kind.2));
    }
    for &kind in OWNED_KINDS {
        list_all(&client, &Scope::All, kind, Some(OWNED_SELECTOR))
            .await
            .unwrap_or_else(|e| panic!("list {} in all namespaces: {e}", kind.2));
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), &release_ns.name);
    granted("the release namespace's Role to take effect", || async {
        leases.get_opt("postgres-reconciler").await.map(|_| ())
    })
    .await;
    // Nothing beyond the rules: no other workloads, no other CronJob of the release namespace.
    assert!(forbidden(
        Api::<Deployment>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));
    assert!(forbidden(
        Api::<CronJob>::namespaced(client.clone(), &release_ns.name)
            .get("another-cronjob")
            .await
    ));

    // apply, as the CronJob's pod would run it (its Lease in the release namespace); only the
    // test's namespace is in scope, so the shared apiserver's other tests are left alone.
    let cluster = "acid-chart";
    cluster_manifest(&h, cluster).await;
    let mut config = h.config.clone();
    config.release_namespace = release_ns.name.clone();
    let options = ApplyOptions {
        allow_destructive: false,
        lease_namespace: release_ns.name.clone(),
        identity: unique_name("chart-run"),
        lease_duration: Duration::from_secs(60),
    };
    let apply_once = || async {
        let cluster_client = cluster_client_as(&user).await;
        run(&config, &cluster_client, &h.source, &options)
            .await
            .unwrap_or_else(|e| panic!("apply as {user}: {e}"))
    };
    let first = apply_once().await;
    assert_eq!(first.result, "applied", "{}", text(&first));
    assert_all_applied(&first);
    let done: Vec<&str> = first
        .manifests
        .iter()
        .flat_map(|m| m.actions.iter())
        .chain(&first.shared)
        .map(|a| a.action.as_str())
        .collect();
    let ns = &h.ns.name;
    for expected in [
        format!("create StatefulSet {ns}/{cluster}"),
        format!(
            "create Secret {ns}/{}",
            h.secret_name(&h.name("owner"), cluster)
        ),
        format!("create Role {ns}/postgres-pod"),
        format!("create RoleBinding {ns}/postgres-pod"),
    ] {
        assert!(
            done.contains(&expected.as_str()),
            "{expected} not in {done:#?}"
        );
    }

    // Pods come up (kwok); a later run as the same identity records Running.
    h.wait_ready(cluster, 1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let report = apply_once().await;
        assert_all_applied(&report);
        let live = h.get("postgresql", cluster).await.expect("manifest");
        if live["status"]["PostgresClusterStatus"] == "Running"
            && live["status"]["observedGeneration"] == live["metadata"]["generation"]
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for Running: {:#}\n{}",
            live["status"],
            text(&report)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // The run's Lease lives in the release namespace (released), and its Events were written.
    let lease = Api::<Lease>::namespaced(release_ns.client.clone(), &release_ns.name)
        .get("postgres-reconciler")
        .await
        .expect("the Lease in the release namespace");
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .is_none_or(|h| h.is_empty()),
        "released"
    );
    let events = list_all(
        &h.ns.client,
        &Scope::Namespaces(vec![ns.clone()]),
        ("events.k8s.io/v1", "Event", "events"),
        None,
    )
    .await
    .expect("list events");
    assert!(
        events
            .iter()
            .any(|e| e["regarding"]["name"] == cluster && e["regarding"]["kind"] == "postgresql"),
        "an Event for the manifest: {events:#?}"
    );
}

#[tokio::test]
async fn namespaced_mode_reconciles_its_namespaces_and_cannot_read_others() {
    let h = Harness::new("chart-nsd").await;
    let other = TestNamespace::new("chart-nsd-other").await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "not-yours"},
        "stringData": {"password": "secret"}
    }))
    .expect("secret");
    other
        .api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
    let release_ns = TestNamespace::new("chart-nsd-rel").await;
    let watched = format!(r#"watchedNamespaces=["{}"]"#, h.ns.name);
    let release = Release::install(
        &release_ns.name,
        &[
            "--skip-crds",
            "--set",
            "rbac.scope=namespaced",
            "--set-json",
            &watched,
        ],
    )
    .await;
    assert!(
        Api::<ClusterRole>::all(h.ns.client.clone())
            .get_opt(&release.fullname())
            .await
            .expect("get")
            .is_none(),
        "no cluster-wide rights in namespaced mode"
    );
    let config_map = release_ns
        .api::<ConfigMap>()
        .get(&format!("{}-config", release.fullname()))
        .await
        .expect("ConfigMap");
    let file = config_map
        .data
        .and_then(|d| d.get("config.yaml").cloned())
        .expect("config.yaml");
    let parsed: Value = serde_yaml::from_str(&file).expect("YAML");
    assert_eq!(parsed["watched_namespaces"], json!([h.ns.name]), "{file}");

    let user = release.service_account_user();
    let client = cluster_client_as(&user).await.client;
    let mine: Api<Secret> = Api::namespaced(client.clone(), &h.ns.name);
    granted(
        "the Role in the watched namespace to take effect",
        || async { mine.list(&ListParams::default()).await.map(|_| ()) },
    )
    .await;
    let theirs: Api<Secret> = Api::namespaced(client.clone(), &other.name);
    assert!(forbidden(theirs.get("not-yours").await));
    assert!(forbidden(theirs.list(&ListParams::default()).await));
    assert!(forbidden(
        Api::<Secret>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));

    // A run limited to the watched namespace creates everything a cluster needs, the Spilo
    // pods' Role included, with the namespace's Role alone.
    let cluster = "acid-nsd";
    cluster_manifest(&h, cluster).await;
    let mut config = h.config.clone();
    config.release_namespace = release_ns.name.clone();
    config.watched_namespaces = vec![h.ns.name.clone()];
    let options = ApplyOptions {
        allow_destructive: false,
        lease_namespace: release_ns.name.clone(),
        identity: unique_name("chart-run"),
        lease_duration: Duration::from_secs(60),
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), &release_ns.name);
    granted("the release namespace's Role to take effect", || async {
        leases.get_opt("postgres-reconciler").await.map(|_| ())
    })
    .await;
    let report = run(
        &config,
        &cluster_client_as(&user).await,
        &h.source,
        &options,
    )
    .await
    .unwrap_or_else(|e| panic!("apply as {user}: {e}"));
    assert_all_applied(&report);
    assert!(
        report
            .shared
            .iter()
            .any(|a| a.action == format!("create Role {}/postgres-pod", h.ns.name)),
        "{}",
        text(&report)
    );
    assert!(h.get("StatefulSet", cluster).await.is_some());
}

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
/// namespace and in its own, and nothing elsewhere; no `escalate`, `bind` or wildcard.
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
    let (a, b, rel) = (
        watched.name.as_str(),
        elsewhere.name.as_str(),
        release_ns.name.as_str(),
    );
    let expectations: Vec<(Request<'_>, bool)> = vec![
        // apply in the watched namespace
        (("list", "acid.zalan.do", "postgresqls", a, ""), true),
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
        (("delete", "policy", "poddisruptionbudgets", a, "x"), true),
        (
            ("create", "rbac.authorization.k8s.io", "roles", a, ""),
            true,
        ),
        (("delete", "", "persistentvolumeclaims", a, "x"), true),
        (("delete", "", "pods", a, "x"), true),
        (("create", "events.k8s.io", "events", a, ""), true),
        (("watch", "", "pods", a, ""), true),
        // never: manifests' spec rewrites, PVC writes, escalation, other kinds
        (("update", "acid.zalan.do", "postgresqls", a, "x"), false),
        (("delete", "acid.zalan.do", "postgresqls", a, "x"), false),
        (("patch", "", "persistentvolumeclaims", a, "x"), false),
        (
            ("escalate", "rbac.authorization.k8s.io", "roles", a, "x"),
            false,
        ),
        (
            ("bind", "rbac.authorization.k8s.io", "roles", a, "x"),
            false,
        ),
        (("create", "apps", "deployments", a, ""), false),
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
