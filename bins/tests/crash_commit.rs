//! SIGKILL in the middle of a store commit, confirmed from the node's own log, against a real
//! peer (bcoin).
//!
//! The store logs `persisted ... tip_height=H` (debug) inside its write transaction, right
//! before the commit, and the store thread logs `stored ... commit_ms=...` right after it
//! returns. A commit is fully synced (an fsync of the data pages, then of the meta page): 2 to
//! 30 ms on this machine's disk for the small commits of a node following a mining peer.
//! While bcoin mines without pause, every mined block is announced and the store thread
//! commits again and again. The test watches the log as it is written (every 0.2 ms), kills
//! the node with SIGKILL 0..300 µs after a chosen `persisted` line, the start of a commit, and
//! then reads where the kill landed: a `persisted` line without its `stored` line means the
//! kill hit that commit. The store must then open, verify, link back to genesis and stand at
//! the tip of the last commit logged as stored or at the tip of the commit in flight (all or
//! nothing), and that tip must be on bcoin's chain. After the kills a last run syncs to
//! bcoin's tip and stops on SIGTERM.
//!
//! The schedule (which `persisted` line of each run, how long after it) comes from a fixed
//! seed unless `HEADWAY_CRASH_SEED` is set; where the kill lands still depends on the
//! machine's timing.

mod kill_support;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use headway_core::Network;
use kill_support::{check_store, number, wait_synced, NodeRun, Xorshift};
use serde_json::json;
use support::bcoin::Bcoin;

/// Blocks before the first run.
const FIRST_BLOCKS: u32 = 200;
/// Blocks per `generatetoaddress` call of the miner running beside the kills (about 60 ms).
const MINE_STEP: u32 = 50;
/// SIGKILLs.
const KILLS: usize = 6;
/// Kills that must be confirmed inside a commit (out of [`KILLS`]).
const MIN_IN_COMMIT: usize = 3;
/// A run is killed at its `persisted` line number 2 up to 2 + this.
const EXTRA_COMMITS: u64 = 4;
/// ... this long at most after the line appeared.
const JITTER_MICROS: u64 = 300;
/// Liveness bounds: a stuck node fails the test instead of hanging it.
const SYNC_WAIT: Duration = Duration::from_secs(60);
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// One store-thread line: a commit begun (`persisted`, with its tip) or finished (`stored`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreLine {
    Begun(u32),
    Finished,
}

fn store_lines(lines: &[String]) -> Vec<StoreLine> {
    lines
        .iter()
        .filter_map(|l| {
            if let Some(tip) = number(l, "persisted", "tip_height") {
                Some(StoreLine::Begun(tip as u32))
            } else {
                number(l, "stored", "headers").map(|_| StoreLine::Finished)
            }
        })
        .collect()
}

/// Where a kill landed: the tip of the last commit logged as finished (or the height the run
/// loaded), and the tip of the commit in flight, if a `persisted` line had no `stored` line.
fn landing(loaded: u32, lines: &[StoreLine]) -> (u32, Option<u32>) {
    let mut committed = loaded;
    let mut in_flight = None;
    for line in lines {
        match *line {
            StoreLine::Begun(tip) => in_flight = Some(tip),
            StoreLine::Finished => {
                if let Some(tip) = in_flight.take() {
                    committed = tip;
                }
            }
        }
    }
    (committed, in_flight)
}

