//! Outbound peers through a real SOCKS5 proxy (Debian's `microsocks`), for both binaries:
//!
//! - a node started with `--proxy` syncs from bcoin, and bcoin sees the connection come from
//!   the proxy's outgoing address (127.0.0.5, microsocks's `-b`), not from the node: the node
//!   dialled nobody but the proxy;
//! - behind a proxy no name is looked up locally: a `--connect`, `--addnode` or `addnode` RPC
//!   peer given by name (`localhost`, which microsocks resolves to bcoin's 127.0.0.1) is
//!   dialled by that name through the proxy and synced from (`onetry` by name is refused with
//!   Core's invalid-parameter code), a `--seednode` by name is refused with a one-line
//!   error before anything runs, and a mainnet node (which has DNS seeds) asks none and says
//!   so;
//! - a proxy that refuses (nothing listens on its port) is a failed dial that names the proxy,
//!   retried as any failed dial;
//! - behind microsocks a DNS seed (`localhost`) is not resolved by the node but connected to by
//!   name through the proxy, which resolves it: the seed (a scripted v1 testnet4 node on
//!   127.0.0.1:48333, testnet4's port) sees the connection come from the proxy's outgoing
//!   address, after one v2 attempt that it closes, and answers the getaddr with an onion
//!   service and an IPv4 address; the node then dials the onion service by its `.onion` name
//!   through the proxy (microsocks cannot reach Tor, so that dial fails naming the proxy).

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use headway_regtest::microsocks::Microsocks;
use serde_json::json;
use support::bcoin::{free_port, Bcoin};
use support::headway::{
    assert_one_line_error, run_bounded, wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO,
};
use support::http::{rpc_body, Rpc};

/// Where microsocks's outgoing connections come from: a loopback address nothing else uses.
const PROXY_OUTGOING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// Where bcoin listens (so that its peers' addresses are not all 127.0.0.1 by accident).
const BCOIN_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Blocks bcoin mines for the sync.
const BLOCKS: u32 = 500;
/// Generous bounds for liveness; nothing here measures speed.
const SYNC_WAIT: Duration = Duration::from_secs(120);
const EXIT_WAIT: Duration = Duration::from_secs(30);
const LOG_WAIT: Duration = Duration::from_secs(30);

/// bcoin's headway peer is the proxy's outgoing side: the node dialled nobody but the proxy.
fn assert_bcoin_sees_the_proxy(bcoin: &Bcoin) {
    let peers = bcoin.peers();
    let ours = peers
        .iter()
        .find(|p| {
            p["subver"]
                .as_str()
                .is_some_and(|s| s.starts_with("/headway:"))
        })
        .unwrap_or_else(|| panic!("bcoin does not see headway: {peers:?}"));
    let addr = ours["addr"].as_str().expect("an address");
    assert!(
        addr.starts_with(&format!("{PROXY_OUTGOING}:")),
        "bcoin sees the node at {addr}, not at the proxy's outgoing address"
    );
}

fn syncs_through_the_proxy(bin: &'static str) {
    let bcoin = Bcoin::start_on(BCOIN_HOST, free_port());
    bcoin.mine(BLOCKS);
    let proxy = Microsocks::start(&["-b", &PROXY_OUTGOING.to_string()]);
    let data = tempfile::tempdir().expect("temp dir");
    let datadir = data.path().join("data");
    let connect = bcoin.p2p_addr().to_string();
    let proxy_addr = proxy.addr.to_string();
    let mut node = HeadwayProcess::start(
        bin,
        &[
            "--network",
            "regtest",
            "--connect",
            &connect,
            "--proxy",
            &proxy_addr,
            "--datadir",
            datadir.to_str().expect("utf-8 path"),
        ],
        data.path(),
        "headway",
    );
    let best = bcoin.best_hash();
    wait_for(
        SYNC_WAIT,
        "the node behind the proxy to reach bcoin's tip",
        || node.log().contains(&format!("hash={best}")).then_some(()),
        || node.log(),
    );
    assert_bcoin_sees_the_proxy(&bcoin);
    let log = node.log();
    assert!(
        log.contains("dialling every outbound peer through the SOCKS5 proxy"),
        "{log}"
    );
    assert!(node.terminate(EXIT_WAIT).success(), "{}", node.log());
}

