//! `spec.sidecars`: each needs an image and a name of its own in the pod (Zalando's operator
//! fails the StatefulSet without an image, and drops a second container of the same name).

use super::Errors;
use super::names::is_dns1123_label;
use crate::api::postgresql::Sidecar;
use crate::render::statefulset::CONTAINER;
use k8s_openapi::api::core::v1::Container;
use std::collections::BTreeSet;

/// `enabled`: the operator's `enable_sidecars`.
pub(super) fn check_sidecars(
    sidecars: &[Sidecar],
    init_containers: &[Container],
    enabled: bool,
    errs: &mut Errors,
) {
    if !sidecars.is_empty() && !enabled {
        errs.add(
            "spec.sidecars",
            "the operator configuration has enable_sidecars: false; remove the sidecars or enable them",
        );
    }
    let mut names: BTreeSet<String> = init_containers.iter().map(|c| c.name.clone()).collect();
    names.insert(CONTAINER.to_string());
    for (i, s) in sidecars.iter().enumerate() {
        let field = format!("spec.sidecars[{i}]");
        let name = sidecar_name(s, i);
        if !s.name.is_empty() && !is_dns1123_label(&s.name) {
            errs.add(
                format!("{field}.name"),
                format!("{:?} is not a container name (a DNS-1123 label)", s.name),
            );
        } else if !names.insert(name.clone()) {
            errs.add(
                format!("{field}.name"),
                format!("{name:?} is the name of another container of the pod"),
            );
        }
        if s.image.is_empty() {
            errs.add(format!("{field}.image"), "required");
        }
    }
}

/// The container name a sidecar gets (`sidecar-<index>` without one, as Zalando names it).
pub fn sidecar_name(s: &Sidecar, index: usize) -> String {
    if s.name.is_empty() {
        format!("sidecar-{index}")
    } else {
        s.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(json: serde_json::Value, enabled: bool) -> Vec<String> {
        let sidecars: Vec<Sidecar> = serde_json::from_value(json).unwrap();
        let mut errs = Errors::default();
        check_sidecars(&sidecars, &[], enabled, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_sidecar_needs_an_image_and_a_name_of_its_own() {
        assert!(
            errors(
                serde_json::json!([{"name": "exporter", "image": "e:1"}, {"image": "x"}]),
                true
            )
            .is_empty()
        );
        assert_eq!(
            errors(
                serde_json::json!([{"name": "postgres", "image": "e:1"}, {"name": "Bad_Name"}]),
                true
            ),
            [
                "spec.sidecars[0].name: \"postgres\" is the name of another container of the pod",
                "spec.sidecars[1].image: required",
                "spec.sidecars[1].name: \"Bad_Name\" is not a container name (a DNS-1123 label)",
            ]
        );
        assert_eq!(
            errors(
                serde_json::json!([{"name": "exporter", "image": "e:1"}]),
                false
            ),
            [
                "spec.sidecars: the operator configuration has enable_sidecars: false; remove the sidecars or enable them"
            ]
        );
    }
}
