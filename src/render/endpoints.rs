//! The master Endpoints `<cluster>` in Patroni's Endpoints mode, as Zalando's operator creates it
//! (`generateEndpoint`): labels only. Patroni writes its addresses and keeps its leader lock in
//! its annotations; server-side apply leaves those fields to Patroni.

use super::meta;
use super::services::{Role, role_labels};
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::Endpoints;
use std::collections::BTreeMap;

pub fn master_endpoints(config: &Config, pg: &Postgresql) -> Endpoints {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let mut metadata = meta::cluster_object_meta(config, pg, cluster, &BTreeMap::new(), true);
    metadata.labels = Some(role_labels(config, pg, Role::Master));
    Endpoints {
        metadata,
        subsets: None,
    }
}
