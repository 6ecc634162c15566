//! The address book across a real node's life: `headway-mio` against a real peer (bcoin, from
//! tests-peer/) writes the book to its store when it shuts down on SIGTERM (the core's last
//! book change comes just before `ShutdownComplete`, and the store thread drains its channel
//! before the process exits), a restart restores that book instead of making a new one, and a
//! stored record that does not decode is skipped at start with a warning.
//!
//! The core writes the book once a minute (`PERSIST_INTERVAL`) and at shutdown; the `--connect`
//! run checks the store before that first minute is up, so the book's secret is absent while
//! the node runs and present once it has stopped, which pins the write to the shutdown. (The book fills only from gossip and
//! seeding; bcoin may answer getaddr with no address at all, so its contents are not checked
//! here: `peers_command.rs` checks records.) Every child has a deadline.

mod kill_support;
mod support;

use std::path::Path;
use std::time::Duration;

use headway_core::addrbook::netgroup::NetGroup;
use headway_core::addrbook::{AddrBook, AddrBookChange, AddrBookKey, AddrRecord, KnownAddr};
use headway_core::bitcoin::p2p::address::AddrV2;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::node::discovery::PERSIST_INTERVAL;
use headway_core::rng::SecretRng;
use headway_core::{Network, SecretSeed, Time};
use headway_store_lmdb::HeaderStore;
use kill_support::{fields, number, NodeRun};
use support::bcoin::Bcoin;
use support::headway::{wait_for, HeadwayProcess, HEADWAY_MIO};

/// How long a node may take to start and reach its peer.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after SIGTERM.
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// The book's secret as stored in `store_dir`, read through a read-only open (safe while a
/// node writes).
fn stored_key(store_dir: &Path) -> Option<AddrBookKey> {
    HeaderStore::open_read_only(store_dir)
        .expect("open the store read-only")
        .load_addr_book()
        .expect("load the address book")
        .key
}

#[test]
fn a_connect_run_writes_the_book_at_shutdown() {
    let bcoin = Bcoin::start();
    bcoin.mine(20);
    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().join("data");
    let store_dir = datadir.join("regtest");
    let peer = bcoin.p2p_addr().to_string();
    let mut node = NodeRun::start(&peer, &datadir, tmp.path().join("node.log"), "debug");
    let loaded = node.wait_for_line(START_WAIT, "address book restored", |l| {
        fields(l, "address book restored").is_some()
    });
    assert_eq!(
        number(&loaded, "address book restored", "addresses"),
        Some(0)
    );
    node.wait_for_line(START_WAIT, "peer negotiated", |l| {
        fields(l, "peer negotiated").is_some()
    });
    node.wait_for_line(START_WAIT, "synced", |l| fields(l, "synced").is_some());
    // Checked well inside the core's first minute (its first periodic book write); on a
    // machine so slow that the minute is nearly up, the check would race it and is skipped.
    let checked_early = node.started.elapsed() < PERSIST_INTERVAL - Duration::from_secs(15);
    if checked_early {
        assert_eq!(
            stored_key(&store_dir),
            None,
            "nothing writes the book before shutdown in a short run"
        );
    } else {
        eprintln!("slow start: the book's absence before shutdown is not checked");
    }

    node.signal(libc::SIGTERM);
    let status = node.wait_exit(EXIT_WAIT);
    assert!(status.success(), "exit {status}; log:\n{}", node.tail(30));
    assert!(
        stored_key(&store_dir).is_some(),
        "the book's secret was not written at shutdown; log:\n{}",
        node.tail(30)
    );
    let stopped = node
        .lines
        .iter()
        .find(|l| fields(l, "stopped").is_some())
        .unwrap_or_else(|| panic!("no \"stopped\" line; log:\n{}", node.tail(30)));
    assert_eq!(number(stopped, "stopped", "height"), Some(20), "{stopped}");
}

