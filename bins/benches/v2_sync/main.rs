//! BIP324 v2 transport against v1, on a loopback header sync between two headway processes.
//!
//! A serving node A (`headway-mio`, listening on 127.0.0.1) holds a synthetic regtest chain of
//! [`DEFAULT_HEADERS`] headers; each leg starts a fresh node B (empty data directory,
//! `--connect` A only) and times it from its launch until its *stored* tip, as its JSON-RPC
//! `waitforblockheight` reports it, is the chain's tip. The v1 leg runs A and B with
//! `--v2transport=false`, the v2 leg with `--v2transport=true`; each leg checks in B's
//! `getpeerinfo` that the connection ran on the transport it asked for. [`DEFAULT_ROUNDS`]
//! rounds of one leg each, the order alternating per round so that warm-up (page cache, CPU
//! frequency, the other builds on the machine) favours neither transport. It prints every
//! time, each round's ratio v2/v1, the median ratio and the headers a second of each leg, for
//! B on `headway-mio` and then on `headway-async-std` (A is always `headway-mio`). Beside the
//! stored-tip time it gives the time to B's `synced` log line (the core holds every header,
//! the store may still be committing): that part is where the transport's cost lies, without
//! the final fsync'd commit both transports pay alike.
//!
//! The goal: v2 costs at most 15% more time than v1 (median ratio of the stored-tip times <=
//! [`GOAL_RATIO`]). The bench reports whether the run met it; it fails only if something did
//! not work (a node did not start, sync or exit cleanly, or a leg did not run on the transport
//! it asked for).
//!
//! Until the binaries have the `--v2transport` flag (looked for in `--help`), the v2 leg is
//! skipped and the output says why: each round then runs one leg on the binaries' default
//! transport (v1 before BIP324, whatever it is after), named by `getpeerinfo`, and no ratio
//! is given. No v2 or v1 figure is ever taken from a connection on the other transport.
//!
//! A's store is written once, with the store library the node itself uses, into
//! `target/bench-served-store/` (keyed by chain length and store schema), and copied into a fresh
//! data directory for every leg, so a second run starts at once.
//!
//! Run: `cargo bench -p headway --bench v2_sync` (`HEADWAY_BENCH_HEADERS=N` for another chain
//! length, `HEADWAY_BENCH_ROUNDS=N` for more rounds, `HEADWAY_BENCH_B=mio` or `async-std` for
//! one B binary only). About a minute on 2 cores, plus about 2 s to build A's store the first
//! time. `cargo test --benches` runs nothing here.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::BlockHash;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions, SCHEMA_VERSION};
use serde_json::{json, Value};

use support::bcoin::free_port;
use support::headway::{HEADWAY_ASYNC_STD, HEADWAY_MIO};
use support::http::{rpc_body, Conn, Rpc, REPLY_TIMEOUT};

#[path = "../shared/node_process.rs"]
mod node_process;
mod process;
#[path = "../shared/served_store.rs"]
mod store;

use node_process::*;
use process::*;
use store::*;

