//! `render` output: the desired objects and database state as YAML or JSON documents.

use super::{ApplyPolicy, Desired};
use serde::Serialize;

/// Marks documents that describe database state (SQL), not Kubernetes objects.
pub const DATABASE_STATE_API_VERSION: &str = "postgres-reconciler.io/render";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseStateDocument<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: DocumentMeta<'a>,
    spec: &'a super::database::DesiredDatabaseState,
}

#[derive(Serialize)]
struct DocumentMeta<'a> {
    name: &'a str,
    namespace: &'a str,
}

/// A multi-document YAML stream: per manifest its objects then its database state, then the
/// shared objects, then invalid manifests as comments. Secrets carry no password: it is made
/// when the Secret is created and never replaced.
pub fn to_yaml(desired: &Desired) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for m in &desired.manifests {
        out.push_str(&format!("# {}\n", m.manifest));
        for object in &m.objects {
            out.push_str("---\n");
            match object.policy {
                ApplyPolicy::CreateOnly => out.push_str(
                    "# created when absent with a generated password; never overwritten\n",
                ),
                ApplyPolicy::UpdateOnly => out.push_str(
                    "# changed when it exists (its StatefulSet makes it); never created\n",
                ),
                ApplyPolicy::Apply => {}
            }
            out.push_str(&serde_yaml::to_string(&masked(object))?);
        }
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&DatabaseStateDocument {
            api_version: DATABASE_STATE_API_VERSION,
            kind: "DatabaseState",
            metadata: DocumentMeta {
                name: &m.manifest.name,
                namespace: &m.manifest.namespace,
            },
            spec: &m.database,
        })?);
    }
    if !desired.shared.is_empty() {
        out.push_str("# shared by the clusters of a namespace\n");
    }
    for object in &desired.shared {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&masked(object))?);
    }
    for invalid in &desired.invalid {
        out.push_str(&format!(
            "# skipped: {}\n",
            invalid.to_string().replace('\n', "\n# ")
        ));
    }
    for other in &desired.not_ours {
        out.push_str(&format!(
            "# skipped: {other} belongs to another controller\n"
        ));
    }
    Ok(out)
}

/// What `render` shows of an object: a Secret's values become placeholders (the password does
/// not exist until the Secret is created).
pub fn masked(object: &super::DesiredObject) -> serde_json::Value {
    let mut body = object.body.value();
    if object.kind == "Secret"
        && let Some(data) = body.get_mut("data").and_then(|d| d.as_object_mut())
    {
        for value in data.values_mut() {
            *value = SENSITIVE.into();
        }
        if object.policy == ApplyPolicy::CreateOnly {
            data.insert(super::secrets::PASSWORD_KEY.into(), GENERATED.into());
        }
    }
    body
}

/// Placeholder for a value that must not be shown.
pub const SENSITIVE: &str = "(sensitive)";
/// Placeholder for a password generated when its Secret is created.
pub const GENERATED: &str = "(generated when the Secret is created)";

#[derive(Serialize)]
struct JsonManifest<'a> {
    manifest: &'a super::ManifestRef,
    objects: Vec<serde_json::Value>,
    database: &'a super::database::DesiredDatabaseState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_template_hash: &'a Option<String>,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    manifests: Vec<JsonManifest<'a>>,
    shared: Vec<serde_json::Value>,
    invalid: Vec<String>,
    not_ours: Vec<String>,
}

pub fn to_json(desired: &Desired) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&JsonOutput {
        manifests: desired
            .manifests
            .iter()
            .map(|m| JsonManifest {
                manifest: &m.manifest,
                objects: m.objects.iter().map(masked).collect(),
                database: &m.database,
                pod_template_hash: &m.pod_template_hash,
            })
            .collect(),
        shared: desired.shared.iter().map(masked).collect(),
        invalid: desired.invalid.iter().map(|i| i.to_string()).collect(),
        not_ours: desired.not_ours.iter().map(|r| r.to_string()).collect(),
    })
}
