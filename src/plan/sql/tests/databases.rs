//! Databases: owners, schemas, extensions, default privileges, drops.

use super::*;

#[test]
fn owners_follow_the_desired_state() {
    let desired = desired();
    let mut observed = applied(&desired);
    observed.databases.get_mut("shop").expect("shop").owner = "postgres".into();
    let inv = observed.databases.get_mut("inv").expect("inv");
    let schemas = inv.schemas.as_mut().expect("inspected");
    let data = schemas.get_mut("data").expect("data");
    data.owner = "app".into();
    data.usage.remove("inv_writer");
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(objects(&actions), ["database shop", "schema inv.data"]);
    assert_eq!(actions[0].reason, "owner postgres → app");
    assert_eq!(actions[0].risk, Risk::Safe);
    assert_eq!(database(&actions[0]), "postgres");
    assert_eq!(
        statements(&actions[0]),
        ["ALTER DATABASE \"shop\" OWNER TO \"app\";"]
    );
    assert_eq!(database(&actions[1]), "inv");
    assert_eq!(
        statements(&actions[1]),
        [
            "ALTER SCHEMA \"data\" OWNER TO \"inv_data_owner\";",
            "GRANT USAGE ON SCHEMA \"data\" TO \"inv_writer\";",
        ]
    );
    assert_eq!(
        actions[1].reason,
        "owner app → inv_data_owner; USAGE missing for inv_writer"
    );
}

#[test]
fn a_prepared_database_on_an_empty_server() {
    let desired = desired();
    let actions = plan_database(
        &manifest(),
        &desired,
        &ObservedDatabaseState::default(),
        &known,
    );
    let inv: Vec<&Action> = actions.iter().filter(|a| database(a) == "inv").collect();
    let objects: Vec<String> = inv.iter().map(|a| object(a)).collect();
    assert_eq!(
        objects,
        [
            "schema inv.data",
            "extension inv.pgcrypto",
            "default privileges inv for role inv_owner",
            "default privileges inv for role inv_owner_user",
            "default privileges inv.data for role inv_data_owner",
            "default privileges inv.data for role inv_owner",
            "default privileges inv.data for role inv_owner_user",
        ]
    );
    assert_eq!(
        statements(inv[0]),
        [
            "CREATE SCHEMA IF NOT EXISTS \"data\" AUTHORIZATION \"inv_data_owner\";",
            "GRANT USAGE ON SCHEMA \"data\" TO \"inv_data_reader\", \"inv_data_writer\", \"inv_reader\", \"inv_writer\";",
        ]
    );
    assert_eq!(
        statements(inv[1]),
        ["CREATE EXTENSION IF NOT EXISTS \"pgcrypto\" SCHEMA \"data\";"]
    );
    let wide = statements(inv[2]);
    assert!(wide.contains(
        &"ALTER DEFAULT PRIVILEGES FOR ROLE \"inv_owner\" GRANT USAGE ON SCHEMAS TO \"inv_reader\";"
            .to_string()
    ));
    assert!(wide.contains(
        &"ALTER DEFAULT PRIVILEGES FOR ROLE \"inv_owner\" GRANT DELETE, INSERT, UPDATE ON TABLES TO \"inv_writer\";"
            .to_string()
    ));
    let in_schema = statements(inv[4]);
    assert!(in_schema.contains(
        &"ALTER DEFAULT PRIVILEGES FOR ROLE \"inv_data_owner\" IN SCHEMA \"data\" GRANT SELECT ON TABLES TO \"inv_data_reader\";"
            .to_string()
    ));

    // Only the missing privileges of a partly granted entry.
    let mut observed = applied(&desired);
    let inv = observed.databases.get_mut("inv").expect("inv");
    let entry = inv
        .default_privileges
        .iter_mut()
        .find(|p| p.grantee == "inv_writer" && p.schema.is_none() && p.privileges.len() == 3)
        .expect("writer's table privileges");
    entry.privileges = vec!["INSERT".into()];
    let for_role = entry.for_role.clone();
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(actions.len(), 1);
    assert_eq!(
        object(&actions[0]),
        format!("default privileges inv for role {for_role}")
    );
    assert_eq!(
        statements(&actions[0]),
        [format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE \"{for_role}\" GRANT DELETE, UPDATE ON TABLES TO \"inv_writer\";"
        )]
    );
    assert_eq!(
        actions[0].reason,
        "missing: DELETE, UPDATE on TABLES to inv_writer"
    );
}

#[test]
fn extensions_move_to_their_schema() {
    let desired = desired();
    let mut observed = applied(&desired);
    let inv = observed.databases.get_mut("inv").expect("inv");
    inv.extensions.insert("pgcrypto".into(), "public".into());
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert_eq!(objects(&actions), ["extension inv.pgcrypto"]);
    assert_eq!(actions[0].reason, "schema public → data");
    assert_eq!(
        statements(&actions[0]),
        ["ALTER EXTENSION \"pgcrypto\" SET SCHEMA \"data\";"]
    );
}

#[test]
fn a_database_not_inspected_gets_its_contents_planned() {
    let desired = desired();
    let mut observed = applied(&desired);
    let inv = observed.databases.get_mut("inv").expect("inv");
    inv.schemas = None;
    inv.extensions.clear();
    inv.default_privileges.clear();
    let actions = plan_database(&manifest(), &desired, &observed, &known);
    assert!(actions.iter().all(|a| database(a) == "inv"));
    assert_eq!(object(&actions[0]), "schema inv.data");
    assert_eq!(object(&actions[1]), "extension inv.pgcrypto");
}

#[test]
fn drop_database_only_when_it_exists() {
    let desired = desired();
    let observed = applied(&desired);
    let server = "external team-a/db";
    assert_eq!(
        plan_drop_database(&manifest(), server, "gone", &observed),
        None
    );
    let a = plan_drop_database(&manifest(), server, "shop", &observed).expect("drop");
    assert_eq!(a.risk, Risk::Destructive);
    assert_eq!(a.reason, "reclaimPolicy Delete");
    assert_eq!(database(&a), "postgres");
    assert_eq!(object(&a), "database shop");
    let Change::Sql { statements } = &a.change else {
        panic!("SQL change")
    };
    assert_eq!(statements[0].sql, "DROP DATABASE \"shop\" WITH (FORCE)");
    assert!(statements[0].outside_transaction);

    let mut observed = observed;
    observed.databases.get_mut("shop").expect("shop").comment = None;
    let a = plan_drop_database(&manifest(), server, "shop", &observed).expect("drop");
    assert!(
        a.reason.contains("does not name this manifest"),
        "{}",
        a.reason
    );
}
