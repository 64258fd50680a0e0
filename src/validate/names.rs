//! Name and identifier rules shared by both manifests.
//!
//! Hand-written matchers instead of regular expressions: the grammars are tiny, and keeping the
//! crate free of a regex engine keeps the pure modules small. Every matcher works on bytes and
//! rejects anything non-ASCII, so no input can make it panic.

/// Longest cluster name: a DNS-1035 label (63) minus the `-repl` suffix of the replica Service.
pub const MAX_CLUSTER_NAME_LEN: usize = 58;

/// PostgreSQL truncates identifiers longer than NAMEDATALEN - 1 bytes; we refuse them instead.
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Longest DNS-1123 subdomain (object names such as Secrets and PostgreSQLConfigs).
pub const MAX_SUBDOMAIN_LEN: usize = 253;

/// Longest name part of a qualified name (annotation keys).
pub const MAX_QUALIFIED_NAME_LEN: usize = 63;

/// Roles the operator manages itself: the superuser and the replication user.
pub const SYSTEM_ROLES: &[&str] = &["postgres", "standby"];

/// The NOLOGIN, CREATEDB role Spilo's bootstrap creates; prepared databases grant it ADMIN on
/// their roles, and the renderer keeps it as a system role whatever the configuration says.
pub const SPILO_ADMIN_ROLE: &str = "admin";

/// Zalando's default `protected_role_names`: roles Spilo creates and manages itself.
pub const PROTECTED_ROLE_NAMES: &[&str] = &[SPILO_ADMIN_ROLE, "cron_admin"];

/// Databases every cluster has; creating or re-owning them is not ours to do.
pub const RESERVED_DATABASES: &[&str] = &["postgres", "template0", "template1"];

/// Zalando's user name pattern, quoted in messages.
pub const USER_NAME_PATTERN: &str =
    r"^[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*$";

/// Database and schema names. Zalando's `databaseNameRegexp` (`^[a-zA-Z_][a-zA-Z0-9_]*$`) makes
/// its operator skip a database with `-` or `$` in its name, with only a log line; we quote every
/// identifier, so we create such databases instead of failing the whole manifest.
pub const IDENTIFIER_PATTERN: &str = "^[a-zA-Z_][a-zA-Z0-9_$-]*$";

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$` (length checked separately).
pub fn is_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_lowercase()
                && is_lower_alnum(*last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` (length checked separately).
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            is_lower_alnum(*first)
                && is_lower_alnum(*last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Dot-separated DNS-1123 labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN_LEN && s.split('.').all(is_dns1123_label)
}

/// [`IDENTIFIER_PATTERN`] (length checked separately).
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(&first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'-'))
        }
        None => false,
    }
}

/// One dot-separated segment of a user name: `[a-z0-9]([-_a-z0-9]*[a-z0-9])?`.
fn is_user_segment(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            is_lower_alnum(*first)
                && is_lower_alnum(*last)
                && b.iter()
                    .all(|&c| is_lower_alnum(c) || c == b'-' || c == b'_')
        }
        _ => false,
    }
}

/// [`USER_NAME_PATTERN`] (length checked separately).
pub fn is_user_name(s: &str) -> bool {
    s.split('.').all(is_user_segment)
}

/// Name part of a Kubernetes qualified name: `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`, ≤ 63.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            b.len() <= MAX_QUALIFIED_NAME_LEN
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Kubernetes qualified name (`[prefix/]name`), the grammar of label and annotation keys.
/// Returns why it is not one, or `None` when it is.
pub fn qualified_name_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty() || !is_dns1123_subdomain(prefix))
    {
        return Some(
            "invalid key: the prefix before '/' must be a DNS subdomain (lower-case letters, \
             digits, '-' and '.', at most 253 characters)"
                .to_string(),
        );
    }
    if !is_qualified_name_part(name) {
        return Some(
            "invalid key: the name must be at most 63 characters of letters, digits, '-', '_' \
             and '.', starting and ending with a letter or digit"
                .to_string(),
        );
    }
    None
}

/// Why `name` cannot be a role we create; empty when it can. `what` names the field in
/// messages: `user name` when the path already ends with the name, `owner "x"` when it does not.
pub fn role_name_problems(name: &str, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !is_user_name(name) {
        out.push(format!("invalid {what}: must match {USER_NAME_PATTERN}"));
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        out.push(too_long(what, name.len()));
    }
    if let Some(reason) = reserved_role(name) {
        out.push(format!("reserved role name {name:?}: {reason}"));
    }
    out
}

/// Why `name` is reserved for a role, or `None`.
pub fn reserved_role(name: &str) -> Option<&'static str> {
    if SYSTEM_ROLES.contains(&name) {
        Some("system role managed by postgres-reconciler")
    } else if name.starts_with("pg_") {
        Some("the pg_ prefix is reserved by PostgreSQL")
    } else {
        None
    }
}

/// Why `name` cannot be a database we create; empty when it can. `what` as for
/// [`role_name_problems`].
pub fn database_name_problems(name: &str, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !is_identifier(name) {
        out.push(format!("invalid {what}: must match {IDENTIFIER_PATTERN}"));
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        out.push(too_long(what, name.len()));
    }
    if RESERVED_DATABASES.contains(&name) {
        out.push(format!(
            "reserved database name {name:?}: postgres, template0 and template1 exist in every cluster"
        ));
    }
    out
}

