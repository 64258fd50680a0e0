//! Replication slots the manifest no longer lists: dropped from Patroni's dynamic configuration
//! (`PATCH /config` with the slot set to null), as Zalando's operator drops the slots it set.
//! Which slots a manifest had is read from the live StatefulSet's `SPILO_CONFIGURATION` (the
//! last render of either operator lists them under `bootstrap.dcs.slots`), so slots made by
//! anyone else are never touched and no state is kept between runs. Dropping a slot makes its
//! consumer lose its place (a logical decoding client must start over), so the action is
//! destructive: applied only with `--allow-destructive` or the manifest's annotation.

use crate::plan::dynamic_only::spilo_configuration;
use serde_json::{Map, Value};

/// The slots the live StatefulSet's configuration lists that `desired` (the dynamic
/// configuration we render) does not, and that Patroni still has (`live`, its `GET /config`).
pub fn removed_slots(
    live_statefulset: Option<&Value>,
    desired: &Value,
    live: &Value,
) -> Vec<String> {
    let Some(rendered) = live_statefulset.and_then(spilo_configuration) else {
        return Vec::new();
    };
    let before = rendered
        .pointer("/bootstrap/dcs/slots")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let wanted = desired.get("slots").and_then(Value::as_object);
    before
        .keys()
        .filter(|name| wanted.is_none_or(|w| !w.contains_key(*name)))
        .filter(|name| live.pointer(&format!("/slots/{name}")).is_some())
        .cloned()
        .collect()
}

/// The `PATCH /config` body that drops `slots`.
pub fn drop_patch(slots: &[String]) -> Map<String, Value> {
    let nulls: Map<String, Value> = slots.iter().map(|s| (s.clone(), Value::Null)).collect();
    let mut patch = Map::new();
    patch.insert("slots".into(), Value::Object(nulls));
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(slots: Value) -> Value {
        let configuration = json!({"bootstrap": {"dcs": {"slots": slots}}}).to_string();
        json!({"spec": {"template": {"spec": {"containers": [{"name": "postgres",
            "env": [{"name": "SPILO_CONFIGURATION", "value": configuration}]}]}}}})
    }

    #[test]
    fn only_slots_the_last_render_listed_and_patroni_still_has() {
        let live_sts = sts(
            json!({"cdc": {"type": "logical"}, "gone": {"type": "physical"}, "kept": {"type": "physical"}}),
        );
        let desired = json!({"slots": {"kept": {"type": "physical"}}});
        // `gone` was dropped already; `theirs` was made by someone else.
        let live = json!({"slots": {"cdc": {"type": "logical"}, "kept": {"type": "physical"}, "theirs": {"type": "physical"}}});
        assert_eq!(removed_slots(Some(&live_sts), &desired, &live), ["cdc"]);
        assert!(removed_slots(None, &desired, &live).is_empty());
        assert_eq!(
            Value::Object(drop_patch(&["cdc".into()])),
            json!({"slots": {"cdc": null}})
        );
    }
}
