//! A fresh namespace per test, deleted when the test ends (also when it panics).

use super::env::{TestEnv, unique_name};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use std::collections::BTreeMap;

pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    pub async fn new(prefix: &str) -> TestNamespace {
        Self::with_labels(prefix, &[]).await
    }

    pub async fn with_labels(prefix: &str, labels: &[(&str, &str)]) -> TestNamespace {
        let env = TestEnv::get();
        let client = env.client().await;
        let name = unique_name(prefix);
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        TestNamespace { name, client }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    /// Drop cannot await, and the test's runtime may be gone or panicking: delete from a thread
    /// with a runtime and client of its own. The namespace controller removes what it holds.
    fn drop(&mut self) {
        let name = self.name.clone();
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for namespace cleanup");
            rt.block_on(async move {
                let client = TestEnv::get().client().await;
                Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("delete namespace {name}: {e}"))
            })
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: {e}"),
            Err(_) => eprintln!("warning: namespace cleanup thread panicked"),
        }
    }
}
