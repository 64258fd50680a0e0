//! What a run left behind in the namespace: applying manifests as a user would, reading objects
//! and their status, and the namespace's resourceVersions.

use super::super::eventually;
use super::{Harness, USER, WAIT};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use postgres_reconciler::observe::cluster::{
    MANIFEST_KINDS, OWNED_KINDS, Scope, api_resource, list_all,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

impl Harness {
    pub fn api(&self, kind: &str) -> Api<DynamicObject> {
        let (api_version, kind, plural) = OWNED_KINDS
            .iter()
            .chain(MANIFEST_KINDS)
            .find(|(_, k, _)| *k == kind)
            .copied()
            .unwrap_or_else(|| panic!("unknown kind {kind}"));
        Api::namespaced_with(
            self.ns.client.clone(),
            &self.ns.name,
            &api_resource(api_version, kind, plural),
        )
    }

    /// Applies a manifest as a user would (server-side apply under another field manager),
    /// retrying while its CRD is not served yet.
    pub async fn apply(&self, body: Value) -> Value {
        let kind = body["kind"].as_str().expect("kind").to_string();
        let name = body["metadata"]["name"].as_str().expect("name").to_string();
        let api = self.api(&kind);
        let params = PatchParams::apply(USER);
        let applied = eventually(Duration::from_secs(30), "the CRD to be served", || async {
            api.patch(&name, &params, &Patch::Apply(&body))
                .await
                .map_err(|e| eprintln!("apply {kind} {name}: {e}"))
                .ok()
        })
        .await;
        serde_json::to_value(applied).expect("json")
    }

    /// A `postgresql` manifest in this namespace.
    pub fn cluster_manifest(
        &self,
        name: &str,
        instances: i64,
        users: Value,
        databases: Value,
        parameters: Value,
    ) -> Value {
        json!({
            "apiVersion": "acid.zalan.do/v1",
            "kind": "postgresql",
            "metadata": {"name": name, "namespace": self.ns.name},
            "spec": {
                "teamId": "acid",
                "numberOfInstances": instances,
                "volume": {"size": "1Gi"},
                "users": users,
                "databases": databases,
                "postgresql": {"version": "17", "parameters": parameters},
            }
        })
    }

    /// The object, if it exists.
    pub async fn get(&self, kind: &str, name: &str) -> Option<Value> {
        self.api(kind)
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("get {kind} {name}: {e}"))
            .map(|o| serde_json::to_value(o).expect("json"))
    }

    pub async fn status(&self, kind: &str, name: &str) -> Value {
        self.get(kind, name)
            .await
            .unwrap_or_else(|| panic!("{kind} {name} exists"))["status"]
            .clone()
    }

    /// resourceVersions of every object in the namespace that a run could touch or that
    /// controllers derive from what it writes, except the run's own Lease (taken and released
    /// by every run, by design) and other components' Events: those are the controllers' own
    /// reports, which their recorders write seconds late under load, and anything a run changes
    /// that they report on shows in that object's own version.
    pub async fn resource_versions(&self) -> BTreeMap<String, String> {
        let scope = Scope::Namespaces(vec![self.ns.name.clone()]);
        let extra: &[(&str, &str, &str)] = &[
            ("v1", "Pod", "pods"),
            ("v1", "ConfigMap", "configmaps"),
            ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
            ("events.k8s.io/v1", "Event", "events"),
            ("coordination.k8s.io/v1", "Lease", "leases"),
        ];
        let mut out = BTreeMap::new();
        for &kind in OWNED_KINDS.iter().chain(MANIFEST_KINDS).chain(extra) {
            for o in list_all(&self.ns.client, &scope, kind, None)
                .await
                .expect("list")
            {
                let name = o["metadata"]["name"].as_str().unwrap_or_default();
                if kind.1 == "Lease" && name == postgres_reconciler::apply::lease::LEASE_NAME {
                    continue;
                }
                let reporter = postgres_reconciler::apply::status::REPORTER;
                if kind.1 == "Event" && o["reportingController"] != reporter {
                    continue;
                }
                out.insert(
                    format!("{} {name}", kind.1),
                    o["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        out
    }

    /// [`Harness::resource_versions`] once they stop changing (controllers finishing up).
    pub async fn settled_resource_versions(&self) -> BTreeMap<String, String> {
        eventually(WAIT, "the namespace's objects to settle", || async {
            let first = self.resource_versions().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            (self.resource_versions().await == first).then_some(first)
        })
        .await
    }
}
