//! The Helm chart rendered with the real helm and kubectl (`PGRENV_HELM`, `PGRENV_KUBECTL`),
//! nothing installed: lint, values the binary would refuse, the configuration keys of
//! values.schema.json, the committed install manifest and a server-side dry run of the rendered
//! objects against the local control plane.

use crate::support::chart::{CHART, chart, describe, helm, kubectl, ok, output, repo};
use crate::support::{TestEnv, TestNamespace, install_crds};
use serde::Deserialize;
use serde_json::Value;
use std::process::Command;

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
        "charts/postgres-reconciler/values.schema.json (config) and src/config/mod.rs disagree: \
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
        vec!["--set", "shards=3"],
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
            // Cluster-wide only the Spilo pods' ClusterRole (what the pods are bound to), no
            // rights of the reconciler's own.
            let cluster_wide: Vec<&str> = applied
                .lines()
                .filter(|l| l.starts_with("clusterrole"))
                .collect();
            assert_eq!(
                cluster_wide,
                [
                    "clusterrole.rbac.authorization.k8s.io/postgres-pod serverside-applied (server dry run)"
                ],
                "{applied}"
            );
        }
    }
}

#[tokio::test]
async fn shards_get_a_cronjob_each_with_its_lease_and_a_staggered_schedule() {
    let chart = chart();
    let rendered = ok(
        helm(&["template", "r", chart.as_str(), "--set", "shards=3"]),
        None,
    )
    .await;
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&rendered)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|d| !d.is_null())
        .collect();
    let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
    let cronjobs: Vec<&Value> = of_kind("CronJob").collect();
    assert_eq!(cronjobs.len(), 3, "{rendered}");
    for (i, cronjob) in cronjobs.iter().enumerate() {
        assert_eq!(
            cronjob["metadata"]["name"],
            format!("r-postgres-reconciler-shard-{i}-of-3")
        );
        // The default every-5-minutes schedule, a minute apart per shard.
        assert_eq!(cronjob["spec"]["schedule"], format!("{i}-59/5 * * * *"));
        let args =
            &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"];
        let args: Vec<&str> = args
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let at = args.iter().position(|a| *a == "--shard").expect("--shard");
        assert_eq!(args[at + 1], format!("{i}/3"));
    }
    let watch = of_kind("Deployment").next().expect("the watcher");
    let args: Vec<&str> = watch["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.windows(2).any(|w| w == ["--shards", "3"]), "{args:?}");
    assert!(
        args.windows(2)
            .any(|w| w == ["--cronjob", "r-postgres-reconciler"]),
        "{args:?}"
    );
    // The release Role lets each shard take its own Lease and the watcher read each CronJob.
    let names = |resource: &str| -> Vec<String> {
        of_kind("Role")
            .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
            .filter(|rule| rule["resources"][0] == resource && rule["resourceNames"].is_array())
            .flat_map(|rule| {
                rule["resourceNames"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    };
    for i in 0..3 {
        assert!(names("leases").contains(&format!("postgres-reconciler-shard-{i}-of-3")));
        assert!(names("cronjobs").contains(&format!("r-postgres-reconciler-shard-{i}-of-3")));
    }
}