#[test]
fn mio_syncs_through_the_proxy() {
    syncs_through_the_proxy(HEADWAY_MIO);
}

#[test]
fn async_std_syncs_through_the_proxy() {
    syncs_through_the_proxy(HEADWAY_ASYNC_STD);
}

/// A node behind microsocks given bcoin by name (`localhost`, with `how`: `--connect`,
/// `--addnode`, or `rpc` for the `addnode` RPC) syncs from it: the name went to the proxy,
/// which resolved it, and bcoin sees the proxy's outgoing address.
fn syncs_from_a_peer_given_by_name(bin: &'static str, how: &str) {
    let bcoin = Bcoin::start_on(Ipv4Addr::LOCALHOST, free_port());
    bcoin.mine(BLOCKS);
    let proxy = Microsocks::start(&["-b", &PROXY_OUTGOING.to_string()]);
    let data = tempfile::tempdir().expect("temp dir");
    let datadir = data.path().join("data");
    let by_name = format!("localhost:{}", bcoin.p2p_addr().port());
    let proxy_addr = proxy.addr.to_string();
    let rpc_port = free_port().to_string();
    let mut args = vec![
        "--network",
        "regtest",
        "--proxy",
        &proxy_addr,
        "--datadir",
        datadir.to_str().expect("utf-8 path"),
    ];
    if how == "rpc" {
        args.extend([
            "--rpc-port",
            &rpc_port,
            "--rpc-user",
            "u",
            "--rpc-password",
            "p",
        ]);
    } else {
        args.extend([how, &by_name]);
    }
    let mut node = HeadwayProcess::start(bin, &args, data.path(), "headway");
    if how == "rpc" {
        let rpc = Rpc::new(
            format!("127.0.0.1:{rpc_port}").parse().expect("an address"),
            "u",
            "p",
        );
        let onetry = wait_for(
            LOG_WAIT,
            "the RPC server to answer",
            || {
                rpc.try_post(&rpc_body("addnode", json!([by_name, "onetry"])))
                    .ok()
            },
            || node.log(),
        );
        assert_eq!(onetry.json()["error"]["code"], -8, "{}", onetry.text());
        assert!(
            onetry.text().contains("onetry by name"),
            "{}",
            onetry.text()
        );
        rpc.result("addnode", json!([by_name, "add"]));
        let again = rpc.call("addnode", json!([by_name, "add"]));
        assert_eq!(again.json()["error"]["code"], -23, "{}", again.text());
    }
    let best = bcoin.best_hash();
    wait_for(
        SYNC_WAIT,
        "the node to reach the tip of the peer it was given by name",
        || node.log().contains(&format!("hash={best}")).then_some(()),
        || node.log(),
    );
    assert_bcoin_sees_the_proxy(&bcoin);
    let log = node.log();
    if how != "rpc" {
        assert!(
            log.contains("adding peer by name, dialled through the proxy")
                && log.contains("host=localhost"),
            "{log}"
        );
    }
    assert!(
        !log.contains("resolving"),
        "a name was resolved here:\n{log}"
    );
    assert!(node.terminate(EXIT_WAIT).success(), "{}", node.log());
}

#[test]
fn mio_syncs_from_a_connect_peer_given_by_name_through_the_proxy() {
    syncs_from_a_peer_given_by_name(HEADWAY_MIO, "--connect");
}

#[test]
fn async_std_syncs_from_an_addnode_peer_given_by_name_through_the_proxy() {
    syncs_from_a_peer_given_by_name(HEADWAY_ASYNC_STD, "--addnode");
}

#[test]
fn mio_syncs_from_a_peer_added_by_name_over_rpc_through_the_proxy() {
    syncs_from_a_peer_given_by_name(HEADWAY_MIO, "rpc");
}

