//! The `peers` inspection command of the real binaries, on stores whose address book is written
//! here directly: with the core's own `AddrBook` (so the records are what a node writes), the
//! store's `write_addr_book`, and a few records that do not decode. Checks the lines (address,
//! services, last seen, attempts, last success, table), their order (tried first, then newest
//! first), the JSON form, the warning for unreadable records (exit status 0), an empty book, and
//! the one-line errors for a missing or wrong-network store. No network is touched.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use support::headway::{assert_one_line_error, run_bounded};

use headway_core::addrbook::netgroup::NetGroup;
use headway_core::addrbook::{AddrBook, AddrBookChange, AddrBookKey, AddrRecord, KnownAddr};
use headway_core::bitcoin::p2p::address::AddrV2;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::rng::SecretRng;
use headway_core::{Network, SecretSeed, Time};
use headway_store_lmdb::HeaderStore;

const BINARIES: [&str; 2] = [
    env!("CARGO_BIN_EXE_headway-mio"),
    env!("CARGO_BIN_EXE_headway-async-std"),
];

/// Every command here exits at once; one still running after this is killed and fails.
const TIMEOUT: Duration = Duration::from_secs(30);

fn run(bin: &str, args: &[&str]) -> Output {
    run_bounded(bin, args, TIMEOUT)
}

/// "Now" for the book: 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;
/// A Tor v3 key from Core's testnet4 seeds and its name.
const ONION_KEY: &str = "d711b08444c0c633e14277bae0234365d1184eb6c399b562f6c82e158c0e370a";
const ONION_NAME: &str = "24i3bbceydddhykco65oai2dmxirqtvwyom3kyxwzaxbldaog4filyyd.onion";

fn onion_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&ONION_KEY[2 * i..2 * i + 2], 16).unwrap();
    }
    key
}

fn candidate(addr: AddrV2, port: u16, services: u64, time: u64) -> KnownAddr {
    KnownAddr {
        addr,
        port,
        services: ServiceFlags::from(services),
        time: u32::try_from(time).unwrap(),
    }
}

/// A book of four addresses as a node would write it: 127.0.0.2:18444 tried (handshake at
/// NOW + 10), 127.0.0.3:18445 new with one failed attempt, [2001:4860::8]:8333 new and seen
/// most recently of the new ones, and the onion new and seen earliest.
fn write_book(store: &HeaderStore) -> AddrBookChange {
    let mut book = AddrBook::new(AddrBookKey::from_bytes([7; 32]), true);
    let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([1; 32]));
    let now = Time::from_secs(NOW);
    let source = NetGroup::internal_source("test");
    let tried = AddrV2::Ipv4([127, 0, 0, 2].into());
    let failed = AddrV2::Ipv4([127, 0, 0, 3].into());
    let added = book.add_from(
        &[
            candidate(tried.clone(), 18444, 0x409, NOW - 1000),
            candidate(failed.clone(), 18445, 0x1, NOW - 10_000),
            candidate(
                AddrV2::Ipv6("2001:4860::8".parse().unwrap()),
                8333,
                0x8 | 1 << 20,
                NOW - 500,
            ),
            candidate(AddrV2::TorV3(onion_key()), 18444, 0, NOW - 20_000),
        ],
        &source,
        now,
        &mut rng,
    );
    assert_eq!(added, 4, "the book takes every candidate");
    book.attempt(&failed, 18445, true, now);
    book.good(&tried, 18444, Time::from_secs(NOW + 10));
    let change = book.take_change();
    assert_eq!(change.upsert.len(), 4);
    store.write_addr_book(&change).expect("write the book");
    change
}

/// Records the core cannot read: a good key with a garbage value, and a key of no network.
fn write_garbage(store: &HeaderStore) {
    let change = AddrBookChange {
        key: None,
        upsert: vec![
            AddrRecord {
                key: vec![1, 127, 0, 0, 9, 0x47, 0x6c],
                value: vec![0xde, 0xad],
            },
            AddrRecord {
                key: vec![0x63, 1, 2],
                value: vec![1; 40],
            },
        ],
        remove: Vec::new(),
    };
    store
        .write_addr_book(&change)
        .expect("write garbage records");
}

