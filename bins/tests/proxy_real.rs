//! Outbound peers through a real SOCKS5 proxy (Debian's `microsocks`), for both binaries:
//!
//! - a node started with `--proxy` syncs from bcoin, and bcoin sees the connection come from
//!   the proxy's outgoing address (127.0.0.5, microsocks's `-b`), not from the node: the node
//!   dialled nobody but the proxy;
//! - behind a proxy no name is looked up locally: `--connect` by name is refused with a
//!   one-line error before anything runs, and a mainnet node (which has DNS seeds) asks none
//!   and says so;
//! - a proxy that refuses (nothing listens on its port) is a failed dial that names the proxy,
//!   retried as any failed dial.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use headway_regtest::microsocks::Microsocks;
use support::bcoin::{free_port, Bcoin};
use support::headway::{
    assert_one_line_error, run_bounded, wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO,
};

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
    // bcoin's peer is the proxy's outgoing side.
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

#[test]
fn behind_a_proxy_no_name_is_looked_up() {
    // A peer by name is refused before anything resolves it.
    let data = tempfile::tempdir().expect("temp dir");
    let datadir = data.path().to_str().expect("utf-8 path").to_string();
    let out = run_bounded(
        HEADWAY_MIO,
        &[
            "--network",
            "regtest",
            "--proxy",
            "127.0.0.1:9",
            "--connect",
            "peer.invalid:18444",
            "--datadir",
            &datadir,
        ],
        EXIT_WAIT,
    );
    assert_one_line_error(&out, &["--connect", "peer.invalid:18444", "IP addresses"]);

    // Mainnet has DNS seeds; behind a proxy none is asked. The proxy's port is closed, so
    // every dial fails there, naming the proxy.
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
    assert!(log.contains("DNS seeds are not asked"), "{log}");
    assert!(
        !log.contains("DNS seed answered") && !log.contains("resolving"),
        "a DNS seed was asked behind the proxy:\n{log}"
    );
    assert!(node.terminate(EXIT_WAIT).success(), "{}", node.log());
}
