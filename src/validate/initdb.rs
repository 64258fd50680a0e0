//! `spec.patroni.initdb`: options initdb and Patroni accept. Zalando renders any key, and a
//! cluster whose options are refused never bootstraps (Patroni exits on each attempt), so we
//! refuse them first. An option only matters for a new cluster; one that could not bootstrap was
//! never running, so no running cluster is held back by these rules.

use super::Errors;
use std::collections::BTreeMap;

/// Options Patroni sets itself and refuses from the configuration (`_initdb` in Patroni's
/// `postgresql/bootstrap.py`).
const PATRONI_OWN: &[&str] = &["pgdata", "nosync", "pwfile", "sync-only", "version"];

/// initdb options without a value: `"true"` is rendered as the bare `--flag`; any other value as
/// `--flag=value`, which initdb refuses.
const FLAGS: &[&str] = &["data-checksums", "debug", "no-locale", "noclean"];

pub(super) fn check_initdb(options: &BTreeMap<String, String>, errs: &mut Errors) {
    for (key, value) in options {
        let field = format!("spec.patroni.initdb.{key}");
        if PATRONI_OWN.contains(&key.as_str()) {
            errs.add(
                field,
                format!(
                    "Patroni sets this initdb option itself and refuses it, so the cluster could never bootstrap; remove it (Patroni refuses {})",
                    PATRONI_OWN.join(", ")
                ),
            );
        } else if FLAGS.contains(&key.as_str()) && value != "true" {
            errs.add(
                field,
                format!(
                    "{value:?} is not a value of this flag: initdb takes --{key} without one and refuses --{key}={value}; write \"true\" or remove it"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(options: &[(&str, &str)]) -> Vec<String> {
        let options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut errs = Errors::default();
        check_initdb(&options, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn options_initdb_and_patroni_take() {
        assert!(
            errors(&[
                ("data-checksums", "true"),
                ("locale", "C.UTF-8"),
                ("auth-host", "scram-sha-256")
            ])
            .is_empty()
        );
        let e = errors(&[("nosync", "false"), ("data-checksums", "false")]);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with(
                "spec.patroni.initdb.data-checksums: \"false\" is not a value of this flag"
            ),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("spec.patroni.initdb.nosync: Patroni sets this initdb option itself"),
            "{e:?}"
        );
    }
}