fn new_store(datadir: &Path) -> HeaderStore {
    HeaderStore::open(&datadir.join("regtest"), Network::Regtest).expect("open a regtest store")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn peers_lists_the_book_tried_first_then_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    drop(write_book(&new_store(tmp.path())));
    let datadir = tmp.path().to_str().unwrap();
    for bin in BINARIES {
        let out = run(bin, &["peers", "--datadir", datadir]);
        assert!(out.status.success(), "{bin}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{bin}: no warnings for a clean book");
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            5,
            "{bin}: a summary and four addresses:\n{text}"
        );
        assert_eq!(lines[0], "4 addresses (1 tried, 3 new)");
        let address = |line: &str| line.split_whitespace().next().unwrap().to_string();
        let order: Vec<String> = lines[1..].iter().map(|l| address(l)).collect();
        assert_eq!(
            order,
            vec![
                "127.0.0.2:18444".to_string(),
                "[2001:4860::8]:8333".to_string(),
                "127.0.0.3:18445".to_string(),
                format!("{ONION_NAME}:18444"),
            ],
            "{bin}:\n{text}"
        );
        let tried = lines[1];
        assert!(tried.contains("table=tried"), "{tried}");
        assert!(tried.contains("attempts=0"), "{tried}");
        assert!(
            tried.contains("services=0000000000000409 (NETWORK,WITNESS,NETWORK_LIMITED)"),
            "{tried}"
        );
        assert!(
            tried.contains("last_success=2023-11-14T22:13:30Z"),
            "{tried}"
        );
        let v6 = lines[2];
        assert!(
            v6.contains("(WITNESS,UNKNOWN[2^20])") && v6.contains("table=new"),
            "{v6}"
        );
        assert!(v6.contains("last_seen=2023-11-14T22:05:00Z"), "{v6}");
        let failed = lines[3];
        assert!(failed.contains("attempts=1"), "{failed}");
        assert!(failed.contains("last_success=never"), "{failed}");
        assert!(failed.contains("table=new"), "{failed}");
        assert!(
            lines[4].contains("services=0000000000000000 (none)"),
            "{}",
            lines[4]
        );
    }
}

#[test]
fn peers_json_is_one_array_with_the_same_fields() {
    let tmp = tempfile::tempdir().unwrap();
    drop(write_book(&new_store(tmp.path())));
    let datadir = tmp.path().to_str().unwrap();
    let out = run(BINARIES[0], &["peers", "--json", "--datadir", datadir]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let list = list.as_array().expect("one array");
    assert_eq!(list.len(), 4);
    let first = &list[0];
    assert_eq!(first["address"], "127.0.0.2:18444");
    assert_eq!(first["table"], "tried");
    assert_eq!(first["attempts"], 0);
    assert_eq!(first["services"], "0000000000000409");
    assert_eq!(
        first["servicesnames"],
        serde_json::json!(["NETWORK", "WITNESS", "NETWORK_LIMITED"])
    );
    assert_eq!(first["last_success"], "2023-11-14T22:13:30Z");
    assert_eq!(first["last_seen_time"], NOW - 1000);
    let failed = &list[2];
    assert_eq!(failed["address"], "127.0.0.3:18445");
    assert_eq!(failed["attempts"], 1);
    assert!(failed["last_success"].is_null(), "{failed}");
    assert_eq!(list[3]["address"], format!("{ONION_NAME}:18444"));
}

#[test]
fn unreadable_records_are_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = new_store(tmp.path());
        write_book(&store);
        write_garbage(&store);
    }
    let datadir = tmp.path().to_str().unwrap();
    for args in [
        vec!["peers", "--datadir", datadir],
        vec!["peers", "--json", "--datadir", datadir],
    ] {
        let out = run(BINARIES[0], &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).trim_end(),
            "warning: skipped 2 unreadable records",
            "{args:?}"
        );
        let text = stdout(&out);
        assert!(!text.contains("127.0.0.9"), "{text}");
        if args.contains(&"--json") {
            let list: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(list.as_array().unwrap().len(), 4);
        } else {
            assert!(text.starts_with("4 addresses"), "{text}");
        }
    }
}

#[test]
fn an_empty_book_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    drop(new_store(tmp.path()));
    let datadir = tmp.path().to_str().unwrap();
    let out = run(BINARIES[1], &["peers", "--datadir", datadir]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "the address book is empty\n");
    let out = run(BINARIES[1], &["peers", "--json", "--datadir", datadir]);
    assert_eq!(stdout(&out).trim(), "[]");
}

#[test]
fn a_missing_or_wrong_network_store_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().join("nothing-here");
    let out = run(
        BINARIES[0],
        &["peers", "--datadir", datadir.to_str().unwrap()],
    );
    assert_one_line_error(&out, &["error:", "nothing-here"]);

    // A regtest store in the directory signet's would be: refused, naming both.
    drop(new_store(tmp.path()));
    std::fs::rename(tmp.path().join("regtest"), tmp.path().join("signet")).unwrap();
    let datadir = tmp.path().to_str().unwrap();
    let out = run(
        BINARIES[0],
        &["peers", "--datadir", datadir, "--network", "signet"],
    );
    assert_one_line_error(&out, &["belongs to regtest, not signet"]);
}
