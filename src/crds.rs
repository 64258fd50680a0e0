//! The CustomResourceDefinitions of both manifests, generated from the types in `api/`.

use crate::api::{PostgreSQLConfig, PostgresTeam, Postgresql};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Label that marks the CRDs as ours (the chart and `kubectl get crd -l` use it).
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "postgres-reconciler");

pub fn postgresql_crd() -> CustomResourceDefinition {
    with_label(keeping_unknown_spec_fields(Postgresql::crd()))
}

pub fn postgresqlconfig_crd() -> CustomResourceDefinition {
    with_label(keeping_unknown_spec_fields(PostgreSQLConfig::crd()))
}

/// Zalando's `PostgresTeam`, read with `enable_postgres_team_crd`.
pub fn postgresteam_crd() -> CustomResourceDefinition {
    with_label(PostgresTeam::crd())
}

/// Marks every object of `spec` with `x-kubernetes-preserve-unknown-fields`. Without it the
/// apiserver prunes what the schema does not name (Zalando's `sidecars`, a misspelt field)
/// before the reconciler sees it, and a cluster is reconciled without it, silently; with it the
/// field reaches validation and the manifest is reported invalid naming it. The fields the
/// schema names are still validated by the apiserver.
fn keeping_unknown_spec_fields(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut value = match serde_json::to_value(&crd) {
        Ok(v) => v,
        Err(_) => return crd,
    };
    if let Some(versions) = value
        .pointer_mut("/spec/versions")
        .and_then(|v| v.as_array_mut())
    {
        for version in versions {
            if let Some(spec) = version.pointer_mut("/schema/openAPIV3Schema/properties/spec") {
                preserve_unknown(spec);
            }
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

fn preserve_unknown(schema: &mut serde_json::Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if map.contains_key("properties") {
        map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
    }
    for key in ["properties", "additionalProperties", "items"] {
        match map.get_mut(key) {
            Some(serde_json::Value::Object(children)) if key == "properties" => {
                children.values_mut().for_each(preserve_unknown)
            }
            Some(child) => preserve_unknown(child),
            None => {}
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(serde_json::Value::Array(options)) = map.get_mut(key) {
            options.iter_mut().for_each(preserve_unknown);
        }
    }
}

fn with_label(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    crd.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(PART_OF.0.to_string(), PART_OF.1.to_string());
    crd
}

/// One YAML document per CRD, as committed in `manifests/crds/` and the chart's `crds/`.
pub fn crd_documents() -> Result<Vec<(&'static str, String)>, serde_yaml::Error> {
    Ok(vec![
        (
            "postgresqls.acid.zalan.do.yaml",
            serde_yaml::to_string(&postgresql_crd())?,
        ),
        (
            "postgresqlconfigs.containerconf.de.yaml",
            serde_yaml::to_string(&postgresqlconfig_crd())?,
        ),
        (
            "postgresteams.acid.zalan.do.yaml",
            serde_yaml::to_string(&postgresteam_crd())?,
        ),
    ])
}

/// The CRDs as one multi-document YAML stream.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    Ok(crd_documents()?
        .into_iter()
        .map(|(_, doc)| format!("---\n{doc}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed CRDs must be exactly what the types generate: run `make generate` after
    /// changing `src/api/` and commit the result.
    #[test]
    fn committed_crds_match_the_types() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["manifests/crds", "charts/postgres-reconciler/crds"] {
            for (file, generated) in crd_documents().expect("generate CRDs") {
                let path = root.join(dir).join(file);
                let committed = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}; run `make generate`", path.display()));
                assert!(
                    committed == generated,
                    "{} is out of date with src/api/; run `make generate` and commit it",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn spec_objects_keep_unknown_fields() {
        let crd = serde_json::to_value(postgresql_crd()).expect("json");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], true);
        let postgresql = &spec["properties"]["postgresql"];
        assert_eq!(postgresql["x-kubernetes-preserve-unknown-fields"], true);
        // Known fields are still typed.
        assert_eq!(spec["properties"]["numberOfInstances"]["type"], "integer");
        let top = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert!(top.get("x-kubernetes-preserve-unknown-fields").is_none());
    }

    #[test]
    fn crds_carry_names_columns_and_status() {
        let pg = postgresql_crd();
        assert_eq!(pg.spec.names.kind, "postgresql");
        assert_eq!(
            pg.spec.names.short_names.as_deref(),
            Some(&["pg".to_string()][..])
        );
        let version = &pg.spec.versions[0];
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            ["Team", "Version", "Pods", "Volume", "Status", "Age"]
        );
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let config = postgresqlconfig_crd();
        assert_eq!(config.spec.group, "containerconf.de");
        assert!(
            config.spec.versions[0]
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
    }
}
