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

mod kill_support;
mod support;

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headway_core::Network;
use kill_support::{check_store, number, stored_hash_at, wait_for_store, NodeRun, Xorshift};
use serde_json::json;
use support::bcoin::Bcoin;

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

/// The `key=value` field of the first line of `log` whose message is exactly `message`.
fn logged_number(log: &str, message: &str, key: &str) -> Option<u64> {
    log.lines().find_map(|line| number(line, message, key))
}

/// A logged number or `-` where the run died before logging it.
fn show<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
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
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Xorshift::from_env(clock);

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

    let mut last: Option<kill_support::StoreState> = None;
    let mut records = Vec::new();
    for i in 0..KILLS {
        let mut node = NodeRun::start(
            &peer,
            &datadir,
            work.path().join(format!("run-{i}.log")),
            "debug",
        );
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
            let reached = wait_for_store(
                &mut node,
                &store_dir,
                PROGRESS_WAIT,
                "the target",
                |h, _| h >= target,
            );
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
                node.tail(30)
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
    let mut node = NodeRun::start(&peer, &datadir, work.path().join("final.log"), "debug");
    kill_support::wait_synced(&mut node, &store_dir, &best, SYNC_WAIT);
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
    node.signal(libc::SIGTERM);
    let status = node.wait_exit(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        node.tail(30)
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
