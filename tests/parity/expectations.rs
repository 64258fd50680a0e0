//! `fixtures/parity/intentional.yaml` (differences we mean, each with its reason) and
//! `fixtures/parity/known-gaps.yaml` (differences not fixed yet: a list that only shrinks).
//! An entry matches a difference by kind, path and optionally object name, manifest and DCS
//! mode (`*` matches anything). An entry that matches nothing in a run is stale: the test says
//! so, so fixed gaps leave the list.

use super::diff::Difference;
use serde::Deserialize;
use std::path::PathBuf;
use wildmatch::WildMatch;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub manifest: Option<String>,
    /// `endpoints` or `configmaps`; absent: both.
    #[serde(default)]
    pub mode: Option<String>,
    pub why: String,
}

impl Expectation {
    pub fn applies_to(&self, mode: &str) -> bool {
        self.mode.as_deref().is_none_or(|m| m == mode)
    }

    pub fn matches(&self, d: &Difference) -> bool {
        let m = |pattern: &str, value: &str| WildMatch::new(pattern).matches(value);
        m(&self.kind, &d.kind)
            && m(&self.path, &d.path)
            && self.name.as_deref().is_none_or(|p| m(p, &d.name))
            && self.manifest.as_deref().is_none_or(|p| m(p, &d.manifest))
    }

    pub fn label(&self) -> String {
        format!(
            "{} {} {}{} ({})",
            self.kind,
            self.name.as_deref().unwrap_or("*"),
            self.path,
            self.mode
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            self.why
        )
    }
}

pub fn load(file: &str) -> Vec<Expectation> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/parity")
        .join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let list: Option<Vec<Expectation>> =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    list.unwrap_or_default()
}
