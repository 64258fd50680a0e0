//! Roles: attributes, memberships, passwords, settings.

use super::*;
use crate::render::database::RoleAttributes;

#[test]
fn a_removed_flag_is_revoked() {
    let desired = desired();
    let mut observed = applied(&desired);
    let app = observed.roles.get_mut("app").expect("app");
    app.attributes.superuser = true;
    app.attributes.createdb = false;
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let a = &actions[0];
    assert_eq!(object(a), "role app");
    assert_eq!(
        a.reason,
        "attributes differ: SUPERUSER → NOSUPERUSER, NOCREATEDB → CREATEDB"
    );
    assert_eq!(a.risk, Risk::Disruptive);
    assert_eq!(
        statements(a),
        ["ALTER ROLE \"app\" WITH NOSUPERUSER CREATEDB;"]
    );

    // Only granting: safe.
    let mut observed = applied(&desired);
    observed
        .roles
        .get_mut("app")
        .expect("app")
        .attributes
        .createdb = false;
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(actions[0].risk, Risk::Safe);
    assert_eq!(
        statements(&actions[0]),
        ["ALTER ROLE \"app\" WITH CREATEDB;"]
    );
}

#[test]
fn memberships_are_granted_and_revoked_only_among_managed_roles() {
    let desired = desired();
    let mut observed = applied(&desired);
    // Missing: inv_writer in inv_reader; inv_owner's ADMIN OPTION on inv_writer.
    let writer = observed.roles.get_mut("inv_writer").expect("writer");
    writer.member_of.remove("inv_reader");
    let owner = observed.roles.get_mut("inv_owner").expect("owner");
    owner.admin_of.remove("inv_writer");
    // Extra: app in reporting (both managed) and ADMIN OPTION of inv_reader_user on inv_reader
    // (a membership it should keep); in roles we do not manage: kept.
    let app = observed.roles.get_mut("app").expect("app");
    app.member_of
        .extend(["reporting".into(), "admin".into(), "pg_monitor".into()]);
    app.member_of.insert("other_tool".into());
    let reader_user = observed
        .roles
        .get_mut("inv_reader_user")
        .expect("reader user");
    reader_user.admin_of.insert("inv_reader".into());
    let mut other = observed.roles["reporting"].clone();
    other.member_of.clear();
    observed.roles.insert("other_tool".into(), other);

    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(
        objects(&actions),
        [
            "role app",
            "role inv_owner",
            "role inv_reader_user",
            "role inv_writer"
        ]
    );
    let app = &actions[0];
    assert_eq!(statements(app), ["REVOKE \"reporting\" FROM \"app\";"]);
    assert_eq!(app.reason, "member of reporting revoked");
    assert_eq!(app.risk, Risk::Disruptive);
    let owner = &actions[1];
    assert_eq!(
        statements(owner),
        ["GRANT \"inv_writer\" TO \"inv_owner\" WITH ADMIN OPTION;"]
    );
    assert_eq!(owner.reason, "ADMIN OPTION on inv_writer added");
    assert_eq!(owner.risk, Risk::Safe);
    let reader_user = &actions[2];
    assert_eq!(
        statements(reader_user),
        ["REVOKE ADMIN OPTION FOR \"inv_reader\" FROM \"inv_reader_user\";"]
    );
    let writer = &actions[3];
    assert_eq!(
        statements(writer),
        ["GRANT \"inv_reader\" TO \"inv_writer\";"]
    );
    assert_eq!(writer.reason, "member of inv_reader added");
}

#[test]
fn password_drift_is_detected_through_the_verifier() {
    let desired = desired();
    let secret = "app.acid-shop.credentials.postgresql.acid.zalan.do";
    let mut observed = applied(&desired);
    observed.roles.get_mut("app").expect("app").password = Some(
        postgres_protocol::password::scram_sha_256(b"changed behind our back"),
    );
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(actions.len(), 1);
    let a = &actions[0];
    assert_eq!(object(a), "role app");
    assert_eq!(a.reason, format!("password differs from Secret {secret}"));
    assert_eq!(a.risk, Risk::Disruptive);
    assert_eq!(
        statements(a),
        [format!("ALTER ROLE \"app\" PASSWORD {MASKED_PASSWORD};")]
    );

    // An MD5 hash or no password at all differs too.
    let app = observed.roles.get_mut("app").expect("app");
    app.password = Some(postgres_protocol::password::md5(
        password(secret).as_bytes(),
        "app",
    ));
    assert_eq!(
        plan_database(&manifest(), &desired, &observed, &known).len(),
        1
    );
    observed.roles.get_mut("app").expect("app").password = None;
    assert_eq!(
        plan_database(&manifest(), &desired, &observed, &known).len(),
        1
    );
}

