//! Human users, as Zalando's operator makes them from the Teams API: each member of a team in
//! `human_teams` becomes a LOGIN role without a password (it logs in through PAM with its
//! OAuth2 token), a member of `pam_role_name` and, unless a superuser, of `team_admin_role`,
//! with `team_api_role_configuration` as its settings. Pure: the Teams API's answers are
//! observed data.
//!
//! With `enable_team_member_deprecation`, a member who left loses LOGIN and is renamed with
//! `role_deletion_suffix` (never dropped: its objects stay), and one who comes back gets the
//! role back under its name. Only roles whose comment says this manifest made them for a team
//! are touched; while any team's answer is unknown, none is.

use super::sql::{server_label, team_comment_prefix};
use super::{Action, Change, Op, Risk, SqlStatement, Target};
use crate::config::Config;
use crate::render::ManifestRef;
use crate::render::database::{
    DesiredDatabaseState, DesiredRole, RoleAttributes, RoleMode, RoleOrigin,
};
use crate::state::{ObservedDatabaseState, TeamMap, TeamObservation};
use postgres_protocol::escape::escape_identifier;
use std::collections::{BTreeMap, BTreeSet};

/// The team members' part of one manifest's plan.
#[derive(Debug)]
pub struct HumanUsers {
    /// The desired state with the members' roles.
    pub database: DesiredDatabaseState,
    /// The server as the rest of the plan should see it: a role renamed back this run under
    /// its own name.
    pub observed: ObservedDatabaseState,
    /// Deprecations and returns (`RENAME`, `NOLOGIN`/`LOGIN`), before the other role SQL.
    pub actions: Vec<Action>,
    /// Why some members are not known (the Teams API's answer for a team).
    pub unknown: Vec<String>,
}

/// A team whose members log in as humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanTeam {
    pub team: String,
    /// Its members are superusers; otherwise they are members of `team_admin_role`.
    pub superuser: bool,
}

/// The teams whose members get roles in a cluster of `team` (Zalando's `initHumanUsers`): the
/// superuser teams (`PostgresTeam`'s `additionalSuperuserTeams` with
/// `enable_postgres_team_crd_superusers`, then `postgres_superuser_teams`), the teams
/// `PostgresTeam` adds, and `team` itself unless it is a superuser team (its members are
/// superusers with `enable_team_superuser`).
pub fn human_teams(team: &str, config: &Config, map: &TeamMap) -> Vec<HumanTeam> {
    let mut superusers: Vec<String> = Vec::new();
    if config.enable_postgres_team_crd && config.enable_postgres_team_crd_superusers {
        superusers.extend(map.additional_teams(team, true));
    }
    for t in &config.postgres_superuser_teams {
        if !superusers.contains(t) {
            superusers.push(t.clone());
        }
    }
    let mut teams: Vec<HumanTeam> = superusers
        .iter()
        .map(|t| HumanTeam {
            team: t.clone(),
            superuser: true,
        })
        .collect();
    if config.enable_postgres_team_crd {
        for t in map.additional_teams(team, false) {
            if !superusers.contains(&t) {
                teams.push(HumanTeam {
                    team: t,
                    superuser: false,
                });
            }
        }
    }
    if !superusers.iter().any(|t| t == team) {
        teams.push(HumanTeam {
            team: team.to_string(),
            superuser: config.enable_team_superuser,
        });
    }
    teams
}

/// `None` when the manifest's team members get no roles (`enable_teams_api` and
/// `enable_postgres_team_crd` off).
pub fn plan_human_users(
    manifest: &ManifestRef,
    desired: &DesiredDatabaseState,
    teams: &BTreeMap<String, TeamObservation>,
    map: &TeamMap,
    observed: &ObservedDatabaseState,
    config: &Config,
) -> Option<HumanUsers> {
    let team = desired.human_team.as_deref()?;
    if config.enable_postgres_team_crd
        && let Some(reason) = &map.unreadable
    {
        return Some(HumanUsers {
            database: desired.clone(),
            observed: observed.clone(),
            actions: Vec::new(),
            unknown: vec![format!("members of team {team}: {reason}")],
        });
    }
    let mut database = desired.clone();
    let mut unknown = Vec::new();
    let protected: BTreeSet<&str> = config
        .protected_role_names
        .iter()
        .map(String::as_str)
        .collect();
    for human in human_teams(team, config, map) {
        // `PostgresTeam`'s members, then the Teams API's.
        let mut members = if config.enable_postgres_team_crd {
            map.additional_members(&human.team)
        } else {
            Vec::new()
        };
        if config.enable_teams_api {
            match teams.get(&human.team) {
                Some(TeamObservation::Members(m)) => members.extend(m.iter().cloned()),
                Some(TeamObservation::Unknown { reason }) => {
                    unknown.push(format!("members of team {}: {reason}", human.team));
                    continue;
                }
                None => {
                    unknown.push(format!("members of team {}: not asked", human.team));
                    continue;
                }
            }
        }
        for member in &members {
            // A manifest's user or a system role keeps its own definition (and Secret).
            let taken = desired.roles.contains_key(member);
            if taken || protected.contains(member.as_str()) {
                continue;
            }
            // A member of a superuser team and of another stays a superuser.
            if database
                .roles
                .get(member)
                .is_some_and(|r| r.attributes.superuser)
            {
                continue;
            }
            database.roles.insert(
                member.clone(),
                member_role(member, human.superuser, &human.team, config),
            );
        }
    }
    for role in [&config.pam_role_name, &config.team_admin_role] {
        if !role.is_empty() && !database.roles.contains_key(role) {
            // Spilo makes them at bootstrap; made here when not.
            database.roles.insert(
                role.clone(),
                DesiredRole::nologin_if_missing(role, RoleOrigin::System),
            );
        }
    }
    let mut out = HumanUsers {
        database,
        observed: observed.clone(),
        actions: Vec::new(),
        unknown,
    };
    if config.enable_team_member_deprecation && out.unknown.is_empty() {
        deprecate(manifest, &mut out, config);
    }
    Some(out)
}