/// Why `name` cannot be a cluster (`postgresql`) name; empty when it can.
pub fn cluster_name_problems(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !is_dns1035_label(name) {
        out.push(format!(
            "invalid cluster name {name:?}: must be a DNS-1035 label (lower-case letters, digits \
             and '-', starting with a letter and ending with a letter or digit)"
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_CLUSTER_NAME_LEN {
        out.push(format!(
            "cluster name is {chars} characters; at most {MAX_CLUSTER_NAME_LEN} allowed \
             (63 minus the \"-repl\" suffix)"
        ));
    }
    out
}

/// Why `name` cannot be an object name (DNS-1123 subdomain); empty when it can.
pub fn subdomain_problems(name: &str, what: &str) -> Vec<String> {
    if is_dns1123_subdomain(name) {
        Vec::new()
    } else {
        vec![format!(
            "invalid {what} {name:?}: must be a DNS-1123 subdomain (lower-case letters, digits, \
             '-' and '.', starting and ending with a letter or digit, at most 253 characters)"
        )]
    }
}

/// "`what` is N bytes; at most 63 allowed".
pub fn too_long(what: &str, len: usize) -> String {
    format!("{what} is {len} bytes; at most {MAX_IDENTIFIER_LEN} allowed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1035_labels() {
        for ok in ["a", "acid-minimal", "a1", "abc-1-x"] {
            assert!(is_dns1035_label(ok), "{ok}");
        }
        for bad in ["", "1abc", "-a", "a-", "Acid", "a_b", "a.b", "ä"] {
            assert!(!is_dns1035_label(bad), "{bad}");
        }
    }

    #[test]
    fn cluster_name_length_boundary() {
        let ok = format!("a{}", "b".repeat(57));
        assert_eq!(ok.len(), 58);
        assert!(cluster_name_problems(&ok).is_empty());
        let long = format!("a{}", "b".repeat(58));
        assert_eq!(long.len(), 59);
        assert_eq!(
            cluster_name_problems(&long),
            vec![
                "cluster name is 59 characters; at most 58 allowed (63 minus the \"-repl\" suffix)"
            ]
        );
    }

    #[test]
    fn subdomains() {
        for ok in ["a", "my-secret", "a.b.c", "0abc", &"a".repeat(253)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a.", "A", "a_b", "-a", &"a".repeat(254)] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        for ok in ["foo", "_foo", "Foo_1", "a", "orders-archive", "foo$", "a-"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in [
            "", "1foo", "-foo", "$foo", "foo bar", "foo.bar", "fö", "foo\"bar",
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn user_names() {
        for ok in ["zalando", "foo_user", "a", "a-b", "ns.user", "x.y.z", "0a"] {
            assert!(is_user_name(ok), "{ok}");
        }
        for bad in [
            "", "Bad-Name", "-a", "a-", "a_", "_a", "a..b", ".a", "a.", "a b", "ns.-a",
        ] {
            assert!(!is_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn role_name_boundaries_and_reserved() {
        let ok = "a".repeat(63);
        assert!(role_name_problems(&ok, "user name").is_empty());
        assert_eq!(
            role_name_problems(&"a".repeat(64), "user name"),
            vec!["user name is 64 bytes; at most 63 allowed"]
        );
        assert_eq!(
            role_name_problems("postgres", "user name"),
            vec!["reserved role name \"postgres\": system role managed by postgres-reconciler"]
        );
        assert_eq!(
            role_name_problems("pg_monitor", "owner"),
            vec!["reserved role name \"pg_monitor\": the pg_ prefix is reserved by PostgreSQL"]
        );
        assert!(reserved_role("pgx").is_none());
        assert!(reserved_role("standby").is_some());
    }

    #[test]
    fn database_names() {
        let d = "database name";
        assert!(database_name_problems(&"d".repeat(63), d).is_empty());
        assert_eq!(
            database_name_problems(&"d".repeat(64), d),
            vec!["database name is 64 bytes; at most 63 allowed"]
        );
        assert_eq!(database_name_problems("template1", d).len(), 1);
        assert_eq!(
            database_name_problems("my db", "database \"my db\""),
            vec!["invalid database \"my db\": must match ^[a-zA-Z_][a-zA-Z0-9_$-]*$"]
        );
        assert!(database_name_problems("my-db", d).is_empty());
        assert!(database_name_problems("Foo_bar", d).is_empty());
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "a",
            "prometheus.io/scrape",
            "example.com/a.b_c-d",
            "Foo",
            &"a".repeat(63),
            &format!("{}/x", "a".repeat(253)),
        ] {
            assert_eq!(qualified_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a/b/c",
            "-a",
            "a-",
            "Example.com/a",
            "a b",
            &"a".repeat(64),
            &format!("{}/x", "a".repeat(254)),
        ] {
            assert!(qualified_name_problem(bad).is_some(), "{bad}");
        }
    }
}
