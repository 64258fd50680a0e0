//! A standby cluster is read-only, a copy of another cluster: no SQL is planned for it (as
//! Zalando's operator creates no roles or databases there). A `PostgreSQLConfig` that targets
//! one is refused by field instead of failing on the server at every run.

use crate::render::database::ServerTarget;
use crate::render::{Desired, DesiredManifest};
use crate::validate::{FieldError, Invalid};
use std::collections::BTreeSet;

/// Moves each `PostgreSQLConfig` (not being deleted) whose cluster is a standby to `invalid`.
pub fn refuse_sql_on_standbys(desired: &mut Desired) {
    let standbys: BTreeSet<(String, String)> = desired
        .manifests
        .iter()
        .filter(|m| m.standby)
        .map(|m| (m.manifest.namespace.clone(), m.manifest.name.clone()))
        .collect();
    let target = |m: &DesiredManifest| match &m.database.server {
        ServerTarget::Cluster { namespace, cluster } if m.manifest.kind == "PostgreSQLConfig" => {
            Some((namespace.clone(), cluster.clone()))
        }
        _ => None,
    };
    let mut keep = Vec::new();
    for m in std::mem::take(&mut desired.manifests) {
        match target(&m).filter(|t| !m.deleting && standbys.contains(t)) {
            None => keep.push(m),
            Some((_, cluster)) => desired.invalid.push(Invalid {
                manifest: m.manifest.to_string(),
                errors: vec![FieldError {
                    path: "spec.server.cluster".into(),
                    message: format!(
                        "{cluster} is a standby cluster: read-only, its databases are its source's; point this at the source cluster"
                    ),
                }],
            }),
        }
    }
    desired.manifests = keep;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::render::Manifest;
    use serde_json::json;

    #[test]
    fn a_database_on_a_standby_is_refused_and_one_on_its_source_is_not() {
        let cluster = |name: &str, standby: bool| {
            let mut spec = json!({"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                "postgresql": {"version": "17"}});
            if standby {
                spec["standby"] = json!({"standby_host": "acid-source"});
            }
            let pg: crate::api::Postgresql = serde_json::from_value(json!({
                "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                "metadata": {"name": name, "namespace": "ns"}, "spec": spec}))
            .expect("cluster");
            Manifest::Postgresql(Box::new(pg))
        };
        let config_for = |name: &str, cluster: &str| {
            let c: crate::api::PostgreSQLConfig = serde_json::from_value(json!({
                "apiVersion": "containerconf.de/v1", "kind": "PostgreSQLConfig",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"database": "orders", "owner": "orders_owner", "server": {"cluster": cluster}}}))
            .expect("config");
            Manifest::Config(Box::new(c))
        };
        let manifests = [
            cluster("acid-source", false),
            cluster("acid-standby", true),
            config_for("on-standby", "acid-standby"),
            config_for("on-source", "acid-source"),
        ];
        let mut desired = crate::render::render(&manifests, &Config::default());
        refuse_sql_on_standbys(&mut desired);
        let names: Vec<&str> = desired
            .manifests
            .iter()
            .map(|m| m.manifest.name.as_str())
            .collect();
        assert_eq!(names, ["on-source", "acid-source", "acid-standby"]);
        let message = desired.invalid[0].to_string();
        assert!(
            message.contains("on-standby")
                && message.contains("spec.server.cluster: acid-standby is a standby cluster"),
            "{message}"
        );
    }
}
