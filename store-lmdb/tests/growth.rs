//! The map grows instead of failing, and a reader in another process keeps up with a writer
//! that grew it.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use headway_core::Network;
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};
use support::{appends, assert_consistent, mainnet_headers};

/// 64 KiB: sixteen pages, full after a few hundred headers.
const TINY_MAP: usize = 64 << 10;

fn tiny_options() -> StoreOptions {
    StoreOptions {
        initial_map_size: TINY_MAP,
        durability: Durability::NoSync,
    }
}

#[test]
fn the_map_grows_between_applies() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &tiny_options()).unwrap();
    assert_eq!(store.map_size(), TINY_MAP);
    for change in appends(&chain, 1, chain.len(), 2000) {
        store.apply(&[change]).unwrap();
    }
    // 40,000 headers take megabytes: at least six doublings of 64 KiB.
    assert!(
        store.map_size() >= TINY_MAP << 6,
        "map is {} bytes",
        store.map_size()
    );
    assert_eq!(store.load().unwrap().0, chain);
    assert_consistent(&store);
}

#[test]
fn one_apply_grows_the_map_as_often_as_it_needs() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &tiny_options()).unwrap();
    store.apply(&appends(&chain, 1, chain.len(), 2000)).unwrap();
    assert!(
        store.map_size() >= TINY_MAP << 6,
        "map is {} bytes",
        store.map_size()
    );
    assert_eq!(store.load().unwrap().0, chain);
    drop(store);

    // Reopened with the tiny setting, the map starts above the data already stored.
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &tiny_options()).unwrap();
    let data_len = std::fs::metadata(dir.path().join("data.mdb"))
        .unwrap()
        .len();
    assert!(store.map_size() as u64 > data_len);
    assert_eq!(store.tip().unwrap().unwrap().height, 39_999);
    assert_consistent(&store);
}

/// Set in the child process: the store directory to read.
const READER_ENV: &str = "HEADWAY_STORE_TEST_READER_DIR";
const TEST_NAME: &str = "a_read_only_process_sees_the_commits_of_a_growing_writer";

/// The child's side: open read-only, then report the tip on start and after every line read.
fn run_reader(dir: &Path) {
    let store = HeaderStore::open_read_only(dir).expect("read-only open");
    let report = |store: &HeaderStore| {
        let tip = store.tip().expect("tip").expect("a tip");
        let consistent = store.verify().expect("verify").is_consistent();
        // Straight to the file descriptor: the test harness may capture `println!`.
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "READER {} {} {consistent} {}",
            tip.height,
            tip.hash,
            store.map_size()
        )
        .and_then(|()| out.flush())
        .expect("report to the parent");
    };
    report(&store);
    for line in std::io::stdin().lock().lines() {
        if line.expect("stdin").trim() == "again" {
            report(&store);
        }
    }
}

/// The next `READER` report of the child (the test harness prints text of its own).
fn next_report(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Vec<String> {
    for line in lines {
        let line = line.unwrap();
        // With one test thread the harness prints "test NAME ... " before the test runs, on
        // the same line.
        if let Some((_, rest)) = line.split_once("READER ") {
            return rest.split(' ').map(str::to_string).collect();
        }
    }
    panic!("the reader process ended without a report");
}

#[test]
fn a_read_only_process_sees_the_commits_of_a_growing_writer() {
    if let Some(dir) = std::env::var_os(READER_ENV) {
        // This run is the child started below.
        run_reader(Path::new(&dir));
        return;
    }
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &tiny_options()).unwrap();
    store.apply(&appends(&chain, 1, 300, 2000)).unwrap();
    let map_before = store.map_size();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(READER_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let first = next_report(&mut lines);
    assert_eq!(first[0], "299");
    assert_eq!(first[1], chain[299].block_hash().to_string());
    assert_eq!(first[2], "true");

    // The writer grows the map several times while the reader keeps its environment open.
    for change in appends(&chain, 300, chain.len(), 2000) {
        store.apply(&[change]).unwrap();
    }
    assert!(
        store.map_size() >= map_before << 4,
        "map grew only to {}",
        store.map_size()
    );
    writeln!(stdin, "again").unwrap();
    let second = next_report(&mut lines);
    assert_eq!(second[0], "39999");
    assert_eq!(second[1], chain[39_999].block_hash().to_string());
    assert_eq!(second[2], "true");
    let reader_map: usize = second[3].parse().unwrap();
    assert!(
        reader_map > map_before,
        "the reader did not adopt the grown map"
    );

    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "reader process failed: {status}");
}
