//! `spec.databases` and `spec.preparedDatabases`.
//!
//! Database, schema and extension names become quoted SQL identifiers; they must still be sane
//! identifiers (see [`IDENTIFIER_PATTERN`]) and fit PostgreSQL's 63-byte limit, which would
//! otherwise silently truncate them. Prepared databases create roles named after the
//! database and schema, so those generated names are checked too.

use super::Errors;
use super::names::{
    IDENTIFIER_PATTERN, MAX_IDENTIFIER_LEN, SPILO_ADMIN_ROLE, USER_NAME_PATTERN,
    database_name_problems, is_identifier, is_user_name, reserved_role, too_long,
};
use super::users::is_protected;
use crate::api::postgresql::{PreparedDatabase, PreparedSchema};
use std::collections::{BTreeMap, BTreeSet};

/// Roles every prepared database (and every prepared schema with default roles) gets.
const DEFAULT_ROLE_SUFFIXES: &[&str] = &["_owner", "_reader", "_writer"];
/// The longest of [`DEFAULT_ROLE_SUFFIXES`]; named in length messages.
const LONGEST_ROLE_SUFFIX: &str = "_reader";
/// Appended to the default roles when `defaultUsers` asks for LOGIN variants with Secrets.
const USER_SUFFIX: &str = "_user";
/// The schema a prepared database gets when it lists none.
const DEFAULT_SCHEMA: &str = "data";

/// Zalando's extension name rule for our purposes: lower-case, digits, `_` and `-`.
const EXTENSION_PATTERN: &str = "^[a-z_][a-z0-9_-]*$";

/// The prepared databases a manifest asks for. `preparedDatabases: {}` means one database named
/// after the cluster with `-` replaced by `_` (Zalando's behaviour).
pub(super) fn effective_prepared(
    cluster: &str,
    prepared: Option<&BTreeMap<String, PreparedDatabase>>,
) -> BTreeMap<String, PreparedDatabase> {
    match prepared {
        Some(map) if map.is_empty() => {
            BTreeMap::from([(cluster.replace('-', "_"), PreparedDatabase::default())])
        }
        Some(map) => map.clone(),
        None => BTreeMap::new(),
    }
}

/// A prepared database's schemas; none listed means the single schema `data`.
fn effective_schemas(db: &PreparedDatabase) -> BTreeMap<String, PreparedSchema> {
    match &db.schemas {
        Some(s) if !s.is_empty() => s.clone(),
        _ => BTreeMap::from([(DEFAULT_SCHEMA.to_string(), PreparedSchema::default())]),
    }
}

/// Every role the prepared databases create (NOLOGIN roles and, when asked, `_user` variants).
pub(super) fn prepared_roles(prepared: &BTreeMap<String, PreparedDatabase>) -> BTreeSet<String> {
    let mut roles = BTreeSet::new();
    let mut add = |prefix: &str, users: bool| {
        for suffix in DEFAULT_ROLE_SUFFIXES {
            roles.insert(format!("{prefix}{suffix}"));
            if users {
                roles.insert(format!("{prefix}{suffix}{USER_SUFFIX}"));
            }
        }
    };
    for (db, spec) in prepared {
        add(db, spec.default_users == Some(true));
        for (schema, s) in effective_schemas(spec) {
            if s.default_roles != Some(false) {
                add(&format!("{db}_{schema}"), s.default_users == Some(true));
            }
        }
    }
    roles
}

/// `spec.databases`: valid names, and each owner a role this manifest creates, or Spilo's
/// `admin`: it exists in every Spilo cluster (the renderer ensures it as a system role), and a
/// database owned by that NOLOGIN group role is what Zalando's operator makes of such a manifest;
/// its members own the database. The other protected roles are not ours to create, so nothing
/// promises they exist when the database is created.
pub(super) fn check_databases(
    databases: &BTreeMap<String, String>,
    roles: &BTreeSet<String>,
    protected: &[String],
    errs: &mut Errors,
) {
    for (db, owner) in databases {
        let path = format!("spec.databases.{db}");
        for problem in database_name_problems(db, "database name") {
            errs.add(&path, problem);
        }
        if let Some(problem) = owner_problem(owner, roles, protected) {
            errs.add(&path, problem);
        }
    }
}

