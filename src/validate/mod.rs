//! Pure validation of manifests before rendering.
//!
//! A manifest is checked as a whole and every problem is reported at once, each with the field
//! path it is about, so a user fixes a manifest in one round. Validation never panics and never
//! stops at the first bad manifest: the caller marks this one `Invalid` and carries on with the
//! rest. No I/O here; file input and cluster input are checked the same way.
//!
//! Messages are lower-case, name what is allowed, and are kept stable: golden files under
//! `fixtures/manifests/invalid/` pin them.

mod annotations;
mod clone;
mod databases;
pub mod fields;
mod initdb;
pub mod limits;
mod logical_backup;
pub use logical_backup::is_schedule;
pub mod names;
mod network;
mod pg_hba;
mod pod;
mod pooler;
mod postgresql;
mod postgresqlconfig;
pub mod quantity;
mod rendered;
mod sidecars;
mod standby;
mod tls;
mod types;
mod users;
pub mod windows;

pub use fields::deserialize_manifest;
pub use limits::Limits;
pub use network::{NODE_PORT_RANGE, parse_cidr};
pub use postgresql::RESERVED_ENV;
pub use quantity::parse_quantity;
pub use rendered::RenderedSizes;
pub use windows::{MaintenanceWindow, parse_maintenance_window};

