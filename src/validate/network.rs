//! Service exposure: `spec.allowedSourceRanges` and node ports.
//!
//! A bad CIDR or port is rejected by the API server when the Service is applied; catching it
//! here names the manifest field instead of the rendered Service.

use super::Errors;
use crate::api::PostgresqlSpec;
use std::net::IpAddr;

/// The default Kubernetes NodePort range (`--service-node-port-range`).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Parses `address/prefix` (IPv4 or IPv6). The error is a complete message.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || {
        format!(
            "invalid CIDR {s:?}: expected an IPv4 or IPv6 address and a prefix length, \
             e.g. 10.0.0.0/8 or fd00::/8"
        )
    };
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let leading_zero = prefix.len() > 1 && prefix.starts_with('0');
    if prefix.is_empty()
        || prefix.len() > 3
        || leading_zero
        || !prefix.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(format!(
            "invalid CIDR {s:?}: prefix length {prefix} is greater than {max}"
        ));
    }
    Ok((addr, prefix))
}

/// Every source range must parse.
pub(super) fn check_source_ranges(ranges: &[String], errs: &mut Errors) {
    for (i, r) in ranges.iter().enumerate() {
        if let Err(msg) = parse_cidr(r) {
            errs.add(format!("spec.allowedSourceRanges[{i}]"), msg);
        }
    }
}

/// Node ports count only when their `enable…NodePort` flag is true; a port set without the flag
/// is ignored, as Zalando does.
pub(super) fn check_node_ports(spec: &PostgresqlSpec, errs: &mut Errors) {
    let master = spec
        .master_node_port
        .filter(|_| spec.enable_master_node_port == Some(true));
    let replica = spec
        .replica_node_port
        .filter(|_| spec.enable_replica_node_port == Some(true));
    for (path, port) in [
        ("spec.masterNodePort", master),
        ("spec.replicaNodePort", replica),
    ] {
        if let Some(port) = port.filter(|p| !NODE_PORT_RANGE.contains(p)) {
            errs.add(
                path,
                format!(
                    "node port {port} is outside the range {}-{}",
                    NODE_PORT_RANGE.start(),
                    NODE_PORT_RANGE.end()
                ),
            );
        }
    }
    if let (Some(m), Some(r)) = (master, replica)
        && m == r
    {
        errs.add(
            "spec.replicaNodePort",
            format!("node port {r} is also the masterNodePort; each Service needs its own"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        for ok in [
            "10.0.0.0/8",
            "127.0.0.1/32",
            "0.0.0.0/0",
            "192.168.1.5/24",
            "::/0",
            "fd00::/8",
            "2001:db8::1/128",
        ] {
            assert!(parse_cidr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0/8",
            "10.0.0.256/8",
            "10.0.0.0/8/8",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "::/129",
            "x/8",
            "10.0.0.0/0008",
            "10.0.0.0/08",
            "010.0.0.0/8",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_cidr("10.0.0.0/33").unwrap_err(),
            "invalid CIDR \"10.0.0.0/33\": prefix length 33 is greater than 32"
        );
    }

    fn spec() -> PostgresqlSpec {
        serde_yaml::from_str(
            "teamId: acid\nnumberOfInstances: 1\nvolume: {size: 1Gi}\npostgresql: {version: \"17\"}\n",
        )
        .unwrap()
    }

    fn errors(spec: &PostgresqlSpec) -> Vec<String> {
        let mut errs = Errors::default();
        check_node_ports(spec, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn node_ports() {
        let mut s = spec();
        s.master_node_port = Some(80);
        assert!(errors(&s).is_empty(), "ignored while not enabled");
        s.enable_master_node_port = Some(false);
        assert!(errors(&s).is_empty());
        s.enable_master_node_port = Some(true);
        assert_eq!(
            errors(&s),
            vec!["spec.masterNodePort: node port 80 is outside the range 30000-32767"]
        );
        s.master_node_port = Some(30000);
        s.enable_replica_node_port = Some(true);
        s.replica_node_port = Some(32767);
        assert!(errors(&s).is_empty());
        s.replica_node_port = Some(30000);
        assert_eq!(
            errors(&s),
            vec![
                "spec.replicaNodePort: node port 30000 is also the masterNodePort; each Service needs its own"
            ]
        );
        s.replica_node_port = Some(32768);
        assert_eq!(errors(&s).len(), 1);
    }
}