/// Headers of the served chain above genesis.
const DEFAULT_HEADERS: u32 = 500_000;
/// Rounds, each one v1 and one v2 leg.
const DEFAULT_ROUNDS: usize = 3;
/// The project's goal for the time of a v2 sync over a v1 sync.
const GOAL_RATIO: f64 = 1.15;
/// The login of every node here.
const RPC_USER: &str = "bench";
const RPC_PASSWORD: &str = "bench-v2-sync";
/// How long a node may take to answer RPC after its launch (A loads its chain first).
const START_WAIT: Duration = Duration::from_secs(120);
/// How long one sync may take before the run fails.
const SYNC_WAIT: Duration = Duration::from_secs(600);
/// Headers a `PersistChain` carries when A's store is built: what one `headers` message
/// brings, so the store is written as the node's store thread would have written it.
const PER_CHANGE: usize = 2000;
/// Changes per transaction when A's store is built.
const CHANGES_PER_APPLY: usize = 50;
/// The map A's store is built with: large enough for a million headers (263 bytes each), so
/// the build never aborts and retries a transaction to grow it.
const BUILD_MAP_SIZE: usize = 512 << 20;
/// The file in a cache entry that says it is complete: the tip's height and hash.
const READY_MARKER: &str = "ready";

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and a run of minutes
    // does not belong in the tests.
    if !std::env::args().any(|a| a == "--bench") {
        println!("v2_sync: run with `cargo bench -p headway --bench v2_sync`");
        return Ok(());
    }
    let headers = match std::env::var("HEADWAY_BENCH_HEADERS") {
        Ok(s) => s
            .parse::<u32>()
            .with_context(|| format!("HEADWAY_BENCH_HEADERS={s:?} is not a header count"))?,
        Err(_) => DEFAULT_HEADERS,
    };
    ensure!(headers > 0, "HEADWAY_BENCH_HEADERS must be at least 1");
    let rounds = match std::env::var("HEADWAY_BENCH_ROUNDS") {
        Ok(s) => s
            .parse::<usize>()
            .with_context(|| format!("HEADWAY_BENCH_ROUNDS={s:?} is not a count"))?,
        Err(_) => DEFAULT_ROUNDS,
    };
    ensure!(rounds > 0, "HEADWAY_BENCH_ROUNDS must be at least 1");
    let b_bins: Vec<(&str, &str)> = match std::env::var("HEADWAY_BENCH_B").as_deref() {
        Ok("mio") => vec![("headway-mio", HEADWAY_MIO)],
        Ok("async-std") => vec![("headway-async-std", HEADWAY_ASYNC_STD)],
        Ok(other) => bail!("HEADWAY_BENCH_B={other:?}: expected mio or async-std"),
        Err(_) => vec![
            ("headway-mio", HEADWAY_MIO),
            ("headway-async-std", HEADWAY_ASYNC_STD),
        ],
    };

    let cache = cache_root();
    let setup = Instant::now();
    let served = serving_store(&cache, headers)?;
    println!(
        "setup ({:.2} s): {}; A's store: {}",
        setup.elapsed().as_secs_f64(),
        served.how,
        served.dir.display()
    );

    let work = tempfile::Builder::new()
        .prefix("v2-sync-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let mut failures = Vec::new();
    for (b_name, b_bin) in b_bins {
        if let Err(e) = bench_binary(b_name, b_bin, &served, rounds, work.path()) {
            // Keep going with the other binary: its figures are still worth having.
            println!("B = {b_name}: FAILED: {e:#}");
            failures.push(b_name);
        }
    }
    if !failures.is_empty() {
        bail!("the bench failed for {}", failures.join(", "));
    }
    Ok(())
}

/// Which transport a leg runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    V1,
    V2,
    /// Whatever the binaries speak without the flag (they may not have it yet): named in the
    /// report by what `getpeerinfo` says, never counted as either leg.
    Default,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::V1 => "v1",
            Transport::V2 => "v2",
            Transport::Default => "default",
        }
    }

    /// The flag that selects it. v2 is asked for explicitly rather than taken as the
    /// default, so the leg cannot run on v1 because a default changed.
    fn flag(self) -> Option<&'static str> {
        match self {
            Transport::V1 => Some("--v2transport=false"),
            Transport::V2 => Some("--v2transport=true"),
            Transport::Default => None,
        }
    }
}

