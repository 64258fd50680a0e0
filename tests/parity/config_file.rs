//! `--config` reads Zalando's own `manifests/configmap.yaml` (from the oracle's module): the
//! keys we implement become ours, and each key we do not is named with what it does.

use crate::support::zalando::module_dir;
use std::path::Path;
use std::process::{Command, Output};

/// `render` of the minimal fixture with `--config config`.
fn render_with(config: &Path) -> Output {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/manifests/valid/01-minimal.yaml"
    );
    Command::new(env!("CARGO_BIN_EXE_postgres-reconciler"))
        .arg("--config")
        .arg(config)
        .args(["render", "-f", fixture])
        .output()
        .expect("run render")
}

#[test]
fn zalandos_configmap_is_a_configuration_and_its_unsupported_keys_are_named() {
    let out = render_with(&module_dir().join("manifests/configmap.yaml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Its values are used: Endpoints mode (v1.15.1's kubernetes_use_configmaps: "false"), its
    // minimum limits, no readiness probe.
    assert!(stdout.contains("kind: Endpoints"), "{stdout}");
    assert!(!stdout.contains("KUBERNETES_USE_CONFIGMAPS"), "{stdout}");
    assert!(!stdout.contains("readinessProbe"), "{stdout}");
    for key in ["workers", "resync_period", "api_port"] {
        assert!(
            stderr.contains(&format!("key not implemented: {key}: ")),
            "{key} not named in: {stderr}"
        );
    }
    // Logical backups, password rotation, human users and the connection pooler are ours.
    for ours in [
        "logical_backup_",
        "password_rotation_",
        "enable_password_rotation",
        "enable_teams_api",
        "teams_api_url",
        "enable_postgres_team_crd",
        "role_deletion_suffix",
        "connection_pooler_image",
        "connection_pooler_max_db_connections",
    ] {
        assert!(
            !stderr.contains(&format!("key not implemented: {ours}")),
            "{ours}: {stderr}"
        );
    }
    assert!(stderr.contains("(does not change the pod)"), "{stderr}");
}

/// Zalando's ConfigMap with one commented-out line switched on, written to a file of its own.
fn module_configmap_with(name: &str, commented: &str, set: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(module_dir().join("manifests/configmap.yaml"))
        .expect("configmap.yaml")
        .replace(commented, set);
    assert!(text.contains(set), "the module's file changed");
    let file = dir.join("configmap.yaml");
    std::fs::write(&file, text).expect("write");
    file
}

#[test]
fn a_zalando_key_that_turns_on_what_we_do_not_render_is_refused() {
    let file = module_configmap_with(
        "zalando-infrastructure-roles",
        "# infrastructure_roles_secret_name: \"postgresql-infrastructure-roles\"",
        "infrastructure_roles_secret_name: \"postgresql-infrastructure-roles\"",
    );
    let out = render_with(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("infrastructure_roles_secret_name: roles from infrastructure Secrets (does not change the pod) is set"),
        "{stderr}"
    );
}

#[test]
fn zalandos_wal_bucket_key_gives_the_pods_their_wal_location() {
    let file = module_configmap_with(
        "zalando-wal-config",
        "# wal_s3_bucket: \"\"",
        "wal_s3_bucket: \"my-backups\"",
    );
    let out = render_with(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("name: WAL_S3_BUCKET\n") && stdout.contains("value: my-backups"),
        "{stdout}"
    );
    assert!(stdout.contains("name: WAL_BUCKET_SCOPE_SUFFIX"), "{stdout}");
}
