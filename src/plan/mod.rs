//! Pure planning: (Desired, Observed) → Plan, an ordered list of actions, each with its target,
//! reason and risk. The same plan is printed by `plan` and executed by `apply`. No I/O here.

pub mod approval;
pub mod bootstrap_sources;
pub mod build;
pub mod diff;
pub mod dynamic_only;
pub mod edits;
pub mod fieldset;
pub mod finalizer;
pub mod human_users;
pub mod objects;
pub mod offline;
pub mod patroni;
pub mod rollout;
pub mod rotation;
pub mod scram;
pub mod sensitive_env;
pub mod shard;
pub mod sql;
pub mod standby_targets;
pub mod template_changes;

pub use crate::state::{DatabaseObservation, Observed, UnknownCause};
pub use build::plan;

use crate::render::ManifestRef;
use crate::state::CompactJson;
use crate::validate::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the JSON plan format: the minor number grows with additive changes.
pub const FORMAT_VERSION: &str = "1.1";

/// An ordered plan. `actions` is in execution order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Manifests that failed validation: skipped, reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidManifest>,
    /// Parts that could not be planned (a database that cannot be reached): the rest of the plan
    /// stands; these say what is unknown and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
    /// Rollouts that wait: outdated pods that are not restarted in this run, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
    /// Per manifest, the actions that run only with its approval, and the digest to approve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<approval::Approval>,
}

/// A cluster with outdated pods whose next restart waits for a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub manifest: ManifestRef,
    pub reason: String,
    /// Held on purpose (`enable_lazy_spilo_upgrade`): nothing is blocking it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lazy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidManifest {
    pub manifest: String,
    pub errors: Vec<String>,
}

