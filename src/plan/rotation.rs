//! Password rotation, as Zalando's operator does it: which credential Secrets rotate this run,
//! the login roles that follow from what each Secret names, and the rotation roles past their
//! retention. Pure: the run's clock (`Observed::now`) is an input, so tests fix the date.
//!
//! A Secret rotates when its `nextRotation` has passed (a Secret without one gets it first,
//! `password_rotation_interval` days on). In `NewRole` mode the Secret then names a new role
//! `<user><YYMMDD>`, a member of the user, with a new password; the user and the earlier
//! rotation roles keep their passwords until the retention drops those roles. In `InPlace` mode
//! the user's own password is replaced. Only a server whose catalog was read rotates: the
//! Secret and the role change in the same run.

use super::sql::rotation_comment;
use super::{Action, Change, ObjectRef, Op, Risk, RotationKeys, SecretKeyRef, SecretRotation};
use super::{SqlStatement, Target};
use crate::config::Config;
use crate::render::ManifestRef;
use crate::render::database::{DesiredDatabaseState, DesiredRole, RoleMode, RotationMode};
use crate::state::ObservedDatabaseState;
use base64::Engine;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use postgres_protocol::escape::escape_identifier;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Zalando's date suffix of rotation roles (Go's `060102`).
const SUFFIX_FORMAT: &str = "%y%m%d";
const SUFFIX_LEN: usize = 6;

/// What rotation makes of one manifest's database state this run.
#[derive(Debug, Default)]
pub struct Rotations {
    /// The desired state with the roles the Secrets name: a rotation role in place of its
    /// user as the holder of the Secret.
    pub database: Option<DesiredDatabaseState>,
    /// The Secrets' changes, before any SQL.
    pub secrets: Vec<Action>,
    /// The Secrets that get a new password this run.
    pub rotating: BTreeSet<SecretKeyRef>,
    /// `DROP ROLE` of the rotation roles past their retention.
    pub drops: Vec<Action>,
}

/// The rotation of `desired`'s Secrets (`live_secret` finds a live one) at `now`, against
/// the server's `observed` roles.
pub fn plan_rotations(
    manifest: &ManifestRef,
    desired: &DesiredDatabaseState,
    live_secret: &dyn Fn(&SecretKeyRef) -> Option<Value>,
    observed: &ObservedDatabaseState,
    now: Option<Timestamp>,
    config: &Config,
) -> Rotations {
    let mut out = Rotations::default();
    let Some(now) = now else {
        return out; // without a clock nothing is due
    };
    let interval = days(config.password_rotation_interval);
    let mut database = desired.clone();
    let mut logins: BTreeMap<String, String> = BTreeMap::new();
    for role in desired.roles.values() {
        let Some(name) = &role.secret else { continue };
        let key = SecretKeyRef {
            namespace: role
                .secret_namespace
                .clone()
                .unwrap_or_else(|| manifest.namespace.clone()),
            name: name.clone(),
        };
        // A Secret created this run names its user; its first rotation date comes next run.
        let Some(live) = live_secret(&key) else {
            continue;
        };
        let before = RotationKeys {
            username: data(&live, "username").unwrap_or_else(|| role.name.clone()),
            next_rotation: data(&live, "nextRotation").unwrap_or_default(),
        };
        let decision = match role.rotation {
            Some(mode) => due(role, mode, &before, now, interval),
            None => reset(role, &before),
        };
        let login = match &decision {
            Some(d) => d.after.username.clone(),
            None if role.rotation.is_some() => before.username.clone(),
            None => role.name.clone(),
        };
        if let Some(d) = decision {
            if d.new_password {
                out.rotating.insert(key.clone());
            }
            out.secrets
                .push(secret_action(manifest, &key, &live, before, d));
        }
        if login != role.name {
            if let Some(user) = database.roles.get_mut(&role.name) {
                user.secret = None; // its password stays what it was
            }
            database
                .roles
                .insert(login.clone(), rotation_role(role, &login));
        }
        logins.insert(role.name.clone(), login);
    }
    out.drops = expired(manifest, &database, &logins, observed, now, config);
    out.database = Some(database);
    out
}

