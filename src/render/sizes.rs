//! Measures the rendered objects whose size a manifest decides, for
//! [`crate::validate::validate_rendered`]: the StatefulSet as the JSON the apiserver receives,
//! and the `SPILO_CONFIGURATION` value inside it.

use super::DesiredManifest;
use super::spilo_configuration::ENV_NAME;
use crate::validate::RenderedSizes;
use serde_json::Value;

pub fn measure(manifest: &DesiredManifest) -> RenderedSizes {
    let mut sizes = RenderedSizes::default();
    for object in manifest.objects.iter().filter(|o| o.kind == "StatefulSet") {
        sizes.statefulset += object.body.len();
        let body = object.body.value();
        sizes.spilo_configuration += spilo_configuration(&body).map_or(0, str::len);
    }
    sizes
}

fn spilo_configuration(statefulset: &Value) -> Option<&str> {
    statefulset
        .pointer("/spec/template/spec/containers")?
        .as_array()?
        .iter()
        .filter_map(|c| c["env"].as_array())
        .flatten()
        .find(|e| e["name"] == ENV_NAME)?["value"]
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::super::{Manifest, render};
    use crate::config::Config;
    use serde_json::{Value, json};

    fn cluster(name: &str, parameters: Value) -> Manifest {
        Manifest::Postgresql(Box::new(
            serde_json::from_value(
                json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                    "postgresql": {"version": "17", "parameters": parameters}}}),
            )
            .expect("manifest"),
        ))
    }

    /// Twenty values each within `max_parameter_value_bytes` add up past
    /// `max_spilo_configuration_bytes`: that manifest renders nothing, the other one renders.
    #[test]
    fn values_within_their_limit_can_still_add_up_past_the_rendered_limits() {
        let config = Config::default();
        let value = "v".repeat(config.max_parameter_value_bytes);
        let many: serde_json::Map<String, Value> = (0..20)
            .map(|i| (format!("custom.p{i:02}"), json!(value)))
            .collect();
        let desired = render(
            &[
                cluster("acid-big", Value::Object(many)),
                cluster("acid-small", json!({"work_mem": "4MB"})),
            ],
            &config,
        );
        let rendered: Vec<String> = desired
            .manifests
            .iter()
            .map(|m| m.manifest.name.clone())
            .collect();
        assert_eq!(rendered, ["acid-small"]);
        assert_eq!(desired.invalid.len(), 1);
        let errors: Vec<String> = desired.invalid[0]
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(desired.invalid[0].manifest, "postgresql ns/acid-big");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("spec.postgresql.parameters: the rendered SPILO_CONFIGURATION is 164")
                && errors[0].contains("at most 65536 allowed (max_spilo_configuration_bytes)"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_default_configuration_gives_the_default_limits() {
        assert_eq!(
            super::super::limits(&Config::default()),
            crate::validate::Limits::default()
        );
    }

    #[test]
    fn the_statefulset_limit_applies_to_its_json() {
        let small = cluster("acid-small", json!({"work_mem": "4MB"}));
        let desired = render(std::slice::from_ref(&small), &Config::default());
        let size = super::measure(&desired.manifests[0]).statefulset;
        assert!(size > 1000, "{size}");
        let at = Config {
            max_statefulset_bytes: size,
            ..Config::default()
        };
        assert!(render(std::slice::from_ref(&small), &at).invalid.is_empty());
        let under = Config {
            max_statefulset_bytes: size - 1,
            ..Config::default()
        };
        let invalid = render(&[small], &under).invalid;
        assert_eq!(invalid.len(), 1);
        assert_eq!(
            invalid[0].errors[0].message,
            format!(
                "the rendered StatefulSet is {size} bytes; at most {} allowed \
                 (max_statefulset_bytes); this field is its largest source (18 bytes)",
                size - 1
            )
        );
        assert_eq!(invalid[0].errors[0].path, "spec.postgresql.parameters");
    }
}
