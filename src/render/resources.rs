//! The postgres container's resources as Zalando's operator computes them
//! (`generateResourceRequirements`): the manifest's values over the configuration's defaults
//! ("", "0" and "null" mean "not set"), limits raised to `min_cpu_limit`/`min_memory_limit`,
//! limits raised to the requests (the apiserver refuses a request above its limit), with
//! `set_memory_request_to_limit` the memory request raised to its limit, and requests lowered
//! to `max_cpu_request`/`max_memory_request`.

use super::quantity::{canonical, nanos};
use crate::api::Postgresql;
use crate::api::postgresql::{ResourceAmounts, Resources};
use crate::config::Config;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

const UNSET: &[&str] = &["", "0", "null"];

fn set(value: Option<&String>) -> Option<String> {
    value.filter(|v| !UNSET.contains(&v.trim())).cloned()
}

fn pick(manifest: Option<&String>, default: &str) -> Option<String> {
    set(manifest).or_else(|| set(Some(&default.to_string())))
}

fn smaller(a: &str, b: &str) -> bool {
    matches!((nanos(a), nanos(b)), (Some(x), Some(y)) if x < y)
}

/// One resource (cpu or memory) through Zalando's rules.
fn bounded(
    request: Option<String>,
    limit: Option<String>,
    min_limit: &str,
    max_request: &str,
    request_to_limit: bool,
) -> (Option<String>, Option<String>) {
    let mut request = request;
    let mut limit = limit;
    if let Some(l) = &limit
        && !min_limit.is_empty()
        && smaller(l, min_limit)
    {
        limit = Some(min_limit.to_string());
    }
    if let (Some(r), Some(l)) = (&request, &limit)
        && smaller(l, r)
    {
        limit = Some(r.clone());
    }
    if request_to_limit
        && let (Some(r), Some(l)) = (&request, &limit)
        && smaller(r, l)
    {
        request = Some(l.clone());
    }
    if let Some(r) = &request
        && !max_request.is_empty()
        && smaller(max_request, r)
    {
        request = Some(max_request.to_string());
    }
    (request, limit)
}

pub fn postgres_resources(config: &Config, pg: &Postgresql) -> ResourceRequirements {
    container_resources(config, pg.spec.resources.as_ref(), true)
}

/// A container's resources from `spec` over the configuration's defaults; the minimum limits
/// and maximum requests bound the postgres container only, as in Zalando's operator.
pub fn container_resources(
    config: &Config,
    spec: Option<&Resources>,
    postgres: bool,
) -> ResourceRequirements {
    let spec = spec.cloned().unwrap_or_default();
    let requests = spec.requests.unwrap_or_default();
    let limits = spec.limits.unwrap_or_default();
    let value = |r: &ResourceAmounts, cpu: bool| if cpu { r.cpu.clone() } else { r.memory.clone() };
    let mut out_requests = BTreeMap::new();
    let mut out_limits = BTreeMap::new();
    // Zalando's operator raises the default memory request to the default limit once, when it
    // reads its ConfigMap with `set_memory_request_to_limit`: a container with a lower limit of
    // its own then gets the raised request, and its limit follows.
    let default_memory_request = if config.set_memory_request_to_limit
        && smaller(&config.default_memory_request, &config.default_memory_limit)
    {
        &config.default_memory_limit
    } else {
        &config.default_memory_request
    };
    for (name, cpu) in [("cpu", true), ("memory", false)] {
        let (default_request, default_limit, min_limit, max_request) = if cpu {
            (
                &config.default_cpu_request,
                &config.default_cpu_limit,
                &config.min_cpu_limit,
                &config.max_cpu_request,
            )
        } else {
            (
                default_memory_request,
                &config.default_memory_limit,
                &config.min_memory_limit,
                &config.max_memory_request,
            )
        };
        let (min_limit, max_request) = if postgres {
            (min_limit.as_str(), max_request.as_str())
        } else {
            ("", "")
        };
        let (request, limit) = bounded(
            pick(value(&requests, cpu).as_ref(), default_request),
            pick(value(&limits, cpu).as_ref(), default_limit),
            min_limit,
            max_request,
            !cpu && config.set_memory_request_to_limit,
        );
        // Spelled as the apiserver stores them: "0.5" and "500m" render (and hash) the same.
        if let Some(r) = request {
            out_requests.insert(name.to_string(), Quantity(canonical(&r)));
        }
        if let Some(l) = limit {
            out_limits.insert(name.to_string(), Quantity(canonical(&l)));
        }
    }
    ResourceRequirements {
        requests: (!out_requests.is_empty()).then_some(out_requests),
        limits: (!out_limits.is_empty()).then_some(out_limits),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn limits_rise_to_the_minimum_and_to_the_requests() {
        assert_eq!(
            bounded(s("100m"), s("100m"), "250m", "", false),
            (s("100m"), s("250m"))
        );
        assert_eq!(bounded(s("2"), s("1"), "250m", "", false), (s("2"), s("2")));
        assert_eq!(
            bounded(s("1Gi"), s("500Mi"), "250Mi", "", false),
            (s("1Gi"), s("1Gi"))
        );
    }

    #[test]
    fn memory_request_to_limit_and_maximum_requests() {
        assert_eq!(
            bounded(s("100Mi"), s("1Gi"), "", "", true),
            (s("1Gi"), s("1Gi"))
        );
        assert_eq!(bounded(s("4"), s("4"), "", "2", false), (s("2"), s("4")));
    }

    #[test]
    fn unset_values_fall_back_to_defaults() {
        assert_eq!(pick(Some(&"0".to_string()), "1"), s("1"));
        assert_eq!(pick(None, ""), None);
    }

    #[test]
    fn with_request_to_limit_a_lower_limit_of_its_own_rises_to_the_raised_default_request() {
        let config = Config {
            set_memory_request_to_limit: true,
            ..Config::default()
        };
        let spec = Resources {
            requests: None,
            limits: Some(ResourceAmounts {
                cpu: None,
                memory: Some("300Mi".into()),
            }),
        };
        let r = container_resources(&config, Some(&spec), false);
        let memory = |m: &Option<BTreeMap<String, Quantity>>| {
            m.as_ref()
                .and_then(|m| m.get("memory"))
                .map(|q| q.0.clone())
        };
        // The default request (100Mi) was raised to the default limit (500Mi) first.
        assert_eq!(memory(&r.requests).as_deref(), Some("500Mi"));
        assert_eq!(memory(&r.limits).as_deref(), Some("500Mi"));
    }
}
