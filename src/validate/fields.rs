//! Reading a manifest into its typed form, naming the field that does not fit. A field under
//! `spec` that our CRD does not know is an error too: under Zalando's own CRD (or in a file given
//! to `plan -f`) such a field reaches us, and a feature we do not implement — a sidecar, the
//! connection pooler, a standby — must not silently disappear from a running cluster.
//! Every wrong type is named too, not only the first serde meets ([`read_typed`]).

use super::FieldError;
use super::types::read_typed;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Zalando features postgres-reconciler does not provide, with what they would have done.
const ZALANDO_FEATURES: &[(&str, &str)] = &[
    (
        "init_containers",
        "init containers under their old name (write initContainers)",
    ),
    ("streams", "change data capture streams"),
    (
        "topologySpreadConstraints",
        "topology spread constraints (not in Zalando's operator v1.15.1 either)",
    ),
];

/// A Zalando feature field whose value switches nothing on (`streams: []`, `init_containers:
/// []`, …): Zalando's own example manifests carry such fields, and they mean what their absence
/// means.
fn switches_nothing_on(field: &str, spec: &Value) -> bool {
    match &spec[field] {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

/// Deserializes a manifest: the typed object, or every field that does not fit: each wrong type
/// (see [`read_typed`]) and every unknown `spec` field, except Zalando feature fields that
/// switch nothing on.
pub fn deserialize_manifest<K>(value: &Value) -> Result<K, Vec<FieldError>>
where
    K: DeserializeOwned,
{
    match read_fields::<K>(value) {
        Read::Typed(object) => Ok(object),
        Read::UnknownFields(_, errors) | Read::Unfit(errors) => Err(errors),
    }
}

/// What reading a manifest's fields gave.
pub(super) enum Read<K> {
    Typed(K),
    /// Every field has its type, but some are unknown: the object is real (no stand-ins), so
    /// the manifest's rules can be checked too.
    UnknownFields(K, Vec<FieldError>),
    /// Some field has the wrong type.
    Unfit(Vec<FieldError>),
}

pub(super) fn read_fields<K>(value: &Value) -> Read<K>
where
    K: DeserializeOwned,
{
    let (typed, mut errors) = read_typed::<K>(value);
    let Some((object, ignored)) = typed else {
        return Read::Unfit(errors);
    };
    let unknown: Vec<FieldError> = ignored
        .into_iter()
        .filter(|p| p.starts_with("spec."))
        .filter(|p| {
            let field = p.trim_start_matches("spec.");
            !(ZALANDO_FEATURES.iter().any(|(f, _)| *f == field)
                && switches_nothing_on(field, &value["spec"]))
        })
        .map(|path| {
            let field = path.trim_start_matches("spec.");
            let message = match ZALANDO_FEATURES.iter().find(|(f, _)| *f == field) {
                Some((_, what)) => format!(
                    "{what}: a feature of Zalando's operator that postgres-reconciler does not provide; remove the field, or leave this cluster to Zalando's operator (controller_id)"
                ),
                None => "unknown field: the CRD has no such field".to_string(),
            };
            FieldError { path, message }
        })
        .collect();
    if !errors.is_empty() {
        // The object holds stand-ins for the wrong values: its rules are not checked.
        errors.extend(unknown);
        Read::Unfit(errors)
    } else if unknown.is_empty() {
        Read::Typed(object)
    } else {
        Read::UnknownFields(object, unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Postgresql;
    use serde_json::json;

    fn cluster(extra: serde_json::Value) -> serde_json::Value {
        let mut spec = json!({"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"}});
        spec.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns"}, "spec": spec,
            "status": {"PostgresClusterStatus": "Running", "somethingElse": 1}})
    }

    fn parse(v: serde_json::Value) -> Result<Postgresql, Vec<FieldError>> {
        deserialize_manifest(&v)
    }

    #[test]
    fn zalando_fields_that_switch_nothing_on_are_accepted() {
        parse(cluster(json!({
            "streams": [],
            "init_containers": [],
            "sidecars": [],
            "initContainers": [],
            "tls": {"secretName": "", "certificateFile": "tls.crt"},
            "clone": {"cluster": ""},
        })))
        .expect("nothing is switched on");
        let errors = parse(cluster(json!({
            "streams": [{"applicationId": "x"}],
            "topologySpreadConstraints": [],
        })))
        .expect_err("switched on");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.streams"]);
    }

    #[test]
    fn the_connection_pooler_is_a_field_of_ours_now() {
        parse(cluster(json!({
            "enableConnectionPooler": true,
            "enableReplicaPoolerLoadBalancer": false,
            "connectionPooler": {"numberOfInstances": 2, "maxDBConnections": 30},
        })))
        .expect("the pooler's fields");
    }

    #[test]
    fn known_fields_and_unknown_status_fields_are_fine() {
        parse(cluster(json!({"maintenanceWindows": ["Sat:01:00-02:00"]}))).expect("valid");
    }

    #[test]
    fn zalando_features_are_named_with_what_they_do() {
        let errors = parse(cluster(json!({
            "streams": [{"applicationId": "x"}],
            "topologySpreadConstraints": [{"maxSkew": 1}],
        })))
        .expect_err("unsupported");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.streams", "spec.topologySpreadConstraints"]);
        assert!(
            errors[0]
                .message
                .starts_with("change data capture streams: a feature of Zalando's operator"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn typos_are_unknown_fields_wherever_they_are() {
        let errors = parse(cluster(
            json!({"numberOfInstance": 2, "volume": {"size": "1Gi", "storageClas": "fast"}}),
        ))
        .expect_err("typos");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.numberOfInstance", "spec.volume.storageClas"]);
        assert_eq!(
            errors[0].message,
            "unknown field: the CRD has no such field"
        );
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let errors = parse(cluster(json!({"numberOfInstances": "two"}))).expect_err("type");
        assert_eq!(errors[0].path, "spec.numberOfInstances");
    }
}