/// Whether `bin --help` lists `--v2transport`.
fn has_v2_flag(bin: &str) -> Result<bool> {
    let out = Command::new(bin)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {bin} --help"))?;
    ensure!(out.status.success(), "{bin} --help failed: {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).contains("--v2transport"))
}

/// What one leg measured.
struct Leg {
    /// From B's launch to its stored tip at the chain's height.
    sync: Duration,
    /// From B's launch to its log's `synced` line: the core has every header (network and
    /// validation), the store may still be committing the last of them. `None` if the line
    /// was not found.
    core_synced: Option<Duration>,
    /// Headers a second over `sync`.
    rate: f64,
    /// CPU seconds (user + system) B used until then, and A while serving.
    b_cpu: f64,
    a_cpu: f64,
    /// B's CPU seconds by thread name at the same moment, largest first.
    b_threads: Vec<(String, f64)>,
    /// What B's `getpeerinfo` says of its connection to A.
    transport: String,
    bytes_recv: u64,
    bytes_sent: u64,
}

impl Leg {
    fn line(&self) -> String {
        let core = match self.core_synced {
            Some(d) => format!("{:.2} s", d.as_secs_f64()),
            None => "n/a".to_string(),
        };
        format!(
            "stored {:6.2} s, {:>7.0} headers/s (core synced at {core}); B cpu {:.2} s ({}), A \
             cpu {:.2} s; B received {:.1} MB, sent {:.2} MB; getpeerinfo transport {}",
            self.sync.as_secs_f64(),
            self.rate,
            self.b_cpu,
            thread_cpu_line(&self.b_threads),
            self.a_cpu,
            self.bytes_recv as f64 / 1e6,
            self.bytes_sent as f64 / 1e6,
            self.transport,
        )
    }
}

/// All rounds with `b_bin` as B.
fn bench_binary(
    b_name: &str,
    b_bin: &str,
    served: &ServedStore,
    rounds: usize,
    work: &Path,
) -> Result<()> {
    let a_flag = has_v2_flag(HEADWAY_MIO)?;
    let b_flag = has_v2_flag(b_bin)?;
    let v2 = a_flag && b_flag;
    println!(
        "B = {b_name}, A = headway-mio: {} headers over 127.0.0.1, {rounds} rounds",
        served.height
    );
    if !v2 {
        let mut lacking: Vec<String> = [("headway-mio", a_flag), (b_name, b_flag)]
            .iter()
            .filter(|(_, has)| !has)
            .map(|(name, _)| format!("`{name} --help`"))
            .collect();
        lacking.dedup();
        println!(
            "  v2 leg SKIPPED: no --v2transport flag in {}, so the transport cannot be chosen; \
             each round runs one leg on the binaries' default transport (named as B's \
             getpeerinfo reports it), and there is no v2/v1 ratio",
            lacking.join(" or ")
        );
        return default_legs(b_name, b_bin, served, rounds, work);
    }
    let mut pairs: Vec<(Leg, Option<Leg>)> = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            vec![Transport::V1, Transport::V2]
        } else {
            vec![Transport::V2, Transport::V1]
        };
        let (mut v1_leg, mut v2_leg) = (None, None);
        for transport in order {
            let name = format!("{b_name}-r{round}-{}", transport.name());
            let leg = run_leg(b_bin, transport, served, work, &name)
                .with_context(|| format!("round {round}, {} leg", transport.name()))?;
            println!("  round {round} {}: {}", transport.name(), leg.line());
            match transport {
                Transport::V1 => v1_leg = Some(leg),
                Transport::V2 => v2_leg = Some(leg),
                Transport::Default => bail!("a default leg among the v1 and v2 legs"),
            }
        }
        let v1_leg = v1_leg.ok_or_else(|| anyhow!("round {round} has no v1 leg"))?;
        if let Some(v2_leg) = &v2_leg {
            let core = match core_ratio(&v1_leg, v2_leg) {
                Some(r) => format!("{r:.3}"),
                None => "n/a".to_string(),
            };
            println!(
                "  round {round}: ratio v2/v1 {:.3} (to the core's synced line: {core})",
                v2_leg.sync.as_secs_f64() / v1_leg.sync.as_secs_f64()
            );
        }
        pairs.push((v1_leg, v2_leg));
    }

    let height = f64::from(served.height);
    let v1: Vec<f64> = pairs.iter().map(|(a, _)| a.sync.as_secs_f64()).collect();
    let v1_median = median(&v1);
    let full: Vec<(&Leg, &Leg)> = pairs
        .iter()
        .filter_map(|(a, b)| b.as_ref().map(|b| (a, b)))
        .collect();
    let v2_times: Vec<f64> = full.iter().map(|(_, b)| b.sync.as_secs_f64()).collect();
    let ratios: Vec<f64> = full
        .iter()
        .map(|(a, b)| b.sync.as_secs_f64() / a.sync.as_secs_f64())
        .collect();
    let core_ratios: Vec<f64> = full.iter().filter_map(|(a, b)| core_ratio(a, b)).collect();
    let v2_median = median(&v2_times);
    let ratio = median(&ratios);
    println!(
        "  {b_name}: median v1 {v1_median:.2} s ({:.0} headers/s), median v2 {v2_median:.2} s \
         ({:.0} headers/s); median ratio v2/v1 {ratio:.3}: {} the goal of <= {GOAL_RATIO:.2}",
        height / v1_median,
        height / v2_median,
        if ratio <= GOAL_RATIO {
            "meets"
        } else {
            "MISSES"
        }
    );
    if core_ratios.len() == full.len() {
        println!(
            "  {b_name}: median ratio v2/v1 to the core's synced line (without the store's \
             last commit) {:.3}",
            median(&core_ratios)
        );
    }
    Ok(())
}

