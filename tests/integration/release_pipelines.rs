//! The release pipelines: the workflow files pass actionlint, the release workflow checks with
//! `make release-check` (release/check) before it publishes anything, and that check finds what a
//! release must not ship with.

use crate::support::{TestEnv, unique_name};
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workflow(name: &str) -> Value {
    let path = repo().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `run:` of a job's steps.
fn runs<'a>(workflow: &'a Value, job: &str) -> Vec<&'a str> {
    workflow["jobs"][job]["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("job {job} has steps"))
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect()
}

/// The jobs `job` waits for, directly or through others.
fn needs_transitively(workflow: &Value, job: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![job.to_string()];
    while let Some(next) = todo.pop() {
        let needs = match &workflow["jobs"][next.as_str()]["needs"] {
            Value::String(one) => vec![one.clone()],
            Value::Sequence(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        for need in needs {
            if !found.contains(&need) {
                found.push(need.clone());
                todo.push(need);
            }
        }
    }
    found
}

fn check(repo_dir: &Path, tag: Option<&str>) -> Output {
    let env = TestEnv::get();
    let mut command = Command::new(repo().join("release/check"));
    command
        .env("RELEASE_REPO", repo_dir)
        .env("PGR_BINARY", env!("CARGO_BIN_EXE_postgres-reconciler"))
        .env("HELM", env.var("PGRENV_HELM"));
    match tag {
        Some(tag) => command.env("RELEASE_TAG", tag),
        None => command.env_remove("RELEASE_TAG"),
    };
    command.output().expect("run release/check")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_workflows_pass_actionlint_with_shellcheck() {
    let env = TestEnv::get();
    let shellcheck = Command::new("shellcheck").arg("--version").output();
    assert!(
        shellcheck.is_ok_and(|o| o.status.success()),
        "shellcheck is missing: run release/tools"
    );
    // The project's workflows (found by actionlint itself), then the pull-request example.
    for files in [&[][..], &["examples/ci/github-actions.yaml"][..]] {
        let output = Command::new(env.var("PGRENV_ACTIONLINT"))
            .arg("-shellcheck")
            .arg("shellcheck")
            .args(files)
            .current_dir(repo())
            .output()
            .expect("run actionlint");
        assert!(
            output.status.success() && output.stdout.is_empty(),
            "actionlint {files:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
    }
}

#[test]
fn the_release_checks_before_it_publishes_the_multi_arch_image_and_the_chart() {
    let release = workflow("release.yaml");
    assert!(
        runs(&release, "check")
            .iter()
            .any(|run| run.starts_with("make release-check RELEASE_TAG=")),
        "the check job runs make release-check with the tag: {:?}",
        runs(&release, "check")
    );
    for job in ["image", "chart"] {
        assert!(
            needs_transitively(&release, job).contains(&"check".to_string()),
            "{job} waits for check"
        );
    }
    let build = release["jobs"]["image"]["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action"))
        })
        .expect("a buildx build");
    assert_eq!(
        build["with"]["platforms"].as_str(),
        Some("linux/amd64,linux/arm64")
    );
    assert_eq!(build["with"]["sbom"], Value::Bool(true));
    assert_eq!(build["with"]["provenance"].as_str(), Some("mode=max"));
    let chart = runs(&release, "chart").join("\n");
    assert!(chart.contains("--app-version \"$VERSION\""), "{chart}");
    assert!(
        chart.contains("helm push") && chart.contains("oci://ghcr.io/"),
        "{chart}"
    );

    let ci = workflow("ci.yaml");
    assert!(
        runs(&ci, "test").contains(&"make test"),
        "{:?}",
        runs(&ci, "test")
    );
    assert!(
        runs(&ci, "lint").contains(&"make lint"),
        "{:?}",
        runs(&ci, "lint")
    );
}

#[test]
fn release_check_passes_on_this_tree_and_refuses_another_tag() {
    let ok = check(repo(), Some(&format!("v{}", env!("CARGO_PKG_VERSION"))));
    assert!(ok.status.success(), "{}", stderr(&ok));
    let wrong = check(repo(), Some("v99.0.0"));
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains(&format!(
            "the tag v99.0.0 is not v{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        stderr(&wrong)
    );
}

/// Copies what release/check reads into a scratch tree.
fn scratch_tree() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name("release-tree"));
    std::fs::create_dir_all(dir.join("tests")).expect("dir");
    for path in [
        "Cargo.toml",
        "CHANGELOG.md",
        "charts",
        "manifests",
        "tests/chart",
        "tests/cluster",
    ] {
        let status = Command::new("cp")
            .arg("-R")
            .arg(repo().join(path))
            .arg(dir.join(path))
            .status()
            .expect("cp");
        assert!(status.success(), "copy {path}");
    }
    dir
}

#[test]
fn release_check_names_a_version_mismatch_a_missing_changelog_entry_and_stale_files() {
    let tree = scratch_tree();
    let chart = tree.join("charts/postgres-reconciler/Chart.yaml");
    let text = std::fs::read_to_string(&chart).expect("Chart.yaml");
    let bumped: String = text
        .lines()
        .map(|l| {
            if l.starts_with("version:") {
                "version: 9.9.9"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&chart, bumped).expect("write");
    let changelog = tree.join("CHANGELOG.md");
    let text = std::fs::read_to_string(&changelog).expect("changelog");
    std::fs::write(&changelog, text.replace("## [", "## ")).expect("write");
    std::fs::write(tree.join("manifests/install.yaml"), "# edited by hand\n").expect("write");

    let output = check(&tree, None);
    assert!(!output.status.success());
    let text = stderr(&output);
    for expected in [
        "charts/postgres-reconciler/Chart.yaml: version is 9.9.9, the crate's (Cargo.toml) is",
        "CHANGELOG.md: no entry '## [",
        "manifests/install.yaml: not what the chart renders",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("appVersion"),
        "appVersion still matches:\n{text}"
    );
}
