//! JSON-RPC and REST load during a sync from bcoin, at full size: bcoin mines
//! [`BENCH_BLOCKS`] regtest blocks; then, [`ROUNDS`] times, a release-built headway-mio syncs
//! them from a fresh data directory with no RPC load (baseline) and again while 16 keep-alive
//! clients issue 2,000 paced requests a second for 10 s (the mix of `tests/support/load.rs`),
//! the whole sync inside the load's 10 s. It prints each sync time, the ratio
//! loaded/baseline, and the load's achieved rate, failures and latency percentiles; it fails
//! if any request failed. The baseline is the same sync on the same bcoin, so the ratio
//! survives a busy machine better than the absolute times do.
//!
//! Run: `cargo bench -p headway --bench rpc_load` (about 2 minutes on 2 cores, half of it
//! mining).
//! `cargo test --benches` runs nothing here.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::bcoin::Bcoin;
use support::headway::HEADWAY_MIO;
use support::load::{check_samples, timed_sync, LoadPlan};

/// Blocks bcoin mines: the most a sync can take. Fast mining puts a regtest block's time
/// about a second past its median-time-past, so block times run ahead of the clock by about
/// one second per six blocks; beyond roughly 43,000 blocks they are more than the 2 hours
/// ahead that headway (as Core) accepts, and the sync would stop there.
const BENCH_BLOCKS: u32 = 40_000;
/// Baseline and loaded syncs, alternated.
const ROUNDS: usize = 3;
/// The paced rate.
const RATE: u32 = 2_000;
/// How long the load runs.
const LOAD_DURATION: Duration = Duration::from_secs(10);
/// Client threads, each with one keep-alive connection.
const LOAD_THREADS: usize = 16;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and a four-minute run
    // does not belong in the tests.
    if !std::env::args().any(|a| a == "--bench") {
        println!("rpc_load: run with `cargo bench -p headway --bench rpc_load`");
        return;
    }
    let bcoin = Bcoin::start();
    let mining = std::time::Instant::now();
    bcoin.mine(BENCH_BLOCKS);
    println!(
        "bcoin mined {BENCH_BLOCKS} blocks in {:.1} s",
        mining.elapsed().as_secs_f64()
    );
    let height = u64::from(BENCH_BLOCKS);
    let work = tempfile::tempdir().expect("tempdir");
    let plan = LoadPlan {
        rate: RATE,
        duration: LOAD_DURATION,
        threads: LOAD_THREADS,
    };
    let (mut baseline_total, mut loaded_total) = (0.0, 0.0);
    for round in 0..ROUNDS {
        let baseline = timed_sync(
            HEADWAY_MIO,
            &bcoin,
            height,
            None,
            work.path(),
            &format!("baseline-{round}"),
        );
        let loaded = timed_sync(
            HEADWAY_MIO,
            &bcoin,
            height,
            Some(plan),
            work.path(),
            &format!("loaded-{round}"),
        );
        let report = loaded.load.as_ref().expect("a load report");
        let checked = check_samples(&bcoin, report);
        println!(
            "round {round}: sync of {height} headers: baseline {:.2} s, under load {:.2} s, \
             ratio {:.3}",
            baseline.sync.as_secs_f64(),
            loaded.sync.as_secs_f64(),
            loaded.sync.as_secs_f64() / baseline.sync.as_secs_f64()
        );
        println!(
            "round {round}: load: {} ({checked} answers checked against bcoin)",
            report.summary()
        );
        assert_eq!(report.failed, 0, "failed requests: {:#?}", report.failures);
        baseline_total += baseline.sync.as_secs_f64();
        loaded_total += loaded.sync.as_secs_f64();
    }
    println!(
        "mean sync: baseline {:.2} s, under load {:.2} s, ratio loaded/baseline {:.3}",
        baseline_total / ROUNDS as f64,
        loaded_total / ROUNDS as f64,
        loaded_total / baseline_total
    );
}
