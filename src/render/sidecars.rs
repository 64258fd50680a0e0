//! The containers beside Spilo's, as Zalando's operator makes them (`generateSidecarContainers`,
//! `mergeContainers`, `patchSidecarContainers`): the manifest's `sidecars`, then the
//! configuration's `sidecars`, then `sidecar_docker_images` by name, the first of a name kept;
//! each gets the data volume and the superuser's credentials.

use super::resources::container_resources;
use super::spilo::{SUPERUSER, field, secret_key, value};
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{Container, VolumeMount};

/// The sidecars of `pg`'s pods; `data_mount` is the postgres container's data volume mount and
/// `superuser_secret` the superuser's credential Secret.
pub fn sidecars(
    config: &Config,
    pg: &Postgresql,
    data_mount: &VolumeMount,
    superuser_secret: &str,
) -> Vec<Container> {
    let from_manifest = pg.spec.sidecars.iter().enumerate().map(|(i, s)| Container {
        name: if s.name.is_empty() {
            format!("sidecar-{i}")
        } else {
            s.name.clone()
        },
        image: Some(s.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        resources: Some(container_resources(config, s.resources.as_ref(), false)),
        env: (!s.env.is_empty()).then(|| s.env.clone()),
        ports: (!s.ports.is_empty()).then(|| s.ports.clone()),
        command: (!s.command.is_empty()).then(|| s.command.clone()),
        ..Default::default()
    });
    let by_image = config
        .sidecar_docker_images
        .iter()
        .map(|(name, image)| Container {
            name: name.clone(),
            image: Some(image.clone()),
            image_pull_policy: Some("IfNotPresent".into()),
            resources: Some(container_resources(config, None, false)),
            ..Default::default()
        });
    let mut merged: Vec<Container> = Vec::new();
    for c in from_manifest
        .chain(config.sidecars.iter().cloned())
        .chain(by_image)
    {
        if !merged.iter().any(|m| m.name == c.name) {
            merged.push(c);
        }
    }
    for c in &mut merged {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(data_mount.clone());
        let mut env = vec![
            field("POD_NAME", "metadata.name"),
            field("POD_NAMESPACE", "metadata.namespace"),
            value("POSTGRES_USER", SUPERUSER),
            secret_key("POSTGRES_PASSWORD", superuser_secret, "password"),
        ];
        super::pod_environment::append_new(&mut env, c.env.take().unwrap_or_default());
        c.env = Some(env);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(sidecars: serde_json::Value) -> Postgresql {
        serde_json::from_value(json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns"},
            "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                "postgresql": {"version": "17"}, "sidecars": sidecars}
        }))
        .expect("manifest")
    }

    #[test]
    fn the_manifests_come_first_and_the_first_of_a_name_wins() {
        let config = Config {
            sidecars: vec![
                serde_json::from_value(json!({"name": "exporter", "image": "global:1"}))
                    .expect("container"),
            ],
            sidecar_docker_images: [("logs".to_string(), "logs:1".to_string())].into(),
            ..Config::default()
        };
        let pg = cluster(json!([
            {"name": "exporter", "image": "mine:2", "env": [{"name": "POSTGRES_USER", "value": "x"}, {"name": "A", "value": "1"}]},
            {"image": "anonymous:1"},
        ]));
        let mount = VolumeMount {
            name: "pgdata".into(),
            mount_path: "/home/postgres/pgdata".into(),
            ..Default::default()
        };
        let out = sidecars(&config, &pg, &mount, "postgres.acid-a.credentials");
        let names: Vec<(&str, &str)> = out
            .iter()
            .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            names,
            [
                ("exporter", "mine:2"),
                ("sidecar-1", "anonymous:1"),
                ("logs", "logs:1")
            ]
        );
        let env: Vec<&str> = out[0]
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            env,
            [
                "POD_NAME",
                "POD_NAMESPACE",
                "POSTGRES_USER",
                "POSTGRES_PASSWORD",
                "A"
            ]
        );
        assert_eq!(
            out[0].env.as_ref().unwrap()[2].value.as_deref(),
            Some("postgres")
        );
        assert_eq!(out[2].volume_mounts.as_ref().unwrap()[0].name, "pgdata");
        let limits = out[1]
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .unwrap();
        assert_eq!(
            limits["cpu"].0, "1",
            "the default limit, not raised to a minimum"
        );
    }
}
