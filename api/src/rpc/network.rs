//! The network methods `getpeerinfo`, `getnetworkinfo`, `getconnectioncount`, `addnode` and
//! `disconnectnode`, as Core's `rpc/net.cpp`, answered from the node's peer reports.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bitcoin::p2p::ServiceFlags;
use headway_core::addrbook::netgroup;
use headway_core::node::{named_peers, PROTOCOL_VERSION};
use headway_core::{Direction, PeerId, PeerReport, PeerSummary, Request, Time};
use serde_json::{json, Map, Value};

use super::args::Args;
use super::error::{
    RpcError, RPC_CLIENT_NODE_ALREADY_ADDED, RPC_CLIENT_NODE_NOT_ADDED,
    RPC_CLIENT_NODE_NOT_CONNECTED, RPC_INVALID_PARAMETER, RPC_MISC_ERROR,
};
use super::RpcContext;
use crate::format::{amount_btc, core_double};

/// `getnetworkinfo`'s `version`: the Core release whose RPC interface this one answers
/// (v31.0, encoded as Core's `CLIENT_VERSION`), not headway's own version, which is in
/// `subversion`. Clients pick the shape of Core's answers by this number (rust-bitcoin's
/// `bitcoincore-rpc` reads `getblockchaininfo` in Core 0.18's shape below 190000), so it must
/// name the interface we follow.
pub const CORE_INTERFACE_VERSION: u64 = 310_000;

/// The node's connections, or an error saying it is stopping or not answering.
fn report(ctx: &RpcContext) -> Result<PeerReport, RpcError> {
    ctx.node
        .peer_report()
        .ok_or_else(|| RpcError::misc("the node is shutting down or not answering"))
}

/// Core's `GetServicesNames`: the names of the known service bits, in bit order.
fn service_names(services: ServiceFlags) -> Vec<Value> {
    const NAMES: [(u64, &str); 6] = [
        (1 << 0, "NETWORK"),
        (1 << 2, "BLOOM"),
        (1 << 3, "WITNESS"),
        (1 << 6, "COMPACT_FILTERS"),
        (1 << 10, "NETWORK_LIMITED"),
        (1 << 11, "P2P_V2"),
    ];
    let bits = services.to_u64();
    NAMES
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| Value::String((*name).into()))
        .collect()
}

/// Core's `GetNetworkName` for a peer's address: loopback and private addresses are
/// "not_publicly_routable".
fn network_name(addr: &SocketAddr) -> &'static str {
    let (a, _) = netgroup::from_socket(*addr);
    if !netgroup::is_routable(&a) {
        return "not_publicly_routable";
    }
    match addr.ip() {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    }
}

fn secs(time: Option<Time>) -> u64 {
    time.map_or(0, Time::as_secs)
}

fn seconds(d: Duration) -> Value {
    core_double(d.as_secs_f64())
}

/// One peer as Core's `getpeerinfo` lists it, fields in Core's order; those a header node
/// has no use for carry Core's values for "none" (no transactions relayed, no blocks in
/// flight, no permissions).
fn peer_json(p: &PeerSummary) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(p.peer.0));
    o.insert("addr".into(), json!(p.addr.to_string()));
    if let Some(local) = p.local_addr {
        o.insert("addrbind".into(), json!(local.to_string()));
    }
    o.insert("network".into(), json!(network_name(&p.addr)));
    o.insert(
        "services".into(),
        json!(format!("{:016x}", p.services.to_u64())),
    );
    o.insert(
        "servicesnames".into(),
        Value::Array(service_names(p.services)),
    );
    o.insert("relaytxes".into(), json!(false));
    o.insert("lastsend".into(), json!(secs(p.traffic.last_send)));
    o.insert("lastrecv".into(), json!(secs(p.traffic.last_recv)));
    o.insert("last_transaction".into(), json!(0));
    o.insert("last_block".into(), json!(0));
    o.insert("bytessent".into(), json!(p.traffic.bytes_sent));
    o.insert("bytesrecv".into(), json!(p.traffic.bytes_recv));
    o.insert("conntime".into(), json!(p.connected_at.as_secs()));
    o.insert("timeoffset".into(), json!(0));
    if let Some(ping) = p.ping {
        o.insert("pingtime".into(), seconds(ping));
    }
    if let Some(min) = p.min_ping {
        o.insert("minping".into(), seconds(min));
    }
    if let Some(wait) = p.ping_wait.filter(|w| !w.is_zero()) {
        o.insert("pingwait".into(), seconds(wait));
    }
    o.insert("version".into(), json!(p.version));
    o.insert("subver".into(), json!(p.user_agent));
    o.insert("inbound".into(), json!(p.direction == Direction::Inbound));
    o.insert("bip152_hb_to".into(), json!(false));
    o.insert("bip152_hb_from".into(), json!(false));
    o.insert("startingheight".into(), json!(p.start_height));
    o.insert(
        "presynced_headers".into(),
        json!(p.presynced_headers.map_or(-1, i64::from)),
    );
    o.insert(
        "synced_headers".into(),
        json!(p.synced_headers.map_or(-1, i64::from)),
    );
    o.insert("synced_blocks".into(), json!(-1));
    o.insert("inflight".into(), json!([]));
    o.insert("addr_relay_enabled".into(), json!(p.negotiated));
    o.insert("addr_processed".into(), json!(0));
    o.insert("addr_rate_limited".into(), json!(0));
    o.insert("permissions".into(), json!([]));
    o.insert("minfeefilter".into(), amount_btc(0));
    o.insert("bytessent_per_msg".into(), json!({}));
    o.insert("bytesrecv_per_msg".into(), json!({}));
    o.insert("connection_type".into(), json!(p.kind.core_name()));
    o.insert(
        "transport_protocol_type".into(),
        json!(p.transport.as_str()),
    );
    // Core prints the id as a `uint256` (`GetHex`), so its bytes come out reversed.
    let session_id = p.session_id.map_or_else(String::new, |id| {
        id.iter().rev().map(|b| format!("{b:02x}")).collect()
    });
    o.insert("session_id".into(), json!(session_id));
    Value::Object(o)
}