use crate::api::{PostgreSQLConfig, Postgresql};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::fmt;

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldError {
    /// Where, e.g. `spec.users.Bad-Name`, `spec.users.foo[1]`, `metadata.name`.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// `postgresql default/acid-minimal` or `PostgreSQLConfig ns/name`.
    pub manifest: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is invalid:", self.manifest)?;
        let mut errors: Vec<&FieldError> = self.errors.iter().collect();
        errors.sort();
        errors.dedup();
        for e in errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// A manifest kind's rules, for [`read_manifest`].
pub trait Rules {
    fn rule_errors(&self, limits: &Limits) -> Vec<FieldError>;
}

impl Rules for Postgresql {
    fn rule_errors(&self, limits: &Limits) -> Vec<FieldError> {
        validate_postgresql(self, limits)
            .err()
            .map(|i| i.errors)
            .unwrap_or_default()
    }
}

impl Rules for PostgreSQLConfig {
    fn rule_errors(&self, _: &Limits) -> Vec<FieldError> {
        validate_postgresqlconfig(self)
            .err()
            .map(|i| i.errors)
            .unwrap_or_default()
    }
}

/// Reads a manifest as [`deserialize_manifest`] does; when it fails only on unknown fields, its
/// rules are checked as well, so the manifest is reported with all its problems in one round
/// (a valid one is checked later, when it is rendered).
pub fn read_manifest<K>(value: &serde_json::Value, limits: &Limits) -> Result<K, Vec<FieldError>>
where
    K: serde::de::DeserializeOwned + Rules,
{
    match fields::read_fields::<K>(value) {
        fields::Read::Typed(object) => Ok(object),
        fields::Read::UnknownFields(object, mut errors) => {
            errors.extend(object.rule_errors(limits));
            Err(errors)
        }
        fields::Read::Unfit(errors) => Err(errors),
    }
}

/// Validates a `postgresql` manifest.
pub fn validate_postgresql(pg: &Postgresql, limits: &Limits) -> Result<(), Invalid> {
    let mut errs = Errors::default();
    postgresql::check(pg, limits, &mut errs);
    annotations::check(&pg.metadata, &mut errs);
    errs.finish(manifest_label("postgresql", &pg.metadata))
}

/// Validates what a valid `postgresql` manifest rendered to: objects too large for the
/// apiserver make the manifest invalid, naming the field that made them large.
pub fn validate_rendered(
    pg: &Postgresql,
    sizes: &RenderedSizes,
    limits: &Limits,
) -> Result<(), Invalid> {
    let mut errs = Errors::default();
    rendered::check(pg, sizes, limits, &mut errs);
    errs.finish(manifest_label("postgresql", &pg.metadata))
}

/// A `postgresql` manifest that cannot be rendered for a reason outside it (an operator
/// setting whose source could not be read), with the errors naming that setting.
pub fn invalid_postgresql(pg: &Postgresql, errors: Vec<FieldError>) -> Invalid {
    Invalid {
        manifest: manifest_label("postgresql", &pg.metadata),
        errors,
    }
}

/// Validates a `PostgreSQLConfig` manifest.
pub fn validate_postgresqlconfig(c: &PostgreSQLConfig) -> Result<(), Invalid> {
    let mut errs = Errors::default();
    postgresqlconfig::check(c, &mut errs);
    annotations::check(&c.metadata, &mut errs);
    errs.finish(manifest_label("PostgreSQLConfig", &c.metadata))
}

/// `kind namespace/name`; file input may lack the namespace, a broken manifest even the name.
fn manifest_label(kind: &str, meta: &ObjectMeta) -> String {
    let name = meta
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("<unnamed>");
    match meta.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Collects problems while the rule files walk a manifest.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<FieldError>);

impl Errors {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Sorted by path, then message, without duplicates: the order golden files rely on.
    pub(crate) fn into_sorted(mut self) -> Vec<FieldError> {
        self.0.sort();
        self.0.dedup();
        self.0
    }

    fn finish(self, manifest: String) -> Result<(), Invalid> {
        let errors = self.into_sorted();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid { manifest, errors })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    const INVALID_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/manifests/invalid");
    const VALID_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/manifests/valid");

    /// `.yaml`/`.yml` files under `dir`, recursively, sorted; none if `dir` is missing.
    fn yaml_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        for entry in entries {
            let path = entry.expect("read fixture dir").path();
            if path.is_dir() {
                out.extend(yaml_files(&path));
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
        out.sort();
        out
    }

    /// Validates every `postgresql` and `PostgreSQLConfig` document in a file; other kinds are
    /// returned by name so the caller decides whether they belong there.
    fn validate_file(path: &Path) -> (Vec<Result<(), Invalid>>, Vec<String>) {
        let text = std::fs::read_to_string(path).expect("read fixture");
        let mut results = Vec::new();
        let mut other = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if value.is_null() {
                continue;
            }
            let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            // A field that does not fit the CRD is reported as reading the manifest reports it.
            let unreadable = |errors| Invalid {
                manifest: format!(
                    "{kind} {}/{}",
                    value["metadata"]["namespace"].as_str().unwrap_or_default(),
                    value["metadata"]["name"].as_str().unwrap_or_default()
                ),
                errors,
            };
            let json = serde_json::to_value(&value).expect("fixture as JSON");
            match kind {
                "postgresql" => results.push(
                    read_manifest::<Postgresql>(&json, &Limits::default())
                        .map_err(unreadable)
                        .and_then(|pg| validate_postgresql(&pg, &Limits::default())),
                ),
                "PostgreSQLConfig" => results.push(
                    read_manifest::<PostgreSQLConfig>(&json, &Limits::default())
                        .map_err(unreadable)
                        .and_then(|c| validate_postgresqlconfig(&c)),
                ),
                other_kind => other.push(other_kind.to_string()),
            }
        }
        (results, other)
    }

    /// `fixtures/manifests/invalid/NN-name.yaml` against `NN-name.errors.txt`.
    /// `UPDATE_GOLDEN=1` rewrites the expected files instead.
    #[test]
    fn invalid_fixtures_match_golden_errors() {
        let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
        let files = yaml_files(Path::new(INVALID_DIR));
        assert!(!files.is_empty(), "no fixtures in {INVALID_DIR}");
        let mut failures = Vec::new();
        for path in files {
            let (results, other) = validate_file(&path);
            assert!(
                other.is_empty(),
                "{}: unexpected kinds {other:?}",
                path.display()
            );
            let errors: Vec<String> = results
                .into_iter()
                .filter_map(|r| r.err().map(|e| e.to_string()))
                .collect();
            if errors.is_empty() {
                failures.push(format!("{}: validated cleanly", path.display()));
                continue;
            }
            let actual = errors.join("\n") + "\n";
            let golden = path.with_extension("errors.txt");
            if update {
                std::fs::write(&golden, &actual).expect("write golden file");
                // Straight to stderr: the test harness captures `eprintln!`.
                let _ = writeln!(std::io::stderr(), "wrote {}", golden.display());
                continue;
            }
            let expected = std::fs::read_to_string(&golden).unwrap_or_default();
            if expected != actual {
                failures.push(format!(
                    "{}:\n--- expected\n{expected}--- actual\n{actual}",
                    golden.display()
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{}\n(UPDATE_GOLDEN=1 rewrites the expected files)",
            failures.join("\n")
        );
    }

    /// Every manifest under `fixtures/manifests/valid/` validates cleanly.
    #[test]
    fn valid_fixtures_validate_cleanly() {
        let mut failures = Vec::new();
        for path in yaml_files(Path::new(VALID_DIR)) {
            let (results, _other_kinds) = validate_file(&path);
            for r in results {
                if let Err(e) = r {
                    failures.push(format!("{}: {e}", path.display()));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn display_is_sorted_and_deduplicated() {
        let e = |p: &str, m: &str| FieldError {
            path: p.into(),
            message: m.into(),
        };
        let invalid = Invalid {
            manifest: "postgresql default/acid".into(),
            errors: vec![
                e("spec.users.b", "y"),
                e("metadata.name", "x"),
                e("spec.users.b", "a"),
                e("metadata.name", "x"),
            ],
        };
        assert_eq!(
            invalid.to_string(),
            "postgresql default/acid is invalid:\n  - metadata.name: x\n  - spec.users.b: a\n  - spec.users.b: y"
        );
    }

    #[test]
    fn labels() {
        let mut meta = ObjectMeta {
            name: Some("acid".into()),
            ..Default::default()
        };
        assert_eq!(manifest_label("postgresql", &meta), "postgresql acid");
        meta.namespace = Some("ns".into());
        assert_eq!(manifest_label("postgresql", &meta), "postgresql ns/acid");
        meta.name = None;
        assert_eq!(
            manifest_label("PostgreSQLConfig", &meta),
            "PostgreSQLConfig ns/<unnamed>"
        );
    }

    #[test]
    fn odd_input_is_reported_not_panicked_on() {
        let pg: Postgresql = serde_yaml::from_str(
            r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: "ä"}
spec:
  teamId: " "
  numberOfInstances: -3
  volume: {size: "1é"}
  resources: {requests: {cpu: "", memory: "∞"}, limits: {cpu: "."}}
  users: {"ü": ["é", ""], "": null}
  databases: {"": "", "ö-db": "ü"}
  preparedDatabases: {"é": {schemas: {"": {}}, extensions: {"": ""}}}
  allowedSourceRanges: ["", "/", "ä/8"]
  maintenanceWindows: ["", "-", "::-::", "ä:00:00-01:00"]
  podAnnotations: {"": "", "/": "", "ä/b": ""}
  env: [{name: ""}]
  postgresql: {version: "", parameters: {"": "", "ä": ""}}
"#,
        )
        .unwrap();
        let invalid = validate_postgresql(&pg, &Limits::default()).unwrap_err();
        assert!(invalid.errors.len() > 20, "{invalid}");
    }

    #[test]
    fn minimal_manifest_is_valid() {
        let pg: Postgresql = serde_yaml::from_str(
            r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {name: acid-minimal-cluster}
spec:
  teamId: acid
  numberOfInstances: 2
  volume: {size: 1Gi}
  users:
    zalando: [superuser, createdb]
    foo_user: []
  databases: {foo: zalando}
  preparedDatabases: {bar: {}}
  postgresql: {version: "18"}
"#,
        )
        .unwrap();
        assert_eq!(validate_postgresql(&pg, &Limits::default()), Ok(()));
    }
}