fn owner_problem(owner: &str, roles: &BTreeSet<String>, protected: &[String]) -> Option<String> {
    if let Some(reason) = reserved_role(owner) {
        Some(format!("owner {owner:?} is a reserved role name: {reason}"))
    } else if owner == SPILO_ADMIN_ROLE {
        None
    } else if is_protected(owner, protected) {
        // Even when also listed in spec.users: that entry is refused, so nothing creates it.
        Some(format!(
            "owner {owner:?} is a protected role (protected_role_names): postgres-reconciler \
             does not create it; use a role from spec.users"
        ))
    } else if roles.contains(owner) {
        None
    } else {
        Some(format!(
            "owner {owner:?} is not declared in spec.users or created by spec.preparedDatabases"
        ))
    }
}

/// `spec.preparedDatabases`: names of databases, schemas and extensions, and the roles they
/// generate.
pub(super) fn check_prepared(prepared: &BTreeMap<String, PreparedDatabase>, errs: &mut Errors) {
    for (db, spec) in prepared {
        let path = format!("spec.preparedDatabases.{db}");
        for problem in database_name_problems(db, "database name") {
            errs.add(&path, problem);
        }
        check_generated_role(
            db,
            spec.default_users == Some(true),
            "database",
            &path,
            errs,
        );
        if let Some(ns) = spec.secret_namespace.as_deref().filter(|n| !n.is_empty())
            && !super::names::is_dns1123_label(ns)
        {
            errs.add(
                format!("{path}.secretNamespace"),
                format!(
                    "{ns:?} cannot be a namespace: lower-case letters, digits and '-', at most 63"
                ),
            );
        }

        let explicit = spec.schemas.as_ref().is_some_and(|s| !s.is_empty());
        for (schema, s) in effective_schemas(spec) {
            // The implicit `data` schema has no path of its own; its roles are the database's.
            let schema_path = if explicit {
                let p = format!("{path}.schemas.{schema}");
                check_schema_name(&schema, "schema name", &p, errs);
                p
            } else {
                path.clone()
            };
            if s.default_roles != Some(false) {
                let prefix = format!("{db}_{schema}");
                let users = s.default_users == Some(true);
                check_generated_role(&prefix, users, "database or schema", &schema_path, errs);
            }
        }

        for (ext, schema) in &spec.extensions {
            let ext_path = format!("{path}.extensions.{ext}");
            if !is_extension_name(ext) {
                errs.add(
                    &ext_path,
                    format!("invalid extension name: must match {EXTENSION_PATTERN}"),
                );
            }
            if ext.len() > MAX_IDENTIFIER_LEN {
                errs.add(&ext_path, too_long("extension name", ext.len()));
            }
            let what = format!("extension schema {schema:?}");
            check_schema_name(schema, &what, &ext_path, errs);
        }
    }
}

/// A schema name: identifier, ≤ 63 bytes, not in PostgreSQL's `pg_` namespace. `what` as for
/// [`super::names::role_name_problems`].
fn check_schema_name(schema: &str, what: &str, path: &str, errs: &mut Errors) {
    if !is_identifier(schema) {
        errs.add(
            path,
            format!("invalid {what}: must match {IDENTIFIER_PATTERN}"),
        );
    }
    if schema.len() > MAX_IDENTIFIER_LEN {
        errs.add(path, too_long(what, schema.len()));
    }
    if schema.starts_with("pg_") {
        errs.add(
            path,
            format!("reserved schema name {schema:?}: the pg_ prefix is reserved by PostgreSQL"),
        );
    }
}

