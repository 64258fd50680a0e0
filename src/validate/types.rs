//! Naming every field of the wrong type, where serde stops at the first: each one found is
//! replaced by a stand-in of a type that fits and the document is read again.

use super::FieldError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

/// Wrong-typed fields named per manifest at most: one that bad needs rewriting, not a longer list.
const MAX_TYPE_ERRORS: usize = 50;

/// Stand-ins tried, in order, for a value of the wrong type: the first that moves the next
/// error elsewhere is kept. `None` removes the field (enough for every optional one).
const STAND_INS: &[Option<&str>] = &[
    None,
    Some(r#""""#),
    Some("0"),
    Some("false"),
    Some("[]"),
    Some("{}"),
];

/// One deserialization: the object and the paths serde ignored, or the first error with where
/// it is (`None` where the path cannot be followed in the document).
type Attempt<K> = Result<(K, Vec<String>), (FieldError, Option<Vec<Step>>)>;

fn attempt<K: DeserializeOwned>(value: &Value) -> Attempt<K> {
    let mut ignored = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let typed: Result<K, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut note));
    match typed {
        Ok(object) => Ok((object, ignored)),
        Err(e) => {
            let error = FieldError {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            };
            let location = location(e.path(), &error.message);
            Err((error, location))
        }
    }
}

/// The typed object with the paths serde ignored, if a reading succeeds, and the wrong types
/// met on the way (at most [`MAX_TYPE_ERRORS`]). Errors inside a stand-in (a `{}` lacking
/// required fields) are the stand-in's, not the manifest's: fixed the same way, not reported.
/// Gives up, with what it found, where no stand-in helps.
pub(super) fn read_typed<K: DeserializeOwned>(
    value: &Value,
) -> (Option<(K, Vec<String>)>, Vec<FieldError>) {
    let mut work = value.clone();
    let mut errors = Vec::new();
    let mut stand_ins: Vec<Vec<Step>> = Vec::new();
    // Every round fixes one location; a bound for odd inputs where stand-ins keep failing.
    for _ in 0..MAX_TYPE_ERRORS * 4 {
        let (error, location) = match attempt::<K>(&work) {
            Ok(done) => return (Some(done), errors),
            Err(failure) => failure,
        };
        let Some(location) = location else {
            errors.push(error);
            break;
        };
        if !stand_ins.iter().any(|s| location.starts_with(s)) {
            errors.push(error);
            if errors.len() >= MAX_TYPE_ERRORS {
                break;
            }
        }
        if !stand_in::<K>(&mut work, &location) {
            break;
        }
        stand_ins.push(location);
    }
    (None, errors)
}

/// Replaces the value at `location` by the first stand-in after which reading fails elsewhere
/// (or not at all); false when none does.
fn stand_in<K: DeserializeOwned>(work: &mut Value, location: &[Step]) -> bool {
    let Some((last, parent)) = location.split_last() else {
        return false;
    };
    for candidate in STAND_INS {
        let mut trial = work.clone();
        let Some(slot) = follow(&mut trial, parent) else {
            return false;
        };
        match (candidate, last, slot) {
            (None, Step::Key(key), Value::Object(map)) => {
                map.remove(key);
            }
            // Removing an element would shift the indices of the later ones.
            (None, _, _) => continue,
            (Some(json), Step::Key(key), Value::Object(map)) => {
                map.insert(key.clone(), serde_json::from_str(json).unwrap_or_default());
            }
            (Some(json), Step::Index(i), Value::Array(items)) if *i < items.len() => {
                items[*i] = serde_json::from_str(json).unwrap_or_default();
            }
            _ => return false,
        }
        let moved = match attempt::<K>(&trial) {
            Ok(_) => true,
            Err((_, next)) => next.as_deref() != Some(location),
        };
        if moved {
            *work = trial;
            return true;
        }
    }
    false
}

/// A step into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where an error is: its path, and for a missing field the field itself (serde reports it at
/// the object that lacks it).
fn location(path: &serde_path_to_error::Path, message: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for segment in path.iter() {
        steps.push(match segment {
            Segment::Map { key } => Step::Key(key.clone()),
            Segment::Seq { index } => Step::Index(*index),
            Segment::Enum { .. } | Segment::Unknown => return None,
        });
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        steps.push(Step::Key(field.to_string()));
    }
    Some(steps)
}

fn follow<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(key) => v.get_mut(key.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Postgresql;
    use crate::validate::deserialize_manifest;
    use serde_json::json;

    fn cluster(extra: Value) -> Value {
        let mut spec = json!({"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"}});
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns"}, "spec": spec})
    }

    fn parse(v: Value) -> Result<Postgresql, Vec<FieldError>> {
        deserialize_manifest(&v)
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn every_wrong_type_is_named_with_the_unknown_fields() {
        let errors = parse(cluster(json!({
            "numberOfInstances": "two",
            "volume": "big",
            "users": {"app": "login", "ok": [], "other": [1]},
            "env": [{"name": "A"}, "B=1", {"name": 5}],
            "enableShmVolume": "yes",
            "tolerations": {"key": "x"},
            "maintenanceWindow": ["Sat:01:00-02:00"],
        })))
        .expect_err("types");
        assert_eq!(
            paths(&errors),
            [
                "spec.enableShmVolume",
                "spec.env[1]",
                "spec.env[2].name",
                "spec.numberOfInstances",
                "spec.tolerations",
                "spec.users.app",
                "spec.users.other[0]",
                "spec.volume",
                "spec.maintenanceWindow",
            ]
        );
        assert_eq!(
            errors[3].message,
            "invalid type: string \"two\", expected i32"
        );
        assert_eq!(
            errors[8].message,
            "unknown field: the CRD has no such field"
        );
    }

    #[test]
    fn missing_fields_are_named_once() {
        let mut manifest = cluster(json!({"numberOfInstances": "two"}));
        let spec = manifest["spec"].as_object_mut().expect("spec");
        spec.remove("teamId");
        spec.remove("volume");
        let errors = parse(manifest).expect_err("missing");
        let found: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            found,
            [
                "spec.numberOfInstances: invalid type: string \"two\", expected i32",
                "spec: missing field `teamId`",
                "spec: missing field `volume`",
            ]
        );
    }

    #[test]
    fn wrong_types_are_capped() {
        let users: serde_json::Map<String, Value> = (0..MAX_TYPE_ERRORS + 10)
            .map(|i| (format!("u{i:03}"), json!("login")))
            .collect();
        let errors = parse(cluster(json!({ "users": users }))).expect_err("types");
        assert_eq!(errors.len(), MAX_TYPE_ERRORS);
        assert_eq!(errors[0].path, "spec.users.u000");
    }
}
