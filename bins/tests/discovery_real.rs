//! Discovery against real peers (issue 10): four bcoin nodes listen on 127.0.0.2 to 127.0.0.5,
//! all on one port as real nodes share 8333, and share one chain. A scripted seed peer on
//! 127.0.0.1 knows nothing but their addresses and gossips them in an addrv2 message.
//!
//! `headway-mio` started with nothing but `--seednode` must fetch those addresses, drop the
//! seed, open an outbound connection to each bcoin (checked through bcoin's own
//! `getpeerinfo`) and sync to their tip. Stopped and restarted with no peer flag at all, it
//! must reconnect to all four from the book it saved. Each loopback address is a network
//! group of its own on regtest, so all four fit the one-per-group rule.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headway_core::bitcoin::p2p::address::{AddrV2, AddrV2Message};
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::node::handshake::version_message;
use headway_core::wire::{encode, FrameDecoder};
use headway_core::{Network, Time};
use serde_json::{json, Value};
use support::bcoin::{free_port, Bcoin};
use support::headway::{wait_for, HeadwayProcess, HEADWAY_MIO};

/// Blocks on the shared chain.
const BLOCKS: u32 = 300;
/// Liveness bounds: a stuck step fails the test instead of hanging it.
const PEERS_WAIT: Duration = Duration::from_secs(60);
const SEED_WAIT: Duration = Duration::from_secs(30);
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// What the scripted seed saw.
#[derive(Debug, Default)]
struct SeedReport {
    /// headway opened with BIP324 v2 first, which this v1-only seed closed, as a v1 Core
    /// does on a wrong magic; headway then came back with v1.
    refused_v2: bool,
    got_version: bool,
    got_getaddr: bool,
    closed_by_headway: bool,
}

/// A v1-only seed peer on `listener`: closes a connection that does not open with a v1
/// frame (a v2 attempt) and takes the next; handshakes, answers the getaddr with `addrs` in
/// one addrv2 message, and waits for headway to close the connection.
fn seed_peer(listener: TcpListener, addrs: Vec<SocketAddr>) -> thread::JoinHandle<SeedReport> {
    thread::spawn(move || {
        let mut report = SeedReport::default();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let deadline = Instant::now() + SEED_WAIT;
        let magic = Network::Regtest.params().magic;
        let send = |stream: &mut TcpStream, msg| {
            stream
                .write_all(&encode(magic, msg))
                .expect("seed peer write");
        };
        'connections: for _ in 0..2 {
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                        thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("the seed peer was never dialled: {e}"),
                }
            };
            stream.set_nonblocking(false).expect("blocking stream");
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("read timeout");
            let mut decoder = FrameDecoder::new(magic);
            let mut buf = [0u8; 4096];
            while Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        report.closed_by_headway = true;
                        break 'connections;
                    }
                    Ok(n) => decoder.extend(&buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => {
                        report.closed_by_headway = true;
                        break 'connections;
                    }
                }
                loop {
                    let msg = match decoder.next_message() {
                        Ok(Some(msg)) => msg,
                        Ok(None) => break,
                        Err(_) => {
                            // Not a v1 opening: close, as a v1 node does, and wait for the retry.
                            report.refused_v2 = true;
                            drop(stream);
                            continue 'connections;
                        }
                    };
                    match msg {
                        NetworkMessage::Version(_) => {
                            report.got_version = true;
                            let us = stream.local_addr().expect("local addr");
                            let v = version_message(
                                us,
                                ServiceFlags::NETWORK,
                                now(),
                                99,
                                "/seed:1/",
                                0,
                            );
                            send(&mut stream, NetworkMessage::Version(v));
                            send(&mut stream, NetworkMessage::SendAddrV2);
                            send(&mut stream, NetworkMessage::Verack);
                        }
                        NetworkMessage::GetAddr => {
                            report.got_getaddr = true;
                            let time = now().as_secs() as u32;
                            let list = addrs
                                .iter()
                                .map(|sa| AddrV2Message {
                                    time,
                                    services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
                                    addr: match sa.ip() {
                                        IpAddr::V4(ip) => AddrV2::Ipv4(ip),
                                        IpAddr::V6(ip) => AddrV2::Ipv6(ip),
                                    },
                                    port: sa.port(),
                                })
                                .collect();
                            send(&mut stream, NetworkMessage::AddrV2(list));
                        }
                        NetworkMessage::Ping(n) => send(&mut stream, NetworkMessage::Pong(n)),
                        _ => {}
                    }
                }
            }
            break;
        }
        report
    })
}

fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Time::from_millis(ms)
}

