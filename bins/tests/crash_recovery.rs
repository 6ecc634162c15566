//! Crash recovery against a real peer (issue 4): `headway-mio` syncs 40,000 headers from bcoin
//! and is killed with SIGKILL at random moments, again and again; after every kill its store
//! must be consistent and must still hold everything it held before, and every restart must
//! continue from the last persisted header. A last run without a kill must end at bcoin's tip
//! and stop cleanly on SIGTERM.
//!
//! When the kills land: a full sync from bcoin takes well under a second (bcoin serves about
//! 30,000 headers a second), so kills at delays measured from the spawn would mostly land after
//! the sync has finished. Most kills are therefore aimed at the sync itself: the test waits
//! until the persisted height passes a random target between the last persisted height and
//! bcoin's tip, then waits a random 0..60 ms more (about one batch of 2000 headers at bcoin's
//! rate, so a kill lands anywhere between two commits, including during one) and kills. Every
//! fourth kill instead comes at a random 0..150 ms after the spawn, which covers the store
//! opening, its recovery from the previous kill, the dial and the handshake.
//!
//! The random generator is seeded from the clock unless `HEADWAY_CRASH_SEED` is set; the seed
//! is printed so that a failing schedule can be replayed. A replay draws the same delays and
//! the same target fractions; where exactly a kill lands still depends on the machine's timing,
//! which no seed controls.

mod support;

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headway_core::bitcoin::BlockHash;
use headway_core::Network;
use headway_store_lmdb::{HeaderStore, StoreError};
use serde_json::json;
use support::bcoin::Bcoin;
use support::headway::HEADWAY_MIO;

/// Blocks bcoin mines before the first start: about 1.3 s of bcoin's header serving in total.
/// The node commits about one 2000-header message at a time, so an aimed kill advances the
/// store by 2000 to 4000 headers; 40,000 leaves room for every aimed kill to land mid-sync.
const BLOCKS: u32 = 40_000;
/// Blocks mined before the last, unkilled run, so that it too has a sync to finish.
const FINAL_BLOCKS: u32 = 1_000;
/// SIGKILLs in the loop (the issue asks for at least 10).
const KILLS: usize = 12;
/// Every `EARLY_EVERY`-th kill comes soon after the spawn rather than mid-sync.
const EARLY_EVERY: usize = 4;
/// The window after the spawn in which an early kill lands.
const EARLY_WINDOW_MS: u64 = 150;
/// The extra random wait after the persisted height passed the target.
const JITTER_MS: u64 = 60;
/// Kills whose persisted height must lie strictly between genesis and bcoin's tip, so that the
/// test cannot pass by killing only idle or finished nodes.
const MIN_MID_SYNC_KILLS: usize = 5;
/// Liveness bounds: a stuck node fails the test instead of hanging it. Nothing asserts speed.
const PROGRESS_WAIT: Duration = Duration::from_secs(60);
const SYNC_WAIT: Duration = Duration::from_secs(120);
const EXIT_WAIT: Duration = Duration::from_secs(30);
/// A smoke bound on the store reopen time the node logs (`load_ms`). The requirement is "well
/// under a second" and a 40,000-header store loads in milliseconds; this bound is deliberately
/// loose (the machine is shared) and only catches a reopen that rebuilds or rescans from
/// scratch pathologically. The observed times are printed for the record.
const LOAD_SMOKE_BOUND_MS: u64 = 5_000;

/// xorshift64*: a tiny seeded generator, enough to pick kill moments reproducibly.
struct Xorshift(u64);

