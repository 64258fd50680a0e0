//! `spec.users`: role names and their flags.
//!
//! Zalando accepts the flags of [`USER_FLAGS`] in either case and rejects a flag together with
//! its `NO` form; a null list (`foo:`) means no flags. Duplicates are harmless and deduplicated
//! by the renderer, so they are not reported.
//!
//! A protected role (`protected_role_names`, Spilo's `admin` always) is refused. Zalando's
//! operator logs a warning and skips it; a declared user that silently never exists is a worse
//! surprise than an error.

use super::Errors;
use super::names::{SPILO_ADMIN_ROLE, role_name_problems};
use crate::api::postgresql::USER_FLAGS;
use std::collections::BTreeMap;

/// Checks every user's name and flags.
pub(super) fn check_users(
    users: &BTreeMap<String, Option<Vec<String>>>,
    protected: &[String],
    errs: &mut Errors,
) {
    for (name, flags) in users {
        let path = format!("spec.users.{name}");
        for problem in role_name_problems(name, "user name") {
            errs.add(&path, problem);
        }
        if is_protected(name, protected) {
            errs.add(
                &path,
                format!(
                    "protected role name {name:?}: Spilo creates and manages it \
                     (protected_role_names); remove it from spec.users"
                ),
            );
        }
        check_flags(&path, flags.as_deref().unwrap_or_default(), errs);
    }
}

/// Under `enable_cross_namespace_secret`, the part of `namespace.user` before the first dot is
/// where the Secret goes: it must be able to name a namespace (a DNS label: no `_`).
pub(super) fn check_secret_namespaces(
    users: &BTreeMap<String, Option<Vec<String>>>,
    errs: &mut Errors,
) {
    for name in users.keys() {
        let Some((namespace, _)) = name.split_once('.') else {
            continue;
        };
        let label = namespace.len() <= 63
            && namespace
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !namespace.starts_with('-')
            && !namespace.ends_with('-');
        if !label {
            errs.add(
                format!("spec.users.{name}"),
                format!(
                    "{namespace:?} cannot be a namespace (enable_cross_namespace_secret puts the Secret of a user written namespace.user there): lower-case letters, digits and '-', at most 63"
                ),
            );
        }
    }
}

/// `admin` is protected even when the configuration leaves it out: the renderer keeps it as
/// Spilo's system role, so a manifest user of that name would be ignored.
pub(super) fn is_protected(name: &str, protected: &[String]) -> bool {
    name == SPILO_ADMIN_ROLE || protected.iter().any(|p| p == name)
}

/// Unknown flags (reported with their index) and `X` together with `NOX`.
fn check_flags(path: &str, flags: &[String], errs: &mut Errors) {
    let mut known: Vec<String> = Vec::new();
    for (i, flag) in flags.iter().enumerate() {
        let lower = flag.to_ascii_lowercase();
        if USER_FLAGS.contains(&lower.as_str()) {
            known.push(lower);
        } else {
            errs.add(
                format!("{path}[{i}]"),
                format!("unknown flag {flag:?}; allowed: {}", USER_FLAGS.join(", ")),
            );
        }
    }
    for flag in USER_FLAGS.iter().filter(|f| !f.starts_with("no")) {
        let negated = format!("no{flag}");
        if known.iter().any(|k| k == flag) && known.contains(&negated) {
            errs.add(path, format!("flags {flag:?} and {negated:?} conflict"));
        }
    }
}

