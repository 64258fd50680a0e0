//! Manifests from files or directories (`render -f`, `plan -f`): YAML or JSON, multi-document.
//! Other kinds in the same files (a GitOps directory holds many) are passed over.

use crate::render::Manifest;
use crate::validate::{FieldError, Invalid, Limits, Rules, read_manifest};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What a set of files held: the manifests, and the documents that could not be read as one.
#[derive(Debug, Default)]
pub struct Loaded {
    pub manifests: Vec<Manifest>,
    pub invalid: Vec<Invalid>,
    /// Documents of other kinds, as "path#index kind".
    pub ignored: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a file, or every `.yaml`/`.yml`/`.json` file below a directory (sorted, so the result
/// does not depend on the file system's order). Manifests without a namespace get `namespace`.
pub fn load(path: &Path, namespace: &str) -> Result<Loaded, LoadError> {
    load_with(path, namespace, &Limits::default())
}

/// [`load`], with the configuration's bounds on a manifest (they apply when a manifest with
/// unknown fields is checked in full at once).
pub fn load_with(path: &Path, namespace: &str, limits: &Limits) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    let mut loaded = Loaded::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        parse_documents_with(
            &text,
            &file.display().to_string(),
            namespace,
            limits,
            &mut loaded,
        );
    }
    Ok(loaded)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses every document of one file. Pure: the caller did the reading.
pub fn parse_documents(text: &str, origin: &str, namespace: &str, loaded: &mut Loaded) {
    parse_documents_with(text, origin, namespace, &Limits::default(), loaded);
}

/// [`parse_documents`] with the configuration's bounds (see [`load_with`]).
pub fn parse_documents_with(
    text: &str,
    origin: &str,
    namespace: &str,
    limits: &Limits,
    loaded: &mut Loaded,
) {
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match serde_yaml::Value::deserialize(document) {
            Ok(serde_yaml::Value::Null) => continue,
            Ok(v) => v,
            Err(e) => {
                loaded.invalid.push(Invalid {
                    manifest: format!("{origin}#{index}"),
                    errors: vec![FieldError {
                        path: "(document)".into(),
                        message: format!("not valid YAML: {e}"),
                    }],
                });
                // The parser cannot resynchronise after a syntax error (it would repeat it
                // forever): the rest of this file is lost, the other files are not.
                break;
            }
        };
        let api_version = value
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let kind = value
            .get("kind")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let manifest = match (api_version, kind) {
            ("acid.zalan.do/v1", "postgresql") => {
                typed(value, namespace, limits).map(|pg| Manifest::Postgresql(Box::new(pg)))
            }
            ("containerconf.de/v1", "PostgreSQLConfig") => {
                typed(value, namespace, limits).map(|c| Manifest::Config(Box::new(c)))
            }
            _ => {
                loaded
                    .ignored
                    .push(format!("{origin}#{index} {api_version} {kind}"));
                continue;
            }
        };
        match manifest {
            Ok(m) => loaded.manifests.push(m),
            Err(invalid) => loaded.invalid.push(invalid),
        }
    }
}

/// Deserializes a manifest, naming the field that does not fit. Sets a missing namespace.
fn typed<K>(value: serde_yaml::Value, namespace: &str, limits: &Limits) -> Result<K, Invalid>
where
    K: serde::de::DeserializeOwned + kube::Resource + Rules,
{
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(|v| v.as_str())
        .unwrap_or("(no name)");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(|v| v.as_str())
        .unwrap_or(namespace);
    let label = format!("{kind} {ns}/{name}");
    let json = serde_json::to_value(&value).map_err(|e| Invalid {
        manifest: label.clone(),
        errors: vec![FieldError {
            path: String::new(),
            message: format!("not representable as JSON: {e}"),
        }],
    })?;
    let mut object: K = read_manifest(&json, limits).map_err(|errors| Invalid {
        manifest: label.clone(),
        errors,
    })?;
    if object.meta().namespace.is_none() {
        object.meta_mut().namespace = Some(namespace.to_string());
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-a}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {size: 1Gi}
  postgresql: {version: \"17\"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
---
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-b, namespace: team}
spec:
  teamId: acid
  numberOfInstances: two
  volume: {size: 1Gi}
  postgresql: {version: \"17\"}
";

    #[test]
    fn reads_ours_skips_others_and_names_bad_fields() {
        let mut loaded = Loaded::default();
        parse_documents(TWO, "x.yaml", "default", &mut loaded);
        assert_eq!(loaded.manifests.len(), 1);
        assert_eq!(
            loaded.manifests[0].reference().to_string(),
            "postgresql default/acid-a"
        );
        assert_eq!(loaded.ignored, ["x.yaml#1 v1 ConfigMap"]);
        assert_eq!(loaded.invalid.len(), 1);
        let invalid = &loaded.invalid[0];
        assert_eq!(invalid.manifest, "postgresql team/acid-b");
        assert_eq!(invalid.errors[0].path, "spec.numberOfInstances");
        assert!(
            invalid.errors[0].message.contains("invalid type"),
            "{}",
            invalid.errors[0].message
        );
    }

    #[test]
    fn broken_yaml_is_reported_not_fatal() {
        let mut loaded = Loaded::default();
        parse_documents("a: [unclosed\n", "bad.yaml", "default", &mut loaded);
        assert_eq!(loaded.invalid.len(), 1);
        assert!(loaded.invalid[0].to_string().contains("not valid YAML"));
    }
}
