//! Roles: creation, attributes, passwords, role-wide settings and memberships.
//!
//! Memberships are compared pairwise, (grantee, role): the grantee should be a member of the role
//! when the role is in its `member_of` or the grantee is in the role's `admins` (ADMIN OPTION
//! makes a member on every PostgreSQL version: `GRANT r TO a WITH ADMIN OPTION`). Missing grants
//! are added; a membership or ADMIN OPTION is revoked only when both roles are `Managed` by this
//! desired state — other tools grant memberships in roles we do not manage.

use super::{Ctx, MAINTENANCE_DB, PasswordState, ident, literal, ownership_comment};
use crate::plan::scram::verifier_matches;
use crate::plan::{Action, Risk, SecretKeyRef, SqlStatement};
use crate::render::database::{
    DesiredDatabaseState, DesiredRole, RoleAttributes, RoleMode, RoleOrigin,
};
use crate::state::ObservedDatabaseState;
use std::collections::{BTreeMap, BTreeSet};

/// `CREATE ROLE` with every attribute spelled out (and the Secret's password), the ownership
/// comment and the role's settings, for each desired role the server lacks.
pub(super) fn create_roles(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    desired
        .roles
        .values()
        .filter(|role| !observed.roles.contains_key(&role.name))
        .map(|role| {
            let name = ident(&role.name);
            let create = SqlStatement {
                password_from: ctx.secret_of(role),
                ..SqlStatement::plain(format!(
                    "CREATE ROLE {name} WITH {}",
                    attribute_words(&role.attributes).join(" ")
                ))
            };
            let comment = match (&role.rotation_of, &role.origin) {
                (Some(user), _) => super::rotation_comment(ctx.manifest, user),
                (None, RoleOrigin::TeamsApi { team }) => super::team_comment(ctx.manifest, team),
                (None, _) => ownership_comment(ctx.manifest),
            };
            let comment =
                SqlStatement::plain(format!("COMMENT ON ROLE {name} IS {}", literal(&comment)));
            let mut statements = vec![create, comment];
            statements.extend(
                role.parameters
                    .iter()
                    .map(|(k, v)| set_parameter(role, k, v)),
            );
            ctx.action(
                MAINTENANCE_DB,
                format!("role {}", role.name),
                "absent".into(),
                Risk::Safe,
                statements,
            )
        })
        .collect()
}

/// `ALTER ROLE … NOLOGIN` for login roles this manifest created (their comment names it, uid
/// included) that it no longer lists: with `removed_roles: nologin`, removing a user from a
/// manifest stops its logins. Nothing is dropped: its objects, grants and Secret stay, and
/// listing it again gives it LOGIN back.
pub(super) fn retire_removed_roles(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let ours = ownership_comment(ctx.manifest);
    observed
        .roles
        .iter()
        .filter(|(name, role)| {
            role.attributes.login
                && role.comment.as_deref() == Some(ours.as_str())
                && !desired.roles.contains_key(*name)
        })
        .map(|(name, _)| {
            ctx.action(
                MAINTENANCE_DB,
                format!("role {name}"),
                "removed from the manifest (removed_roles: nologin): its logins stop; its objects, grants and Secret stay".into(),
                Risk::Disruptive,
                vec![SqlStatement::plain(format!("ALTER ROLE {} NOLOGIN", ident(name)))],
            )
        })
        .collect()
}

