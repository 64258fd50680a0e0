//! Which roles and databases of a server its plan can read.
//!
//! Every role and database the reconciler makes carries an ownership comment naming its manifest
//! (`postgres-reconciler: <kind> <namespace>/<name>…`). When one PostgreSQL serves several
//! clusters' labels (a constant `postgres_host_template`, or several clusters' Services in front
//! of one server), each cluster's observation would otherwise hold every cluster's roles and
//! databases: memory and planning grow with the square of the fleet. What is left out is only
//! what another manifest made and nothing on this server names; everything else (roles made by
//! hand, by Spilo, by this server's manifests, or named anywhere in their desired state) stays,
//! so the plan reads the same.

use super::ObservedDatabaseState;
use crate::render::ManifestRef;
use crate::render::database::DesiredDatabaseState;
use serde_json::Value;
use std::collections::BTreeSet;

/// How every ownership comment begins.
pub const OWNERSHIP_PREFIX: &str = "postgres-reconciler: ";

/// The manifest ("kind namespace/name") an ownership comment names; None for any other comment.
pub fn made_for(comment: &str) -> Option<&str> {
    let rest = comment.strip_prefix(OWNERSHIP_PREFIX)?;
    let end = [rest.find(" uid "), rest.find(';')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The manifests whose desired state targets one server, and every name those states hold.
#[derive(Debug, Default, Clone)]
pub struct Relevance {
    manifests: BTreeSet<String>,
    names: BTreeSet<String>,
}

impl Relevance {
    /// Adds a manifest targeting the server. Its names are every string of its desired state (a
    /// superset of the role and database names it refers to as owner, member or grantee), so
    /// that no reference is missed; an extra string only keeps more.
    pub fn add(&mut self, manifest: &ManifestRef, state: &DesiredDatabaseState) {
        self.manifests.insert(manifest.to_string());
        if let Ok(value) = serde_json::to_value(state) {
            collect_strings(&value, &mut self.names);
        }
    }

    fn keeps(&self, name: &str, comment: Option<&str>) -> bool {
        match comment.and_then(made_for) {
            None => true,
            Some(manifest) => self.manifests.contains(manifest) || self.names.contains(name),
        }
    }
}

fn collect_strings(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            into.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            into.insert(k.clone());
            collect_strings(v, into);
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl ObservedDatabaseState {
    /// Leaves out the roles and databases another manifest made that nothing here names; an
    /// inspected database stays (the pooler's lookup function is wanted in every one).
    pub fn retain_relevant(&mut self, relevance: &Relevance) {
        self.roles
            .retain(|name, role| relevance.keeps(name, role.comment.as_deref()));
        self.databases.retain(|name, db| {
            db.schemas.is_some() || relevance.keeps(name, db.comment.as_deref())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::database::{DesiredRole, RoleAttributes, RoleOrigin, ServerTarget};
    use crate::state::{ObservedDatabase, ObservedRole};

    fn manifest(name: &str) -> ManifestRef {
        ManifestRef {
            kind: "postgresql".into(),
            namespace: "ns".into(),
            name: name.into(),
            uid: Some("u-1".into()),
            generation: None,
        }
    }

    fn role(comment: Option<&str>) -> ObservedRole {
        ObservedRole {
            attributes: RoleAttributes::NOLOGIN,
            member_of: BTreeSet::new(),
            admin_of: BTreeSet::new(),
            parameters: Default::default(),
            password: None,
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn an_ownership_comment_names_its_manifest() {
        assert_eq!(
            made_for("postgres-reconciler: postgresql ns/a uid 1; password rotation of app"),
            Some("postgresql ns/a")
        );
        assert_eq!(
            made_for("postgres-reconciler: PostgreSQLConfig ns/b"),
            Some("PostgreSQLConfig ns/b")
        );
        assert_eq!(made_for("made by hand"), None);
    }

    #[test]
    fn only_what_another_manifest_made_and_nothing_names_is_left_out() {
        let mut desired = DesiredDatabaseState {
            server: ServerTarget::Cluster {
                namespace: "ns".into(),
                cluster: "a".into(),
            },
            roles: Default::default(),
            databases: Default::default(),
            human_team: None,
            pooler_lookup: None,
        };
        let mut app = DesiredRole::nologin_if_missing("app_a", RoleOrigin::Manifest);
        app.member_of.insert("shared_b".into());
        desired.roles.insert("app_a".into(), app);
        let mut relevance = Relevance::default();
        relevance.add(&manifest("a"), &desired);

        let mut state = ObservedDatabaseState::default();
        let b = "postgres-reconciler: postgresql ns/b uid 2";
        for (name, comment) in [
            ("postgres", None),
            ("by_hand", Some("made by hand")),
            (
                "app_a",
                Some("postgres-reconciler: postgresql ns/a uid u-1"),
            ),
            (
                "old_a",
                Some("postgres-reconciler: postgresql ns/a uid u-1"),
            ),
            ("app_b", Some(b)),
            ("shared_b", Some(b)),
        ] {
            state.roles.insert(name.into(), role(comment));
        }
        let db = |comment: &str, inspected: bool| ObservedDatabase {
            owner: "postgres".into(),
            comment: Some(comment.into()),
            schemas: inspected.then(Default::default),
            extensions: Default::default(),
            default_privileges: Vec::new(),
            lookup_functions: Default::default(),
        };
        state.databases.insert("b".into(), db(b, false));
        state.databases.insert("b_inspected".into(), db(b, true));
        state.retain_relevant(&relevance);

        let roles: Vec<&str> = state.roles.keys().map(String::as_str).collect();
        assert_eq!(roles, ["app_a", "by_hand", "old_a", "postgres", "shared_b"]);
        let dbs: Vec<&str> = state.databases.keys().map(String::as_str).collect();
        assert_eq!(dbs, ["b_inspected"]);
    }
}
