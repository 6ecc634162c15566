//! SIGKILL around reorgs, against a real peer (bcoin): after every kill the store must be
//! consistent, link back to genesis and hold one whole branch, the old one with nothing lost
//! or bcoin's new one; a last run must end at bcoin's final tip and stop cleanly.
//!
//! bcoin 1.0.2 has Core's `invalidateblock`: it resets its chain to the parent of the given
//! block (the blocks above are dropped) and mining then builds a competing branch from there.
//! Each of the cycles below makes two reorgs that way:
//!
//! 1. A live reorg. The node runs, synced to bcoin's tip at height H. bcoin invalidates a
//!    block d below its tip (d random, up to 300) and mines d blocks: the node stores them as
//!    side headers (equal work, the old tip stays). Then bcoin mines k more (random, up to
//!    200): the first of them gives the branch more work and the node reorganises, in one
//!    transaction that moves the old headers to the side and the new ones to the best chain.
//!    The node is killed at a random 0..150 ms after that mining starts: before the reorg
//!    reached it, inside its commit, or after.
//! 2. A reorg met at startup. With the node down, bcoin invalidates a block below the first
//!    fork and mines a longer branch. The node restarts, loads its store, and its first
//!    headers answer is a reorg; the test watches the log and kills the node 0..300 µs after
//!    the store logs `persisted` for the first commit after the core's `best chain
//!    reorganised` line, that is inside the reorg's commit (an fsync of data and then meta
//!    pages, 2 to 20 ms here). The log says where each kill landed.
//!
//! Then the node restarts and syncs to bcoin's tip before the next cycle. The schedule comes
//! from a fixed seed unless `HEADWAY_CRASH_SEED` is set; where a kill lands still depends on
//! the machine's timing.

mod kill_support;
mod support;

use std::thread;
use std::time::{Duration, Instant};

use headway_core::Network;
use kill_support::{check_store, fields, number, wait_synced, NodeRun, StoreState, Xorshift};
use serde_json::json;
use support::bcoin::Bcoin;

/// Blocks before the first run.
const BASE_BLOCKS: u32 = 1_500;
/// Cycles of two kills each.
const CYCLES: usize = 4;
/// The deepest reorg (blocks below bcoin's tip that are replaced).
const MAX_DEPTH: u64 = 300;
/// The most blocks a new branch adds beyond the old tip.
const MAX_EXTRA: u64 = 200;
/// A live kill lands this long at most after the overtaking blocks start to be mined.
const LIVE_WINDOW_MS: u64 = 150;
/// A startup kill lands this long at most after the reorg's commit began (such a commit,
/// a few hundred headers, took 2 to 20 ms here).
const STARTUP_JITTER_MICROS: u64 = 300;
/// Startup kills that must be confirmed inside the reorg's commit (out of [`CYCLES`]).
const MIN_STARTUP_IN_REORG_COMMIT: usize = 2;
/// Liveness bounds: a stuck node fails the test instead of hanging it.
const SYNC_WAIT: Duration = Duration::from_secs(60);
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// Where a kill landed, read from the killed run's log.
#[derive(Debug, Default)]
struct Landing {
    /// The core logged `best chain reorganised`.
    reorg_seen: bool,
    /// A commit was in flight (`persisted` without its `stored` line).
    in_commit: bool,
    /// ... and it was the first commit after the reorg line, the one carrying the reorg.
    in_reorg_commit: bool,
}

fn landing(lines: &[String]) -> Landing {
    let mut landing = Landing::default();
    let mut begun_since_reorg = 0;
    let mut in_flight_is_reorg = false;
    for line in lines {
        if fields(line, "best chain reorganised").is_some() {
            landing.reorg_seen = true;
            begun_since_reorg = 0;
        } else if number(line, "persisted", "tip_height").is_some() {
            landing.in_commit = true;
            if landing.reorg_seen {
                begun_since_reorg += 1;
            }
            in_flight_is_reorg = landing.reorg_seen && begun_since_reorg == 1;
        } else if number(line, "stored", "headers").is_some() {
            landing.in_commit = false;
            in_flight_is_reorg = false;
        }
    }
    landing.in_reorg_commit = landing.in_commit && in_flight_is_reorg;
    landing
}

