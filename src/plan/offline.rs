//! Offline plans: without a cluster, "what is live" is either nothing, or a base set of manifests
//! (the target branch of a pull request) assumed to have been applied by us exactly.

use super::DatabaseObservation;
use super::Observed;
use super::sql::server_label;
use crate::render::Desired;
use crate::render::database::DesiredDatabaseState;
use crate::state::{ObservedDatabase, ObservedDatabaseState, ObservedRole, ObservedSchema};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Nothing is live: every object is created, every server is empty.
pub fn nothing_live(desired: &Desired) -> Observed {
    let mut observed = Observed::default();
    for m in &desired.manifests {
        observed
            .databases
            .entry(server_label(&m.database.server))
            .or_insert_with(|| DatabaseObservation::Known(ObservedDatabaseState::default()));
    }
    observed
}

/// The base manifests as if applied: their objects live and owned by `field_manager`, Secrets
/// present (passwords unknown, so never reported as drift), database state as desired.
pub fn base_live(base: &Desired, field_manager: &str) -> Observed {
    let mut observed = Observed {
        manifests: base.manifests.iter().map(|m| m.manifest.clone()).collect(),
        ..Observed::default()
    };
    let objects = base
        .manifests
        .iter()
        .flat_map(|m| m.objects.iter())
        .chain(base.shared.iter());
    for object in objects {
        let mut body = object.body.value();
        let fields = fields_v1(&body);
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "managedFields".into(),
                json!([{"manager": field_manager, "operation": "Apply", "apiVersion": object.api_version, "fieldsType": "FieldsV1", "fieldsV1": fields}]),
            );
        }
        observed.objects.push(body.into());
    }
    for m in &base.manifests {
        // A run has put the drop-database finalizer where the base asks for it.
        if m.drop_database_on_delete && !m.deleting {
            observed.finalizers.insert(
                m.manifest.to_string(),
                vec![super::finalizer::DROP_DATABASE_FINALIZER.to_string()],
            );
        }
        let state = as_observed(&m.database);
        match observed.databases.entry(server_label(&m.database.server)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(DatabaseObservation::Known(state));
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if let DatabaseObservation::Known(existing) = o.get_mut() {
                    existing.roles.extend(state.roles);
                    existing.databases.extend(state.databases);
                }
            }
        }
    }
    observed
}

/// The field set server-side apply would record for applying `value`.
fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k == "apiVersion" || k == "kind" {
                    continue;
                }
                out.insert(format!("f:{k}"), fields_v1(v));
            }
            Value::Object(out)
        }
        Value::Array(items)
            if items.iter().all(|i| i.get("name").is_some()) && !items.is_empty() =>
        {
            let mut out = Map::new();
            for item in items {
                let key = json!({"name": item.get("name")});
                let mut child = fields_v1(item).as_object().cloned().unwrap_or_default();
                child.insert(".".into(), json!({}));
                out.insert(format!("k:{key}"), Value::Object(child));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

fn as_observed(d: &DesiredDatabaseState) -> ObservedDatabaseState {
    let mut roles: BTreeMap<String, ObservedRole> = d
        .roles
        .values()
        .map(|r| {
            (
                r.name.clone(),
                ObservedRole {
                    attributes: r.attributes,
                    member_of: r.member_of.clone(),
                    admin_of: BTreeSet::new(),
                    parameters: r.parameters.clone(),
                    password: None,
                    comment: None,
                },
            )
        })
        .collect();
    // `GRANT r TO a WITH ADMIN OPTION` makes `a` a member of `r` holding the admin option.
    for role in d.roles.values() {
        for admin in &role.admins {
            if let Some(a) = roles.get_mut(admin) {
                a.member_of.insert(role.name.clone());
                a.admin_of.insert(role.name.clone());
            }
        }
    }
    let databases = d
        .databases
        .values()
        .map(|db| {
            let mut schemas: BTreeMap<String, ObservedSchema> = db
                .schemas
                .values()
                .map(|s| {
                    (
                        s.name.clone(),
                        ObservedSchema {
                            owner: s.owner.clone(),
                            usage: s.usage.clone(),
                        },
                    )
                })
                .collect();
            // The pooler's lookup schema, as its function's installation leaves it.
            if let Some(l) = &d.pooler_lookup {
                schemas
                    .entry(l.schema.clone())
                    .or_insert_with(|| ObservedSchema {
                        owner: crate::render::database::SUPERUSER_USERNAME.to_string(),
                        usage: BTreeSet::from([l.user.clone()]),
                    });
            }
            (
                db.name.clone(),
                ObservedDatabase {
                    owner: db.owner.clone(),
                    comment: None,
                    schemas: Some(schemas),
                    extensions: db.extensions.clone(),
                    default_privileges: db.default_privileges.clone(),
                    lookup_functions: d
                        .pooler_lookup
                        .iter()
                        .map(|l| (l.schema.clone(), super::sql::pooler::as_installed(l)))
                        .collect(),
                },
            )
        })
        .collect();
    ObservedDatabaseState { roles, databases }
}
