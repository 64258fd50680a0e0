//! Services as a cluster's kube-proxy and DNS make them reachable, for one test namespace: for
//! every Service with a ClusterIP, a TCP forwarder listens on `<ClusterIP>:<port>` (a local
//! address: `tests/cluster/up` routes the environment's Service range to lo) and sends each new
//! connection to a ready endpoint of the Service's EndpointSlices as they are at that moment
//! (maintained by the real controllers, or mirrored from the Endpoints Patroni writes), so a
//! switchover is followed by the next connection. `<service>.<namespace>.svc.cluster.local`,
//! `<service>.<namespace>.svc` and `<service>.<namespace>` resolve to the ClusterIP through
//! `/etc/hosts` (the environment has no cluster DNS), as long as the forwarder
//! lives; its lines are removed when it goes.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

const HOSTS: &str = "/etc/hosts";

pub struct ServiceForwarder {
    namespace: String,
    task: tokio::task::JoinHandle<()>,
    listeners: Arc<Mutex<BTreeMap<String, tokio::task::JoinHandle<()>>>>,
}

impl ServiceForwarder {
    pub fn start(client: kube::Client, namespace: &str) -> ServiceForwarder {
        let listeners: Arc<Mutex<BTreeMap<String, tokio::task::JoinHandle<()>>>> = Arc::default();
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let ns = namespace.to_string();
        let held = listeners.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher::watcher(services, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                let (Ok(Event::Apply(svc)) | Ok(Event::InitApply(svc))) = event else {
                    continue;
                };
                let name = svc.metadata.name.clone().unwrap_or_default();
                let Some(ip) = svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.cluster_ip.clone())
                    .filter(|ip| ip != "None" && !ip.is_empty())
                else {
                    continue;
                };
                // The forms a pod resolves through its search path (a standby's
                // `standby_host: acid-source.ns`), and the full name Zalando's operator
                // connects to (`cluster_domain` cluster.local).
                set_host(
                    &format!("{name}.{ns}.svc.cluster.local {name}.{ns}.svc {name}.{ns}"),
                    &ip,
                    &ns,
                );
                for port in svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.ports.clone())
                    .unwrap_or_default()
                {
                    let key = format!("{ip}:{}", port.port);
                    if held.lock().unwrap().contains_key(&key) {
                        continue;
                    }
                    let Ok(listener) = TcpListener::bind(&key).await else {
                        eprintln!("Service forwarder: cannot listen on {key}");
                        continue;
                    };
                    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
                    let (service, port_name) = (name.clone(), port.name.clone());
                    let target = port.port;
                    let forward = tokio::spawn(async move {
                        while let Ok((inbound, _)) = listener.accept().await {
                            let slices = slices.clone();
                            let (service, port_name) = (service.clone(), port_name.clone());
                            tokio::spawn(async move {
                                if let Some(to) =
                                    endpoint(&slices, &service, port_name.as_deref(), target).await
                                    && let Ok(mut outbound) = TcpStream::connect(&to).await
                                {
                                    let mut inbound = inbound;
                                    let _ =
                                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                            .await;
                                }
                            });
                        }
                    });
                    held.lock().unwrap().insert(key, forward);
                }
            }
        });
        ServiceForwarder {
            namespace: namespace.into(),
            task,
            listeners,
        }
    }
}

impl Drop for ServiceForwarder {
    fn drop(&mut self) {
        self.task.abort();
        for (_, l) in std::mem::take(&mut *self.listeners.lock().unwrap()) {
            l.abort();
        }
        edit_hosts(|lines| lines.retain(|l| !l.ends_with(&marker(&self.namespace))));
    }
}

/// A ready endpoint of the Service now, as "address:port".
async fn endpoint(
    slices: &Api<EndpointSlice>,
    service: &str,
    port_name: Option<&str>,
    service_port: i32,
) -> Option<String> {
    let list = slices
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .ok()?;
    for slice in list.items {
        let port = slice
            .ports
            .iter()
            .flatten()
            .find(|p| port_name.is_none() || p.name.as_deref() == port_name)
            .and_then(|p| p.port)
            .unwrap_or(service_port);
        for e in slice.endpoints.iter().flatten() {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if ready && let Some(address) = e.addresses.first() {
                return Some(format!("{address}:{port}"));
            }
        }
    }
    None
}

fn marker(namespace: &str) -> String {
    format!("# pgr-test {namespace}")
}

/// One line: `ip names… # marker`; replaces a line for the same first name.
fn set_host(names: &str, ip: &str, namespace: &str) {
    let line = format!("{ip} {names} {}", marker(namespace));
    let first = names
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    edit_hosts(|lines| {
        lines.retain(|l| l.split_whitespace().nth(1).is_none_or(|n| n != first));
        lines.push(line.clone());
    });
}

/// Rewrites /etc/hosts under a lock (tests of several processes edit it).
fn edit_hosts(edit: impl FnOnce(&mut Vec<String>)) {
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let _guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(HOSTS)
    else {
        eprintln!("Service forwarder: cannot open {HOSTS}");
        return;
    };
    if file.lock().is_err() {
        return;
    }
    let text = std::fs::read_to_string(HOSTS).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    edit(&mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    // In place: /etc/hosts may be a bind mount that cannot be replaced by a rename.
    let _ = std::fs::write(HOSTS, out);
    let _ = file.unlock();
}
