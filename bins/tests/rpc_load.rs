//! JSON-RPC and REST under load during a sync from a real peer: bcoin mines a regtest chain;
//! headway-mio syncs it from a fresh data directory once with no RPC load (the baseline) and
//! once while 16 keep-alive clients issue a paced 2,000+ requests a second for 10 s (getblockcount, getbestblockhash, getblockhash of random heights, getblockheader of
//! known hashes, REST headers). It proves that under that load
//!
//! - no request fails: every answer is a 200 with a correct result (the asked height or hash),
//!   no 503, no connection error, and sampled `getblockhash` answers match bcoin's own;
//! - the server keeps the pace: at least 2,000 correct answers a second;
//! - the sync is not much slower: launch to stored tip takes at most
//!   [`SYNC_SLOWDOWN_TOLERANCE`] times the baseline (in one of [`SYNC_ATTEMPTS`] pairs). bcoin,
//!   headway and the load generator share the machine's cores (two on the development
//!   machine), so the bar is a tolerance, not equality; `cargo bench -p headway --bench
//!   rpc_load` measures the ratio at full size.
//!
//! The load runs from the moment the RPC port accepts; at this size the sync ends within it,
//! and the rest of the 10 s is load on a synced node.

mod support;

use std::time::Duration;

use support::bcoin::Bcoin;
use support::headway::HEADWAY_MIO;
use support::load::{check_samples, timed_sync, LoadPlan};

/// Blocks bcoin mines: a sync of about 2 s, with mining the largest part of the run.
const TEST_BLOCKS: u32 = 30_000;
/// The rate the bar asks for.
const REQUIRED_RATE: f64 = 2_000.0;
/// The schedule's rate: 2.5% above the bar, so that the latency of the last answer (which
/// lengthens the measured window) cannot by itself fail a run that kept the pace.
const PACED_RATE: u32 = 2_050;
/// How long the load runs.
const LOAD_DURATION: Duration = Duration::from_secs(10);
/// Client threads, each with one keep-alive connection: as many as the server's default
/// workers, so that no request needs the work queue's spare room to be answered.
const LOAD_THREADS: usize = 16;
/// The loaded sync may take at most this many times the baseline's time.
const SYNC_SLOWDOWN_TOLERANCE: f64 = 1.5;
/// Baseline and loaded pairs run until one is within the tolerance, at most this many: a sync
/// of two seconds on shared cores varies by a quarter from run to run (measured: ratios from
/// 0.98 to 1.41 at 20,000 blocks, and 1.85 and 2.03 in one run while other builds held both
/// cores), and a real slowdown shows in every pair.
const SYNC_ATTEMPTS: usize = 3;

#[test]
fn two_thousand_requests_a_second_during_a_sync_all_succeed_and_barely_slow_it() {
    let bcoin = Bcoin::start();
    bcoin.mine(TEST_BLOCKS);
    let height = u64::from(TEST_BLOCKS);
    let work = tempfile::tempdir().unwrap();
    let plan = LoadPlan {
        rate: PACED_RATE,
        duration: LOAD_DURATION,
        threads: LOAD_THREADS,
    };
    let mut ratios = Vec::new();
    for attempt in 0..SYNC_ATTEMPTS {
        let baseline = timed_sync(
            HEADWAY_MIO,
            &bcoin,
            height,
            None,
            work.path(),
            &format!("baseline-{attempt}"),
        );
        let loaded = timed_sync(
            HEADWAY_MIO,
            &bcoin,
            height,
            Some(plan),
            work.path(),
            &format!("loaded-{attempt}"),
        );
        let report = loaded.load.as_ref().expect("a load report");
        let ratio = loaded.sync.as_secs_f64() / baseline.sync.as_secs_f64();
        eprintln!(
            "sync of {height} headers: baseline {:.2} s, under load {:.2} s (ratio {ratio:.2}); \
             load: {}",
            baseline.sync.as_secs_f64(),
            loaded.sync.as_secs_f64(),
            report.summary()
        );
        assert_eq!(
            report.failed, 0,
            "failed requests, first ones: {:#?}",
            report.failures
        );
        assert_eq!(report.ok, report.requests, "every request answered");
        assert!(
            report.achieved_rate() >= REQUIRED_RATE,
            "load fell behind: {}",
            report.summary()
        );
        let checked = check_samples(&bcoin, report);
        assert!(checked > 0, "no getblockhash answer was sampled");
        ratios.push(ratio);
        if ratio <= SYNC_SLOWDOWN_TOLERANCE {
            break;
        }
    }
    assert!(
        ratios.iter().any(|r| *r <= SYNC_SLOWDOWN_TOLERANCE),
        "every sync under load took more than {SYNC_SLOWDOWN_TOLERANCE}x its baseline: {ratios:.2?}"
    );
}
