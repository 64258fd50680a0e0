//! Pull-request plans: the CI examples' `plan` command, run as the chart's read-only planner
//! ServiceAccount, plans a changed manifest with the databases left alone (`--no-database`),
//! attempts no write and is refused any; and the Markdown it prints, rendered as GitHub renders it
//! (cmark-gfm), shows the summary and digest and folds the actions, under GitHub's comment limit
//! at 1,000 clusters.

use crate::support::chart::{Release, cluster_client_as, granted};
use crate::support::reconciler::Harness;
use crate::support::{TestEnv, TestNamespace, unique_name};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use postgres_reconciler::pipeline::{self, Source};
use postgres_reconciler::report::run::text;
use postgres_reconciler::report::{MARKDOWN_LIMIT, markdown};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The plan command both CI examples run (the manifests mounted at /manifests).
const EXAMPLE_PLAN: &str = "plan -f /manifests --format markdown --detailed-exitcode --no-database";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name(what));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The admin kubeconfig with its certificates inline, acting as `user` (kubeconfig `as:`), as a
/// CI job's kubeconfig with the planner's token would.
fn kubeconfig_as(user: &str, dir: &Path) -> PathBuf {
    let env = TestEnv::get();
    let flat = Command::new(env.var("PGRENV_KUBECTL"))
        .args(["config", "view", "--flatten", "--minify", "--kubeconfig"])
        .arg(env.kubeconfig_path())
        .output()
        .expect("kubectl config view");
    assert!(flat.status.success(), "kubectl config view");
    let mut config: serde_yaml::Value = serde_yaml::from_slice(&flat.stdout).expect("kubeconfig");
    config["users"][0]["user"]["as"] = serde_yaml::Value::String(user.to_string());
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config).expect("yaml")).expect("kubeconfig");
    path
}

#[test]
fn both_ci_examples_run_the_same_read_only_plan_command() {
    for example in [
        "examples/ci/github-actions.yaml",
        "examples/ci/gitlab-ci.yml",
    ] {
        let text = std::fs::read_to_string(repo().join(example)).expect(example);
        let joined = text
            .replace("\\\n", " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            joined.contains(EXAMPLE_PLAN),
            "{example} runs `{EXAMPLE_PLAN}`"
        );
        assert!(
            joined.contains("--user 65532 --read-only"),
            "{example}: as the chart runs it"
        );
        assert!(
            text.contains("<!-- postgres-reconciler plan -->"),
            "{example}: one comment, updated"
        );
    }
}