impl Xorshift {
    fn new(seed: u64) -> Xorshift {
        // A zero state would stay zero forever.
        Xorshift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The seed: `HEADWAY_CRASH_SEED` if set, else derived from the clock.
fn crash_seed() -> u64 {
    if let Ok(text) = std::env::var("HEADWAY_CRASH_SEED") {
        return text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("HEADWAY_CRASH_SEED={text:?} is not a u64: {e}"));
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// One `headway-mio` run that the test can SIGKILL; dropping it kills the process if it still
/// runs, so a failing assertion leaves nothing behind.
struct NodeRun {
    child: Child,
    log: PathBuf,
    started: Instant,
}

impl NodeRun {
    /// Starts `headway-mio` against `peer` on `datadir`, logging at debug level to `log`.
    fn start(peer: &str, datadir: &Path, log: PathBuf) -> NodeRun {
        let out = File::create(&log).expect("create node log");
        let err = out.try_clone().expect("clone log handle");
        let started = Instant::now();
        let child = Command::new(HEADWAY_MIO)
            .args(["--network", "regtest", "--connect", peer, "--datadir"])
            .arg(datadir)
            .args(["--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start headway-mio");
        NodeRun {
            child,
            log,
            started,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the node has exited by itself: every kill must hit a live node.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "headway-mio exited by itself ({status}); log:\n{}",
                self.log()
            );
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap; asserts it died of the signal.
    fn sigkill(&mut self) {
        self.assert_running();
        self.child.kill().expect("SIGKILL headway-mio");
        let status = self.child.wait().expect("reap headway-mio");
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "killed node status {status}; log:\n{}",
            self.log()
        );
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: signalling our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {timeout:?} after SIGTERM; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `key=value` field of the first log line whose message is exactly `message`, as a number.
/// Lines read `<time> <LEVEL> <message> <key=value>...` (the binary logs without targets); the
/// message must follow the level word for word, so "store opened" does not match the store
/// crate's "header store opened".
fn logged_number(log: &str, message: &str, key: &str) -> Option<u64> {
    let words: Vec<&str> = message.split_whitespace().collect();
    let prefix = format!("{key}=");
    log.lines()
        .map(|line| line.split_whitespace().collect::<Vec<&str>>())
        .find(|tokens| tokens.get(2..2 + words.len()) == Some(words.as_slice()))?
        .iter()
        .find_map(|token| token.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

/// What a store held right after a kill.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Persisted {
    height: u32,
    hash: BlockHash,
}

/// Opens the store read-only, runs its own `verify`, and walks the best chain independently:
/// height 0 is regtest's genesis, every header names the previous one's hash, the walk ends at
/// the tip record, and `header_at(tip)` is the tip header. Returns `None` only if no store was
/// ever created (a kill before the first commit of a fresh directory).
fn check_store(store_dir: &Path) -> Option<Persisted> {
    let store = match HeaderStore::open_read_only(store_dir) {
        Ok(store) => store,
        Err(StoreError::NoStore { .. }) => return None,
        Err(e) => panic!("reopening the killed node's store failed: {e}"),
    };
    let report = store.verify().expect("verify the store");
    assert!(
        report.is_consistent(),
        "store inconsistent after SIGKILL: {report:#?}"
    );
    let tip = store
        .tip()
        .expect("read the tip")
        .expect("a store always has a tip");
    assert_eq!((tip.height, tip.hash), (report.tip_height, report.tip_hash));
    assert_eq!(report.best_headers, u64::from(tip.height) + 1);

    let genesis = Network::Regtest.params().genesis_hash();
    let mut prev: Option<BlockHash> = None;
    let mut walked = 0u32;
    store
        .for_each_best(0, u32::MAX, |height, header| {
            assert_eq!(height, walked, "heights are contiguous");
            match prev {
                None => assert_eq!(header.block_hash(), genesis, "height 0 is genesis"),
                Some(p) => assert_eq!(header.prev_blockhash, p, "height {height} links"),
            }
            prev = Some(header.block_hash());
            walked += 1;
            Ok(())
        })
        .expect("walk the best chain");
    assert_eq!(walked, tip.height + 1, "the walk covers genesis..=tip");
    assert_eq!(prev, Some(tip.hash), "the walk ends at the tip record");
    let at_tip = store
        .header_at(tip.height)
        .expect("header_at")
        .expect("a header at the tip height");
    assert_eq!(at_tip.block_hash(), tip.hash, "height index and tip agree");
    Some(Persisted {
        height: tip.height,
        hash: tip.hash,
    })
}

/// The hash of the store's best header at `height`, for checking that an earlier tip survived.
fn stored_hash_at(store_dir: &Path, height: u32) -> Option<BlockHash> {
    let store = HeaderStore::open_read_only(store_dir).ok()?;
    let header = store.header_at(height).ok()??;
    Some(header.block_hash())
}

/// Polls the store's persisted height every 2 ms until it reaches `target`; panics if the node
/// exits or does not get there within `wait`. The store handle is dropped on return
/// (heed allows one open environment per path and process).
fn wait_for_persisted(node: &mut NodeRun, store_dir: &Path, target: u32, wait: Duration) -> u32 {
    let deadline = Instant::now() + wait;
    let mut store: Option<HeaderStore> = None;
    loop {
        node.assert_running();
        if store.is_none() {
            // Fails until the node has created the store; that is expected early on.
            store = HeaderStore::open_read_only(store_dir).ok();
        }
        if let Some(tip) = store.as_ref().and_then(|s| s.tip().ok().flatten()) {
            if tip.height >= target {
                return tip.height;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the persisted height did not reach {target} within {wait:?}; log tail:\n{}",
            tail(&node.log(), 30)
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// A logged number or `-` where the run died before logging it.
fn show<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One kill: how it was aimed and what it found.
#[derive(Debug)]
struct KillRecord {
    aim: String,
    alive_ms: u128,
    /// The height the run logged loading its store at (`None` if killed before logging it).
    loaded: Option<u64>,
    load_ms: Option<u64>,
    persisted: Option<u32>,
}

#[test]
fn sigkilled_node_recovers_its_store_and_finishes_the_sync() {
    let seed = crash_seed();
    eprintln!("crash schedule seed: {seed} (replay with HEADWAY_CRASH_SEED={seed})");
    let mut rng = Xorshift::new(seed);

    let started = Instant::now();
    let bcoin = Bcoin::start();
    bcoin.mine(BLOCKS);
    let peer_height = u32::try_from(bcoin.height()).expect("height fits u32");
    assert_eq!(peer_height, BLOCKS);
    eprintln!("bcoin mined {BLOCKS} blocks in {:?}", started.elapsed());

    let work = tempfile::tempdir().expect("tempdir");
    let datadir = work.path().join("data");
    // The binary keeps one network's store in `<datadir>/<network>/`.
    let store_dir = datadir.join(Network::Regtest.name());
    let peer = bcoin.p2p_addr().to_string();

    let mut last: Option<Persisted> = None;
    let mut records = Vec::new();
    for i in 0..KILLS {
        let mut node = NodeRun::start(&peer, &datadir, work.path().join(format!("run-{i}.log")));
        let aim = if i % EARLY_EVERY == 0 {
            let delay = rng.below(EARLY_WINDOW_MS + 1);
            thread::sleep(Duration::from_millis(delay));
            format!("{delay} ms after spawn")
        } else {
            // A target between the last persisted height and bcoin's tip, spread so that the
            // remaining aimed kills still find headers left to sync.
            let from = last.as_ref().map_or(0, |p| p.height);
            let remaining_kills = (KILLS - i) as u64;
            let span = u64::from(peer_height.saturating_sub(from)) / (remaining_kills + 1);
            let target = from + 1 + rng.below(2 * span.max(1)) as u32;
            let target = target.min(peer_height - 1);
            let reached = wait_for_persisted(&mut node, &store_dir, target, PROGRESS_WAIT);
            let jitter = rng.below(JITTER_MS + 1);
            thread::sleep(Duration::from_millis(jitter));
            format!("persisted {reached} >= target {target}, then {jitter} ms")
        };
        let alive_ms = node.started.elapsed().as_millis();
        node.sigkill();

        let log = node.log();
        let loaded = logged_number(&log, "store opened", "height");
        let load_ms = logged_number(&log, "store opened", "load_ms");
        // A restart continues from the last persisted header: it loads exactly that height
        // (nothing wrote the store between the check and the spawn) and starts syncing there.
        if let (Some(loaded), Some(prev)) = (loaded, &last) {
            assert_eq!(
                loaded,
                u64::from(prev.height),
                "run {i} loaded another height than was persisted; log:\n{}",
                tail(&log, 30)
            );
        }
        if let (Some(start), Some(loaded)) = (
            logged_number(&log, "starting header sync", "height"),
            loaded,
        ) {
            assert_eq!(start, loaded, "run {i} started its sync at the loaded tip");
        }
        if let Some(ms) = load_ms {
            assert!(ms < LOAD_SMOKE_BOUND_MS, "run {i} took {ms} ms to load");
        }

        let persisted = check_store(&store_dir);
        match (&last, &persisted) {
            (Some(prev), None) => panic!("run {i}: the store at height {} vanished", prev.height),
            (Some(prev), Some(now)) => {
                // Nothing committed is lost: the old tip is still on the best chain.
                assert!(
                    now.height >= prev.height,
                    "run {i}: height went back from {} to {}",
                    prev.height,
                    now.height
                );
                assert_eq!(
                    stored_hash_at(&store_dir, prev.height),
                    Some(prev.hash),
                    "run {i}: the previously persisted tip is no longer on the best chain"
                );
            }
            (None, _) => {}
        }
        if let Some(now) = &persisted {
            // What we stored is bcoin's chain, not merely some consistent chain.
            let hash = bcoin.rpc("getblockhash", json!([now.height]));
            assert_eq!(hash.as_str(), Some(now.hash.to_string().as_str()));
        }
        let record = KillRecord {
            aim,
            alive_ms,
            loaded,
            load_ms,
            persisted: persisted.as_ref().map(|p| p.height),
        };
        eprintln!(
            "kill {i:2}: {} | alive {} ms | loaded {} in {} ms | persisted after kill {}",
            record.aim,
            record.alive_ms,
            show(record.loaded),
            show(record.load_ms),
            show(record.persisted)
        );
        records.push(record);
        if persisted.is_some() {
            last = persisted;
        }
    }

    let mid_sync = records
        .iter()
        .filter(|r| r.persisted.is_some_and(|h| h > 0 && h < peer_height))
        .count();
    assert!(
        mid_sync >= MIN_MID_SYNC_KILLS,
        "only {mid_sync} of {KILLS} kills landed mid-sync: {records:#?}"
    );
    let restarts_from_chain = records
        .iter()
        .filter(|r| r.loaded.is_some_and(|h| h > 0))
        .count();
    assert!(
        restarts_from_chain >= 1,
        "no run reopened a non-genesis store: {records:#?}"
    );

    // The last run is not killed. bcoin first mines more blocks, so that this run too has to
    // continue a sync from what the killed runs left; it must end at bcoin's new tip, say so
    // in its log, and stop cleanly on SIGTERM.
    bcoin.mine(FINAL_BLOCKS);
    let peer_tip = u32::try_from(bcoin.height()).expect("height fits u32");
    let best = bcoin.best_hash();
    let mut node = NodeRun::start(&peer, &datadir, work.path().join("final.log"));
    wait_for_persisted(&mut node, &store_dir, peer_tip, SYNC_WAIT);
    wait_for_log(&mut node, "synced");
    let log = node.log();
    let prev = last.as_ref().map_or(0, |p| p.height);
    assert_eq!(
        logged_number(&log, "store opened", "height"),
        Some(u64::from(prev)),
        "the final run loaded the persisted tip"
    );
    assert_eq!(
        logged_number(&log, "synced", "height"),
        Some(u64::from(peer_tip)),
        "the sync ended at bcoin's tip"
    );
    let status = node.terminate(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        tail(&node.log(), 30)
    );
    let end = check_store(&store_dir).expect("the final store");
    assert_eq!(end.height, peer_tip);
    assert_eq!(end.hash.to_string(), best);
    eprintln!(
        "final run: loaded height {prev} in {:?} ms, synced to {peer_tip}; whole test {:?}",
        logged_number(&log, "store opened", "load_ms"),
        started.elapsed()
    );
}

/// Waits until the node's log has a line with `message`; panics if the node exits first.
fn wait_for_log(node: &mut NodeRun, message: &str) {
    let deadline = Instant::now() + SYNC_WAIT;
    while logged_number(&node.log(), message, "height").is_none() {
        node.assert_running();
        assert!(
            Instant::now() < deadline,
            "no `{message}` in the log within {SYNC_WAIT:?}; log tail:\n{}",
            tail(&node.log(), 30)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn xorshift_is_reproducible_and_spreads() {
    let mut a = Xorshift::new(42);
    let mut b = Xorshift::new(42);
    let xs: Vec<u64> = (0..100).map(|_| a.below(1000)).collect();
    let ys: Vec<u64> = (0..100).map(|_| b.below(1000)).collect();
    assert_eq!(xs, ys);
    assert!(xs.iter().all(|&x| x < 1000));
    // Not stuck on one value, and reaching both halves of the range.
    assert!(xs.iter().any(|&x| x < 500) && xs.iter().any(|&x| x >= 500));
    assert_eq!(Xorshift::new(0).next(), Xorshift::new(1).next());
}

#[test]
fn log_fields_are_read_from_the_first_matching_line() {
    let log = "2025 INFO header store opened dir=/tmp/x/regtest height=5\n\
               2025 INFO store opened network=regtest datadir=/tmp/x/regtest height=1234 \
               tip=00ab load_ms=3 driver=\"mio\"\n\
               2025 INFO peer negotiated start_height=20000 peer_height=7\n\
               2025 INFO store opened height=99\n";
    assert_eq!(logged_number(log, "store opened", "height"), Some(1234));
    assert_eq!(logged_number(log, "store opened", "load_ms"), Some(3));
    assert_eq!(logged_number(log, "peer negotiated", "height"), None);
    assert_eq!(logged_number(log, "synced", "height"), None);
}
