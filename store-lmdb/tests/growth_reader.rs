//! Readers while the writer grows the map. A read transaction is a snapshot: whatever the
//! writer commits and however often it grows the map, a reader sees exactly the chain that was
//! stored when its transaction began, and its next transaction sees the new one.
//!
//! - In another process (this test binary, re-executed): a reader stops in the middle of a
//!   `for_each_best` walk, holding its transaction open, while the writer grows the map several
//!   times; then it finishes the walk and must have read the old chain, whole and unchanged.
//! - In another process: a reader that reads in a loop while the writer grows the map sees
//!   only consistent stores whose best chain is a prefix of the written chain.
//! - In this process: a growth waits for an open read transaction (the store's map lock), so a
//!   slow walk sees one map size throughout and the writer finishes once the walk ends.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::Header;
use headway_core::Network;
use headway_store_lmdb::{Durability, HeaderStore, StoreError, StoreOptions};
use support::{appends, assert_consistent, mainnet_headers};

/// 64 KiB: sixteen pages, full after a few hundred headers.
const TINY_MAP: usize = 64 << 10;
/// Headers stored before a reader starts.
const FIRST: usize = 300;
/// Liveness bound on every wait for a child.
const CHILD_WAIT: Duration = Duration::from_secs(30);

/// Set in the child: the store directory to read, and what to do.
const DIR_ENV: &str = "HEADWAY_STORE_TEST_GROWTH_READER_DIR";
const MODE_ENV: &str = "HEADWAY_STORE_TEST_GROWTH_READER_MODE";
const HOLD_TEST: &str = "a_read_transaction_held_across_growths_keeps_its_snapshot";
const LOOP_TEST: &str = "a_reader_reading_in_a_loop_during_growth_sees_only_consistent_prefixes";

fn tiny_options() -> StoreOptions {
    StoreOptions {
        initial_map_size: TINY_MAP,
        durability: Durability::NoSync,
    }
}

/// One line to the parent, straight to the pipe (the harness may capture `println!`).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "READER {line}")
        .and_then(|()| out.flush())
        .expect("report to the parent");
}

/// Child, mode `hold`: walk the best chain, stop after the first header until the parent
/// writes a line, then finish the walk and report what was read; then read afresh.
fn hold_reader(dir: &Path, chain: &[Header]) {
    let store = HeaderStore::open_read_only(dir).expect("read-only open");
    let map_at_start = store.map_size();
    let mut stdin = std::io::stdin().lock();
    let mut read = 0usize;
    let mut matches = true;
    let mut last = None;
    store
        .for_each_best(0, u32::MAX, |height, header| {
            if height == 0 {
                say(&format!("HOLDING {map_at_start}"));
                let mut line = String::new();
                stdin
                    .read_line(&mut line)
                    .map_err(|e| StoreError::Callback(e.to_string()))?;
            }
            matches &= chain.get(height as usize) == Some(header) && height as usize == read;
            read += 1;
            last = Some(header.block_hash());
            Ok(())
        })
        .expect("the walk");
    let last = last.map(|h| h.to_string()).unwrap_or_default();
    say(&format!("SNAPSHOT {read} {last} {matches}"));
    let tip = store.tip().expect("tip").expect("a tip");
    let consistent = store.verify().expect("verify").is_consistent();
    say(&format!(
        "AFTER {} {consistent} {}",
        tip.height,
        store.map_size()
    ));
}

/// Child, mode `loop`: read (tip, verify, load) until the tip reaches the last header, and
/// report how many reads saw which tips and map sizes, and whether all were consistent.
fn loop_reader(dir: &Path, chain: &[Header]) {
    let store = HeaderStore::open_read_only(dir).expect("read-only open");
    say("READY");
    let deadline = Instant::now() + CHILD_WAIT;
    let mut reads = 0u32;
    let mut tips = std::collections::BTreeSet::new();
    let mut maps = std::collections::BTreeSet::new();
    let mut bad = Vec::new();
    loop {
        let report = store.verify().expect("verify");
        if !report.is_consistent() {
            bad.push(format!(
                "verify at {}: {:?}",
                report.tip_height, report.problems
            ));
        }
        let (best, side) = store.load().expect("load");
        if !side.is_empty() || best.is_empty() || chain.get(..best.len()) != Some(best.as_slice()) {
            bad.push(format!("load of {} headers is not a prefix", best.len()));
        }
        reads += 1;
        tips.insert(best.len() - 1);
        maps.insert(store.map_size());
        if best.len() == chain.len() || Instant::now() > deadline {
            break;
        }
    }
    say(&format!(
        "LOOPED {reads} {} {} {}",
        tips.len(),
        maps.len(),
        bad.len()
    ));
    for line in bad.iter().take(5) {
        say(&format!("BAD {line}"));
    }
}

