//! `spec.standby`: exactly one source. Zalando's operator takes `standby_host` over a WAL path
//! and, with no source at all, renders none: the pods then bootstrap a new primary instead of a
//! standby, a second writer under the standby's name. We refuse both by field.

use super::Errors;
use crate::api::postgresql::Standby;

pub(super) fn check_standby(standby: &Standby, errs: &mut Errors) {
    let sources: Vec<&str> = [
        ("standby_host", standby.host()),
        ("s3_wal_path", standby.s3_wal_path()),
        ("gs_wal_path", standby.gs_wal_path()),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|_| name))
    .collect();
    match sources.len() {
        0 => errs.add(
            "spec.standby",
            "needs its source: standby_host (streaming from a running cluster), s3_wal_path or gs_wal_path (restoring from a WAL archive); without one the pods would start a new primary",
        ),
        1 => {}
        _ => errs.add(
            "spec.standby",
            format!("one source, got {}: keep one", sources.join(" and ")),
        ),
    }
    if let Some(port) = standby.port() {
        if standby.host().is_none() {
            errs.add("spec.standby.standby_port", "only with standby_host");
        } else if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            errs.add(
                "spec.standby.standby_port",
                format!("{port:?} is not a port (1-65535)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(json: serde_json::Value) -> Vec<String> {
        let standby: Standby = serde_json::from_value(json).unwrap();
        let mut errs = Errors::default();
        check_standby(&standby, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn one_source() {
        assert!(
            errors(serde_json::json!({"standby_host": "acid-a.ns", "standby_port": "5433"}))
                .is_empty()
        );
        assert!(
            errors(serde_json::json!({"s3_wal_path": "s3://b/spilo/acid-a/u/wal/17/"})).is_empty()
        );
        assert_eq!(errors(serde_json::json!({})).len(), 1);
        assert_eq!(
            errors(serde_json::json!({"s3_wal_path": "s3://x", "gs_wal_path": "gs://y"})),
            ["spec.standby: one source, got s3_wal_path and gs_wal_path: keep one"]
        );
        assert_eq!(
            errors(serde_json::json!({"gs_wal_path": "gs://y", "standby_port": "x"})),
            ["spec.standby.standby_port: only with standby_host"]
        );
        assert_eq!(
            errors(serde_json::json!({"standby_host": "h", "standby_port": "70000"})),
            ["spec.standby.standby_port: \"70000\" is not a port (1-65535)"]
        );
    }
}
