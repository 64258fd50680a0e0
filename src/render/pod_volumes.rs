//! The Spilo pod's volumes beside the data volume (which is the StatefulSet's claim), and where
//! each is mounted.

use super::statefulset::CONTAINER;
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, SecretVolumeSource, Volume, VolumeMount,
};

/// The shared socket directory's volume (`share_pgsocket_with_sidecars`).
pub const PGSOCKET_VOLUME: &str = "postgresql-run";

/// `additional_secret_mount`: the Secret's volume and where every container mounts it.
pub fn secret_mount(config: &Config) -> Option<(Volume, VolumeMount)> {
    if config.additional_secret_mount.is_empty() {
        return None;
    }
    let name = config.additional_secret_mount.clone();
    let at = VolumeMount {
        name: name.clone(),
        mount_path: config.additional_secret_mount_path.clone(),
        ..Default::default()
    };
    let volume = Volume {
        name: name.clone(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name),
            ..Default::default()
        }),
        ..Default::default()
    };
    Some((volume, at))
}

/// The pod's volumes after the data volume, in Zalando's order (`generatePodTemplate`), each
/// mounted where Zalando mounts it: `dshm` into postgres; the socket directory and the
/// `additional_secret_mount` into every container; the manifest's `additionalVolumes` into the
/// containers they name (none: postgres; `all`: every container, not the init containers).
pub fn with_volumes(
    config: &Config,
    pg: &Postgresql,
    mut containers: Vec<Container>,
) -> (Vec<Container>, Vec<Volume>) {
    let mut volumes = Vec::new();
    let mount = |c: &mut Container, name: &str, path: &str| {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: name.into(),
                mount_path: path.into(),
                ..Default::default()
            });
    };
    let memory = |name: &str| Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: None,
        }),
        ..Default::default()
    };
    // Only `true` in the manifest overrides the configuration (Zalando's mountShmVolumeNeeded).
    if pg.spec.enable_shm_volume == Some(true) || config.enable_shm_volume {
        volumes.push(memory("dshm"));
        mount(&mut containers[0], "dshm", "/dev/shm");
    }
    if config.share_pgsocket_with_sidecars {
        volumes.push(memory(PGSOCKET_VOLUME));
        for c in &mut containers {
            mount(c, PGSOCKET_VOLUME, "/var/run/postgresql");
        }
    }
    if let Some((volume, at)) = secret_mount(config) {
        for c in &mut containers {
            c.volume_mounts
                .get_or_insert_with(Vec::new)
                .push(at.clone());
        }
        volumes.push(volume);
    }
    // The manifest's, then TLS's; validation refused the ones Zalando skips.
    let mut additional = pg.spec.additional_volumes.clone();
    if let Some(tls) = super::tls::tls(pg) {
        additional.extend(super::tls::volumes(tls));
    }
    for extra in &additional {
        let mut source = extra.volume_source.clone();
        source.insert("name".into(), extra.name.clone().into());
        if let Ok(volume) = serde_json::from_value::<Volume>(serde_json::Value::Object(source)) {
            volumes.push(volume);
        }
    }
    for c in &mut containers {
        for extra in &additional {
            let targets = &extra.target_containers;
            let wanted = if targets.is_empty() {
                c.name == CONTAINER
            } else {
                targets.iter().any(|t| t == "all" || *t == c.name)
            };
            if wanted {
                let expr = extra.is_sub_path_expr == Some(true);
                c.volume_mounts
                    .get_or_insert_with(Vec::new)
                    .push(VolumeMount {
                        name: extra.name.clone(),
                        mount_path: extra.mount_path.clone(),
                        sub_path: extra.sub_path.clone().filter(|_| !expr),
                        sub_path_expr: extra.sub_path.clone().filter(|_| expr),
                        ..Default::default()
                    });
            }
        }
    }
    (containers, volumes)
}