#[test]
fn an_existing_role_gets_the_password_of_a_secret_about_to_be_created() {
    let desired = desired();
    let observed = applied(&desired);
    let only_app = |s: &SecretKeyRef| {
        if s.name.starts_with("app.") {
            PasswordState::SecretAbsent
        } else {
            known(s)
        }
    };
    let actions = plan_database(&manifest(), &desired, &observed, &only_app);
    assert_eq!(objects(&actions), ["role app"]);
    let Change::Sql { statements } = &actions[0].change else {
        panic!("SQL change")
    };
    assert_eq!(statements[0].sql, "ALTER ROLE \"app\"");
    assert!(statements[0].password_from.is_some());
    assert!(
        actions[0].reason.contains("absent"),
        "{}",
        actions[0].reason
    );
}

#[test]
fn ensure_exists_roles_are_never_altered_except_their_password() {
    let desired = desired();
    let mut observed = applied(&desired);
    let postgres = observed.roles.get_mut("postgres").expect("postgres");
    postgres.attributes = RoleAttributes {
        createrole: true,
        bypassrls: true,
        ..postgres.attributes
    };
    postgres.member_of.insert("app".into());
    let admin = observed.roles.get_mut("admin").expect("admin");
    admin.attributes = RoleAttributes::LOGIN;
    admin.member_of.insert("reporting".into());
    admin.parameters.insert("search_path".into(), "x".into());
    assert_eq!(plan_database(&manifest(), &desired, &observed, &known), []);

    observed
        .roles
        .get_mut("postgres")
        .expect("postgres")
        .password = Some(postgres_protocol::password::scram_sha_256(b"old"));
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(objects(&actions), ["role postgres"]);
    assert_eq!(
        statements(&actions[0]),
        [format!(
            "ALTER ROLE \"postgres\" PASSWORD {MASKED_PASSWORD};"
        )]
    );
}

#[test]
fn parameters_differing_are_set_and_others_left_alone() {
    let desired = desired();
    let mut observed = applied(&desired);
    let owner = observed.roles.get_mut("inv_owner").expect("owner");
    owner.parameters.insert("work_mem".into(), "64MB".into());
    owner
        .parameters
        .insert("search_path".into(), "public".into());
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(objects(&actions), ["role inv_owner"]);
    assert_eq!(
        statements(&actions[0]),
        ["ALTER ROLE \"inv_owner\" SET \"search_path\" TO '$user', 'data';"]
    );
    assert_eq!(
        actions[0].reason,
        "parameter search_path: public → \"$user\", \"data\""
    );
}

#[test]
fn lists_split_like_postgresql() {
    assert_eq!(split_list("\"$user\", data"), ["$user", "data"]);
    assert_eq!(split_list("\"$user\", \"data\""), ["$user", "data"]);
    assert_eq!(
        split_list(" Public ,\"My \"\"S\"\"\""),
        ["public", "My \"S\""]
    );
    assert_eq!(split_list(""), Vec::<String>::new());
}

#[test]
fn a_removed_login_role_of_this_manifest_gets_nologin_only_when_asked() {
    let full = desired();
    let observed = applied(&full);
    let mut removed = full.clone();
    removed.roles.remove("app");
    // By default (keep) nothing at all: nothing is changed by omission.
    assert_eq!(plan_database(&manifest(), &removed, &observed, &known), []);
    // nologin: exactly one statement, disruptive, nothing dropped.
    let actions = plan_removed_roles(&manifest(), &removed, &observed);
    assert_eq!(objects(&actions), ["role app"]);
    assert_eq!(actions[0].risk, Risk::Disruptive);
    assert_eq!(statements(&actions[0]), ["ALTER ROLE \"app\" NOLOGIN;"]);
    // Once it has NOLOGIN, nothing more.
    let mut retired = observed.clone();
    retired.roles.get_mut("app").expect("app").attributes.login = false;
    assert_eq!(plan_removed_roles(&manifest(), &removed, &retired), []);
    // Listed again: LOGIN back through the usual attribute change.
    let back = plan_database(&manifest(), &full, &retired, &known);
    assert_eq!(statements(&back[0]), ["ALTER ROLE \"app\" WITH LOGIN;"]);
}

#[test]
fn removed_roles_made_by_someone_else_are_never_retired() {
    let full = desired();
    let mut observed = applied(&full);
    let mut removed = full.clone();
    removed.roles.remove("app");
    // Another manifest's role, another incarnation of this manifest (uid), or no comment at all.
    for comment in [
        Some("postgres-reconciler: postgresql team-a/other uid u-2".to_string()),
        Some("postgres-reconciler: postgresql team-a/acid-shop uid an-older-uid".to_string()),
        None,
    ] {
        observed.roles.get_mut("app").expect("app").comment = comment.clone();
        assert_eq!(
            plan_removed_roles(&manifest(), &removed, &observed),
            [],
            "{comment:?}"
        );
    }
}
