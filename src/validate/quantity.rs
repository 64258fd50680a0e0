//! Kubernetes quantities (`10Gi`, `500m`, `1e3`): `spec.volume.size` and `spec.resources`.
//!
//! The API server would reject a malformed quantity only when the rendered object is applied,
//! after other objects of the same cluster were already written; checking up front keeps a bad
//! manifest from half-applying. Values are compared as `f64`: decimal amounts are parsed in one
//! step (`"<number>e<exponent>"`), so equal amounts written differently compare equal.

use super::Errors;
use crate::api::postgresql::{ResourceAmounts, Resources};

/// Suffixes listed in messages, in the order Kubernetes documents them.
const SUFFIXES: &str = "Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E";

/// Parses a sign-less Kubernetes quantity into its value. The error is a complete message.
pub fn parse_quantity(s: &str) -> Result<f64, String> {
    let invalid = || {
        format!(
            "invalid quantity {s:?}: expected a non-negative number with an optional suffix \
             ({SUFFIXES}) or exponent, e.g. 10Gi, 500m, 1e3"
        )
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if !is_decimal(number) {
        return Err(invalid());
    }
    let number = normalize(number);
    let value = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 10,
                "Mi" => 20,
                "Gi" => 30,
                "Ti" => 40,
                "Pi" => 50,
                _ => 60,
            };
            number.parse::<f64>().map_err(|_| invalid())? * 2f64.powi(power)
        }
        _ => {
            let exponent: i64 = match suffix {
                "" => 0,
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                _ => parse_exponent(suffix).ok_or_else(invalid)?,
            };
            format!("{number}e{exponent}")
                .parse::<f64>()
                .map_err(|_| invalid())?
        }
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("quantity {s:?} is out of range"))
    }
}

/// `<digits>`, `<digits>.<digits>`, `<digits>.` or `.<digits>`.
fn is_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac)
}

/// Makes `1.` and `.5` acceptable to Rust's float parser.
fn normalize(number: &str) -> String {
    let mut n = number.to_string();
    if n.starts_with('.') {
        n.insert(0, '0');
    }
    if n.ends_with('.') {
        n.push('0');
    }
    n
}

/// `e<signed integer>` or `E<signed integer>`; `None` if the suffix is anything else.
fn parse_exponent(suffix: &str) -> Option<i64> {
    let rest = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))?;
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Absurd exponents saturate; the caller then reports the value as out of range (or zero).
    Some(rest.parse::<i64>().unwrap_or(if rest.starts_with('-') {
        -100_000
    } else {
        100_000
    }))
}

/// `spec.volume.size`: a quantity greater than zero.
pub(super) fn check_volume_size(size: &str, errs: &mut Errors) {
    match parse_quantity(size) {
        Ok(v) if v > 0.0 => {}
        Ok(_) => errs.add("spec.volume.size", "must be greater than zero"),
        Err(msg) => errs.add("spec.volume.size", msg),
    }
}

/// `spec.resources`: every amount a quantity; no request above its limit.
pub(super) fn check_resources(resources: &Resources, errs: &mut Errors) {
    check_resources_at("spec.resources", resources, errs);
}