fn member_role(name: &str, superuser: bool, team: &str, config: &Config) -> DesiredRole {
    let mut member_of = BTreeSet::from([config.pam_role_name.clone()]);
    if !superuser && !config.team_admin_role.is_empty() {
        member_of.insert(config.team_admin_role.clone());
    }
    member_of.retain(|r| !r.is_empty());
    DesiredRole {
        name: name.to_string(),
        attributes: RoleAttributes {
            superuser,
            ..RoleAttributes::LOGIN
        },
        member_of,
        admins: BTreeSet::new(),
        parameters: config.team_api_role_configuration.clone(),
        secret: None,
        secret_namespace: None,
        mode: RoleMode::Managed,
        origin: RoleOrigin::TeamsApi {
            team: team.to_string(),
        },
        rotation: None,
        rotation_of: None,
    }
}

/// Members who left (their role is ours, LOGIN, and no longer desired) are renamed and lose
/// LOGIN; members back again get their renamed role back.
fn deprecate(manifest: &ManifestRef, out: &mut HumanUsers, config: &Config) {
    let suffix = &config.role_deletion_suffix;
    let prefix = team_comment_prefix(manifest);
    let ours =
        |comment: &Option<String>| comment.as_deref().is_some_and(|c| c.starts_with(&prefix));
    let server = server_label(&out.database.server);
    let action = |object: &str, reason: String, risk: Risk, statements: Vec<String>| Action {
        manifest: Some(manifest.clone()),
        target: Target::Sql {
            server: server.clone(),
            database: "postgres".into(),
            object: format!("role {object}"),
        },
        op: Op::Sql,
        risk,
        reason,
        change: Change::Sql {
            statements: statements.into_iter().map(SqlStatement::plain).collect(),
        },
    };
    let mut renamed_back = Vec::new();
    for (name, role) in &out.observed.roles {
        if !ours(&role.comment) {
            continue;
        }
        let wanted = out.database.roles.contains_key(name);
        if role.attributes.login && !wanted && !name.ends_with(suffix.as_str()) {
            let to = format!("{name}{suffix}");
            if out.observed.roles.contains_key(&to) {
                continue; // renamed once already; that one stays as it is
            }
            out.actions.push(action(
                name,
                format!("no longer a member of its team (enable_team_member_deprecation): NOLOGIN and renamed to {to}, never dropped"),
                Risk::Disruptive,
                vec![
                    format!("ALTER ROLE {} NOLOGIN", escape_identifier(name)),
                    format!("ALTER ROLE {} RENAME TO {}", escape_identifier(name), escape_identifier(&to)),
                ],
            ));
            continue;
        }
        let Some(original) = name.strip_suffix(suffix.as_str()) else {
            continue;
        };
        let back = out
            .database
            .roles
            .get(original)
            .is_some_and(|r| matches!(r.origin, RoleOrigin::TeamsApi { .. }));
        if back && !out.observed.roles.contains_key(original) {
            out.actions.push(action(
                name,
                format!("{original} is a member of its team again: its role is renamed back"),
                Risk::Safe,
                vec![format!(
                    "ALTER ROLE {} RENAME TO {}",
                    escape_identifier(name),
                    escape_identifier(original)
                )],
            ));
            renamed_back.push((name.clone(), original.to_string()));
        }
    }
    // The rest of the plan sees the renamed role under its name: its LOGIN and memberships are
    // then planned as for any role.
    for (from, to) in renamed_back {
        if let Some(role) = out.observed.roles.remove(&from) {
            out.observed.roles.insert(to, role);
        }
    }
}

#[cfg(test)]
mod tests;
