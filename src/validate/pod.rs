//! `spec.initContainers` and `spec.additionalVolumes`: what the pod gets beside Spilo. Zalando's
//! operator refuses an init container without a name or image, and skips with a log line a
//! volume on the data directory or on a path taken; we refuse all of these by field, so nothing
//! a manifest asks for is silently left out of the pod.

use super::Errors;
use crate::api::postgresql::AdditionalVolume;
use crate::render::statefulset::{PGDATA, PGDATA_MOUNT};
use k8s_openapi::api::core::v1::{Container, Volume};
use std::collections::BTreeSet;

pub(super) fn check_init_containers(containers: &[Container], errs: &mut Errors) {
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let field = format!("spec.initContainers[{i}]");
        if c.name.is_empty() {
            errs.add(format!("{field}.name"), "required");
        } else if !names.insert(c.name.as_str()) {
            errs.add(
                format!("{field}.name"),
                format!("{:?} is used twice", c.name),
            );
        }
        if c.image.as_deref().unwrap_or_default().is_empty() {
            errs.add(format!("{field}.image"), "required");
        }
    }
}

/// Volumes of the pod we render ourselves.
const OWN_VOLUMES: &[&str] = &[PGDATA, "dshm", crate::render::pod_volumes::PGSOCKET_VOLUME];

/// `containers`: the names of the pod's containers (postgres and every sidecar).
pub(super) fn check_additional_volumes(
    volumes: &[AdditionalVolume],
    containers: &[String],
    errs: &mut Errors,
) {
    let mut names = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let field = format!("spec.additionalVolumes[{i}]");
        if v.name.is_empty() {
            errs.add(format!("{field}.name"), "required");
        } else if OWN_VOLUMES.contains(&v.name.as_str()) {
            errs.add(
                format!("{field}.name"),
                format!(
                    "{:?} is a volume of the Spilo pod itself; choose another name",
                    v.name
                ),
            );
        } else if !names.insert(v.name.as_str()) {
            errs.add(
                format!("{field}.name"),
                format!("{:?} is used twice", v.name),
            );
        }
        let path = v.mount_path.trim_end_matches('/');
        if !v.mount_path.starts_with('/') {
            errs.add(format!("{field}.mountPath"), "an absolute path is required");
        } else if path == PGDATA_MOUNT || PGDATA_MOUNT.starts_with(&format!("{path}/")) {
            errs.add(
                format!("{field}.mountPath"),
                format!(
                    "{} would cover the data directory {PGDATA_MOUNT}",
                    v.mount_path
                ),
            );
        } else if !paths.insert(path.to_string()) {
            errs.add(
                format!("{field}.mountPath"),
                format!(
                    "{} is the mount path of another additional volume",
                    v.mount_path
                ),
            );
        }
        let targets = &v.target_containers;
        if targets.iter().any(|t| t == "all") && targets.len() > 1 {
            errs.add(
                format!("{field}.targetContainers"),
                "either [all] or a list of container names, not both",
            );
        }
        for (j, t) in targets.iter().enumerate() {
            if t != "all" && !containers.contains(t) {
                errs.add(
                    format!("{field}.targetContainers[{j}]"),
                    format!(
                        "no container {t:?} in the pod: it has {}",
                        containers.join(", ")
                    ),
                );
            }
        }
        check_volume_source(&field, v, errs);
    }
}

