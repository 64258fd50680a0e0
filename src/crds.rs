//! The CustomResourceDefinitions of both manifests, generated from the types in `api/`.

use crate::api::{PostgreSQLConfig, Postgresql};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Label that marks the CRDs as ours (the chart and `kubectl get crd -l` use it).
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "postgres-reconciler");

pub fn postgresql_crd() -> CustomResourceDefinition {
    with_label(Postgresql::crd())
}

pub fn postgresqlconfig_crd() -> CustomResourceDefinition {
    with_label(PostgreSQLConfig::crd())
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
    ])
}

/// Both CRDs as one multi-document YAML stream.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    Ok(crd_documents()?
        .into_iter()
        .map(|(_, doc)| format!("---\n{doc}"))
        .collect())
}