/// The rotation lists: the system roles' passwords are Spilo's (its pods start with them), so
/// rotating them would need the pods replaced; they are refused rather than left unrotated.
pub(super) fn check_rotation_lists(
    spec: &crate::api::postgresql::PostgresqlSpec,
    errs: &mut Errors,
) {
    for (field, list) in [
        ("usersWithSecretRotation", &spec.users_with_secret_rotation),
        (
            "usersWithInPlaceSecretRotation",
            &spec.users_with_in_place_secret_rotation,
        ),
    ] {
        for (i, user) in list.iter().enumerate() {
            if ["postgres", "standby"].contains(&user.as_str()) {
                errs.add(
                    format!("spec.{field}[{i}]"),
                    format!(
                        "{user:?} is a system role: its password is in the pods' environment, so postgres-reconciler does not rotate it"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Limits;

    fn run(users: &[(&str, Option<&[&str]>)]) -> Vec<String> {
        let users = users
            .iter()
            .map(|(n, f)| {
                (
                    n.to_string(),
                    f.map(|f| f.iter().map(|s| s.to_string()).collect()),
                )
            })
            .collect();
        let mut errs = Errors::default();
        check_users(&users, &Limits::default().protected_role_names, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn valid_users() {
        assert!(
            run(&[
                ("zalando", Some(&["superuser", "CREATEDB"])),
                ("foo_user", Some(&[])),
                ("bar", None),
                ("baz", Some(&["login", "LOGIN", "nosuperuser"])),
            ])
            .is_empty()
        );
    }

    #[test]
    fn unknown_flag_reports_index() {
        assert_eq!(
            run(&[("foo", Some(&["login", "superduper"]))]),
            vec![format!(
                "spec.users.foo[1]: unknown flag \"superduper\"; allowed: {}",
                USER_FLAGS.join(", ")
            )]
        );
    }

    #[test]
    fn conflicting_flags_in_any_case() {
        assert_eq!(
            run(&[("foo", Some(&["CreateDB", "NOCREATEDB", "login", "nologin"]))]),
            vec![
                "spec.users.foo: flags \"createdb\" and \"nocreatedb\" conflict",
                "spec.users.foo: flags \"login\" and \"nologin\" conflict",
            ]
        );
    }

    #[test]
    fn bad_and_reserved_names() {
        assert_eq!(
            run(&[("Bad-Name", None), ("standby", None), ("pg_x", None)]),
            vec![
                format!(
                    "spec.users.Bad-Name: invalid user name: must match {}",
                    super::super::names::USER_NAME_PATTERN
                ),
                "spec.users.pg_x: reserved role name \"pg_x\": the pg_ prefix is reserved by PostgreSQL"
                    .to_string(),
                "spec.users.standby: reserved role name \"standby\": system role managed by postgres-reconciler"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn name_length_boundary() {
        let ok = "u".repeat(63);
        let long = "u".repeat(64);
        assert!(run(&[(&ok, None)]).is_empty());
        assert_eq!(
            run(&[(&long, None)]),
            vec![format!(
                "spec.users.{long}: user name is 64 bytes; at most 63 allowed"
            )]
        );
    }

    #[test]
    fn protected_roles_are_refused_by_name() {
        let message = |n: &str| {
            format!(
                "spec.users.{n}: protected role name \"{n}\": Spilo creates and manages it \
                 (protected_role_names); remove it from spec.users"
            )
        };
        assert_eq!(
            run(&[
                ("admin", None),
                ("cron_admin", Some(&["login"])),
                ("app", None)
            ]),
            [message("admin"), message("cron_admin")]
        );
        // A configured list replaces Zalando's, but `admin` stays Spilo's.
        let protected = ["dba".to_string()];
        assert!(is_protected("dba", &protected));
        assert!(is_protected("admin", &protected));
        assert!(!is_protected("cron_admin", &protected));
    }

    #[test]
    fn a_cross_namespace_user_must_name_a_namespace() {
        let users: BTreeMap<String, Option<Vec<String>>> =
            ["apps.writer", "team_a.reader", "plain"]
                .iter()
                .map(|n| (n.to_string(), None))
                .collect();
        let mut errs = Errors::default();
        check_secret_namespaces(&users, &mut errs);
        let errors: Vec<String> = errs.into_sorted().iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.users.team_a.reader: \"team_a\" cannot be a namespace"),
            "{errors:?}"
        );
    }
}
