//! Sizes of what a valid manifest renders to. Many values each within their own limit can still
//! add up to a StatefulSet the apiserver refuses; measuring the rendered objects is the only
//! exact check. The renderer measures, this file judges, so the verdict is one more field error
//! of the manifest: the field named is the largest of the manifest's fields that feed the object.

use super::Errors;
use super::limits::Limits;
use crate::api::Postgresql;
use serde_json::Value;

/// Bytes of the rendered objects that can grow with a manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderedSizes {
    /// The `SPILO_CONFIGURATION` value of the Spilo container.
    pub spilo_configuration: usize,
    /// The StatefulSet as the JSON sent to the apiserver.
    pub statefulset: usize,
}

/// Manifest fields (JSON pointers) rendered into `SPILO_CONFIGURATION`.
const SPILO_CONFIGURATION_SOURCES: &[&str] = &["/spec/postgresql/parameters", "/spec/patroni"];

/// Manifest fields of unbounded size rendered into the StatefulSet; the others are short or
/// fixed by validation.
const STATEFULSET_SOURCES: &[&str] = &[
    "/spec/postgresql/parameters",
    "/spec/patroni",
    "/spec/env",
    "/spec/podAnnotations",
    "/spec/tolerations",
    "/metadata/labels",
    "/metadata/annotations",
];

pub(super) fn check(pg: &Postgresql, sizes: &RenderedSizes, limits: &Limits, errs: &mut Errors) {
    let over = [
        (
            "the rendered SPILO_CONFIGURATION",
            sizes.spilo_configuration,
            limits.max_spilo_configuration_bytes,
            "max_spilo_configuration_bytes",
            SPILO_CONFIGURATION_SOURCES,
        ),
        (
            "the rendered StatefulSet",
            sizes.statefulset,
            limits.max_statefulset_bytes,
            "max_statefulset_bytes",
            STATEFULSET_SOURCES,
        ),
    ];
    // The manifest is serialized only when something is too large.
    let mut manifest: Option<Value> = None;
    for (what, size, max, key, sources) in over {
        if size <= max {
            continue;
        }
        let manifest = manifest.get_or_insert_with(|| serde_json::to_value(pg).unwrap_or_default());
        let (path, part) = largest_source(manifest, sources);
        errs.add(
            path,
            format!(
                "{what} is {size} bytes; at most {max} allowed ({key}); this field is its \
                 largest source ({part} bytes)"
            ),
        );
    }
}

/// The dotted path and JSON size of the largest of `sources` (the first of equals).
fn largest_source(manifest: &Value, sources: &[&str]) -> (String, usize) {
    let mut best = (sources[0], 0);
    for &pointer in sources {
        let size = manifest
            .pointer(pointer)
            .and_then(|v| serde_json::to_vec(v).ok())
            .map_or(0, |bytes| bytes.len());
        if size > best.1 {
            best = (pointer, size);
        }
    }
    (best.0.trim_start_matches('/').replace('/', "."), best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Postgresql {
        serde_yaml::from_str(
            r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-a, annotations: {note: "a"}}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: "17", parameters: {log_line_prefix: "xxxxxxxxxxxxxxxxxxxxxxxx"}}
  patroni: {pg_hba: ["local all all trust"]}
  env: [{name: A, value: "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}]
"#,
        )
        .expect("manifest")
    }

    fn run(sizes: RenderedSizes, limits: &Limits) -> Vec<String> {
        let mut errs = Errors::default();
        check(&cluster(), &sizes, limits, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn at_the_limits_is_fine() {
        let limits = Limits::default();
        let sizes = RenderedSizes {
            spilo_configuration: limits.max_spilo_configuration_bytes,
            statefulset: limits.max_statefulset_bytes,
        };
        assert!(run(sizes, &limits).is_empty());
    }

    #[test]
    fn over_the_limits_names_the_largest_source_the_size_and_the_limit() {
        let limits = Limits {
            max_spilo_configuration_bytes: 10,
            max_statefulset_bytes: 20,
            ..Limits::default()
        };
        let sizes = RenderedSizes {
            spilo_configuration: 11,
            statefulset: 21,
        };
        assert_eq!(
            run(sizes, &limits),
            [
                "spec.env: the rendered StatefulSet is 21 bytes; at most 20 allowed \
                 (max_statefulset_bytes); this field is its largest source (69 bytes)",
                "spec.postgresql.parameters: the rendered SPILO_CONFIGURATION is 11 bytes; at \
                 most 10 allowed (max_spilo_configuration_bytes); this field is its largest \
                 source (46 bytes)",
            ]
        );
    }
}
