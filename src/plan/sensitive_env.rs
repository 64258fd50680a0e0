//! Credentials written as plain environment values never leave the plan: Zalando's `clone`
//! puts `s3_secret_access_key` into `CLONE_AWS_SECRET_ACCESS_KEY`, and a manifest's `env` may
//! hold a token. Such a variable's value becomes a placeholder in a StatefulSet's before and
//! after; references to Secrets (`valueFrom`) show as they are.

use serde_json::Value;

/// Names that hold credentials (any case): `…PASSWORD…`, `…SECRET…`, `…TOKEN…`, `…ACCESS_KEY…`,
/// `…PRIVATE_KEY…`, `…ACCOUNT_KEY…` (Azure's).
pub fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "ACCOUNT_KEY",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Masks the literal values of sensitive variables in the containers of a StatefulSet's, a
/// Deployment's or a CronJob's pods.
pub fn mask(kind: &str, object: &mut Value) {
    let template = match kind {
        "StatefulSet" | "Deployment" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return,
    };
    for list in ["containers", "initContainers"] {
        let pointer = format!("{template}/{list}");
        let Some(containers) = object.pointer_mut(&pointer).and_then(Value::as_array_mut) else {
            continue;
        };
        for env in containers
            .iter_mut()
            .filter_map(|c| c.get_mut("env").and_then(Value::as_array_mut))
        {
            for var in env.iter_mut() {
                let sensitive = var["name"].as_str().is_some_and(is_sensitive);
                if let Some(value) = var.get_mut("value").filter(|_| sensitive) {
                    *value = crate::render::output::SENSITIVE.into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_in_plain_values_are_masked_and_references_are_not() {
        let mut sts = json!({"spec": {"template": {"spec": {"containers": [{"env": [
            {"name": "CLONE_AWS_SECRET_ACCESS_KEY", "value": "key"},
            {"name": "api_token", "value": "t"},
            {"name": "PGPASSWORD_SUPERUSER", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {"name": "CLONE_HOST", "value": "acid-source"},
        ]}]}}}});
        mask("StatefulSet", &mut sts);
        let env = &sts["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], "(sensitive)");
        assert_eq!(env[1]["value"], "(sensitive)");
        assert_eq!(env[2]["valueFrom"]["secretKeyRef"]["name"], "s");
        assert_eq!(env[3]["value"], "acid-source");
    }

    #[test]
    fn a_backup_cronjobs_keys_are_masked() {
        let mut job = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"env": [
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "key"},
            {"name": "LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_KEY", "value": "az"},
            {"name": "LOGICAL_BACKUP_S3_BUCKET", "value": "dumps"},
        ]}]}}}}}});
        mask("CronJob", &mut job);
        let env = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], "(sensitive)");
        assert_eq!(env[1]["value"], "(sensitive)");
        assert_eq!(env[2]["value"], "dumps");
    }
}
