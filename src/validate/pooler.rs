//! `spec.connectionPooler`: Zalando falls back to `connection_pooler_user` with only a log line
//! when the section names the superuser or a protected or system role; here that is an error
//! naming the field, since the pooler would otherwise run as a role the manifest did not say.

use super::Errors;
use super::names::SPILO_ADMIN_ROLE;
use super::quantity::check_resources_at;
use crate::api::postgresql::ConnectionPooler;

pub(super) fn check_connection_pooler(
    pooler: Option<&ConnectionPooler>,
    protected: &[String],
    errs: &mut Errors,
) {
    let Some(pooler) = pooler else {
        return;
    };
    if let Some(user) = pooler.user.as_deref().filter(|u| !u.is_empty()) {
        let reserved = super::names::reserved_role(user).is_some()
            || user == SPILO_ADMIN_ROLE
            || protected.iter().any(|p| p == user);
        if reserved {
            errs.add(
                "spec.connectionPooler.user",
                format!(
                    "{user:?} is a system, reserved or protected role (protected_role_names): the pooler needs a login role of its own"
                ),
            );
        } else if !super::names::is_user_name(user) {
            errs.add(
                "spec.connectionPooler.user",
                format!(
                    "{user:?} is not a role name ({})",
                    super::names::USER_NAME_PATTERN
                ),
            );
        }
    }
    if let Some(schema) = pooler.schema.as_deref().filter(|s| !s.is_empty())
        && !super::names::is_identifier(schema)
    {
        errs.add(
            "spec.connectionPooler.schema",
            format!(
                "{schema:?} is not a schema name ({})",
                super::names::IDENTIFIER_PATTERN
            ),
        );
    }
    if let Some(mode) = pooler.mode.as_deref().filter(|m| !m.is_empty())
        && !["session", "transaction"].contains(&mode)
    {
        errs.add(
            "spec.connectionPooler.mode",
            format!("{mode:?}: must be session or transaction"),
        );
    }
    for (field, value) in [
        ("numberOfInstances", pooler.number_of_instances),
        ("maxDBConnections", pooler.max_db_connections),
    ] {
        if let Some(n) = value.filter(|n| *n < 1) {
            errs.add(
                format!("spec.connectionPooler.{field}"),
                format!("{n}: must be at least 1"),
            );
        }
    }
    if let Some(resources) = &pooler.resources {
        check_resources_at("spec.connectionPooler.resources", resources, errs);
    }
}