#[tokio::test]
async fn the_examples_plan_command_runs_as_the_planner_and_writes_nothing() {
    let h = Harness::new("plan-ci").await;
    let cluster = "acid-plan-ci";
    h.cluster_secrets(cluster).await;
    let manifest =
        |instances| h.cluster_manifest(cluster, instances, json!({}), json!({}), json!({}));
    h.apply(manifest(1)).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));

    let release_ns = TestNamespace::new("plan-ci-rel").await;
    let release = Release::install(
        &release_ns.name,
        &["--skip-crds", "--set", "planner.create=true"],
    )
    .await;
    let planner = format!(
        "system:serviceaccount:{}:{}-planner",
        release_ns.name,
        release.fullname()
    );
    let as_planner = cluster_client_as(&planner).await;
    let manifests_as_planner = Api::<kube::api::DynamicObject>::namespaced_with(
        as_planner.client.clone(),
        &h.ns.name,
        &postgres_reconciler::observe::cluster::api_resource(
            "acid.zalan.do/v1",
            "postgresql",
            "postgresqls",
        ),
    );
    granted(
        "the planner's ClusterRoleBinding to take effect",
        || async {
            manifests_as_planner
                .list(&Default::default())
                .await
                .map(|_| ())
        },
    )
    .await;

    // The pull request's change: a second instance.
    let dir = temp_dir("plan-ci");
    let changed = dir.join("manifests");
    std::fs::create_dir_all(&changed).expect("dir");
    std::fs::write(
        changed.join("cluster.yaml"),
        serde_yaml::to_string(&manifest(2)).expect("yaml"),
    )
    .expect("manifest");
    let kubeconfig = kubeconfig_as(&planner, &dir);
    let args: Vec<String> = EXAMPLE_PLAN
        .replace("/manifests", &changed.display().to_string())
        .split(' ')
        .map(String::from)
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_postgres-reconciler"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", &h.ns.name])
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "changes pending:\n{stdout}\n{stderr}"
    );
    assert!(stdout.starts_with("**Plan:** "), "{stdout}");
    assert!(stdout.contains("Plan digest: `sha256:"), "{stdout}");
    assert!(
        stdout.contains("changed: spec.replicas"),
        "the change: {stdout}"
    );
    assert!(
        stdout.contains("not connected (plan --no-database)"),
        "the databases' part is not planned, with the reason: {stdout}"
    );

    // The same plan in process, counting requests: reads only.
    let source = Source {
        files: Some(changed.clone()),
        offline: false,
        base: None,
        reach_databases: false,
        scope: h.source.scope.clone(),
        default_namespace: h.ns.name.clone(),
        clock: None,
    };
    let planned = pipeline::plan_live(&h.config, &as_planner, &source)
        .await
        .expect("plan as the planner");
    assert!(planned.plan.has_changes());
    assert_eq!(as_planner.requests.writes(), 0, "{:?}", planned.requests);
    assert!(
        planned
            .requests
            .keys()
            .all(|verb| verb == "list" || verb == "get"),
        "{:?}",
        planned.requests
    );

    // And any write is refused: an object in the manifests' namespace, a Lease in the release's.
    let forbidden = |e: kube::Error| matches!(e, kube::Error::Api(s) if s.code == 403);
    let configmap = ConfigMap {
        metadata: ObjectMeta {
            name: Some("written-by-the-planner".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let write = Api::<ConfigMap>::namespaced(as_planner.client.clone(), &h.ns.name)
        .create(&PostParams::default(), &configmap)
        .await;
    assert!(write.is_err_and(forbidden), "a ConfigMap write is refused");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("postgres-reconciler".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let write = Api::<Lease>::namespaced(as_planner.client.clone(), &release_ns.name)
        .create(&PostParams::default(), &lease)
        .await;
    assert!(write.is_err_and(forbidden), "a Lease is refused");
}

/// `n` one-instance clusters with a user and a database, as files.
fn write_manifests(dir: &Path, n: usize) {
    let mut file = std::fs::File::create(dir.join("clusters.yaml")).expect("file");
    for i in 0..n {
        let m = json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": format!("acid-c{i:04}"), "namespace": format!("team-{}", i % 20)},
            "spec": {"teamId": "acid", "numberOfInstances": 2, "volume": {"size": "1Gi"},
                     "users": {"app": []}, "databases": {"app": "app"},
                     "postgresql": {"version": "17"}}
        });
        writeln!(file, "---\n{}", serde_yaml::to_string(&m).expect("yaml")).expect("write");
    }
}

/// GitHub's comment limit, in characters.
const GITHUB_COMMENT_LIMIT: usize = 65_536;

#[tokio::test]
async fn the_markdown_of_1000_clusters_renders_folded_under_githubs_comment_limit() {
    let dir = temp_dir("plan-md");
    write_manifests(&dir, 1000);
    let source = Source {
        files: Some(dir.clone()),
        offline: true,
        base: None,
        reach_databases: false,
        scope: postgres_reconciler::observe::cluster::Scope::All,
        default_namespace: "default".into(),
        clock: None,
    };
    let config = postgres_reconciler::config::Config::default();
    let planned = pipeline::plan_offline(&config, &source)
        .await
        .expect("offline plan");
    let md = markdown(&planned.plan, MARKDOWN_LIMIT);
    assert!(
        md.chars().count() < GITHUB_COMMENT_LIMIT,
        "{} characters",
        md.chars().count()
    );

    // GitHub's own renderer; raw HTML (details, summary) passes as on GitHub.
    let mut child = Command::new("cmark-gfm")
        .args(["--unsafe", "-e", "table", "-e", "autolink"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cmark-gfm (run release/tools)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(md.as_bytes())
        .expect("write");
    let html = child.wait_with_output().expect("cmark-gfm");
    assert!(html.status.success());
    let html = String::from_utf8_lossy(&html.stdout);
    let details = html.find("<details>").expect("the actions are folded");
    let (visible, folded) = html.split_at(details);
    let summary = format!("<strong>Plan:</strong> {}", planned.plan.summary());
    assert!(
        visible.contains(&summary),
        "the summary is visible:\n{visible}"
    );
    assert!(visible.contains("Plan digest: <code>sha256:"), "{visible}");
    assert!(
        folded.contains("<summary>Show plan ("),
        "{}",
        &folded[..folded.len().min(500)]
    );
    assert!(folded.contains("</details>"));
    assert!(
        folded.contains("<strong>+ create</strong>"),
        "actions inside the fold"
    );
    // Too many actions for one comment: the note says how many are shown.
    let total = planned.plan.actions.len();
    assert!(
        html.contains("Plan truncated: ") && html.contains(&format!(" of {total} actions shown")),
        "a truncation note"
    );
}
