//! `spec.clone`: a clone that cannot work is refused by field. Zalando's operator renders what
//! it can and logs the rest; the pods then crash-loop, or bootstrap an empty cluster where the
//! user asked for a copy.

use super::Errors;
use super::names::is_dns1035_label;
use crate::api::postgresql::CloneSource;

/// `own_name` is the cluster's; `operator_archive`: the operator has a WAL bucket configured.
pub(super) fn check_clone(
    clone: &CloneSource,
    own_name: &str,
    is_standby: bool,
    operator_archive: bool,
    errs: &mut Errors,
) {
    let archive_fields = [
        ("s3_wal_path", clone.s3_wal_path()),
        ("s3_endpoint", clone.s3_endpoint()),
        ("s3_access_key_id", clone.s3_access_key_id()),
        ("s3_secret_access_key", clone.s3_secret_access_key()),
    ];
    if !clone.is_on() {
        if clone.timestamp().is_some() || archive_fields.iter().any(|(_, v)| v.is_some()) {
            errs.add(
                "spec.clone.cluster",
                "required: the cluster to clone from (without it the clone is ignored and the cluster starts empty)",
            );
        }
        return;
    }
    if is_standby {
        errs.add(
            "spec.clone",
            "a cluster is a clone or a standby, not both: remove one",
        );
    }
    let source = clone.cluster.as_str();
    if source == own_name {
        errs.add("spec.clone.cluster", "a cluster cannot clone itself");
    }
    match clone.timestamp() {
        None => {
            if !is_dns1035_label(source) || source.len() > 63 {
                errs.add(
                    "spec.clone.cluster",
                    format!("{source:?} is not a cluster's Service name (a DNS-1035 label of at most 63 characters)"),
                );
            }
            for (field, value) in archive_fields {
                if value.is_some() {
                    errs.add(
                        format!("spec.clone.{field}"),
                        format!("used only with spec.clone.timestamp: without one the clone copies the running cluster {source} and ignores the archive"),
                    );
                }
            }
        }
        Some(timestamp) => {
            if !is_timestamp_with_offset(timestamp) {
                errs.add(
                    "spec.clone.timestamp",
                    format!("{timestamp:?} is not an RFC 3339 time with a numeric offset, e.g. 2026-11-30T12:00:00+00:00"),
                );
            }
            if clone.s3_wal_path().is_none() {
                if !operator_archive {
                    errs.add(
                        "spec.clone.timestamp",
                        format!("a point-in-time clone restores from {source}'s WAL archive: give spec.clone.s3_wal_path, or configure the operator's wal_s3_bucket, wal_gs_bucket or wal_az_storage_account"),
                    );
                } else if clone.uid().is_none() {
                    errs.add(
                        "spec.clone.uid",
                        format!("needed to find {source}'s archive in the operator's bucket (its pods archive under spilo/{source}/<uid>/wal): the uid of {source}'s manifest"),
                    );
                }
            }
        }
    }
    if let Some(uid) = clone.uid()
        && !is_uuid(uid)
    {
        errs.add(
            "spec.clone.uid",
            format!("{uid:?} is not a uid (a UUID, as metadata.uid of the source's manifest)"),
        );
    }
}

/// RFC 3339 with a numeric offset, as Zalando's CRD requires (`Z` is refused there).
fn is_timestamp_with_offset(value: &str) -> bool {
    let offset = value.len() >= 6 && {
        let tail = &value.as_bytes()[value.len() - 6..];
        matches!(tail[0], b'+' | b'-') && tail[3] == b':'
    };
    offset && value.parse::<jiff::Timestamp>().is_ok()
}

fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(json: serde_json::Value, archive: bool) -> Vec<String> {
        let clone: CloneSource = serde_json::from_value(json).unwrap();
        let mut errs = Errors::default();
        check_clone(&clone, "acid-clone", false, archive, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    const UID: &str = "6f9a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn clones_that_can_work() {
        assert!(errors(serde_json::json!({"cluster": "acid-source"}), false).is_empty());
        assert!(errors(serde_json::json!({"cluster": ""}), false).is_empty());
        assert!(
            errors(
                serde_json::json!({"cluster": "acid-source", "uid": UID, "timestamp": "2026-11-30T12:00:00+01:00"}),
                true
            )
            .is_empty()
        );
        assert!(
            errors(
                serde_json::json!({"cluster": "acid-source", "timestamp": "2026-11-30T12:00:00-08:00",
                    "s3_wal_path": "s3://b/spilo/acid-source/x/wal/15", "s3_endpoint": "http://minio:9000"}),
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn clones_that_cannot_work_name_their_field() {
        let first = |json, archive| errors(json, archive).first().cloned().unwrap_or_default();
        assert!(
            first(
                serde_json::json!({"cluster": "", "timestamp": "2026-11-30T12:00:00+01:00"}),
                true
            )
            .starts_with("spec.clone.cluster: required")
        );
        assert!(
            first(
                serde_json::json!({"cluster": "acid-source", "s3_wal_path": "s3://b"}),
                true
            )
            .starts_with("spec.clone.s3_wal_path: used only with spec.clone.timestamp")
        );
        assert!(
            first(serde_json::json!({"cluster": "Acid_Source"}), false)
                .starts_with("spec.clone.cluster: \"Acid_Source\" is not a cluster's Service name")
        );
        assert!(
            first(serde_json::json!({"cluster": "acid-source", "timestamp": "2026-11-30T12:00:00Z", "s3_wal_path": "s3://b"}), false)
                .starts_with("spec.clone.timestamp: \"2026-11-30T12:00:00Z\" is not an RFC 3339 time with a numeric offset")
        );
        assert!(
            first(serde_json::json!({"cluster": "acid-source", "timestamp": "2026-11-30T12:00:00+00:00"}), false)
                .contains("give spec.clone.s3_wal_path, or configure the operator's wal_s3_bucket")
        );
        assert!(
            first(serde_json::json!({"cluster": "acid-source", "timestamp": "2026-11-30T12:00:00+00:00"}), true)
                .starts_with("spec.clone.uid: needed to find acid-source's archive")
        );
        assert!(
            first(
                serde_json::json!({"cluster": "acid-source", "uid": "x"}),
                true
            )
            .starts_with("spec.clone.uid: \"x\" is not a uid")
        );
        assert!(
            first(serde_json::json!({"cluster": "acid-clone"}), true)
                .starts_with("spec.clone.cluster: a cluster cannot clone itself")
        );
    }
}
