//! Pure renderers of a [`Plan`]: terminal text, a pull-request comment in Markdown, and JSON.
//!
//! Every function here returns a `String` and does no I/O. The same plan always gives the same
//! bytes: no timestamps, no randomness, keys in a fixed order. Plans arrive masked already;
//! [`mask_secret`] masks Secret values once more before anything is printed, as a second line
//! of defence.

mod json;
mod markdown;
mod mask;
pub mod metrics;
pub mod outcome;
pub mod run;
pub mod status;
mod text;

#[cfg(test)]
mod tests;

pub use json::{json, json_to};
pub use markdown::{MARKDOWN_LIMIT, markdown};
pub use mask::{SENSITIVE, SENSITIVE_CHANGED, mask_patch, mask_secret, mask_secret_bodies};
pub use text::{text, text_to};

use crate::plan::{Action, Change, ObjectRef, Op, Risk, Target};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// Lines of context around each change in object diffs.
const CONTEXT_LINES: usize = 3;

/// The verb of an operation, as printed and as in JSON.
/// "update StatefulSet ns/x": how outcomes, drift and approvals name an action.
pub fn action_label(action: &crate::plan::Action) -> String {
    format!("{} {}", op_name(action.op), action.target)
}

pub fn op_name(op: Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::Update => "update",
        Op::Replace => "replace",
        Op::Delete => "delete",
        Op::Sql => "sql",
        Op::Restart => "restart",
    }
}

/// The symbol that leads an action's header (Terraform's, plus `>` for SQL and `↻` for restarts).
pub fn op_symbol(op: Op) -> &'static str {
    match op {
        Op::Create => "+",
        Op::Update => "~",
        Op::Replace => "-/+",
        Op::Delete => "-",
        Op::Sql => ">",
        Op::Restart => "↻",
    }
}

pub fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::Safe => "safe",
        Risk::Disruptive => "disruptive",
        Risk::Destructive => "destructive",
    }
}

/// Free text made safe for one line: line breaks and tabs become spaces, other control
/// characters (escape sequences from a manifest, say) become U+FFFD.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// `n thing` or `n things`.
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// One line of an object diff, without its line break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiffLine {
    /// `--- …` and `+++ …`: which sides are compared.
    File(String),
    /// `@@ -a,b +c,d @@`.
    Hunk(String),
    Equal(String),
    Delete(String),
    Insert(String),
}

impl DiffLine {
    /// The line as in a unified diff: tag at column 0.
    pub(crate) fn unified(&self) -> String {
        match self {
            DiffLine::File(s) | DiffLine::Hunk(s) => s.clone(),
            DiffLine::Equal(s) => format!(" {s}"),
            DiffLine::Delete(s) => format!("-{s}"),
            DiffLine::Insert(s) => format!("+{s}"),
        }
    }
}

/// What an action prints besides its header.
pub(crate) enum Body {
    /// A unified diff of the object's YAML, before → after; empty when both render alike.
    Diff(Vec<DiffLine>),
    /// SQL statements as printed (`SqlStatement::display`).
    Sql(Vec<String>),
    /// An HTTP request to Patroni's REST API: the request line, then its JSON body.
    Request(Vec<String>),
}

/// The body of an action, masked: Secret values never get past this function.
pub(crate) fn body(action: &Action) -> Body {
    match (&action.change, &action.target) {
        (Change::Sql { statements }, _) => Body::Sql(
            statements
                .iter()
                .map(|s| {
                    s.display()
                        .lines()
                        .map(one_line)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect(),
        ),
        (Change::Object { before, after, .. }, Target::Object(obj)) => {
            let (before, after) = mask_secret_bodies(obj, before.as_ref(), after.as_ref());
            Body::Diff(object_diff(obj, before.as_ref(), after.as_ref()))
        }
        // An object change aimed at a SQL target: nothing is known about what it holds, so
        // nothing of it is printed.
        (Change::Object { .. }, Target::Sql { .. } | Target::Patroni { .. }) => {
            Body::Diff(Vec::new())
        }
        // A restart, or Patroni's settings: the reason says everything (old → new values).
        (Change::Restart { .. }, _) => Body::Diff(Vec::new()),
        // Built masked: the password is only ever "(sensitive)" or "(generated)".
        (Change::SecretRotation(r), Target::Object(obj)) => {
            let (before, after) = r.shown();
            Body::Diff(object_diff(obj, Some(&before), Some(&after)))
        }
        (Change::SecretRotation(_), _) => Body::Diff(Vec::new()),
        (Change::PatroniRestart { url }, _) => Body::Request(vec![
            format!("POST {}/restart", url.trim_end_matches('/')),
            r#"{"restart_pending": true}"#.into(),
        ]),
        (Change::PatroniConfig { url, patch }, _) => {
            let mut lines = vec![format!("PATCH {}/config", url.trim_end_matches('/'))];
            let body = serde_json::to_string_pretty(patch).unwrap_or_default();
            lines.extend(body.lines().map(str::to_string));
            Body::Request(lines)
        }
    }
}

/// A unified diff of `before` and `after` as YAML; `None` is an absent object.
pub(crate) fn object_diff(
    obj: &ObjectRef,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Vec<DiffLine> {
    let old = yaml(before);
    let new = yaml(after);
    if old == new {
        return Vec::new();
    }
    let name = format!("{}/{}/{}", obj.kind, obj.namespace, obj.name);
    let old_name = match before {
        Some(_) => format!("live/{name}"),
        None => "/dev/null".to_owned(),
    };
    let new_name = match after {
        Some(_) => format!("planned/{name}"),
        None => "/dev/null".to_owned(),
    };
    let diff = TextDiff::from_lines(old.as_str(), new.as_str());
    let mut unified = diff.unified_diff();
    unified.context_radius(CONTEXT_LINES);
    let mut lines = vec![
        DiffLine::File(format!("--- {}", one_line(&old_name))),
        DiffLine::File(format!("+++ {}", one_line(&new_name))),
    ];
    for hunk in unified.iter_hunks() {
        lines.push(DiffLine::Hunk(hunk.header().to_string()));
        for change in hunk.iter_changes() {
            let text = change.to_string_lossy();
            let text = one_line(text.strip_suffix('\n').unwrap_or(&text));
            lines.push(match change.tag() {
                ChangeTag::Equal => DiffLine::Equal(text),
                ChangeTag::Delete => DiffLine::Delete(text),
                ChangeTag::Insert => DiffLine::Insert(text),
            });
        }
    }
    lines
}

/// An object as YAML, `apiVersion`, `kind` and `metadata` first, every other key sorted;
/// empty for an absent object.
pub(crate) fn yaml(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return String::new();
    };
    let ordered = Ordered {
        value,
        lead: &["apiVersion", "kind", "metadata"],
    };
    serde_yaml::to_string(&ordered)
        .unwrap_or_else(|e| format!("# cannot be shown as YAML: {}\n", one_line(&e.to_string())))
}

/// Serializes a JSON value with the keys of every object sorted (after `lead`, at the top
/// level only), whatever order the value's maps keep.
pub(crate) struct Ordered<'a> {
    pub(crate) value: &'a Value,
    pub(crate) lead: &'static [&'static str],
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(map) => {
                let rank = |k: &str| self.lead.iter().position(|l| *l == k);
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by(|a, b| match (rank(a), rank(b)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => a.cmp(b),
                });
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    out.serialize_entry(key, &Ordered::plain(&map[key]))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Ordered::plain(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

impl<'a> Ordered<'a> {
    /// Every key sorted.
    pub(crate) fn plain(value: &'a Value) -> Self {
        Ordered { value, lead: &[] }
    }
}
