//! The run's status phase: writes the status of every manifest that still exists, in order.

use crate::report::outcome::ManifestOutcome;
use serde_json::Value;
use std::collections::BTreeMap;

/// Writes each outcome's status with [`super::status::write_status`], `statuses` being the
/// manifests' current ones by "kind namespace/name". Returns how many were written; a status
/// that cannot be written is logged.
pub(super) async fn write_statuses(
    client: &kube::Client,
    outcomes: &[ManifestOutcome],
    statuses: &BTreeMap<String, Value>,
    field_manager: &str,
    now: &str,
) -> u64 {
    let mut written = 0;
    for outcome in outcomes {
        if outcome.manifest.uid.is_none() {
            continue; // an orphan's manifest is gone: nothing to write to
        }
        let previous = statuses
            .get(&format!(
                "{} {}/{}",
                outcome.manifest.kind, outcome.manifest.namespace, outcome.manifest.name
            ))
            .cloned();
        match super::status::write_status(client, outcome, previous, field_manager, now).await {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(manifest = %outcome.manifest, "writing status: {e}"),
        }
    }
    written
}
