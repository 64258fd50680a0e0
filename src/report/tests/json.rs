//! The machine format.

use super::*;

#[test]
fn json_has_stable_fields() {
    let out = json(&full_plan());
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["format_version"], crate::plan::FORMAT_VERSION);
    assert_eq!(
        j["summary"],
        json!({"create": 1, "update": 2, "replace": 1, "delete": 1, "sql": 1,
               "restart": 1, "total": 7, "destructive": 2})
    );
    let actions = j["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 7);
    for a in actions {
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "after",
                "before",
                "manifest",
                "op",
                "patch",
                "reason",
                "risk",
                "statements",
                "target"
            ]
        );
    }
    let update = &actions[2];
    assert_eq!(update["op"], "update");
    assert_eq!(update["target"]["type"], "object");
    assert_eq!(update["target"]["kind"], "StatefulSet");
    assert_eq!(update["manifest"]["name"], "acid-a");
    assert_eq!(
        update["patch"],
        json!([{"op": "replace", "path": "/spec/replicas", "value": 3}])
    );
    assert_eq!(update["statements"], Value::Null);
    let secret_patch = &actions[1]["patch"];
    assert_eq!(secret_patch[0]["path"], "/data/password");
    assert_eq!(secret_patch[0]["value"], SENSITIVE);
    assert_eq!(actions[1]["after"]["data"]["password"], SENSITIVE_CHANGED);
    let sql = &actions[5];
    assert_eq!(sql["target"]["type"], "sql");
    assert_eq!(
        sql["statements"],
        json!([
            "CREATE ROLE \"app\" LOGIN PASSWORD '(sensitive)';",
            "GRANT \"app\" TO \"admin\";"
        ])
    );
    assert_eq!(sql["before"], Value::Null);
    assert_eq!(
        j["invalid"][0]["errors"][0],
        "spec.numberOfInstances: must be at least 1"
    );
    assert_eq!(j["unknown"][0]["part"], "database state");
    // Sorted keys at the top level, pretty-printed.
    assert!(out.starts_with("{\n  \"actions\": ["));
    let order: Vec<usize> = [
        "\"actions\"",
        "\"format_version\"",
        "\"invalid\"",
        "\"summary\"",
        "\"unknown\"",
    ]
    .iter()
    .map(|k| out.find(&format!("\n  {k}:")).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
}
