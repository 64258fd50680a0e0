//! The container image `make image-oci` builds (an OCI archive, no Docker engine): reproducible,
//! exactly release/rootfs's files, and its entrypoint runs from the unpacked image as the image's
//! non-root user on a read-only root filesystem with only /tmp writable, as the chart runs it.

use crate::support::{TestEnv, TestNamespace, install_crds, unique_name};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use postgres_reconciler::observe::cluster::api_resource;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// What `make image-oci` built; missing means the suite was not started with `make test`.
fn built(path: &str) -> PathBuf {
    let path = target_dir().join(path);
    assert!(
        path.exists(),
        "{} is missing: run `make image-oci` (make test does) before these tests",
        path.display()
    );
    path
}

fn release_binary() -> PathBuf {
    built("release/postgres-reconciler")
}

fn image_archive() -> PathBuf {
    built("image/postgres-reconciler.oci.tar")
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name(what));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds the image from `binary` into `archive`; returns the digest the script prints.
fn build_image(binary: &Path, archive: &Path) -> String {
    let output = run(Command::new(repo().join("release/image-oci"))
        .arg(binary)
        .arg(archive));
    stdout(&output).trim().to_string()
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read archive");
    format!("{:x}", Sha256::digest(bytes))
}

fn skopeo_inspect(archive: &Path, config: bool) -> Value {
    let mut command = Command::new("skopeo");
    command.arg("inspect");
    if config {
        command.arg("--config");
    }
    let output = run(command.arg(format!("oci-archive:{}", archive.display())));
    serde_json::from_slice(&output.stdout).expect("skopeo's JSON")
}

/// Unpacks the archive's OCI layout into `dir/layout` and returns its one image's tag.
fn extract_layout(archive: &Path, dir: &Path) -> (PathBuf, String) {
    let layout = dir.join("layout");
    std::fs::create_dir_all(&layout).expect("layout dir");
    run(Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(&layout));
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index JSON");
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1, "one image in the archive: {index}");
    let tag = manifests[0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("the image's tag")
        .to_string();
    (layout, tag)
}

/// The paths of the image's one layer, without the leading `/` and a trailing `/` on directories.
fn layer_paths(layout: &Path, manifest_digest: &str) -> BTreeSet<String> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blob(manifest_digest)).expect("manifest blob"))
            .expect("manifest JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer: {manifest}");
    let listing = run(Command::new("tar")
        .arg("-tzf")
        .arg(blob(layers[0]["digest"].as_str().expect("layer digest"))));
    stdout(&listing)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect()
}

/// Every path release/rootfs creates for `binary`, relative to the root.
fn rootfs_paths(binary: &Path, dir: &Path) -> BTreeSet<String> {
    let rootfs = dir.join("rootfs");
    run(Command::new(repo().join("release/rootfs"))
        .arg(binary)
        .arg(&rootfs));
    let listing = run(Command::new("find")
        .arg(".")
        .arg("-mindepth")
        .arg("1")
        .current_dir(&rootfs));
    stdout(&listing)
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .collect()
}

#[test]
fn the_image_is_reproducible_and_holds_exactly_the_binary_its_libraries_and_certificates() {
    let binary = release_binary();
    let dir = temp_dir("image-build");
    let (first, second) = (dir.join("first.tar"), dir.join("second.tar"));
    let digest = build_image(&binary, &first);
    assert!(digest.starts_with("sha256:"), "a digest: {digest:?}");
    assert_eq!(
        build_image(&binary, &second),
        digest,
        "same commit, same digest"
    );
    assert_eq!(
        sha256_of(&first),
        sha256_of(&second),
        "byte-identical archives"
    );

    let inspected = skopeo_inspect(&first, false);
    assert_eq!(inspected["Digest"], json!(digest), "{inspected}");
    assert_eq!(
        inspected["Labels"]["org.opencontainers.image.version"],
        json!(env!("CARGO_PKG_VERSION"))
    );
    let config = skopeo_inspect(&first, true);
    assert_eq!(config["config"]["User"], json!("65532:65532"), "{config}");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!(["/usr/local/bin/postgres-reconciler"]),
        "{config}"
    );

    let (layout, _) = extract_layout(&first, &dir);
    let files = layer_paths(&layout, &digest);
    assert_eq!(
        files,
        rootfs_paths(&binary, &dir),
        "the image is release/rootfs's file set"
    );
    for expected in [
        "usr/local/bin/postgres-reconciler",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
    ] {
        assert!(files.contains(expected), "{expected} in {files:?}");
    }
    // Exactly the libraries the binary links, and no shell or other program.
    let ldd = stdout(&run(Command::new("ldd").arg(&binary)));
    for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        assert!(
            files.contains(lib.trim_start_matches('/')),
            "{lib} in {files:?}"
        );
    }
    let programs: Vec<_> = files
        .iter()
        .filter(|f| f.contains("bin/") && !f.ends_with("bin"))
        .collect();
    assert_eq!(programs, vec!["usr/local/bin/postgres-reconciler"]);
    let passwd = std::fs::read_to_string(dir.join("rootfs/etc/passwd")).expect("passwd");
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
}

/// The unpacked image, ready for tests/image/run-bundle, and a directory it mounts read-only.
struct Unpacked {
    bundle: PathBuf,
    mounted: PathBuf,
}

const MOUNT: &str = "/var/run/pgr";