/// The rounds of binaries without the flag: one leg each on their default transport.
fn default_legs(
    b_name: &str,
    b_bin: &str,
    served: &ServedStore,
    rounds: usize,
    work: &Path,
) -> Result<()> {
    let mut legs = Vec::new();
    for round in 0..rounds {
        let name = format!("{b_name}-r{round}-default");
        let leg = run_leg(b_bin, Transport::Default, served, work, &name)
            .with_context(|| format!("round {round}, default-transport leg"))?;
        println!(
            "  round {round} default ({}): {}",
            leg.transport,
            leg.line()
        );
        legs.push(leg);
    }
    let mut seen: Vec<&str> = legs.iter().map(|l| l.transport.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    let times: Vec<f64> = legs.iter().map(|l| l.sync.as_secs_f64()).collect();
    let m = median(&times);
    println!(
        "  {b_name}: median {m:.2} s ({:.0} headers/s) on the default transport ({}); no \
         ratio without the flag",
        f64::from(served.height) / m,
        seen.join(", ")
    );
    Ok(())
}

/// v2/v1 of the times to the core's `synced` line, if both logs had it.
fn core_ratio(v1: &Leg, v2: &Leg) -> Option<f64> {
    Some(v2.core_synced?.as_secs_f64() / v1.core_synced?.as_secs_f64())
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// One leg: a fresh A on a copy of the served store, a fresh B syncing from it, timed, both
/// stopped with SIGTERM and required to exit with 0.
fn run_leg(
    b_bin: &str,
    transport: Transport,
    served: &ServedStore,
    work: &Path,
    name: &str,
) -> Result<Leg> {
    let leg_dir = work.join(name);
    // A opens its store read-write (the address book lives there too), so every leg gets its
    // own copy and no leg serves from what an earlier one left.
    let a_data = leg_dir.join("a-data");
    let a_net = a_data.join(Network::Regtest.name());
    std::fs::create_dir_all(&a_net)
        .with_context(|| format!("cannot create {}", a_net.display()))?;
    std::fs::copy(served.dir.join("data.mdb"), a_net.join("data.mdb"))
        .context("cannot copy the serving store")?;
    let b_data = leg_dir.join("b-data");

    let flag = transport.flag();
    let p2p = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let a_rpc = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut a_args = node_args(&a_data, a_rpc, flag);
    a_args.extend(["--listen".to_string(), p2p.to_string()]);
    let mut a = Process::spawn(HEADWAY_MIO, &a_args, leg_dir.join("a.log"))?;
    let a_rpc = Rpc::new(a_rpc, RPC_USER, RPC_PASSWORD);
    // A listens for peers before its RPC opens, so an answer means B's dial will be taken.
    let a_height = wait_rpc(&mut a, &a_rpc, "getblockcount", json!([]))?;
    ensure!(
        a_height.as_u64() == Some(u64::from(served.height)),
        "A holds {a_height} headers, not {}; log:\n{}",
        served.height,
        a.log_tail()
    );
    let a_cpu_before = a.cpu_seconds()?;

    let b_rpc_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut b_args = node_args(&b_data, b_rpc_addr, flag);
    b_args.extend(["--connect".to_string(), p2p.to_string()]);
    let b_rpc = Rpc::new(b_rpc_addr, RPC_USER, RPC_PASSWORD);
    let launched = Instant::now();
    let launched_wall = SystemTime::now();
    let mut b = Process::spawn(b_bin, &b_args, leg_dir.join("b.log"))?;
    let reached = wait_stored_height(&mut b, &b_rpc, served.height, launched)?;
    let sync = reached.duration_since(launched);
    let b_cpu = b.cpu_seconds()?;
    let b_threads = b.cpu_by_thread()?;
    let a_cpu = a.cpu_seconds()? - a_cpu_before;

    let best = rpc_result(&b_rpc, "getbestblockhash", json!([]))?;
    ensure!(
        best.as_str() == Some(served.tip.to_string().as_str()),
        "B's tip is {best}, not the served {}",
        served.tip
    );
    let peers = rpc_result(&b_rpc, "getpeerinfo", json!([]))?;
    let peer = peers
        .as_array()
        .and_then(|p| p.first())
        .ok_or_else(|| anyhow!("B has no peer after the sync: {peers}"))?;
    let transport_seen = peer["transport_protocol_type"]
        .as_str()
        .unwrap_or("(none)")
        .to_string();
    let core_synced = std::fs::read_to_string(&b.log)
        .ok()
        .and_then(|log| log_synced_at(&log, served.height))
        .and_then(|at| at.duration_since(launched_wall).ok());
    let leg = Leg {
        sync,
        core_synced,
        rate: f64::from(served.height) / sync.as_secs_f64(),
        b_cpu,
        a_cpu,
        b_threads,
        transport: transport_seen,
        bytes_recv: peer["bytesrecv"].as_u64().unwrap_or(0),
        bytes_sent: peer["bytessent"].as_u64().unwrap_or(0),
    };

    for (who, node) in [("B", &mut b), ("A", &mut a)] {
        node.stop_cleanly(who)?;
    }
    // A figure is only a v2 figure if the connection was one: the fallback to v1 that a
    // refused v2 handshake allows would otherwise pass for it.
    ensure!(
        transport == Transport::Default || leg.transport == transport.name(),
        "the {} leg ran on transport {:?} by B's getpeerinfo ({:.2} s); not counted",
        transport.name(),
        leg.transport,
        sync.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&leg_dir);
    Ok(leg)
}

/// When the log says `synced height=<height>`: the timestamp that starts the line (the
/// logger's UTC RFC 3339 format, `2026-12-02T05:30:59.233567Z`).
fn log_synced_at(log: &str, height: u32) -> Option<SystemTime> {
    let needle = format!(" synced height={height} ");
    let line = log.lines().find(|l| l.contains(&needle))?;
    parse_utc(line.split_whitespace().next()?)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` as a time.
fn parse_utc(stamp: &str) -> Option<SystemTime> {
    let (date, time) = stamp.strip_suffix('Z')?.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (hms.next()??, hms.next()??, hms.next()??);
    // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's
    // days_from_civil): no date crate is a dependency here.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    let digits = fraction.get(..fraction.len().min(9))?;
    let nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}