/// The roles generated from `prefix` must fit 63 bytes; LOGIN variants get a Secret named after
/// them, so they must also be valid user names.
fn check_generated_role(prefix: &str, users: bool, shorten: &str, path: &str, errs: &mut Errors) {
    let user_suffix = if users { USER_SUFFIX } else { "" };
    let longest = format!("{prefix}{LONGEST_ROLE_SUFFIX}{user_suffix}");
    if longest.len() > MAX_IDENTIFIER_LEN {
        errs.add(
            path,
            format!(
                "generated role {longest:?} is {} bytes; at most {MAX_IDENTIFIER_LEN} allowed \
                 (shorten the {shorten} name)",
                longest.len()
            ),
        );
    }
    let login = format!("{prefix}_owner{USER_SUFFIX}");
    if users && !is_user_name(&login) {
        errs.add(
            path,
            format!(
                "generated login role {login:?} gets a Secret, so it must match {USER_NAME_PATTERN}"
            ),
        );
    }
}

/// [`EXTENSION_PATTERN`].
fn is_extension_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(&first) => {
            (first.is_ascii_lowercase() || first == b'_')
                && b.iter().all(|&c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-'
                })
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(yaml: &str) -> BTreeMap<String, PreparedDatabase> {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn errors(f: impl FnOnce(&mut Errors)) -> Vec<String> {
        let mut errs = Errors::default();
        f(&mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn empty_prepared_map_means_cluster_database() {
        let p = effective_prepared("acid-minimal", Some(&BTreeMap::new()));
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["acid_minimal"]);
        assert!(effective_prepared("x", None).is_empty());
    }

    #[test]
    fn generated_roles() {
        let p = prepared(
            "bar: {}\nfoo:\n  defaultUsers: true\n  schemas:\n    app: {defaultUsers: true}\n    \
             raw: {defaultRoles: false}\n",
        );
        let roles = prepared_roles(&p);
        for r in [
            "bar_owner",
            "bar_reader",
            "bar_writer",
            "bar_data_owner",
            "bar_data_writer",
            "foo_owner",
            "foo_owner_user",
            "foo_reader_user",
            "foo_app_owner",
            "foo_app_writer_user",
        ] {
            assert!(roles.contains(r), "{r}");
        }
        assert!(!roles.contains("bar_owner_user"));
        assert!(!roles.contains("bar_data_owner_user"));
        assert!(!roles.contains("foo_raw_owner"));
        assert!(
            !roles.contains("foo_data_owner"),
            "explicit schemas replace `data`"
        );
    }

    #[test]
    fn owners_must_exist() {
        let roles: BTreeSet<String> = ["zalando".to_string(), "bar_owner".to_string()].into();
        let dbs: BTreeMap<String, String> = [
            ("foo".to_string(), "zalando".to_string()),
            ("baz".to_string(), "bar_owner".to_string()),
            ("qux".to_string(), "nobody".to_string()),
            ("quux".to_string(), "postgres".to_string()),
            ("spilo".to_string(), "admin".to_string()),
            ("cron".to_string(), "cron_admin".to_string()),
        ]
        .into();
        let protected = crate::validate::Limits::default().protected_role_names;
        assert_eq!(
            errors(|e| check_databases(&dbs, &roles, &protected, e)),
            vec![
                "spec.databases.cron: owner \"cron_admin\" is a protected role \
                 (protected_role_names): postgres-reconciler does not create it; use a role from \
                 spec.users",
                "spec.databases.quux: owner \"postgres\" is a reserved role name: system role \
                 managed by postgres-reconciler",
                "spec.databases.qux: owner \"nobody\" is not declared in spec.users or created by \
                 spec.preparedDatabases",
            ]
        );
    }

    #[test]
    fn generated_role_length_boundary() {
        // "<db>_<schema>_reader" with 63 and 64 bytes.
        let schema_ok = "s".repeat(63 - "d_".len() - "_reader".len());
        let schema_long = format!("{schema_ok}s");
        let ok = prepared(&format!("d:\n  schemas:\n    {schema_ok}: {{}}\n"));
        assert!(errors(|e| check_prepared(&ok, e)).is_empty());
        let long = prepared(&format!("d:\n  schemas:\n    {schema_long}: {{}}\n"));
        assert_eq!(
            errors(|e| check_prepared(&long, e)),
            vec![format!(
                "spec.preparedDatabases.d.schemas.{schema_long}: generated role \
                 \"d_{schema_long}_reader\" is 64 bytes; at most 63 allowed (shorten the database \
                 or schema name)"
            )]
        );
        // Without default roles the schema generates nothing.
        let no_roles = prepared(&format!(
            "d:\n  schemas:\n    {schema_long}: {{defaultRoles: false}}\n"
        ));
        assert!(errors(|e| check_prepared(&no_roles, e)).is_empty());
        // `_user` variants count.
        let users = prepared(&format!(
            "d:\n  schemas:\n    {schema_ok}: {{defaultUsers: true}}\n"
        ));
        assert_eq!(errors(|e| check_prepared(&users, e)).len(), 1);
    }

    #[test]
    fn names_of_schemas_and_extensions() {
        let p = prepared(
            "foo:\n  schemas:\n    public: {}\n    pg_x: {}\n    bad schema: {}\n  extensions:\n    \
             uuid-ossp: public\n    pg_trgm: data\n    PostGIS: \"1bad\"\n",
        );
        assert_eq!(
            errors(|e| check_prepared(&p, e)),
            vec![
                "spec.preparedDatabases.foo.extensions.PostGIS: invalid extension name: must \
                 match ^[a-z_][a-z0-9_-]*$",
                "spec.preparedDatabases.foo.extensions.PostGIS: invalid extension schema \"1bad\": \
                 must match ^[a-zA-Z_][a-zA-Z0-9_$-]*$",
                "spec.preparedDatabases.foo.schemas.bad schema: invalid schema name: must \
                 match ^[a-zA-Z_][a-zA-Z0-9_$-]*$",
                "spec.preparedDatabases.foo.schemas.pg_x: reserved schema name \"pg_x\": the pg_ \
                 prefix is reserved by PostgreSQL",
            ]
        );
    }

    #[test]
    fn login_roles_need_secret_safe_names() {
        let p = prepared("Foo: {defaultUsers: true}\n");
        assert_eq!(
            errors(|e| check_prepared(&p, e)),
            vec![format!(
                "spec.preparedDatabases.Foo: generated login role \"Foo_owner_user\" gets a \
                 Secret, so it must match {USER_NAME_PATTERN}"
            )]
        );
        assert!(errors(|e| check_prepared(&prepared("Foo: {}\n"), e)).is_empty());
    }

    #[test]
    fn prepared_database_name_boundary() {
        // The database's own roles: "<db>_reader" must fit, so the name is at most 56 bytes.
        let no_schema_roles = |db: &str| {
            prepared(&format!(
                "{db}:\n  schemas: {{x: {{defaultRoles: false}}}}\n"
            ))
        };
        assert!(errors(|e| check_prepared(&no_schema_roles(&"d".repeat(56)), e)).is_empty());
        let long = "d".repeat(57);
        assert_eq!(
            errors(|e| check_prepared(&no_schema_roles(&long), e)),
            vec![format!(
                "spec.preparedDatabases.{long}: generated role \"{long}_reader\" is 64 bytes; at \
                 most 63 allowed (shorten the database name)"
            )]
        );
        // With the implicit schema `data`, "<db>_data_reader" must fit: at most 51 bytes.
        let ok = "d".repeat(51);
        assert!(errors(|e| check_prepared(&prepared(&format!("{ok}: {{}}\n")), e)).is_empty());
        let long = "d".repeat(52);
        assert_eq!(
            errors(|e| check_prepared(&prepared(&format!("{long}: {{}}\n")), e)),
            vec![format!(
                "spec.preparedDatabases.{long}: generated role \"{long}_data_reader\" is 64 bytes; \
                 at most 63 allowed (shorten the database or schema name)"
            )]
        );
    }
}