impl From<&Invalid> for InvalidManifest {
    fn from(i: &Invalid) -> Self {
        InvalidManifest {
            manifest: i.manifest.clone(),
            errors: i.errors.iter().map(|e| e.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unknown {
    pub manifest: ManifestRef,
    /// What could not be planned, e.g. "database state".
    pub part: String,
    pub reason: String,
    #[serde(default)]
    pub cause: UnknownCause,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The manifest this action serves; None for objects shared by a namespace's clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestRef>,
    pub target: Target,
    pub op: Op,
    pub risk: Risk,
    /// Why, in words: "absent", "spec.replicas: 2 → 3", "password differs from the Secret".
    pub reason: String,
    pub change: Change,
}

/// What an action changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Target {
    Object(ObjectRef),
    /// A role, database, schema, extension or privilege on a PostgreSQL server.
    Sql {
        /// The server, as "cluster ns/name" or "external ns/secret".
        server: String,
        /// The database the statements run in.
        database: String,
        /// e.g. "role app", "database shop", "schema shop.data".
        object: String,
    },
    /// A cluster's Patroni: its dynamic configuration, or one member.
    Patroni {
        /// "namespace/name".
        cluster: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Object(o) => o.fmt(f),
            Target::Sql {
                server,
                database,
                object,
            } => write!(f, "{object} on {server} (database {database})"),
            Target::Patroni {
                cluster,
                member: None,
            } => write!(f, "Patroni configuration of cluster {cluster}"),
            Target::Patroni {
                cluster,
                member: Some(member),
            } => write!(f, "Patroni member {member} of cluster {cluster}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Create,
    Update,
    /// Delete and create again: an immutable field changed.
    Replace,
    Delete,
    /// Database DDL.
    Sql,
    /// Delete a pod so its StatefulSet recreates it on the new revision.
    Restart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    Safe,
    /// Interrupts service briefly (a pod restart, a switchover).
    Disruptive,
    /// Loses data or identity unless undone (replace, delete, DROP).
    Destructive,
}

/// The content of an action, safe to print: Secret values and passwords never appear here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Change {
    /// A Kubernetes object: the fields we own or want to own, before and after (masked), the
    /// RFC 6902 patch between them, and the full desired body the apply sends (masked in output).
    /// The bodies are held as compact text: as trees, a plan of 10,000 clusters' objects took
    /// gigabytes.
    Object {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<CompactJson>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<CompactJson>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        patch: Option<json_patch::Patch>,
        /// Live object's identity, for preconditions on delete and replace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_version: Option<String>,
        /// What apply sends instead of the rendered body, when the plan had to adjust it (a
        /// StatefulSet keeps the claim sizes it has: its claim template cannot change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        apply_body: Option<CompactJson>,
        /// Fields another manager holds become ours (server-side apply with `force`): an
        /// adopted object's, as its operator no longer runs, and imperative edits of fields the
        /// manifest sets (`plan::edits`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        take_over: bool,
    },
    /// SQL statements, in order, exactly as they run (passwords as placeholders).
    Sql { statements: Vec<SqlStatement> },
    /// Evict a pod (with its UID as precondition) so its StatefulSet recreates it: the
    /// PodDisruptionBudgets have their say, as with `kubectl drain`. A master first hands over
    /// to a replica through Patroni. A single instance, whose downtime was accepted (annotation
    /// or maintenance window), is deleted: its own budget would never let it go.
    Restart {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        switchover: Option<Switchover>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delete: bool,
    },
    /// `PATCH {url}/config` with this body: Patroni's dynamic configuration.
    PatroniConfig {
        url: String,
        patch: serde_json::Value,
    },
    /// `POST {url}/restart` (only if a restart is pending): the member restarts PostgreSQL for
    /// settings that need it; the pod stays.
    PatroniRestart { url: String },
    /// A credential Secret's rotation (`plan::rotation`): its `username` and `nextRotation`
    /// become these, and with `new_password` `apply` generates its new password, which the
    /// SQL of the same run gives the role. Pinned to the Secret's version when planned.
    SecretRotation(SecretRotation),
}

/// What a credential Secret holds besides its password, before and after its rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    pub before: RotationKeys,
    pub after: RotationKeys,
    pub new_password: bool,
}

impl SecretRotation {
    /// The Secret's `data` before and after, as printed: the password never, only whether a
    /// new one is generated.
    pub fn shown(&self) -> (serde_json::Value, serde_json::Value) {
        let data = |keys: &RotationKeys, password: &str| {
            serde_json::json!({"data": {
                "nextRotation": keys.next_rotation,
                "password": password,
                "username": keys.username,
            }})
        };
        let sensitive = crate::render::output::SENSITIVE;
        let after = if self.new_password {
            "(new, generated by this run)"
        } else {
            sensitive
        };
        (data(&self.before, sensitive), data(&self.after, after))
    }
}

/// The Secret keys a rotation writes, other than the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationKeys {
    pub username: String,
    /// RFC 3339; empty when rotation is off.
    pub next_rotation: String,
}

/// A Patroni switchover: `POST {url}/switchover` with the leader and the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switchover {
    pub url: String,
    pub leader: String,
    pub candidate: String,
}

/// One SQL statement. A statement that sets a password carries no password: `apply` reads it
/// from the named Secret (or generates it with the Secret) and adds the SCRAM verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlStatement {
    pub sql: String,
    /// Append `PASSWORD '<SCRAM verifier of this Secret's password>'` when executing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretKeyRef>,
    /// CREATE/DROP DATABASE cannot run inside a transaction block.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outside_transaction: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretKeyRef {
    pub namespace: String,
    pub name: String,
}

/// What a password looks like in every printed plan.
pub const MASKED_PASSWORD: &str = "'(sensitive)'";

impl SqlStatement {
    pub fn plain(sql: impl Into<String>) -> Self {
        SqlStatement {
            sql: sql.into(),
            password_from: None,
            outside_transaction: false,
        }
    }

    /// The statement as printed: exactly what runs, with the password masked.
    pub fn display(&self) -> String {
        match &self.password_from {
            Some(_) => format!("{} PASSWORD {MASKED_PASSWORD};", self.sql),
            None => format!("{};", self.sql),
        }
    }
}

/// Counts shown in summaries and written to status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub sql: usize,
    pub restart: usize,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.create + self.update + self.replace + self.delete + self.sql + self.restart
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} create, {} update, {} replace, {} delete, {} sql",
            self.create, self.update, self.replace, self.delete, self.sql
        )?;
        if self.restart > 0 {
            write!(f, ", {} restart", self.restart)?;
        }
        Ok(())
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for a in &self.actions {
            match a.op {
                Op::Create => s.create += 1,
                Op::Update => s.update += 1,
                Op::Replace => s.replace += 1,
                Op::Delete => s.delete += 1,
                Op::Sql => s.sql += 1,
                Op::Restart => s.restart += 1,
            }
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    pub fn destructive(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.risk == Risk::Destructive)
    }

    /// Pod restarts, revoked attributes, logins stopped: what interrupts service briefly.
    pub fn disruptive(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.risk == Risk::Disruptive)
    }
}
