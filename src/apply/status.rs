//! Writes each manifest's status (only when it changes) and reports the run as Events.
//!
//! The status is computed by [`crate::report::status`]; here it is only read and written: a
//! server-side apply of the status subresource (status is ours alone, so conflicts are forced),
//! and an `events.k8s.io/v1` Event for a manifest whose status changed or that failed.

use crate::api::status::{PostgreSQLConfigStatus, PostgresqlStatus};
use crate::report::outcome::ManifestOutcome;
use crate::report::status::{
    StatusEvent, postgresql_status, postgresql_status_changed, postgresqlconfig_status,
    postgresqlconfig_status_changed, status_event,
};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};

/// The controller named in our Events.
pub const REPORTER: &str = "postgres-reconciler";

/// The longest Event note the API accepts (bytes).
const NOTE_LIMIT: usize = 1024;

/// The manifest kinds that carry a status: (apiVersion, kind, plural).
const POSTGRESQL: (&str, &str, &str) = ("acid.zalan.do/v1", "postgresql", "postgresqls");
const CONFIG: (&str, &str, &str) = (
    "containerconf.de/v1",
    "PostgreSQLConfig",
    "postgresqlconfigs",
);

/// Writes the status `outcome` calls for, unless it equals `previous` (the manifest's current
/// `status`, from the caller's list) apart from bookkeeping. Returns whether it wrote. Emits an
/// Event when the status changed or the manifest failed; an Event that cannot be written is
/// logged, not returned. A manifest deleted meanwhile is not an error (nothing to write to).
pub async fn write_status(
    client: &kube::Client,
    outcome: &ManifestOutcome,
    previous: Option<Value>,
    field_manager: &str,
    now: &str,
) -> Result<bool, kube::Error> {
    let m = &outcome.manifest;
    let (kind, status, changed) = match m.kind.as_str() {
        "postgresql" => {
            let previous = parse::<PostgresqlStatus>(previous, outcome);
            let new = postgresql_status(outcome, previous.as_ref(), now);
            let changed = postgresql_status_changed(previous.as_ref(), &new);
            (POSTGRESQL, to_json(&new), changed)
        }
        "PostgreSQLConfig" => {
            let previous = parse::<PostgreSQLConfigStatus>(previous, outcome);
            let new = postgresqlconfig_status(outcome, previous.as_ref(), now);
            let changed = postgresqlconfig_status_changed(previous.as_ref(), &new);
            (CONFIG, to_json(&new), changed)
        }
        other => {
            tracing::warn!(manifest = %m, "no status for manifests of kind {other}");
            return Ok(false);
        }
    };
    let (api_version, kind, plural) = kind;
    if changed {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &m.namespace,
            &resource(api_version, kind, plural),
        );
        let body = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": m.name, "namespace": m.namespace},
            "status": status,
        });
        let params = PatchParams::apply(field_manager).force();
        match api
            .patch_status(&m.name, &params, &Patch::Apply(&body))
            .await
        {
            Ok(_) => tracing::debug!(manifest = %m, "status written"),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tracing::warn!(manifest = %m, "not writing status: the manifest is gone");
                return Ok(false);
            }
            // Zalando's own postgresql CRD (installed instead of ours, `--skip-crds`) allows
            // only string values in status: write the one field both understand.
            Err(kube::Error::Api(s)) if s.code == 422 && kind == "postgresql" => {
                tracing::warn!(
                    manifest = %m,
                    "the postgresql CRD accepts only Zalando's status; writing PostgresClusterStatus alone ({})",
                    s.message
                );
                let minimal = json!({
                    "apiVersion": api_version,
                    "kind": kind,
                    "metadata": {"name": m.name, "namespace": m.namespace},
                    "status": {"PostgresClusterStatus": status.get("PostgresClusterStatus")},
                });
                api.patch_status(&m.name, &params, &Patch::Apply(&minimal))
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(event) = status_event(outcome, changed) {
        let reference = ObjectReference {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
            namespace: Some(m.namespace.clone()),
            name: Some(m.name.clone()),
            uid: m.uid.clone(),
            ..Default::default()
        };
        if let Err(e) = publish(client, &event, &reference).await {
            tracing::warn!(manifest = %m, "writing the {} Event: {e}", event.reason);
        }
    }
    Ok(changed)
}

async fn publish(
    client: &kube::Client,
    event: &StatusEvent,
    reference: &ObjectReference,
) -> Result<(), kube::Error> {
    let recorder = Recorder::new(client.clone(), Reporter::from(REPORTER));
    let event = Event {
        type_: if event.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: event.reason.into(),
        note: Some(truncate(&event.note, NOTE_LIMIT)),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, reference).await
}

/// The previous status, typed. One we cannot read (written by someone else in another shape)
/// counts as none: ours replaces it.
fn parse<T: serde::de::DeserializeOwned>(
    previous: Option<Value>,
    outcome: &ManifestOutcome,
) -> Option<T> {
    let previous = previous.filter(|v| !v.is_null())?;
    match serde_json::from_value(previous) {
        Ok(status) => Some(status),
        Err(e) => {
            tracing::warn!(manifest = %outcome.manifest, "the current status cannot be read, replacing it: {e}");
            None
        }
    }
}

fn to_json<T: serde::Serialize>(status: &T) -> Value {
    // Plain data: serializing cannot fail.
    serde_json::to_value(status).unwrap_or(Value::Null)
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// At most `limit` bytes, cut at a character boundary.
fn truncate(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn notes_fit_the_limit() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long, 1024);
        assert!(cut.len() <= 1024);
        assert!(cut.ends_with('…'));
    }
}
