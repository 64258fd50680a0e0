//! Which changes deserve a run: the pure part of the watcher. A status write by `apply` bumps
//! neither the generation nor the annotations we read, so it never starts another run.

use crate::render::{ALLOW_DESTRUCTIVE_ANNOTATION, CONTROLLER_ANNOTATION, MODE_ANNOTATION};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// What of a manifest matters to a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub generation: Option<i64>,
    pub annotations: BTreeMap<String, String>,
    pub deleting: bool,
}

const WATCHED_ANNOTATIONS: &[&str] = &[
    CONTROLLER_ANNOTATION,
    ALLOW_DESTRUCTIVE_ANNOTATION,
    MODE_ANNOTATION,
];

impl Fingerprint {
    pub fn of(object: &Value) -> Fingerprint {
        let annotations = object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .map(|a| {
                a.iter()
                    .filter(|(k, _)| WATCHED_ANNOTATIONS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Fingerprint {
            generation: object
                .pointer("/metadata/generation")
                .and_then(Value::as_i64),
            annotations,
            deleting: object.pointer("/metadata/deletionTimestamp").is_some(),
        }
    }
}

/// Remembers each manifest's fingerprint and says when one changed.
#[derive(Debug, Default)]
pub struct Manifests {
    seen: BTreeMap<String, Fingerprint>,
}

impl Manifests {
    /// Records an object; true when it is new or changed in a way a run cares about.
    pub fn changed(&mut self, uid: &str, fingerprint: Fingerprint) -> bool {
        self.seen
            .insert(uid.to_string(), fingerprint.clone())
            .as_ref()
            != Some(&fingerprint)
    }

    pub fn forget(&mut self, uid: &str) -> bool {
        self.seen.remove(uid).is_some()
    }
}

/// Coalesces a burst of changes into one run: a run starts once there has been no change for
/// `delay`, or at the latest `4 × delay` after the first change of the burst (a steady stream of
/// changes must not postpone it forever).
#[derive(Debug)]
pub struct Debounce {
    delay: Duration,
    first: Option<Instant>,
    due: Option<Instant>,
}

impl Debounce {
    pub fn new(delay: Duration) -> Self {
        Debounce {
            delay,
            first: None,
            due: None,
        }
    }

    pub fn poke(&mut self, now: Instant) {
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + self.delay).min(first + self.delay * 4));
    }

    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// True once, when the quiet period (or the cap) has passed.
    pub fn fire(&mut self, now: Instant) -> bool {
        match self.due {
            Some(t) if t <= now => {
                self.due = None;
                self.first = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_writes_and_foreign_annotations_do_not_count() {
        let mut m = Manifests::default();
        let v1 = json!({"metadata": {"generation": 1, "annotations": {"other": "x"}}, "status": {"a": 1}});
        assert!(
            m.changed("u", Fingerprint::of(&v1)),
            "a new manifest counts"
        );
        let status_only = json!({"metadata": {"generation": 1, "annotations": {"other": "y"}}, "status": {"a": 2}});
        assert!(!m.changed("u", Fingerprint::of(&status_only)));
        let spec = json!({"metadata": {"generation": 2}});
        assert!(m.changed("u", Fingerprint::of(&spec)));
        let annotated = json!({"metadata": {"generation": 2, "annotations": {"postgres-reconciler.io/allow-destructive": "true"}}});
        assert!(m.changed("u", Fingerprint::of(&annotated)));
        let deleting = json!({"metadata": {"generation": 2, "deletionTimestamp": "2026-01-01T00:00:00Z", "annotations": {"postgres-reconciler.io/allow-destructive": "true"}}});
        assert!(m.changed("u", Fingerprint::of(&deleting)));
        let reporting = json!({"metadata": {"generation": 2, "deletionTimestamp": "2026-01-01T00:00:00Z", "annotations": {"postgres-reconciler.io/allow-destructive": "true", "postgres-reconciler.io/mode": "report"}}});
        assert!(
            m.changed("u", Fingerprint::of(&reporting)),
            "a mode switch counts"
        );
        assert!(m.forget("u") && !m.forget("u"));
    }

    #[test]
    fn debounce_waits_for_quiet_with_a_cap() {
        let start = Instant::now();
        let s = Duration::from_secs;
        let mut d = Debounce::new(s(5));
        assert!(!d.fire(start));
        d.poke(start);
        d.poke(start + s(3));
        assert_eq!(
            d.due(),
            Some(start + s(8)),
            "a later change extends the quiet period"
        );
        assert!(!d.fire(start + s(7)));
        assert!(d.fire(start + s(8)));
        assert!(!d.fire(start + s(9)), "fires once");
        // A steady stream: capped at 4 × delay after its first change.
        let mut d = Debounce::new(s(5));
        for t in 0..30 {
            d.poke(start + s(t));
        }
        assert_eq!(d.due(), Some(start + s(20)));
    }
}