/// A Secret's change this run, with the words the plan shows.
struct Decision {
    after: RotationKeys,
    new_password: bool,
    reason: String,
    risk: Risk,
}

/// Zalando's `rotatePasswordInSecret`: the first rotation date when the Secret has none (or
/// an unreadable one), an earlier one when the interval shrank, and the rotation when it
/// passed or when the Secret still names a rotation role of a user now rotated in place.
fn due(
    role: &DesiredRole,
    mode: RotationMode,
    before: &RotationKeys,
    now: Timestamp,
    interval: SignedDuration,
) -> Option<Decision> {
    let latest = now.saturating_add(interval).ok()?;
    let parsed = before.next_rotation.parse::<Timestamp>().ok();
    let next = parsed.map_or(latest, |t| t.min(latest));
    let expected = match mode {
        RotationMode::NewRole => format!("{}{}", role.name, suffix(now)),
        RotationMode::InPlace => role.name.clone(),
    };
    let user = &role.name;
    let named_elsewhere = before.username != *user && !is_rotation_of(&before.username, user);
    let back_in_place = mode == RotationMode::InPlace && before.username != *user;
    let risk = match mode {
        RotationMode::NewRole => Risk::Safe,
        // The old password stops working: clients must read the Secret again.
        RotationMode::InPlace => Risk::Disruptive,
    };
    let rotated = |reason: String| Decision {
        after: RotationKeys {
            username: expected.clone(),
            next_rotation: latest.to_string(),
        },
        new_password: true,
        reason,
        risk,
    };
    let how = match mode {
        RotationMode::NewRole => format!("a new role {expected}, a member of {user}"),
        RotationMode::InPlace => format!("{user}'s password replaced"),
    };
    if back_in_place || named_elsewhere {
        return Some(rotated(format!(
            "the Secret names {} where {} is rotated {}: rotated now ({how})",
            before.username,
            user,
            match mode {
                RotationMode::NewRole => "with new roles",
                RotationMode::InPlace => "in place",
            }
        )));
    }
    if now > next {
        return Some(rotated(format!(
            "nextRotation {} passed: {how}; the next is due {}",
            date(next),
            date(latest)
        )));
    }
    // Only the date changes: the password stays.
    let redated = |reason: String| Decision {
        after: RotationKeys {
            username: before.username.clone(),
            next_rotation: latest.to_string(),
        },
        new_password: false,
        reason,
        risk: Risk::Safe,
    };
    let days = interval.as_hours() / 24;
    // Zalando compares with the earlier date but never writes it, so a shorter interval
    // would only take effect after the longer one; written, it does.
    if let Some(later) = parsed.filter(|t| *t > latest) {
        return Some(redated(format!(
            "password_rotation_interval is {days} days: the next rotation moves from {} to {}",
            date(later),
            date(latest)
        )));
    }
    if parsed.is_none() {
        return Some(redated(format!(
            "password rotation of {user} starts: the first is due {} (password_rotation_interval {days} days)",
            date(latest),
        )));
    }
    None
}

/// Rotation turned off for a user whose Secret names one of its rotation roles: the Secret
/// names the user again, with a new password and no rotation date (as Zalando does).
fn reset(role: &DesiredRole, before: &RotationKeys) -> Option<Decision> {
    if !is_rotation_of(&before.username, &role.name) {
        return None;
    }
    Some(Decision {
        after: RotationKeys {
            username: role.name.clone(),
            next_rotation: String::new(),
        },
        new_password: true,
        reason: format!(
            "password rotation of {} is off: the Secret names it again, with a new password, instead of {}",
            role.name, before.username
        ),
        risk: Risk::Safe,
    })
}

