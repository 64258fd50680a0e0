//! What differs between any two live objects and says nothing about what was rendered: ids,
//! versions, timestamps, managed fields, status, addresses the apiserver assigns, generated
//! passwords, the Deployment controller's revision, and (ours only) the twin namespace the dry run used.

use crate::support::json::replace_in_strings;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeSet;

pub struct Context<'a> {
    /// Ours were dry-run in `twin`; the oracle's live in `oracle`.
    pub twin: &'a str,
    pub oracle: &'a str,
    /// Node ports the manifests ask for; any other node port was assigned by the apiserver.
    pub requested_node_ports: &'a BTreeSet<i64>,
}

pub fn normalize(kind: &str, object: &mut Value, ctx: &Context<'_>, ours: bool) {
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "namespace",
        ] {
            meta.remove(key);
        }
        if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
            for r in refs {
                r["uid"] = Value::from("<uid>");
            }
        }
    }
    match kind {
        "Service" => service(object, ctx),
        "Secret" => secret(object),
        // The Deployment controller's count of its rollouts (a dry run has none).
        "Deployment" => {
            if let Some(a) = object
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                a.remove("deployment.kubernetes.io/revision");
                if a.is_empty() {
                    object["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("annotations"));
                }
            }
        }
        "StatefulSet" => {
            if let Some(Value::Array(claims)) = object.pointer_mut("/spec/volumeClaimTemplates") {
                for claim in claims {
                    if let Some(c) = claim.as_object_mut() {
                        c.remove("status");
                    }
                    if let Some(m) = claim.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("creationTimestamp");
                    }
                }
            }
        }
        _ => {}
    }
    if ours {
        replace_in_strings(object, ctx.twin, ctx.oracle);
    }
}

fn service(object: &mut Value, ctx: &Context<'_>) {
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        if spec.contains_key("healthCheckNodePort") {
            spec.insert("healthCheckNodePort".into(), Value::from("<assigned>"));
        }
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for port in ports {
                let requested = port
                    .get("nodePort")
                    .and_then(Value::as_i64)
                    .is_some_and(|p| ctx.requested_node_ports.contains(&p));
                if port.get("nodePort").is_some() && !requested {
                    port["nodePort"] = Value::from("<assigned>");
                }
            }
        }
    }
}

/// Usernames compared in clear, every other value only for being there.
fn secret(object: &mut Value) {
    let Some(Value::Object(data)) = object.get_mut("data") else {
        return;
    };
    for (key, value) in data.iter_mut() {
        let decoded = value
            .as_str()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|b| String::from_utf8(b).ok());
        *value = match (key.as_str(), decoded) {
            ("username", Some(name)) => Value::from(name),
            _ => Value::from("<set>"),
        };
    }
}

/// Patroni's field manager on the apiserver (from its User-Agent, `Patroni/<version> …`).
const PATRONI: &str = "Patroni";

/// An object Patroni made for its DCS state (`-config`, `-leader`, `-sync`, `-failover`, and the
/// `-config` Service): every write to it is Patroni's. Neither operator renders those.
pub fn made_by_patroni(o: &Value) -> bool {
    o.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty() && m.iter().all(|e| e["manager"] == PATRONI))
}

/// Removes what Patroni wrote on an object the operator made (the leader Endpoints: the lock's
/// annotations, its subsets), by Patroni's entries in `managedFields`: Patroni's DCS state, not
/// something either operator renders.
pub fn drop_patroni_fields(o: &mut Value) {
    let owned: Vec<Value> = o
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter(|e| e["manager"] == PATRONI)
                .map(|e| e["fieldsV1"].clone())
                .collect()
        })
        .unwrap_or_default();
    for fields in owned {
        let keys = fields
            .pointer("/f:metadata/f:annotations")
            .and_then(Value::as_object);
        if let (Some(keys), Some(annotations)) = (
            keys,
            o.pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut),
        ) {
            for key in keys.keys().filter_map(|k| k.strip_prefix("f:")) {
                annotations.remove(key);
            }
            if annotations.is_empty()
                && let Some(m) = o["metadata"].as_object_mut()
            {
                m.remove("annotations");
            }
        }
        if fields.get("f:subsets").is_some()
            && let Some(m) = o.as_object_mut()
        {
            m.remove("subsets");
        }
    }
}