/// Core's `getpeerinfo`, by peer id.
pub fn getpeerinfo(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let mut report = report(ctx)?;
    report.peers.sort_by_key(|p| p.peer);
    Ok(Value::Array(report.peers.iter().map(peer_json).collect()))
}

/// Core's `getconnectioncount`: every open connection.
pub fn getconnectioncount(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    Ok(json!(report(ctx)?.peers.len()))
}

/// Core's `getnetworkinfo`. headway relays no transactions: `localrelay` is false and the
/// fee fields carry Core's defaults so that clients expecting them still parse.
pub fn getnetworkinfo(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let report = report(ctx)?;
    let inbound = report
        .peers
        .iter()
        .filter(|p| p.direction == Direction::Inbound)
        .count();
    let proxy = ctx.proxy.map_or_else(String::new, |p| p.to_string());
    let network = |name: &str, reachable: bool| {
        json!({
            "name": name,
            "limited": !reachable,
            "reachable": reachable,
            "proxy": if reachable { proxy.as_str() } else { "" },
            "proxy_randomize_credentials": false,
        })
    };
    Ok(json!({
        "version": CORE_INTERFACE_VERSION,
        "subversion": ctx.user_agent,
        "protocolversion": PROTOCOL_VERSION,
        "localservices": format!("{:016x}", ctx.local_services.to_u64()),
        "localservicesnames": service_names(ctx.local_services),
        "localrelay": false,
        "timeoffset": 0,
        "networkactive": !ctx.node.is_stopping(),
        "connections": report.peers.len(),
        "connections_in": inbound,
        "connections_out": report.peers.len() - inbound,
        "networks": [
            network("ipv4", true),
            network("ipv6", true),
            network("onion", false),
            network("i2p", false),
            network("cjdns", false),
        ],
        "relayfee": amount_btc(1000),
        "incrementalfee": amount_btc(1000),
        "localaddresses": [],
        "warnings": [],
    }))
}

/// A node address as `addnode` and `disconnectnode` take it: `IP:port`, a bare IP (the
/// network's port), or a `host:port` name resolved here, in the API's thread.
fn parse_node(text: &str, default_port: u16) -> Option<SocketAddr> {
    parse_ip(text, default_port).or_else(|| text.to_socket_addrs().ok()?.next())
}

/// `IP:port` or a bare IP (the network's port); `None` for anything else, never a lookup.
fn parse_ip(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip = text.trim_matches(['[', ']']).parse::<IpAddr>().ok()?;
    Some(SocketAddr::new(ip, default_port))
}

/// Behind a proxy, a node `addnode` is given by name (`host` or `host:port`, not an IP
/// address): the lower-cased name ([`named_peers::host_name`], the settings' rule too) and
/// its port, to be dialled by name through the proxy and never looked up here. `None` for an
/// IP address or what is not a host name.
fn parse_name(text: &str, default_port: u16) -> Option<(String, u16)> {
    if parse_ip(text, default_port).is_some() {
        return None;
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok()?),
        None => (text, default_port),
    };
    Some((named_peers::host_name(host)?, port))
}