/// Which branch the store holds after a kill: the one it held before (with nothing lost), or a
/// prefix of bcoin's current chain with more work. Anything else fails the test.
fn branch_after_kill(
    bcoin: &Bcoin,
    what: &str,
    before: &StoreState,
    after: &StoreState,
) -> &'static str {
    if after.hash == before.hash {
        assert_eq!(after.work, before.work, "{what}: same tip, other work");
        return "old branch";
    }
    let hash = bcoin.rpc("getblockhash", json!([after.height]));
    assert_eq!(
        hash.as_str(),
        Some(after.hash.to_string().as_str()),
        "{what}: the store moved from {before:?} to {after:?}, which is not on bcoin's chain"
    );
    assert!(
        after.work > before.work,
        "{what}: the store switched to a branch with no more work: {before:?} -> {after:?}"
    );
    "new branch"
}

/// Makes bcoin drop its blocks above `fork` (it resets to the parent of the block at
/// `fork + 1`).
fn invalidate_above(bcoin: &Bcoin, fork: u64) {
    let hash = bcoin.rpc("getblockhash", json!([fork + 1]));
    bcoin.rpc("invalidateblock", json!([hash]));
    assert_eq!(bcoin.height(), fork, "bcoin reset to the fork");
}

#[test]
fn kills_around_reorgs_leave_one_whole_branch_and_the_last_run_ends_at_bcoins_tip() {
    let mut rng = Xorshift::from_env(0x4e_0e_6a);
    let started = Instant::now();
    let bcoin = Bcoin::start();
    bcoin.mine(BASE_BLOCKS);
    let work = tempfile::tempdir().unwrap();
    let datadir = work.path().join("data");
    let store_dir = datadir.join(Network::Regtest.name());
    let peer = bcoin.p2p_addr().to_string();
    let log = |name: String| work.path().join(format!("{name}.log"));

    let synced_to_bcoin = |node: &mut NodeRun| {
        wait_synced(node, &store_dir, &bcoin.best_hash(), SYNC_WAIT);
        check_store(&store_dir).expect("a store")
    };

    let mut node = NodeRun::start(&peer, &datadir, log("start".into()), "debug");
    let mut before = synced_to_bcoin(&mut node);
    let mut outcomes = Vec::new();
    let mut startup_in_reorg_commit = 0;
    let mut branches = std::collections::BTreeMap::new();
    for c in 0..CYCLES {
        // 1. A live reorg.
        let height = bcoin.height();
        assert_eq!(u64::from(before.height), height);
        let depth = 1 + rng.below(MAX_DEPTH);
        let fork = height - depth;
        invalidate_above(&bcoin, fork);
        bcoin.mine(depth as u32);
        let extra = 1 + rng.below(MAX_EXTRA);
        let delay = rng.below(LIVE_WINDOW_MS + 1);
        thread::scope(|scope| {
            let miner = scope.spawn(|| bcoin.mine(extra as u32));
            thread::sleep(Duration::from_millis(delay));
            node.sigkill();
            miner.join().expect("the miner");
        });
        let after = check_store(&store_dir).expect("a store");
        let what = format!("cycle {c}, live kill");
        let branch = branch_after_kill(&bcoin, &what, &before, &after);
        *branches.entry(branch).or_insert(0) += 1;
        let landed = landing(&node.lines);
        outcomes.push(format!(
            "{what}: reorg of {depth} + {extra} at fork {fork}, kill {delay} ms into the mining \
             | reorg seen {} | in a commit {} (the reorg's {}) | store at {} on the {branch}",
            landed.reorg_seen, landed.in_commit, landed.in_reorg_commit, after.height
        ));

        // 2. A deeper reorg while the node is down, met at its restart.
        let before_startup = after;
        let top = bcoin.height();
        let fork2 = fork - 1 - rng.below(MAX_DEPTH / 2);
        invalidate_above(&bcoin, fork2);
        let extra2 = 1 + rng.below(MAX_EXTRA);
        bcoin.mine((top - fork2 + extra2) as u32);
        node = NodeRun::start(&peer, &datadir, log(format!("cycle-{c}-startup")), "debug");
        let mut reorg_seen = false;
        node.wait_for_line(SYNC_WAIT, "the reorg's commit", |line| {
            reorg_seen |= fields(line, "best chain reorganised").is_some();
            reorg_seen && number(line, "persisted", "tip_height").is_some()
        });
        let jitter = rng.below(STARTUP_JITTER_MICROS + 1);
        thread::sleep(Duration::from_micros(jitter));
        node.sigkill();
        let after = check_store(&store_dir).expect("a store");
        let what = format!("cycle {c}, startup kill");
        let branch = branch_after_kill(&bcoin, &what, &before_startup, &after);
        *branches.entry(branch).or_insert(0) += 1;
        let landed = landing(&node.lines);
        if landed.in_reorg_commit {
            startup_in_reorg_commit += 1;
        }
        outcomes.push(format!(
            "{what}: reorg at fork {fork2} to {}, kill {jitter} µs after its commit began | in \
             the reorg's commit {} | store at {} on the {branch}",
            bcoin.height(),
            landed.in_reorg_commit,
            after.height
        ));

        // The node restarts and catches up before the next cycle.
        node = NodeRun::start(&peer, &datadir, log(format!("cycle-{c}-resync")), "debug");
        before = synced_to_bcoin(&mut node);
    }
    for outcome in &outcomes {
        eprintln!("{outcome}");
    }
    assert!(
        startup_in_reorg_commit >= MIN_STARTUP_IN_REORG_COMMIT,
        "only {startup_in_reorg_commit} of {CYCLES} startup kills landed inside the reorg's \
         commit"
    );
    assert!(
        branches.get("new branch").copied().unwrap_or(0) >= 1,
        "no kill left the new branch: {branches:?}"
    );

    // The last run is the one synced after the last reorg: it is at bcoin's tip, which is
    // the new branch's, and it stops cleanly.
    let tip = bcoin.best_hash();
    assert_eq!(before.hash.to_string(), tip);
    node.signal(libc::SIGTERM);
    assert_eq!(
        node.wait_exit(EXIT_WAIT).code(),
        Some(0),
        "exit after SIGTERM; log tail:\n{}",
        node.tail(30)
    );
    let end = check_store(&store_dir).expect("the final store");
    assert_eq!(end.hash.to_string(), tip);
    assert_eq!(u64::from(end.height), bcoin.height());
    eprintln!(
        "{} kills ({branches:?}), {startup_in_reorg_commit} startup kills inside the reorg's \
         commit; final store at {} with {} side headers; test took {:?}",
        2 * CYCLES,
        end.height,
        end.side,
        started.elapsed()
    );
}

#[test]
fn landings_are_read_from_the_log() {
    let lines = |text: &str| -> Vec<String> { text.lines().map(str::to_string).collect() };
    let reorg = "t DEBUG best chain reorganised fork_height=9 disconnected=2 connected=3";
    let begun = "t DEBUG persisted changes=1 tip_height=12";
    let done = "t DEBUG stored changes=1 headers=3 commit_ms=40.5";
    let l = landing(&lines(&format!("{begun}\n{done}\n{reorg}\n{begun}")));
    assert!(l.reorg_seen && l.in_commit && l.in_reorg_commit);
    let l = landing(&lines(&format!("{reorg}\n{begun}\n{done}\n{begun}")));
    assert!(l.in_commit && !l.in_reorg_commit);
    let l = landing(&lines(&format!("{begun}\n{done}")));
    assert!(!l.reorg_seen && !l.in_commit);
}