/// Runs `headway-mio` on regtest with `args` until `message` is logged, then SIGTERM; returns
/// the log after a clean exit.
fn run_until(dir: &Path, name: &str, args: &[&str], message: &str) -> String {
    let log_path = dir.join(format!("{name}.log"));
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut all = vec!["--network", "regtest"];
    all.extend_from_slice(args);
    let mut node = HeadwayProcess::start(HEADWAY_MIO, &all, dir, name);
    wait_for(
        START_WAIT,
        message,
        || {
            node.assert_running();
            read_log()
                .lines()
                .any(|l| fields(l, message).is_some())
                .then_some(())
        },
        || format!("log:\n{}", read_log()),
    );
    let status = node.terminate(EXIT_WAIT);
    let log = node.log();
    assert!(status.success(), "exit {status}; log:\n{log}");
    log
}

#[test]
fn a_seednode_run_writes_the_book_and_a_restart_restores_it() {
    let bcoin = Bcoin::start();
    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().join("data");
    let store_dir = datadir.join("regtest");
    let datadir = datadir.to_str().unwrap();
    let peer = bcoin.p2p_addr().to_string();

    // A seed node is dialled once: wait until bcoin accepts connections (its RPC answers
    // first).
    wait_for(
        START_WAIT,
        "bcoin's P2P port",
        || std::net::TcpStream::connect(bcoin.p2p_addr()).ok(),
        || bcoin.log(),
    );
    // A seed node is an address-fetch connection: dialled, asked for addresses, left.
    let log = run_until(
        tmp.path(),
        "seednode",
        &["--datadir", datadir, "--seednode", &peer],
        "peer negotiated",
    );
    assert!(log.contains("seednodes=1"), "{log}");
    let key = stored_key(&store_dir).unwrap_or_else(|| {
        panic!("no book secret after a clean stop; log:\n{log}");
    });

    // Restarted with no peer flags at all: the stored book is restored, so its secret stays
    // (a new book would bring a new secret and write it at shutdown).
    let log = run_until(
        tmp.path(),
        "restart",
        &["--datadir", datadir],
        "address book restored",
    );
    assert_eq!(
        stored_key(&store_dir),
        Some(key),
        "the restart replaced the stored book; log:\n{log}"
    );
    assert!(!log.contains("unreadable"), "{log}");
}

#[test]
fn unreadable_records_are_skipped_at_start_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().join("data");
    {
        let store = HeaderStore::open(&datadir.join("regtest"), Network::Regtest).unwrap();
        let mut book = AddrBook::new(AddrBookKey::from_bytes([5; 32]), true);
        let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([2; 32]));
        let now = Time::from_secs(1_700_000_000);
        let added = book.add_from(
            &[KnownAddr {
                // A closed port: the node may dial it, and fails.
                addr: AddrV2::Ipv4([127, 0, 0, 1].into()),
                port: 1,
                services: ServiceFlags::NETWORK,
                time: 1_699_999_000,
            }],
            &NetGroup::internal_source("test"),
            now,
            &mut rng,
        );
        assert_eq!(added, 1);
        let mut change = book.take_change();
        change.upsert.push(AddrRecord {
            key: vec![1, 127, 0, 0, 7, 0x47, 0x6c],
            value: vec![0xba, 0xd0],
        });
        store.write_addr_book(&change).unwrap();
        store
            .write_addr_book(&AddrBookChange {
                key: None,
                upsert: vec![AddrRecord {
                    key: vec![0x77, 0x01],
                    value: vec![1; 45],
                }],
                remove: Vec::new(),
            })
            .unwrap();
    }
    let datadir = datadir.to_str().unwrap();
    let log = run_until(
        tmp.path(),
        "garbage",
        &["--datadir", datadir],
        "discovering peers",
    );
    let loaded = log
        .lines()
        .find(|l| fields(l, "address book restored").is_some())
        .unwrap_or_else(|| panic!("no \"address book restored\" line:\n{log}"));
    assert_eq!(
        number(loaded, "address book restored", "addresses"),
        Some(1),
        "{loaded}"
    );
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("skipped 2 unreadable address book records"))
        .unwrap_or_else(|| panic!("no warning for the unreadable records:\n{log}"));
    assert!(warning.contains("skipped=2"), "{warning}");
    // A book with an address is a way to find peers: no "give a peer" warning.
    assert!(!log.contains("no peers to dial"), "{log}");
}