/// Every quantity parses and no request exceeds its limit; `at` is the field's path.
pub(super) fn check_resources_at(at: &str, resources: &Resources, errs: &mut Errors) {
    let requests = resources.requests.clone().unwrap_or_default();
    let limits = resources.limits.clone().unwrap_or_default();
    let amounts = |a: &ResourceAmounts| [("cpu", a.cpu.clone()), ("memory", a.memory.clone())];
    for ((kind, request), (_, limit)) in amounts(&requests).into_iter().zip(amounts(&limits)) {
        let request_path = format!("{at}.requests.{kind}");
        let limit_path = format!("{at}.limits.{kind}");
        let mut parse = |path: &str, v: &Option<String>| {
            v.as_deref()
                .and_then(|v| parse_quantity(v).map_err(|m| errs.add(path, m)).ok())
        };
        let req = parse(&request_path, &request);
        let lim = parse(&limit_path, &limit);
        if let (Some(req), Some(lim)) = (req, lim)
            && req > lim
        {
            errs.add(
                request_path,
                format!(
                    "request {:?} is greater than limit {:?}",
                    request.unwrap_or_default(),
                    limit.unwrap_or_default()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let cases = [
            ("0", 0.0),
            ("1", 1.0),
            ("1.5", 1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("500m", 0.5),
            ("100n", 100e-9),
            ("3u", 3e-6),
            ("1k", 1000.0),
            ("1M", 1e6),
            ("10G", 1e10),
            ("1T", 1e12),
            ("1P", 1e15),
            ("1E", 1e18),
            ("1Ki", 1024.0),
            ("1Mi", 1048576.0),
            ("1.5Gi", 1.5 * 1073741824.0),
            ("1Ti", 2f64.powi(40)),
            ("1Pi", 2f64.powi(50)),
            ("1Ei", 2f64.powi(60)),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("12e-1", 1.2),
            ("2e+2", 200.0),
        ];
        for (s, want) in cases {
            assert_eq!(parse_quantity(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn equal_amounts_compare_equal() {
        assert_eq!(parse_quantity("0.3"), parse_quantity("300m"));
        assert_eq!(parse_quantity("1024"), parse_quantity("1Ki"));
        assert_eq!(parse_quantity("1G"), parse_quantity("1000M"));
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for s in [
            "", "Gi", ".", "-1", "+1", "1 Gi", "1GB", "1gi", "1e", "1e+", "1.2.3", "1Ki1", "e3",
            "1K", "1mi", " 1",
        ] {
            assert!(parse_quantity(s).is_err(), "{s:?}");
        }
        assert_eq!(
            parse_quantity("10GB").unwrap_err(),
            "invalid quantity \"10GB\": expected a non-negative number with an optional suffix \
             (Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E) or exponent, e.g. 10Gi, 500m, 1e3"
        );
        assert_eq!(
            parse_quantity("1e400").unwrap_err(),
            "quantity \"1e400\" is out of range"
        );
        assert!(parse_quantity("1e99999999999999999999999").is_err());
    }

    fn errors(f: impl FnOnce(&mut Errors)) -> Vec<String> {
        let mut errs = Errors::default();
        f(&mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn volume_size() {
        assert!(errors(|e| check_volume_size("1Gi", e)).is_empty());
        assert_eq!(
            errors(|e| check_volume_size("0Gi", e)),
            vec!["spec.volume.size: must be greater than zero"]
        );
        assert_eq!(errors(|e| check_volume_size("ten", e)).len(), 1);
    }

    fn amounts(cpu: Option<&str>, memory: Option<&str>) -> Option<ResourceAmounts> {
        Some(ResourceAmounts {
            cpu: cpu.map(String::from),
            memory: memory.map(String::from),
        })
    }

    #[test]
    fn resources() {
        let ok = Resources {
            requests: amounts(Some("100m"), Some("1Gi")),
            limits: amounts(Some("0.1"), Some("1024Mi")),
        };
        assert!(errors(|e| check_resources(&ok, e)).is_empty());
        let only_requests = Resources {
            requests: amounts(Some("4"), None),
            limits: None,
        };
        assert!(errors(|e| check_resources(&only_requests, e)).is_empty());

        let bad = Resources {
            requests: amounts(Some("2"), Some("1x")),
            limits: amounts(Some("1500m"), Some("512Mi")),
        };
        assert_eq!(
            errors(|e| check_resources(&bad, e)),
            vec![
                "spec.resources.requests.cpu: request \"2\" is greater than limit \"1500m\"",
                "spec.resources.requests.memory: invalid quantity \"1x\": expected a non-negative \
                 number with an optional suffix (Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E) \
                 or exponent, e.g. 10Gi, 500m, 1e3",
            ]
        );
    }
}