/// `ALTER ROLE` for existing roles: differing attributes and listed settings (`Managed` roles),
/// and the password when it differs from the Secret's or the Secret is about to be created
/// (every role with a Secret: the Secret is the source of truth).
pub(super) fn alter_roles(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
    passwords: &dyn Fn(&SecretKeyRef) -> PasswordState,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for role in desired.roles.values() {
        let Some(current) = observed.roles.get(&role.name) else {
            continue;
        };
        let name = ident(&role.name);
        let mut statements = Vec::new();
        let mut reasons = Vec::new();
        let mut risk = Risk::Safe;

        if role.mode == RoleMode::Managed {
            let changes = attribute_changes(&current.attributes, &role.attributes);
            if !changes.is_empty() {
                let words: Vec<&str> = changes.iter().map(|c| c.to).collect();
                statements.push(SqlStatement::plain(format!(
                    "ALTER ROLE {name} WITH {}",
                    words.join(" ")
                )));
                let shown: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{} → {}", c.from, c.to))
                    .collect();
                reasons.push(format!("attributes differ: {}", shown.join(", ")));
                if changes.iter().any(|c| c.revokes) {
                    risk = Risk::Disruptive;
                }
            }
        }

        if let Some(key) = ctx.secret_of(role) {
            let secret = &key.name;
            let why = match passwords(&key) {
                PasswordState::SecretAbsent => Some(format!(
                    "Secret {secret} is absent: the role gets the password it is created with"
                )),
                PasswordState::Known(password) => {
                    let stored = current.password.as_deref().unwrap_or_default();
                    (!verifier_matches(&password, stored))
                        .then(|| format!("password differs from Secret {secret}"))
                }
                PasswordState::Unreadable => None,
                PasswordState::Rotating => Some(format!(
                    "Secret {secret} gets a new password this run (password rotation)"
                )),
            };
            if let Some(why) = why {
                statements.push(SqlStatement {
                    password_from: Some(key.clone()),
                    ..SqlStatement::plain(format!("ALTER ROLE {name}"))
                });
                reasons.push(why);
                // Clients still using the old password fail until they pick up the new one.
                risk = Risk::Disruptive;
            }
        }

        if role.mode == RoleMode::Managed {
            for (key, value) in &role.parameters {
                let have = current.parameters.get(key);
                if have.is_some_and(|h| parameter_equal(key, h, value)) {
                    continue;
                }
                statements.push(set_parameter(role, key, value));
                reasons.push(match have {
                    Some(h) => format!("parameter {key}: {h} → {value}"),
                    None => format!("parameter {key} unset, wanted {value}"),
                });
            }
        }

        if !statements.is_empty() {
            actions.push(ctx.action(
                MAINTENANCE_DB,
                format!("role {}", role.name),
                reasons.join("; "),
                risk,
                statements,
            ));
        }
    }
    actions
}

/// `GRANT`/`REVOKE` of memberships, one action per grantee.
pub(super) fn memberships(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let wanted = wanted_memberships(desired, observed);
    let managed: BTreeSet<&str> = desired
        .roles
        .values()
        .filter(|r| r.mode == RoleMode::Managed)
        .map(|r| r.name.as_str())
        .collect();
    let grantees: BTreeSet<&str> = wanted
        .keys()
        .copied()
        .chain(managed.iter().copied())
        .collect();
    let nothing = BTreeSet::new();

    let mut actions = Vec::new();
    for grantee in grantees {
        let wants = wanted.get(grantee);
        let current = observed.roles.get(grantee);
        let member_of = current.map_or(&nothing, |c| &c.member_of);
        let admin_of = current.map_or(&nothing, |c| &c.admin_of);
        let g = ident(grantee);
        let mut statements = Vec::new();
        let mut reasons = Vec::new();
        let mut risk = Risk::Safe;

        for (&role, &admin) in wants.into_iter().flatten() {
            let r = ident(role);
            if admin && !admin_of.contains(role) {
                statements.push(SqlStatement::plain(format!(
                    "GRANT {r} TO {g} WITH ADMIN OPTION"
                )));
                reasons.push(if member_of.contains(role) {
                    format!("ADMIN OPTION on {role} added")
                } else {
                    format!("member of {role} with ADMIN OPTION added")
                });
            } else if !admin && !member_of.contains(role) {
                statements.push(SqlStatement::plain(format!("GRANT {r} TO {g}")));
                reasons.push(format!("member of {role} added"));
            }
        }

        if managed.contains(grantee) {
            for role in member_of.iter().filter(|r| managed.contains(r.as_str())) {
                let r = ident(role);
                match wants.and_then(|w| w.get(role)) {
                    None => {
                        statements.push(SqlStatement::plain(format!("REVOKE {r} FROM {g}")));
                        reasons.push(format!("member of {role} revoked"));
                        risk = Risk::Disruptive;
                    }
                    Some(false) if admin_of.contains(role) => {
                        statements.push(SqlStatement::plain(format!(
                            "REVOKE ADMIN OPTION FOR {r} FROM {g}"
                        )));
                        reasons.push(format!("ADMIN OPTION on {role} revoked"));
                        risk = Risk::Disruptive;
                    }
                    Some(_) => {}
                }
            }
        }

        if !statements.is_empty() {
            actions.push(ctx.action(
                MAINTENANCE_DB,
                format!("role {grantee}"),
                reasons.join("; "),
                risk,
                statements,
            ));
        }
    }
    actions
}