/// Whether bcoin has a live peer whose user agent is headway's.
fn has_headway_peer(bcoin: &Bcoin) -> bool {
    bcoin.peers().iter().any(|p| {
        p.get("subver")
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("headway"))
    })
}

/// The height headway's store holds, read through its `tip` inspection command.
fn stored_height(datadir: &str) -> Option<u64> {
    let out = support::headway::inspect(
        HEADWAY_MIO,
        &["tip", "--network", "regtest", "--datadir", datadir],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    support::headway::report_field(&text, "height").and_then(|h| h.parse().ok())
}

#[test]
fn a_seed_node_leads_to_every_bcoin_and_a_restart_reconnects_from_the_book() {
    let port = free_port();
    let bcoins: Vec<Bcoin> = (2..=5u8)
        .map(|last| Bcoin::start_on(Ipv4Addr::new(127, 0, 0, last), port))
        .collect();
    bcoins[0].mine(BLOCKS);
    // bcoin gives up on a failed `addnode` dial for good, and a busy machine can fail one:
    // ask again every few seconds until every node holds the chain.
    let tip = bcoins[0].best_hash();
    let mut last_ask: Option<Instant> = None;
    wait_for(
        PEERS_WAIT,
        "the bcoin nodes to share one chain",
        || {
            if last_ask.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                last_ask = Some(Instant::now());
                for b in bcoins[1..].iter().filter(|b| b.best_hash() != tip) {
                    b.rpc("addnode", json!([bcoins[0].p2p_addr().to_string(), "add"]));
                }
            }
            bcoins.iter().all(|b| b.best_hash() == tip).then_some(())
        },
        || {
            format!(
                "heights {:?}",
                bcoins.iter().map(Bcoin::height).collect::<Vec<_>>()
            )
        },
    );

    let seed = TcpListener::bind("127.0.0.1:0").expect("bind the seed peer");
    let seed_addr = seed.local_addr().expect("seed addr").to_string();
    let seed_thread = seed_peer(seed, bcoins.iter().map(Bcoin::p2p_addr).collect());
    let work = tempfile::tempdir().expect("tempdir");
    let datadir = work.path().join("data");
    let datadir = datadir.to_str().expect("utf-8 path").to_string();
    let mut node = HeadwayProcess::start(
        HEADWAY_MIO,
        &[
            "--network",
            "regtest",
            "--datadir",
            &datadir,
            "--seednode",
            &seed_addr,
        ],
        work.path(),
        "first",
    );
    let report = seed_thread.join().expect("seed peer thread");
    assert!(report.got_version && report.got_getaddr, "{report:?}");
    assert!(
        report.refused_v2,
        "headway tried v2 first and fell back to v1: {report:?}"
    );
    assert!(
        report.closed_by_headway,
        "headway leaves a seed node once it answered"
    );
    let describe = |node: &HeadwayProcess| {
        let peers: Vec<bool> = bcoins.iter().map(has_headway_peer).collect();
        format!(
            "bcoin peers with headway: {peers:?}\nlog tail:\n{}",
            tail(&node.log())
        )
    };
    wait_for(
        PEERS_WAIT,
        "an outbound connection to every bcoin",
        || bcoins.iter().all(has_headway_peer).then_some(()),
        || describe(&node),
    );
    wait_for(
        PEERS_WAIT,
        "the sync to bcoin's tip, in the store",
        || (stored_height(&datadir) == Some(u64::from(BLOCKS))).then_some(()),
        || describe(&node),
    );
    node.assert_running();
    assert_eq!(
        node.terminate(EXIT_WAIT).code(),
        Some(0),
        "{}",
        tail(&node.log())
    );
    wait_for(
        PEERS_WAIT,
        "bcoin to notice headway left",
        || bcoins.iter().all(|b| !has_headway_peer(b)).then_some(()),
        String::new,
    );

    // No peer flag at all: the saved book is all it has.
    bcoins[0].mine(5);
    let mut again = HeadwayProcess::start(
        HEADWAY_MIO,
        &["--network", "regtest", "--datadir", &datadir],
        work.path(),
        "restart",
    );
    wait_for(
        PEERS_WAIT,
        "reconnections to every bcoin from the book",
        || bcoins.iter().all(has_headway_peer).then_some(()),
        || describe(&again),
    );
    wait_for(
        PEERS_WAIT,
        "the sync to the new tip",
        || (stored_height(&datadir) == Some(u64::from(BLOCKS) + 5)).then_some(()),
        || describe(&again),
    );
    let log = again.log();
    assert!(log.contains("address book restored"), "{}", tail(&log));
    assert_eq!(again.terminate(EXIT_WAIT).code(), Some(0));
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