/// The role a Secret names after a rotation: the user's attributes and settings, a member of
/// the user, holding the Secret.
fn rotation_role(user: &DesiredRole, login: &str) -> DesiredRole {
    DesiredRole {
        name: login.to_string(),
        attributes: user.attributes,
        member_of: BTreeSet::from([user.name.clone()]),
        admins: BTreeSet::new(),
        parameters: user.parameters.clone(),
        secret: user.secret.clone(),
        secret_namespace: user.secret_namespace.clone(),
        mode: RoleMode::Managed,
        origin: user.origin.clone(),
        rotation: None,
        rotation_of: Some(user.name.clone()),
    }
}

/// `DROP ROLE` of each rotation role this manifest made (its comment says so) whose date
/// suffix is older than the retention (at least twice the interval, as Zalando enforces), and
/// that no Secret names and the manifest does not list. PostgreSQL refuses to drop a role that
/// still owns objects or holds privileges: then the action fails and nothing is lost.
fn expired(
    manifest: &ManifestRef,
    database: &DesiredDatabaseState,
    logins: &BTreeMap<String, String>,
    observed: &ObservedDatabaseState,
    now: Timestamp,
    config: &Config,
) -> Vec<Action> {
    let retention_days = config
        .password_rotation_user_retention
        .max(2 * config.password_rotation_interval);
    let Ok(cutoff) = now.saturating_sub(days(retention_days)) else {
        return Vec::new();
    };
    let server = super::sql::server_label(&database.server);
    let mut drops = Vec::new();
    for (user, login) in logins {
        let comment = rotation_comment(manifest, user);
        for (name, role) in &observed.roles {
            if name == login
                || database.roles.contains_key(name)
                || role.comment.as_deref() != Some(comment.as_str())
                || !is_rotation_of(name, user)
            {
                continue;
            }
            let Some(made) = made_on(&name[user.len()..]) else {
                continue;
            };
            let Ok(made_at) = made.to_zoned(TimeZone::UTC).map(|z| z.timestamp()) else {
                continue;
            };
            if made_at >= cutoff {
                continue;
            }
            drops.push(Action {
                manifest: Some(manifest.clone()),
                target: Target::Sql {
                    server: server.clone(),
                    database: "postgres".into(),
                    object: format!("role {name}"),
                },
                op: Op::Sql,
                risk: Risk::Disruptive,
                reason: format!(
                    "rotation role of {user} made {made}, past its retention of {retention_days} days (password_rotation_user_retention): its logins stop"
                ),
                change: Change::Sql {
                    statements: vec![SqlStatement::plain(format!(
                        "DROP ROLE {}",
                        escape_identifier(name)
                    ))],
                },
            });
        }
    }
    drops
}

fn secret_action(
    manifest: &ManifestRef,
    key: &SecretKeyRef,
    live: &Value,
    before: RotationKeys,
    d: Decision,
) -> Action {
    let meta = |field: &str| {
        live.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Action {
        manifest: Some(manifest.clone()),
        target: Target::Object(ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        }),
        op: Op::Update,
        risk: d.risk,
        reason: d.reason,
        change: Change::SecretRotation(SecretRotation {
            uid: meta("uid"),
            resource_version: meta("resourceVersion"),
            before,
            after: d.after,
            new_password: d.new_password,
        }),
    }
}

/// Whether `name` is `user` followed by a date suffix.
fn is_rotation_of(name: &str, user: &str) -> bool {
    name.strip_prefix(user)
        .is_some_and(|rest| made_on(rest).is_some())
}

/// The date of a rotation role's suffix (`YYMMDD`).
fn made_on(suffix: &str) -> Option<Date> {
    if suffix.len() != SUFFIX_LEN || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::strptime(SUFFIX_FORMAT, suffix).ok()
}

fn suffix(now: Timestamp) -> String {
    now.to_zoned(TimeZone::UTC)
        .strftime(SUFFIX_FORMAT)
        .to_string()
}

fn date(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).date().to_string()
}

fn days(n: u32) -> SignedDuration {
    SignedDuration::from_hours(24 * i64::from(n))
}

/// A key of a live Secret's `data`, decoded.
fn data(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests;