#[test]
fn behind_a_proxy_no_name_is_looked_up() {
    // A seed node by name is refused before anything resolves it.
    let data = tempfile::tempdir().expect("temp dir");
    let datadir = data.path().to_str().expect("utf-8 path").to_string();
    let out = run_bounded(
        HEADWAY_MIO,
        &[
            "--network",
            "regtest",
            "--proxy",
            "127.0.0.1:9",
            "--seednode",
            "peer.invalid:18444",
            "--datadir",
            &datadir,
        ],
        EXIT_WAIT,
    );
    assert_one_line_error(&out, &["--seednode", "peer.invalid:18444", "IP addresses"]);

    // Mainnet has DNS seeds; behind a proxy none is resolved here (they are connected to by
    // name through the proxy). The proxy's port is closed, so every dial fails there, naming
    // the proxy.
    let dead_proxy = format!("127.0.0.1:{}", free_port());
    let mut node = HeadwayProcess::start(
        HEADWAY_MIO,
        &[
            "--network",
            "mainnet",
            "--proxy",
            &dead_proxy,
            "--addnode",
            "127.0.0.3:8333",
            "--datadir",
            &datadir,
        ],
        data.path(),
        "mainnet",
    );
    wait_for(
        LOG_WAIT,
        "a dial through the dead proxy to fail, naming it",
        || {
            node.log()
                .lines()
                .any(|l| l.contains("connect failed") && l.contains(&dead_proxy))
                .then_some(())
        },
        || node.log(),
    );
    let log = node.log();
    assert!(
        log.contains("DNS seeds and peers given by name are connected to by name through it"),
        "{log}"
    );
    assert!(
        !log.contains("DNS seed answered") && !log.contains("resolving"),
        "a DNS seed was asked behind the proxy:\n{log}"
    );
    assert!(node.terminate(EXIT_WAIT).success(), "{}", node.log());
}

/// testnet4's port: a seed is asked at the network's port.
const TESTNET4_PORT: u16 = 48333;

/// What the scripted seed saw.
#[derive(Debug, Default)]
struct SeedSaw {
    peers: Vec<std::net::SocketAddr>,
    refused_v2: bool,
    got_getaddr: bool,
}

/// A v1-only testnet4 seed on 127.0.0.1:48333 (and [::1] if it can), for two connections:
/// it closes one that does not open with a v1 frame, handshakes with the next, and answers
/// getaddr with `addrs`.
fn scripted_seed(
    addrs: Vec<headway_core::bitcoin::p2p::address::AddrV2Message>,
) -> std::thread::JoinHandle<SeedSaw> {
    use headway_core::bitcoin::p2p::message::NetworkMessage;
    use headway_core::bitcoin::p2p::ServiceFlags;
    use headway_core::node::handshake::version_message;
    use headway_core::wire::{encode, FrameDecoder};
    use headway_core::{Network, Time};
    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpListener;
    let listeners: Vec<TcpListener> = ["127.0.0.1", "[::1]"]
        .iter()
        .filter_map(|host| TcpListener::bind(format!("{host}:{TESTNET4_PORT}")).ok())
        .collect();
    assert!(
        !listeners.is_empty(),
        "the scripted seed needs 127.0.0.1:{TESTNET4_PORT} free"
    );
    std::thread::spawn(move || {
        let mut saw = SeedSaw::default();
        let magic = Network::Testnet4.params().magic;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for l in &listeners {
            l.set_nonblocking(true).expect("nonblocking");
        }
        'connections: for _ in 0..2 {
            let (mut stream, from) = loop {
                if let Some(conn) = listeners.iter().find_map(|l| l.accept().ok()) {
                    break conn;
                }
                if std::time::Instant::now() > deadline {
                    return saw;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            saw.peers.push(from);
            stream.set_nonblocking(false).expect("blocking");
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let mut decoder = FrameDecoder::new(magic);
            let mut buf = [0u8; 4096];
            while std::time::Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(0) => break 'connections,
                    Ok(n) => decoder.extend(&buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break 'connections,
                }
                loop {
                    let msg = match decoder.next_message() {
                        Ok(Some(msg)) => msg,
                        Ok(None) => break,
                        Err(_) => {
                            saw.refused_v2 = true;
                            continue 'connections;
                        }
                    };
                    let mut send = |m| {
                        let _ = stream.write_all(&encode(magic, m));
                    };
                    match msg {
                        NetworkMessage::Version(_) => {
                            let now = Time::from_secs(
                                std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .map_or(0, |d| d.as_secs()),
                            );
                            let us = "127.0.0.1:48333".parse().expect("addr");
                            send(NetworkMessage::Version(version_message(
                                us,
                                ServiceFlags::NETWORK,
                                now,
                                77,
                                "/scripted-seed:1/",
                                0,
                            )));
                            send(NetworkMessage::SendAddrV2);
                            send(NetworkMessage::Verack);
                        }
                        NetworkMessage::GetAddr => {
                            saw.got_getaddr = true;
                            send(NetworkMessage::AddrV2(addrs.clone()));
                        }
                        _ => {}
                    }
                }
            }
            break;
        }
        saw
    })
}