/// Exactly one Kubernetes volume source, of the shape Kubernetes defines.
fn check_volume_source(field: &str, v: &AdditionalVolume, errs: &mut Errors) {
    let field = format!("{field}.volumeSource");
    match v.volume_source.len() {
        0 => {
            return errs.add(
                field,
                "required: one volume source (emptyDir, secret, configMap, …)",
            );
        }
        1 => {}
        n => {
            let kinds: Vec<&str> = v.volume_source.keys().map(String::as_str).collect();
            return errs.add(
                field,
                format!("one volume source, got {n}: {}", kinds.join(", ")),
            );
        }
    }
    let mut source = v.volume_source.clone();
    source.insert("name".into(), "x".into());
    let parsed: Result<Volume, _> = serde_json::from_value(serde_json::Value::Object(source));
    let kind = v.volume_source.keys().next().cloned().unwrap_or_default();
    match parsed {
        Err(e) => errs.add(
            format!("{field}.{kind}"),
            format!("not a Kubernetes volume source: {e}"),
        ),
        Ok(volume) => {
            // An unknown key parses into nothing: no source at all.
            let known = serde_json::to_value(&volume)
                .ok()
                .and_then(|v| v.as_object().map(|o| o.len()))
                .unwrap_or(0);
            if known < 2 {
                errs.add(format!("{field}.{kind}"), "unknown volume source");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn volume_errors(volumes: serde_json::Value) -> Vec<String> {
        let volumes: Vec<AdditionalVolume> = serde_json::from_value(volumes).unwrap();
        let mut errs = Errors::default();
        let containers = ["postgres".to_string(), "logs".to_string()];
        check_additional_volumes(&volumes, &containers, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn volumes_zalando_mounts_pass() {
        let ok = json!([
            {"name": "empty", "mountPath": "/opt/empty", "targetContainers": ["all"], "volumeSource": {"emptyDir": {}}},
            {"name": "shared", "mountPath": "/opt/shared", "targetContainers": ["postgres", "logs"], "volumeSource": {"emptyDir": {}}},
            {"name": "conf", "mountPath": "/etc/conf", "subPath": "$(POD_NAME)", "isSubPathExpr": true, "volumeSource": {"configMap": {"name": "c"}}},
        ]);
        assert!(volume_errors(ok).is_empty());
    }

    #[test]
    fn volumes_zalando_would_skip_are_refused_by_field() {
        let bad = json!([
            {"name": "data", "mountPath": "/home/postgres/pgdata", "volumeSource": {"emptyDir": {}}},
            {"name": "a", "mountPath": "/opt/a", "targetContainers": ["all", "postgres"], "volumeSource": {"emptyDir": {}}},
            {"name": "b", "mountPath": "/opt/a/", "targetContainers": ["exporter"], "volumeSource": {"emptyDir": {}, "secret": {"secretName": "s"}}},
            {"name": "dshm", "mountPath": "opt", "volumeSource": {"emptyDirr": {}}},
        ]);
        let e = volume_errors(bad);
        let expected = [
            "spec.additionalVolumes[0].mountPath: /home/postgres/pgdata would cover the data directory /home/postgres/pgdata",
            "spec.additionalVolumes[1].targetContainers: either [all] or a list of container names, not both",
            "spec.additionalVolumes[2].mountPath: /opt/a/ is the mount path of another additional volume",
            "spec.additionalVolumes[2].targetContainers[0]: no container \"exporter\" in the pod: it has postgres, logs",
            "spec.additionalVolumes[2].volumeSource: one volume source, got 2: emptyDir, secret",
            "spec.additionalVolumes[3].mountPath: an absolute path is required",
            "spec.additionalVolumes[3].name: \"dshm\" is a volume of the Spilo pod itself; choose another name",
            "spec.additionalVolumes[3].volumeSource.emptyDirr: unknown volume source",
        ];
        assert_eq!(e, expected);
    }

    #[test]
    fn init_containers_need_a_name_and_an_image() {
        let containers: Vec<Container> = serde_json::from_value(json!([
            {"name": "date", "image": "busybox"}, {"name": "date", "image": ""}, {"name": ""}
        ]))
        .unwrap();
        let mut errs = Errors::default();
        check_init_containers(&containers, &mut errs);
        let e: Vec<String> = errs.into_sorted().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            e,
            [
                "spec.initContainers[1].image: required",
                "spec.initContainers[1].name: \"date\" is used twice",
                "spec.initContainers[2].image: required",
                "spec.initContainers[2].name: required",
            ]
        );
    }
}