/// grantee → role → with ADMIN OPTION. A role's `member_of` and `admins` count when the role is
/// `Managed`, or `EnsureExists` and created by this plan (an existing one is left as it is).
fn wanted_memberships<'a>(
    desired: &'a DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> BTreeMap<&'a str, BTreeMap<&'a String, bool>> {
    let mut wanted: BTreeMap<&str, BTreeMap<&String, bool>> = BTreeMap::new();
    let counts =
        |r: &DesiredRole| r.mode == RoleMode::Managed || !observed.roles.contains_key(&r.name);
    for role in desired.roles.values().filter(|r| counts(r)) {
        for group in &role.member_of {
            wanted
                .entry(role.name.as_str())
                .or_default()
                .entry(group)
                .or_insert(false);
        }
        for admin in &role.admins {
            wanted
                .entry(admin.as_str())
                .or_default()
                .insert(&role.name, true);
        }
    }
    wanted
}

/// `SUPERUSER`/`NOSUPERUSER`, … in PostgreSQL's order.
fn attribute_words(a: &RoleAttributes) -> Vec<&'static str> {
    attribute_table(a)
        .iter()
        .map(|(on, yes, no)| if *on { *yes } else { *no })
        .collect()
}

fn attribute_table(a: &RoleAttributes) -> [(bool, &'static str, &'static str); 7] {
    [
        (a.superuser, "SUPERUSER", "NOSUPERUSER"),
        (a.createdb, "CREATEDB", "NOCREATEDB"),
        (a.createrole, "CREATEROLE", "NOCREATEROLE"),
        (a.inherit, "INHERIT", "NOINHERIT"),
        (a.login, "LOGIN", "NOLOGIN"),
        (a.replication, "REPLICATION", "NOREPLICATION"),
        (a.bypassrls, "BYPASSRLS", "NOBYPASSRLS"),
    ]
}

struct AttributeChange {
    from: &'static str,
    to: &'static str,
    /// The attribute is taken away.
    revokes: bool,
}

fn attribute_changes(current: &RoleAttributes, wanted: &RoleAttributes) -> Vec<AttributeChange> {
    attribute_table(current)
        .into_iter()
        .zip(attribute_table(wanted))
        .filter(|((have, ..), (want, ..))| have != want)
        .map(|((have, yes, no), (want, ..))| AttributeChange {
            from: if have { yes } else { no },
            to: if want { yes } else { no },
            revokes: have && !want,
        })
        .collect()
}

/// Settings whose value is a list of names: PostgreSQL quotes each element as an identifier when
/// storing them, so they are sent as a list of literals and compared element by element.
const LIST_PARAMETERS: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "local_preload_libraries",
    "session_preload_libraries",
];

fn is_list(key: &str) -> bool {
    LIST_PARAMETERS.contains(&key.to_ascii_lowercase().as_str())
}

/// `ALTER ROLE … SET key TO value`; list settings as one literal per element.
fn set_parameter(role: &DesiredRole, key: &str, value: &str) -> SqlStatement {
    let name: Vec<String> = key.split('.').map(ident).collect();
    let value = if is_list(key) {
        let elements: Vec<String> = split_list(value).iter().map(|e| literal(e)).collect();
        if elements.is_empty() {
            literal("")
        } else {
            elements.join(", ")
        }
    } else {
        literal(value)
    };
    SqlStatement::plain(format!(
        "ALTER ROLE {} SET {} TO {value}",
        ident(&role.name),
        name.join(".")
    ))
}

fn parameter_equal(key: &str, stored: &str, wanted: &str) -> bool {
    if is_list(key) {
        split_list(stored) == split_list(wanted)
    } else {
        stored == wanted
    }
}

/// Splits a list of identifiers as PostgreSQL's `SplitIdentifierString` does: comma-separated,
/// blanks around elements ignored, `"…"` quoted (with `""` for a quote) kept as written,
/// unquoted elements folded to lower case.
pub(super) fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut element = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        element.push('"');
                    } else {
                        break;
                    }
                } else {
                    element.push(c);
                }
            }
            while chars.peek().is_some_and(|&c| c != ',') {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                element.push(c);
                chars.next();
            }
            element = element.trim_end().to_ascii_lowercase();
        }
        out.push(element);
        if chars.next().is_none() {
            break;
        }
    }
    out
}