#[test]
fn behind_a_proxy_a_seed_is_asked_by_name_and_its_onion_services_dialled_by_name() {
    // One binary after the other: the scripted seed needs testnet4's port for itself.
    seed_by_name_through_the_proxy(HEADWAY_MIO);
    seed_by_name_through_the_proxy(HEADWAY_ASYNC_STD);
}

fn seed_by_name_through_the_proxy(bin: &'static str) {
    use headway_core::addrbook::names::onion_name;
    use headway_core::bitcoin::p2p::address::{AddrV2, AddrV2Message};
    use headway_core::bitcoin::p2p::ServiceFlags;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as u32
        - 600;
    let onion_key = [0x5c; 32];
    let addrs = vec![
        AddrV2Message {
            time,
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
            addr: AddrV2::TorV3(onion_key),
            port: TESTNET4_PORT,
        },
        AddrV2Message {
            time,
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
            addr: AddrV2::Ipv4([203, 0, 113, 9].into()),
            port: TESTNET4_PORT,
        },
    ];
    let seed = scripted_seed(addrs);
    let proxy = Microsocks::start(&["-b", &PROXY_OUTGOING.to_string()]);
    let data = tempfile::tempdir().expect("temp dir");
    let datadir = data.path().join("data");
    let proxy_addr = proxy.addr.to_string();
    let mut node = HeadwayProcess::start(
        bin,
        &[
            "--network",
            "testnet4",
            "--proxy",
            &proxy_addr,
            "--dns-seed",
            "localhost",
            "--no-fixed-seeds",
            "--datadir",
            datadir.to_str().expect("utf-8 path"),
        ],
        data.path(),
        "headway",
    );
    let onion = onion_name(&onion_key);
    wait_for(
        SYNC_WAIT,
        "the node to dial the seed's onion service by name through the proxy",
        || {
            node.log()
                .lines()
                .any(|l| l.contains("dialling") && l.contains(&onion))
                .then_some(())
        },
        || node.log(),
    );
    let saw = seed.join().expect("seed thread");
    assert!(saw.got_getaddr, "{saw:?}");
    assert!(saw.refused_v2, "a v2 attempt first, then v1: {saw:?}");
    assert!(
        saw.peers
            .iter()
            .all(|p| p.ip() == std::net::IpAddr::V4(PROXY_OUTGOING)),
        "the seed was reached through the proxy, by name: {saw:?}"
    );
    let log = node.log();
    assert!(
        log.lines()
            .any(|l| l.contains("dialling") && l.contains("\"localhost\"")),
        "{log}"
    );
    assert!(
        !log.contains("DNS seed answered") && !log.contains("resolving"),
        "a seed was resolved here:\n{log}"
    );
    assert!(node.terminate(EXIT_WAIT).success(), "{}", node.log());
}