#[test]
fn a_kill_inside_a_commit_leaves_the_store_at_a_committed_tip() {
    let mut rng = Xorshift::from_env(0xc0_33_17);
    let started = Instant::now();
    let bcoin = Bcoin::start();
    bcoin.mine(FIRST_BLOCKS);
    let work = tempfile::tempdir().unwrap();
    let datadir = work.path().join("data");
    let store_dir = datadir.join(Network::Regtest.name());
    let peer = bcoin.p2p_addr().to_string();

    let mining = AtomicBool::new(true);
    let mut in_commit = 0;
    let mut last_height = 0u32;
    thread::scope(|scope| {
        let miner = scope.spawn(|| {
            while mining.load(Ordering::Relaxed) {
                bcoin.mine(MINE_STEP);
            }
        });
        for i in 0..KILLS {
            let mut node = NodeRun::start(
                &peer,
                &datadir,
                work.path().join(format!("run-{i}.log")),
                "debug",
            );
            let aim = 2 + rng.below(EXTRA_COMMITS + 1) as usize;
            let jitter = rng.below(JITTER_MICROS + 1);
            let mut begun = 0;
            node.wait_for_line(SYNC_WAIT, "the aimed-at `persisted` line", |line| {
                if number(line, "persisted", "tip_height").is_some() {
                    begun += 1;
                }
                begun >= aim
            });
            thread::sleep(Duration::from_micros(jitter));
            node.sigkill();
            let loaded = node
                .lines
                .iter()
                .find_map(|l| number(l, "store opened", "height"))
                .expect("the run logged its loaded height") as u32;
            let (committed, in_flight) = landing(loaded, &store_lines(&node.lines));
            let state = check_store(&store_dir).expect("the store exists");
            let allowed: Vec<u32> = std::iter::once(committed).chain(in_flight).collect();
            assert!(
                allowed.contains(&state.height),
                "run {i}: the store is at {} but the log says committed {committed}, in flight \
                 {in_flight:?}; log tail:\n{}",
                state.height,
                node.tail(30)
            );
            assert!(state.height >= last_height, "run {i}: the store went back");
            let hash = bcoin.rpc("getblockhash", json!([state.height]));
            assert_eq!(
                hash.as_str(),
                Some(state.hash.to_string().as_str()),
                "run {i}: the stored tip is not on bcoin's chain"
            );
            if in_flight.is_some() {
                in_commit += 1;
            }
            let outcome = match in_flight {
                Some(tip) if tip == state.height => "the commit had reached the disk",
                Some(_) => "the commit was undone",
                None => "between commits",
            };
            eprintln!(
                "kill {i}: {jitter} µs after `persisted` line {aim} | loaded {loaded} | \
                 committed {committed} | in flight {in_flight:?} | store at {}: {outcome}",
                state.height
            );
            last_height = state.height;
        }
        mining.store(false, Ordering::Relaxed);
        miner.join().expect("the miner");
    });
    assert!(
        in_commit >= MIN_IN_COMMIT,
        "only {in_commit} of {KILLS} kills landed inside a commit"
    );

    // A last run, not killed, ends at bcoin's tip and stops cleanly.
    let tip = bcoin.best_hash();
    let mut node = NodeRun::start(&peer, &datadir, work.path().join("final.log"), "debug");
    wait_synced(&mut node, &store_dir, &tip, SYNC_WAIT);
    node.signal(libc::SIGTERM);
    assert_eq!(
        node.wait_exit(EXIT_WAIT).code(),
        Some(0),
        "exit after SIGTERM; log tail:\n{}",
        node.tail(30)
    );
    let end = check_store(&store_dir).expect("the final store");
    assert_eq!(end.hash.to_string(), tip);
    eprintln!(
        "{in_commit} of {KILLS} kills inside a commit; final store at {}; test took {:?}",
        end.height,
        started.elapsed()
    );
}

#[test]
fn landings_are_read_from_the_store_lines() {
    use StoreLine::{Begun, Finished};
    assert_eq!(landing(5, &[]), (5, None));
    assert_eq!(landing(5, &[Begun(7), Finished, Begun(9)]), (7, Some(9)));
    assert_eq!(landing(5, &[Begun(7), Finished]), (7, None));
    let lines = [
        "t DEBUG persisted changes=3 tip_height=12".to_string(),
        "t DEBUG stored changes=3 headers=3 commit_ms=40.5".to_string(),
        "t INFO header store opened dir=x map_size=1".to_string(),
    ];
    assert_eq!(store_lines(&lines), vec![Begun(12), Finished]);
}
