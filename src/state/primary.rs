//! Whether a cluster's master Service can take a connection. Patroni writes the leader's address
//! into the Endpoints of the master Service (Kubernetes DCS with Endpoints); when they list no
//! ready address, a connection through the Service can only fail, after a name lookup or a
//! timeout, so the run says so at once instead of trying.

use super::CompactJson;
use serde_json::Value;
use std::collections::BTreeSet;

/// (namespace, name) of each Endpoints object among `objects` that lists no ready address.
pub fn endpoints_without_address<'a>(
    objects: impl IntoIterator<Item = &'a CompactJson>,
) -> BTreeSet<(String, String)> {
    objects
        .into_iter()
        .filter_map(|o| {
            let head = o.head();
            (head.kind == "Endpoints" && !has_ready_address(&o.value()))
                .then_some((head.metadata.namespace, head.metadata.name))
        })
        .collect()
}

fn has_ready_address(endpoints: &Value) -> bool {
    endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| {
            s.get("addresses")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
}

/// Why a cluster's server is not tried: its master Service has no primary behind it.
pub fn no_primary_reason(namespace: &str, cluster: &str) -> String {
    format!(
        "no primary: Endpoints {namespace}/{cluster} of the master Service list no ready address \
         (Patroni has no leader, or its pods are not up)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(name: &str, subsets: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Endpoints",
               "metadata": {"namespace": "ns", "name": name}, "subsets": subsets})
    }

    #[test]
    fn endpoints_without_a_ready_address_are_named() {
        let objects: Vec<CompactJson> = [
            endpoints("new", Value::Null),
            endpoints("empty", json!([])),
            endpoints(
                "not-ready",
                json!([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 5432}]}]),
            ),
            endpoints(
                "led",
                json!([{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 5432}]}]),
            ),
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"namespace": "ns", "name": "svc"}}),
        ]
        .into_iter()
        .map(CompactJson::from)
        .collect();
        let names: Vec<String> = endpoints_without_address(&objects)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        assert_eq!(names, ["empty", "new", "not-ready"]);
    }
}
