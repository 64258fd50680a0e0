//! Roles from `spec.users` and the system roles every Spilo cluster has.

use super::{DesiredRole, RoleAttributes, RoleMode, RoleOrigin, SPILO_ADMIN_ROLE};
use std::collections::{BTreeMap, BTreeSet};

/// The superuser Spilo creates at bootstrap; the reconciler connects as this role.
pub const SUPERUSER_USERNAME: &str = "postgres";
/// The replication user Spilo creates at bootstrap.
pub const REPLICATION_USERNAME: &str = "standby";

/// Resolves Zalando user flags into attributes, declaratively: flags are case-insensitive,
/// `LOGIN` and `INHERIT` hold unless `NOLOGIN`/`NOINHERIT` is listed, every other attribute holds
/// only when its flag is listed. So removing `superuser` from the list means `NOSUPERUSER`
/// (Zalando never revokes; we do). Unknown flags are ignored and a flag listed together with its
/// `NO…` form resolves to the `NO…` form (validation rejects both; the safe side wins here).
pub fn resolve_user_flags<S: AsRef<str>>(flags: &[S]) -> RoleAttributes {
    let listed: BTreeSet<String> = flags
        .iter()
        .map(|f| f.as_ref().trim().to_ascii_uppercase())
        .collect();
    let has = |flag: &str| listed.contains(flag) && !listed.contains(&format!("NO{flag}"));
    let not_negated = |flag: &str| !listed.contains(&format!("NO{flag}"));
    RoleAttributes {
        superuser: has("SUPERUSER"),
        createdb: has("CREATEDB"),
        createrole: has("CREATEROLE"),
        inherit: not_negated("INHERIT"),
        login: not_negated("LOGIN"),
        replication: has("REPLICATION"),
        bypassrls: has("BYPASSRLS"),
    }
}

/// Adds the roles of `spec.users` (`Managed`; LOGIN roles get a Secret). Validation refuses the
/// system roles and `protected_role_names` there; the system roles are still skipped here, since
/// [`system_roles`] would replace them anyway and they must never become `Managed`.
pub(super) fn manifest_roles(
    users: &BTreeMap<String, Option<Vec<String>>>,
    secret_for: &dyn Fn(&str) -> String,
    roles: &mut BTreeMap<String, DesiredRole>,
) {
    for (name, flags) in users {
        if is_system(name) {
            continue;
        }
        let attributes = resolve_user_flags(flags.as_deref().unwrap_or_default());
        let secret = attributes.login.then(|| secret_for(name));
        roles.insert(
            name.clone(),
            DesiredRole {
                name: name.clone(),
                attributes,
                member_of: BTreeSet::new(),
                admins: BTreeSet::new(),
                parameters: BTreeMap::new(),
                secret,
                secret_namespace: None,
                rotation: None,
                rotation_of: None,
                mode: RoleMode::Managed,
                origin: RoleOrigin::Manifest,
            },
        );
    }
}

/// Adds `postgres` (superuser) and `standby` (replication), both with Secrets, and `admin`
/// (NOLOGIN, CREATEDB), the role Spilo's bootstrap makes and prepared databases grant ADMIN to.
///
/// They are `EnsureExists`: Spilo creates them at bootstrap from environment variables that
/// reference their Secrets, so the reconciler never alters their attributes or memberships; it
/// only keeps their passwords matching the Secrets (the Secret is the source of truth).
pub(super) fn system_roles(
    secret_for: &dyn Fn(&str) -> String,
    roles: &mut BTreeMap<String, DesiredRole>,
) {
    let system = [
        (
            SUPERUSER_USERNAME,
            RoleAttributes {
                superuser: true,
                ..RoleAttributes::LOGIN
            },
        ),
        (
            REPLICATION_USERNAME,
            RoleAttributes {
                replication: true,
                ..RoleAttributes::LOGIN
            },
        ),
    ];
    for (name, attributes) in system {
        let secret = Some(secret_for(name));
        insert_system(roles, name, attributes, secret);
    }
    let admin = RoleAttributes {
        createdb: true,
        ..RoleAttributes::NOLOGIN
    };
    insert_system(roles, SPILO_ADMIN_ROLE, admin, None);
}

fn insert_system(
    roles: &mut BTreeMap<String, DesiredRole>,
    name: &str,
    attributes: RoleAttributes,
    secret: Option<String>,
) {
    {
        roles.insert(
            name.to_string(),
            DesiredRole {
                name: name.to_string(),
                attributes,
                member_of: BTreeSet::new(),
                admins: BTreeSet::new(),
                parameters: BTreeMap::new(),
                secret,
                secret_namespace: None,
                rotation: None,
                rotation_of: None,
                mode: RoleMode::EnsureExists,
                origin: RoleOrigin::System,
            },
        );
    }
}

fn is_system(name: &str) -> bool {
    [SUPERUSER_USERNAME, REPLICATION_USERNAME, SPILO_ADMIN_ROLE].contains(&name)
}
