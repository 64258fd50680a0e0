//! The run's status phase: writes the status of every manifest that still exists, in order.

use crate::report::outcome::ManifestOutcome;
use serde_json::Value;
use std::collections::BTreeMap;

/// Writes each outcome's status with [`super::status::write_status`], `statuses` being the
/// manifests' current ones by "kind namespace/name". A status that cannot be written is logged
/// and returned: the run did not finish its work.
pub(super) async fn write_statuses(
    client: &kube::Client,
    outcomes: &[ManifestOutcome],
    statuses: &BTreeMap<String, Value>,
    field_manager: &str,
    now: &str,
) -> StatusWrites {
    let mut writes = StatusWrites::default();
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
            Ok(true) => writes.written += 1,
            Ok(false) => {}
            Err(e) => {
                let e = crate::observe::describe_kube_error(&e);
                tracing::warn!(manifest = %outcome.manifest, "writing status: {e}");
                writes
                    .failed
                    .push(format!("writing the status of {}: {e}", outcome.manifest));
            }
        }
    }
    writes
}

#[derive(Debug, Default)]
pub(super) struct StatusWrites {
    pub written: u64,
    /// One line per status that could not be written.
    pub failed: Vec<String>,
}