/// A reader child: its `READER` lines arrive on a channel; killed on drop.
struct ReaderProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl ReaderProcess {
    fn start(test: &str, mode: &str, dir: &Path) -> ReaderProcess {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(DIR_ENV, dir)
            .env(MODE_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the reader");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // With one test thread the harness prints "test NAME ... " on the same line.
                if let Some((_, rest)) = line.split_once("READER ") {
                    if tx.send(rest.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        ReaderProcess {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// The next report, split into words; its first word must be `kind`.
    fn expect(&mut self, kind: &str) -> Vec<String> {
        let line = self.lines.recv_timeout(CHILD_WAIT).unwrap_or_else(|e| {
            let status = self.child.try_wait();
            panic!("no `{kind}` report from the reader ({e}; exit status {status:?})")
        });
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        assert_eq!(words.first().map(String::as_str), Some(kind), "{line}");
        words
    }

    fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the reader");
    }

    /// Closes its stdin and waits (bounded) for a successful exit.
    fn finish(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + CHILD_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(status.success(), "reader failed: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the reader did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ReaderProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the child's side if this process is a child; true if it was.
fn run_child_if_asked() -> bool {
    let (Some(dir), Ok(mode)) = (std::env::var_os(DIR_ENV), std::env::var(MODE_ENV)) else {
        return false;
    };
    let chain = mainnet_headers();
    match mode.as_str() {
        "hold" => hold_reader(Path::new(&dir), &chain),
        "loop" => loop_reader(Path::new(&dir), &chain),
        other => panic!("unknown reader mode {other}"),
    }
    true
}

#[test]
fn a_read_transaction_held_across_growths_keeps_its_snapshot() {
    if run_child_if_asked() {
        return;
    }
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &tiny_options()).unwrap();
    store.apply(&appends(&chain, 1, FIRST, 2000)).unwrap();
    let map_before = store.map_size();

    let mut reader = ReaderProcess::start(HOLD_TEST, "hold", dir.path());
    let holding = reader.expect("HOLDING");
    let reader_map: usize = holding[1].parse().unwrap();
    // The reader's transaction is open: the writer grows the map at least four times and
    // commits 39,700 headers (none of the snapshot's pages may be reused while it is open).
    for change in appends(&chain, FIRST, chain.len(), 2000) {
        store.apply(&[change]).unwrap();
    }
    assert!(
        store.map_size() >= map_before << 4,
        "map grew only from {map_before} to {}",
        store.map_size()
    );
    assert_consistent(&store);
    reader.tell("go");

    let snapshot = reader.expect("SNAPSHOT");
    assert_eq!(snapshot[1], FIRST.to_string(), "headers read: {snapshot:?}");
    assert_eq!(snapshot[2], chain[FIRST - 1].block_hash().to_string());
    assert_eq!(
        snapshot[3], "true",
        "the walk read the stored headers in order"
    );
    let after = reader.expect("AFTER");
    assert_eq!(after[1], (chain.len() - 1).to_string());
    assert_eq!(after[2], "true");
    let map_after: usize = after[3].parse().unwrap();
    assert!(
        map_after > reader_map,
        "the reader's next transaction adopted the grown map ({reader_map} -> {map_after})"
    );
    reader.finish();
}

#[test]
fn a_reader_reading_in_a_loop_during_growth_sees_only_consistent_prefixes() {
    if run_child_if_asked() {
        return;
    }
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    // Fully synced commits, as the node writes: each takes long enough for the reader to read
    // between them.
    let options = StoreOptions {
        initial_map_size: TINY_MAP,
        durability: Durability::Full,
    };
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &options).unwrap();
    store.apply(&appends(&chain, 1, FIRST, 2000)).unwrap();
    let map_before = store.map_size();

    let mut reader = ReaderProcess::start(LOOP_TEST, "loop", dir.path());
    reader.expect("READY");
    for change in appends(&chain, FIRST, chain.len(), 1000) {
        store.apply(&[change]).unwrap();
    }
    assert!(store.map_size() >= map_before << 4);
    let looped = reader.expect("LOOPED");
    let numbers: Vec<usize> = looped[1..].iter().map(|w| w.parse().unwrap()).collect();
    let (reads, tips, maps, bad) = (numbers[0], numbers[1], numbers[2], numbers[3]);
    let mut problems = Vec::new();
    for _ in 0..bad.min(5) {
        problems.push(reader.expect("BAD").join(" "));
    }
    assert_eq!(bad, 0, "inconsistent reads: {problems:#?}");
    eprintln!("{reads} reads saw {tips} tips and {maps} map sizes");
    // The reader saw the writer's progress, not only its start and end, across several map
    // sizes it adopted.
    assert!(tips >= 3, "{reads} reads saw only {tips} tips");
    assert!(maps >= 2, "{reads} reads saw only {maps} map sizes");
    reader.finish();
}

#[test]
fn in_one_process_a_growth_waits_for_an_open_read_transaction() {
    let chain = mainnet_headers();
    let dir = tempfile::tempdir().unwrap();
    let store = HeaderStore::open_with(dir.path(), Network::Mainnet, &tiny_options()).unwrap();
    store.apply(&appends(&chain, 1, FIRST, 2000)).unwrap();
    let map_before = store.map_size();

    let (started_tx, started_rx) = mpsc::channel();
    thread::scope(|scope| {
        let walker = scope.spawn(|| {
            let mut read = Vec::new();
            let mut maps = Vec::new();
            store
                .for_each_best(0, u32::MAX, |height, header| {
                    if height == 0 {
                        started_tx.send(()).unwrap();
                    }
                    // A slow walk: the writer below runs (and wants to grow) meanwhile.
                    if height % 30 == 0 {
                        maps.push(store.map_size());
                        thread::sleep(Duration::from_millis(10));
                    }
                    read.push(*header);
                    Ok(())
                })
                .unwrap();
            (read, maps)
        });
        started_rx.recv_timeout(CHILD_WAIT).expect("the walk began");
        let writer = scope.spawn(|| {
            for change in appends(&chain, FIRST, chain.len(), 2000) {
                store.apply(&[change]).unwrap();
            }
        });
        let (read, maps) = walker.join().unwrap();
        writer.join().unwrap();
        assert_eq!(
            read.as_slice(),
            &chain[..FIRST],
            "the walk read its snapshot"
        );
        assert!(
            maps.iter().all(|&m| m == map_before),
            "the map changed under an open read transaction: {maps:?}"
        );
    });
    assert!(store.map_size() >= map_before << 4);
    assert_eq!(store.load().unwrap().0, chain);
    assert_consistent(&store);
}