/// Core's `addnode`: `add` keeps a connection (redialled as `--addnode`), `remove` stops
/// keeping it (an open connection stays, as in Core), `onetry` dials once. Behind a proxy a
/// node given by name is kept by that name and dialled through the proxy
/// ([`Request::AddNamedPeer`]), as `--addnode` does, and never looked up here; `onetry` by
/// name is refused there (the node dials a name only for the peers it keeps).
pub fn addnode(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let node = args.str(0).unwrap_or_default();
    let command = args.str(1).unwrap_or_default();
    if !matches!(command, "add" | "remove" | "onetry") {
        let help = super::methods::find("addnode")
            .map(|m| m.help())
            .unwrap_or_default();
        return Err(RpcError::new(RPC_MISC_ERROR, help));
    }
    let invalid = || {
        RpcError::new(
            RPC_INVALID_PARAMETER,
            format!("Error: Invalid node address: {node}"),
        )
    };
    let name = match ctx.proxy {
        Some(_) => parse_name(node, ctx.params.default_port),
        None => None,
    };
    let addr = match &name {
        Some((host, port)) => named_peers::identity(host, *port),
        None if ctx.proxy.is_some() => {
            // Only an IP address is left: a name that is not a host name must not be looked
            // up outside the proxy either.
            parse_ip(node, ctx.params.default_port).ok_or_else(invalid)?
        }
        None => parse_node(node, ctx.params.default_port).ok_or_else(invalid)?,
    };
    let added = report(ctx)?.added;
    match command {
        "add" if added.contains(&addr) => Err(RpcError::new(
            RPC_CLIENT_NODE_ALREADY_ADDED,
            "Error: Node already added",
        )),
        "add" => {
            ctx.node.request(match name {
                Some((host, port)) => Request::AddNamedPeer { host, port },
                None => Request::AddPeer(addr),
            });
            Ok(Value::Null)
        }
        "remove" if !added.contains(&addr) => Err(RpcError::new(
            RPC_CLIENT_NODE_NOT_ADDED,
            "Error: Node could not be removed. It has not been added previously.",
        )),
        "remove" => {
            ctx.node.request(Request::RemovePeer(addr));
            Ok(Value::Null)
        }
        _ if name.is_some() => Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            format!(
                "Error: onetry by name is not supported behind the proxy: {node} (use add, \
                 or an IP address)"
            ),
        )),
        _ => {
            ctx.node.request(Request::ConnectOnce(addr));
            Ok(Value::Null)
        }
    }
}

/// Core's `disconnectnode`: by `address` (exactly as getpeerinfo's `addr`) or by `nodeid`,
/// strictly one of them.
pub fn disconnectnode(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let address = args.str(0).filter(|a| !a.is_empty());
    let nodeid = args.int64(1)?;
    let report = report(ctx)?;
    let peer = match (address, nodeid) {
        (Some(address), None) => report
            .peers
            .iter()
            .find(|p| p.addr.to_string() == address)
            .map(|p| p.peer),
        (None, Some(id)) => u64::try_from(id)
            .ok()
            .map(PeerId)
            .filter(|id| report.peers.iter().any(|p| p.peer == *id)),
        _ => {
            return Err(RpcError::invalid_parameter(
                "Only one of address and nodeid should be provided.",
            ))
        }
    };
    let peer = peer.ok_or_else(|| {
        RpcError::new(
            RPC_CLIENT_NODE_NOT_CONNECTED,
            "Node not found in connected nodes",
        )
    })?;
    ctx.node.request(Request::Disconnect(peer));
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_proxy_addnode_takes_names_as_names_and_never_looks_them_up() {
        assert_eq!(
            parse_name("MyNode.Example:8333", 18444),
            Some(("mynode.example".to_string(), 8333))
        );
        assert_eq!(
            parse_name("abc.onion", 18444),
            Some(("abc.onion".to_string(), 18444))
        );
        for ip in ["127.0.0.1", "127.0.0.1:1", "[::1]:1", "::1"] {
            assert_eq!(parse_name(ip, 1), None, "{ip} is an address");
        }
        for bad in ["host:port", "", "a b", ":1"] {
            assert_eq!(parse_name(bad, 1), None, "{bad:?}");
        }
        assert_eq!(parse_ip("localhost:1", 1), None, "no lookup");
        assert_eq!(parse_ip("[::1]", 7), "[::1]:7".parse().ok());
    }

    #[test]
    fn versions_services_and_networks_use_cores_names() {
        let names =
            service_names(ServiceFlags::NETWORK | ServiceFlags::WITNESS | ServiceFlags::P2P_V2);
        assert_eq!(
            names,
            vec![json!("NETWORK"), json!("WITNESS"), json!("P2P_V2")]
        );
        assert_eq!(
            network_name(&"127.0.0.1:1".parse().unwrap()),
            "not_publicly_routable"
        );
        assert_eq!(network_name(&"8.8.8.8:1".parse().unwrap()), "ipv4");
        assert_eq!(
            network_name(&"[2001:4860::8888]:1".parse().unwrap()),
            "ipv6"
        );
        assert_eq!(
            parse_node("127.0.0.1", 18444),
            "127.0.0.1:18444".parse().ok()
        );
        assert_eq!(parse_node("[::1]:5", 1), "[::1]:5".parse().ok());
        assert_eq!(parse_node("not an address", 1), None);
    }
}
