//! Writes each manifest's status (only when it changes) and reports the run as Events.
//!
//! The status is computed by [`crate::report::status`]; here it is only read and written: a
//! server-side apply of the status subresource (status is ours alone, so conflicts are forced),
//! and an `events.k8s.io/v1` Event for a manifest whose status changed (a failure unchanged
//! since the last run writes nothing).

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
/// Event when the status changed; an Event that cannot be written is
/// logged, not returned. A manifest deleted meanwhile is not an error (nothing to write to).
pub async fn write_status(
    client: &kube::Client,
    outcome: &ManifestOutcome,
    previous: Option<Value>,
    field_manager: &str,
    now: &str,
) -> Result<bool, kube::Error> {
    let m = &outcome.manifest;
    // Under Zalando's CRD our earlier fallback left its note: write the fallback directly.
    let limited = previous
        .as_ref()
        .is_some_and(|p| p.get(LIMITED_STATUS_NOTE.0).is_some());
    let previous_cluster_status = previous
        .as_ref()
        .and_then(|p| p.get(CLUSTER_STATUS))
        .cloned();
    let previous_failure = previous
        .as_ref()
        .and_then(|p| p.get(FAILURE_SIGNATURE))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (kind, status, mut changed) = match m.kind.as_str() {
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
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &m.namespace,
        &resource(api_version, kind, plural),
    );
    let params = PatchParams::apply(field_manager).force();
    let body = |status: Value| {
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": m.name, "namespace": m.namespace},
            "status": status,
        })
    };
    // What Zalando's CRD accepts (string values only): its status value, our note, and the
    // signature of the failure it reports (so that a new failure is a change and gets its Event,
    // an unchanged one is not).
    let failure = status_event(outcome, true)
        .filter(|e| e.warning)
        .map(|e| e.signature());
    let mut minimal = json!({
        CLUSTER_STATUS: status.get(CLUSTER_STATUS),
        LIMITED_STATUS_NOTE.0: LIMITED_STATUS_NOTE.1,
    });
    if let Some(failure) = &failure {
        minimal[FAILURE_SIGNATURE] = json!(failure);
    }
    if limited && kind == POSTGRESQL.1 {
        changed = status.get(CLUSTER_STATUS) != previous_cluster_status.as_ref()
            || previous_failure != failure;
        if changed {
            write_or_gone(&api, m, &params, &body(minimal)).await?;
        }
    } else if changed {
        match api
            .patch_status(&m.name, &params, &Patch::Apply(&body(status.clone())))
            .await
        {
            Ok(_) => tracing::debug!(manifest = %m, "status written"),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tracing::warn!(manifest = %m, "not writing status: the manifest is gone");
                return Ok(false);
            }
            // Zalando's own postgresql CRD (installed instead of ours, `--skip-crds`) allows
            // only string values in status: write the one field both understand, and a note
            // that spares later runs this attempt. Server-side apply reports the schema
            // mismatch as a 500 ("failed to create typed patch object"), a validation as 422.
            Err(kube::Error::Api(s)) if rejects_our_status(&s) && kind == POSTGRESQL.1 => {
                tracing::warn!(
                    manifest = %m,
                    "the postgresql CRD accepts only Zalando's status; writing PostgresClusterStatus alone ({})",
                    s.message
                );
                write_or_gone(&api, m, &params, &body(minimal)).await?;
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
/// Zalando's status field, the one every `postgresql` CRD accepts.
const CLUSTER_STATUS: &str = "PostgresClusterStatus";

/// Written beside `PostgresClusterStatus` when the installed CRD rejects our status. Our CRD
/// does not know the field, so the apiserver drops it once ours is installed, and the full
/// status comes back.
const LIMITED_STATUS_NOTE: (&str, &str) = (
    "postgresReconcilerNote",
    "only PostgresClusterStatus: the installed postgresql CRD (Zalando's) accepts string values only; install postgres-reconciler's CRD for conditions",
);

/// Beside the note: the signature of the failure a limited status reports.
const FAILURE_SIGNATURE: &str = "postgresReconcilerFailure";

/// Whether the apiserver refused our status for its schema (not for being unavailable).
fn rejects_our_status(s: &kube::core::Status) -> bool {
    s.code == 422 || (s.code == 500 && s.message.contains("failed to create typed patch object"))
}

/// A status write whose manifest may have gone meanwhile (nothing to write to then).
async fn write_or_gone(
    api: &Api<DynamicObject>,
    m: &crate::render::ManifestRef,
    params: &PatchParams,
    body: &Value,
) -> Result<(), kube::Error> {
    match api.patch_status(&m.name, params, &Patch::Apply(body)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            tracing::warn!(manifest = %m, "not writing status: the manifest is gone");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

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
