//! Measures header sync between two mio drivers over 127.0.0.1: one serves a regtest chain of
//! N headers (mined here, in memory), the other starts from genesis and syncs it. The server's
//! full headers live in a [`HeaderArchive`] on a thread of their own, which answers its core's
//! asks for headers as a store would.
//!
//! `cargo run --release -p headway-driver-mio --example loopback_sync -- [N]` (default 200000).
//! Prints the headers per second from the dial request to the served tip.

use std::time::{Duration, Instant};

use headway_core::bitcoin::block::Header;
use headway_core::{
    Config, Event, HeaderArchive, HeaderChain, Network, Node, Notification, PersistChain, Request,
};
use headway_driver_mio::{Driver, DriverConfig};

fn mine(len: usize) -> Vec<Header> {
    headway_regtest::chain(len, 0)
}

fn node(seed: u64, chain: HeaderChain) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    Node::new(config, chain)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let len: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let started = Instant::now();
    let headers = mine(len);
    let tip = headers
        .last()
        .map(Header::block_hash)
        .ok_or("empty chain")?;
    let params = Network::Regtest.params();
    let mut archive = HeaderArchive::new(&params);
    archive
        .apply(&PersistChain {
            fork_height: 0,
            rejoined: vec![],
            connected: headers[1..].to_vec(),
            side: vec![],
            tip_work: params.genesis.work(),
        })
        .map_err(|e| e.to_string())?;
    let served = HeaderChain::from_stored(params, headers, vec![]).map_err(|e| format!("{e:?}"))?;
    println!("mined and loaded {len} headers in {:?}", started.elapsed());

    let listen = DriverConfig {
        listen: Some("127.0.0.1:0".parse()?),
        ..DriverConfig::default()
    };
    let server = Driver::start(node(1, served), listen)?;
    let client = Driver::start(
        node(2, HeaderChain::new(Network::Regtest.params())),
        DriverConfig::default(),
    )?;
    let addr = server.local_addr().ok_or("no listen address")?;
    let server_handle = server.handle();
    let archive_thread = std::thread::spawn(move || {
        let server = server;
        while let Ok(notification) = server.notifications().recv() {
            if notification == Notification::Event(Event::ShutdownComplete) {
                break;
            }
            if let Ok(Some(answer)) = archive.handle(&notification) {
                server.handle().request(answer);
            }
        }
        server.join();
    });

    let started = Instant::now();
    client.handle().request(Request::AddPeer(addr));
    loop {
        match client
            .notifications()
            .recv_timeout(Duration::from_secs(120))?
        {
            Notification::Event(Event::TipChanged(change)) if change.tip == tip => break,
            Notification::Event(Event::Synced { tip: synced, .. }) if synced == tip => break,
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    println!(
        "synced {len} headers in {elapsed:?}: {:.0} headers/s",
        len as f64 / elapsed.as_secs_f64()
    );
    client.handle().request(Request::Shutdown);
    while !matches!(
        client
            .notifications()
            .recv_timeout(Duration::from_secs(30))?,
        Notification::Event(Event::ShutdownComplete)
    ) {}
    client.join();
    server_handle.request(Request::Shutdown);
    archive_thread
        .join()
        .map_err(|_| "the archive thread panicked")?;
    Ok(())
}