impl Unpacked {
    fn new() -> Unpacked {
        let dir = temp_dir("image-run");
        let (layout, tag) = extract_layout(&image_archive(), &dir);
        let bundle = dir.join("bundle");
        run(Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle));
        let mounted = dir.join("mounted");
        std::fs::create_dir_all(&mounted).expect("mounted dir");
        Unpacked { bundle, mounted }
    }

    /// The image's entrypoint with `args` (its Cmd replaced) and `env` added to its environment.
    fn run(&self, env: &[&str], args: &[&str]) -> Output {
        Command::new(repo().join("tests/image/run-bundle"))
            .arg(&self.bundle)
            .arg(&self.mounted)
            .arg(MOUNT)
            .args(env)
            .arg("--")
            .args(args)
            .output()
            .expect("start run-bundle")
    }
}

fn described(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn the_unpacked_image_runs_version_crds_and_a_live_plan_as_non_root_on_a_read_only_root() {
    let env = TestEnv::get();
    let image = Unpacked::new();

    let version = image.run(&[], &["version"]);
    assert!(version.status.success(), "{}", described(&version));
    assert!(
        stdout(&version).starts_with(&format!(
            "postgres-reconciler {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        described(&version)
    );
    let crds = image.run(&[], &["crds"]);
    assert!(crds.status.success(), "{}", described(&crds));
    assert_eq!(
        stdout(&crds)
            .matches("kind: CustomResourceDefinition")
            .count(),
        3,
        "{}",
        described(&crds)
    );
    // postgresql, PostgreSQLConfig and Zalando's PostgresTeam.
    for name in [
        "postgresqls.acid.zalan.do",
        "postgresqlconfigs.containerconf.de",
        "postgresteams.acid.zalan.do",
    ] {
        assert!(
            stdout(&crds).contains(&format!("  name: {name}\n")),
            "{name}: {}",
            described(&crds)
        );
    }

    // /tmp (the chart's emptyDir) is writable; the root filesystem is not.
    let to_tmp = image.run(&[], &["crds", "--out-dir", "/tmp/crds"]);
    assert!(to_tmp.status.success(), "{}", described(&to_tmp));
    let to_root = image.run(&[], &["crds", "--out-dir", "/usr/local/crds"]);
    assert!(!to_root.status.success(), "{}", described(&to_root));
    assert!(
        String::from_utf8_lossy(&to_root.stderr).contains("Read-only file system"),
        "{}",
        described(&to_root)
    );

    // A kubeconfig mounted into the container, with its certificates inline.
    let flat = run(Command::new(env.var("PGRENV_KUBECTL"))
        .args(["config", "view", "--flatten", "--minify", "--kubeconfig"])
        .arg(env.kubeconfig_path()));
    std::fs::write(image.mounted.join("kubeconfig"), &flat.stdout).expect("kubeconfig");
    let kubeconfig = format!("{MOUNT}/kubeconfig");

    // Not root: a file only root may read is refused to the image's user.
    let root_only = image.mounted.join("root-only.yaml");
    std::fs::write(&root_only, "max_parallel_clusters: 2\n").expect("config");
    std::fs::set_permissions(
        &root_only,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let refused = image.run(
        &[],
        &[
            "--config",
            &format!("{MOUNT}/root-only.yaml"),
            "--kubeconfig",
            &kubeconfig,
            "plan",
            "-n",
            "default",
        ],
    );
    assert!(!refused.status.success(), "{}", described(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ermission denied"),
        "{}",
        described(&refused)
    );

    // A live plan of a manifest created as a user would: changes pending, nothing written.
    let ns = TestNamespace::new("image-plan").await;
    install_crds(&ns.client).await;
    let manifests: Api<DynamicObject> = Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &api_resource("acid.zalan.do/v1", "postgresql", "postgresqls"),
    );
    let manifest = json!({
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": "acid-image", "namespace": ns.name},
        "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                 "postgresql": {"version": "17"}}
    });
    crate::support::eventually(
        std::time::Duration::from_secs(30),
        "the postgresql CRD to be served",
        || async {
            manifests
                .patch(
                    "acid-image",
                    &PatchParams::apply("kubectl"),
                    &Patch::Apply(&manifest),
                )
                .await
                .ok()
        },
    )
    .await;
    let plan = image.run(
        &[],
        &[
            "--kubeconfig",
            &kubeconfig,
            "plan",
            "-n",
            &ns.name,
            "--detailed-exitcode",
        ],
    );
    assert_eq!(plan.status.code(), Some(2), "{}", described(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains("StatefulSet") && text.contains("acid-image"),
        "{}",
        described(&plan)
    );
    let statefulsets: Api<k8s_openapi::api::apps::v1::StatefulSet> = ns.api();
    assert!(
        statefulsets
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "plan wrote nothing"
    );
}

/// With a Docker engine, the Dockerfile's image has the same files as `make image-oci`'s.
#[test]
fn the_dockerfile_builds_the_same_file_set() {
    let engine = Command::new("docker").arg("version").output();
    if !engine.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipped: no Docker engine here; the Dockerfile's file set is compared where one runs"
        );
        return;
    }
    let dir = temp_dir("image-docker");
    let tar = dir.join("docker.tar");
    run(Command::new("docker")
        .args(["build", "--output"])
        .arg(format!("type=tar,dest={}", tar.display()))
        .arg(repo()));
    let listing = run(Command::new("tar").arg("-tf").arg(&tar));
    let docker: BTreeSet<String> = stdout(&listing)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(docker, rootfs_paths(&release_binary(), &dir));
}
