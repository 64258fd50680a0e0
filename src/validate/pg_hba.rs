//! `spec.patroni.pg_hba`: the rules replace Spilo's defaults in full (Zalando puts them in
//! Patroni's local configuration), so they must still let Patroni in. Patroni connects to its
//! own PostgreSQL through the Unix socket (Spilo sets `use_unix_socket`), and a replica copies
//! the leader over TCP as the replication user: without a `local` rule the cluster never
//! bootstraps, and without a `replication` rule no replica ever starts. Zalando accepts both and
//! the pods crash-loop; we refuse them before anything is rendered.

use super::Errors;

const FIELD: &str = "spec.patroni.pg_hba";

/// Connection types of `pg_hba.conf` and the fewest fields a rule of that type has (type,
/// database, user, [address,] method).
const TYPES: &[(&str, usize)] = &[
    ("local", 4),
    ("host", 5),
    ("hostssl", 5),
    ("hostnossl", 5),
    ("hostgssenc", 5),
    ("hostnogssenc", 5),
    ("include", 2),
    ("include_if_exists", 2),
    ("include_dir", 2),
];

/// The fields of one line: whitespace-separated, double quotes keep spaces, `#` starts a comment.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '#' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a rule's database field (a comma list) names `database` or `all`.
fn names_database(field: &str, database: &str) -> bool {
    field
        .split(',')
        .any(|d| d == "all" || d == database || d == format!("\"{database}\""))
}

pub(super) fn check_pg_hba(lines: &[String], instances: i32, errs: &mut Errors) {
    if lines.is_empty() {
        return;
    }
    let mut local_login = false;
    let mut replication = false;
    for (i, line) in lines.iter().enumerate() {
        let f = fields(line);
        let Some(kind) = f.first() else { continue };
        let Some((_, fewest)) = TYPES.iter().find(|(t, _)| t == kind) else {
            errs.add(
                format!("{FIELD}[{i}]"),
                format!(
                    "unknown connection type {kind:?}: PostgreSQL refuses to start with it; use local, host, hostssl, hostnossl, hostgssenc or hostnogssenc"
                ),
            );
            continue;
        };
        if f.len() < *fewest {
            errs.add(
                format!("{FIELD}[{i}]"),
                format!(
                    "a {kind} rule has at least {fewest} fields, got {}: PostgreSQL refuses to start with it",
                    f.len()
                ),
            );
            continue;
        }
        if kind.starts_with("include") {
            continue;
        }
        // The method follows the address, or the address and its netmask; options follow it.
        let mut rest = f.iter().skip(if kind == "local" { 3 } else { 4 });
        let mut method = rest.next().map(String::as_str).unwrap_or_default();
        if method.parse::<std::net::IpAddr>().is_ok() {
            method = rest.next().map(String::as_str).unwrap_or_default();
        }
        if method == "reject" {
            continue;
        }
        if kind == "local" && names_database(&f[1], "postgres") {
            local_login = true;
        }
        if kind != "local" && f[1].split(',').any(|d| d == "replication") {
            replication = true;
        }
    }
    if !local_login {
        errs.add(
            FIELD,
            "no local rule for the database postgres: Patroni connects through the Unix socket and the cluster could never start; add \"local all all trust\" (Spilo's own rule) before the host rules",
        );
    }
    if instances > 1 && !replication {
        errs.add(
            FIELD,
            "no host rule for the replication database: replicas copy the leader over TCP as the replication user and would never start; add \"hostssl replication standby all md5\" (Spilo's own rule)",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(lines: &[&str], instances: i32) -> Vec<String> {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut errs = Errors::default();
        check_pg_hba(&lines, instances, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn no_rules_keep_spilos_defaults() {
        assert!(errors(&[], 3).is_empty());
    }

    #[test]
    fn patroni_and_replicas_must_get_in() {
        let good = [
            "local   all  all  trust",
            "hostssl replication standby all md5",
            "hostssl all all 0.0.0.0/0 scram-sha-256",
        ];
        assert!(errors(&good, 3).is_empty());
        let seed = [
            "hostssl all all 0.0.0.0/0 md5",
            "host all all 0.0.0.0/0 md5",
        ];
        let e = errors(&seed, 3);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("spec.patroni.pg_hba: no host rule for the replication"));
        assert!(e[1].starts_with("spec.patroni.pg_hba: no local rule"));
        // One instance has no replica to start.
        assert_eq!(errors(&seed, 1).len(), 1);
        // A rule that rejects lets nobody in.
        assert_eq!(errors(&["local all all reject"], 1).len(), 1);
        assert!(errors(&["local postgres,app all peer"], 1).is_empty());
        let masked = [
            "local all all trust",
            "host replication all 10.0.0.0 255.0.0.0 reject",
        ];
        assert_eq!(errors(&masked, 2).len(), 1);
    }

    #[test]
    fn malformed_rules_are_named() {
        let e = errors(
            &[
                "local all all trust",
                "hots all all 0.0.0.0/0 md5",
                "host all all",
            ],
            1,
        );
        assert_eq!(
            e,
            [
                "spec.patroni.pg_hba[1]: unknown connection type \"hots\": PostgreSQL refuses to start with it; use local, host, hostssl, hostnossl, hostgssenc or hostnogssenc",
                "spec.patroni.pg_hba[2]: a host rule has at least 5 fields, got 3: PostgreSQL refuses to start with it",
            ]
        );
        // Comments and quoted names with spaces are one field each.
        assert!(errors(&["local \"postgres\" \"my user\" trust # Patroni"], 1).is_empty());
    }
}
