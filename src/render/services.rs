//! Services `<cluster>` (master), `<cluster>-repl` (replicas) and `<cluster>-config` (Patroni).

use super::meta::{self, ROLE_LABEL};
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Master,
    Replica,
}

/// A load balancer without `allowedSourceRanges` is locked to loopback, as in Zalando: exposing a
/// database to the internet must be a decision written in the manifest.
const LOCKED_SOURCE_RANGE: &str = "127.0.0.1/32";

pub fn services(config: &Config, pg: &Postgresql) -> Vec<Service> {
    vec![
        role_service(config, pg, Role::Master),
        role_service(config, pg, Role::Replica),
        config_service(config, pg),
    ]
}

fn role_service(config: &Config, pg: &Postgresql, role: Role) -> Service {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let spec = &pg.spec;
    let (name, role_value, load_balancer, node_port_on, node_port, role_annotations) = match role {
        Role::Master => (
            cluster.to_string(),
            "master",
            spec.enable_master_load_balancer
                .unwrap_or(config.enable_master_load_balancer),
            spec.enable_master_node_port.unwrap_or(false),
            spec.master_node_port,
            &spec.master_service_annotations,
        ),
        Role::Replica => (
            format!("{cluster}-repl"),
            "replica",
            spec.enable_replica_load_balancer
                .unwrap_or(config.enable_replica_load_balancer),
            spec.enable_replica_node_port.unwrap_or(false),
            spec.replica_node_port,
            &spec.replica_service_annotations,
        ),
    };
    let mut annotations: BTreeMap<String, String> = spec.service_annotations.clone();
    annotations.extend(role_annotations.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut selector = meta::selector_labels(config, cluster);
    selector.insert(ROLE_LABEL.into(), role_value.into());

    // A node port wins over a load balancer, as in Zalando.
    let (type_, source_ranges) = if node_port_on {
        ("NodePort", None)
    } else if load_balancer {
        let ranges = if spec.allowed_source_ranges.is_empty() {
            vec![LOCKED_SOURCE_RANGE.to_string()]
        } else {
            spec.allowed_source_ranges.clone()
        };
        ("LoadBalancer", Some(ranges))
    } else {
        ("ClusterIP", None)
    };
    Service {
        metadata: meta::cluster_object_meta(config, pg, &name, &annotations, true),
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("postgresql".into()),
                port: 5432,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(5432)),
                node_port: if node_port_on { node_port } else { None },
                ..Default::default()
            }]),
            load_balancer_source_ranges: source_ranges,
            ..Default::default()
        }),
        status: None,
    }
}

/// Headless and selector-less: Patroni uses it as the anchor of its Kubernetes DCS.
fn config_service(config: &Config, pg: &Postgresql) -> Service {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    Service {
        metadata: meta::cluster_object_meta(
            config,
            pg,
            &format!("{cluster}-config"),
            &BTreeMap::new(),
            true,
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            ..Default::default()
        }),
        status: None,
    }
}
