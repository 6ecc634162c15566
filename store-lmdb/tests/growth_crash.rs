//! A writer killed while the map grows: a child process (this test binary, re-executed) appends
//! the 40,000 mainnet headers to a store that starts with a 64 KiB map, so that most of its
//! applies hit `MDB_MAP_FULL`, abort, grow the map and retry. The parent kills it with SIGKILL
//! (what `Child::kill` sends on Unix) right after a growth, again and again; after every kill the
//! store must open read-write as the next writer opens it, verify, and hold one of the tips the
//! writer committed or was committing, never less than the last one it reported committed.
//!
//! When a kill lands: the child reports each apply (`START`, with the tip it will reach, and
//! `DONE`) and, through a small `tracing` subscriber, each growth of the map (`GROWN`, logged by
//! the store after the resize, before the retry). The parent waits for the first or second
//! `GROWN` line of a run and kills after a random 0..1500 µs: inside the retried transaction,
//! inside a further growth, or just after the apply. What the child printed before it died says
//! which; the test requires that several kills landed inside an apply that had grown the map.
//!
//! The seed of the schedule is fixed unless `HEADWAY_CRASH_SEED` is set; where a kill lands
//! still depends on the machine's timing.

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use headway_core::Network;
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};
use support::child::ReportingChild;
use support::{appends, mainnet_headers};

/// 64 KiB: sixteen pages, full after a few hundred headers.
const TINY_MAP: usize = 64 << 10;
/// Headers a child applies per call: about 500 KB of pages, several doublings at first.
const BATCH: usize = 2000;
/// SIGKILLs before the last, unkilled writer.
const KILLS: usize = 12;
/// Kills that must land inside an apply after it grew the map (out of [`KILLS`]).
const MIN_KILLS_IN_GROWING_APPLY: usize = 4;
/// A kill aims at the first growth after up to this many completed applies of its run.
const SKIP_APPLIES: u64 = 2;
/// A store whose tip is past this height gets no more kills: a fresh one takes over.
const FRESH_STORE_ABOVE: u32 = 8_000;
/// The random wait after the aimed-at `GROWN` line: within the retried apply and its fsync.
const JITTER_MICROS: u64 = 1000;
/// Liveness bounds: a stuck child fails the test with what it printed.
const CHILD_WAIT: Duration = Duration::from_secs(30);

/// Set in the child: the store directory to write.
const WRITER_ENV: &str = "HEADWAY_STORE_TEST_GROWTH_WRITER_DIR";
const TEST_NAME: &str = "a_writer_killed_while_the_map_grows_leaves_a_committed_tip";

fn tiny_options() -> StoreOptions {
    // SIGKILL loses nothing committed at any durability (the OS keeps the written pages).
    // The default durability: an apply's fsync is what keeps it long enough (a millisecond
    // or more) for a kill aimed after a growth to land inside it; without the fsync an apply
    // of 2000 headers is over in about 150 µs.
    StoreOptions {
        initial_map_size: TINY_MAP,
        durability: Durability::Full,
    }
}

/// xorshift64*: a tiny seeded generator for the kill schedule.
struct Xorshift(u64);

impl Xorshift {
    fn new(seed: u64) -> Xorshift {
        Xorshift(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn schedule_seed() -> u64 {
    match std::env::var("HEADWAY_CRASH_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("HEADWAY_CRASH_SEED={text:?} is not a u64: {e}")),
        Err(_) => 0x6772_6f77,
    }
}

/// One line to the parent, straight to the pipe (the harness may capture `println!`).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "WRITER {line}")
        .and_then(|()| out.flush())
        .expect("report to the parent");
}

/// A `tracing` subscriber that reports the store's "header store map grown" events.
struct GrowthReporter;

#[derive(Default)]
struct Fields {
    message: String,
    map_size: Option<u64>,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "map_size" {
            self.map_size = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for GrowthReporter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == "header store map grown" {
            say(&format!("GROWN {}", fields.map_size.unwrap_or(0)));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The child's side: continue the chain from the stored tip, one batch an apply.
fn run_writer(dir: &Path) {
    tracing::subscriber::set_global_default(GrowthReporter).expect("install the subscriber");
    let chain = mainnet_headers();
    let store = HeaderStore::open_with(dir, Network::Mainnet, &tiny_options()).expect("open");
    let tip = store.tip().expect("tip").expect("a tip").height as usize;
    say(&format!("OPEN {tip} {}", store.map_size()));
    for change in appends(&chain, tip + 1, chain.len(), BATCH) {
        let to = change.fork_height as usize + change.connected.len();
        say(&format!("START {to}"));
        store.apply(&[change]).expect("apply");
        say(&format!("DONE {to}"));
    }
    say("END");
}

/// A child's report: one `WRITER` line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    Open(u32),
    Start(u32),
    Grown(u64),
    Done(u32),
    End,
}

fn parse(line: &str) -> Option<Report> {
    // With one test thread the harness prints "test NAME ... " on the same line first.
    let (_, rest) = line.split_once("WRITER ")?;
    let mut words = rest.split_whitespace();
    let kind = words.next()?;
    let number = words.next().and_then(|w| w.parse::<u64>().ok());
    let height = || number.and_then(|n| u32::try_from(n).ok());
    Some(match kind {
        "OPEN" => Report::Open(height()?),
        "START" => Report::Start(height()?),
        "GROWN" => Report::Grown(number?),
        "DONE" => Report::Done(height()?),
        "END" => Report::End,
        _ => return None,
    })
}

/// The writing child (see `support::child`).
type Writer = ReportingChild<Report>;

fn start_writer(dir: &Path) -> Writer {
    ReportingChild::start(TEST_NAME, WRITER_ENV, dir, parse, CHILD_WAIT)
}

/// SIGKILL, reap, and collect every report the child wrote before it died.
fn kill(writer: &mut Writer) {
    let (_, status) = writer.kill();
    assert!(!status.success(), "the writer was not killed: {status}");
}

/// Waits (bounded) for the child to exit by itself with success.
fn wait_success(writer: &mut Writer) {
    let status = writer.wait_exit(true);
    assert!(
        status.success(),
        "writer failed: {status}; seen {:?}",
        writer.seen
    );
}

/// Where a kill landed, from the child's reports.
#[derive(Debug)]
struct Landing {
    /// The tip of the last apply the child reported done (or opened at).
    committed: u32,
    /// The tip the apply in progress would reach, if one was.
    in_flight: Option<u32>,
    /// Growths of the map inside the apply in progress before the kill.
    growths_in_flight: usize,
}

fn landing(seen: &[Report]) -> Landing {
    let mut landing = Landing {
        committed: 0,
        in_flight: None,
        growths_in_flight: 0,
    };
    for report in seen {
        match report {
            Report::Open(tip) | Report::Done(tip) => {
                landing.committed = *tip;
                landing.in_flight = None;
                landing.growths_in_flight = 0;
            }
            Report::Start(to) => {
                landing.in_flight = Some(*to);
                landing.growths_in_flight = 0;
            }
            Report::Grown(_) => landing.growths_in_flight += 1,
            Report::End => {}
        }
    }
    landing
}

/// Opens the store as the next writer would, verifies it and checks its best chain against
/// the mainnet headers; returns the tip height.
fn check_store(dir: &Path, chain: &[headway_core::bitcoin::block::Header]) -> u32 {
    let store = HeaderStore::open_with(dir, Network::Mainnet, &tiny_options())
        .unwrap_or_else(|e| panic!("the store does not open after the kill: {e}"));
    let report = store.verify().expect("verify reads the store");
    assert!(report.is_consistent(), "problems: {:#?}", report.problems);
    let (best, side) = store.load().expect("load");
    assert!(side.is_empty());
    let tip = report.tip_height;
    assert_eq!(best.as_slice(), &chain[..=tip as usize]);
    tip
}

#[test]
fn a_writer_killed_while_the_map_grows_leaves_a_committed_tip() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        // This run is the child started below.
        run_writer(Path::new(&dir));
        return;
    }
    let seed = schedule_seed();
    eprintln!("kill schedule seed: {seed} (replay with HEADWAY_CRASH_SEED={seed})");
    let mut rng = Xorshift::new(seed);
    let chain = mainnet_headers();
    let mut dir = tempfile::tempdir().unwrap();
    let mut stores = 1;

    let mut last_tip = 0u32;
    let mut in_growing_apply = 0;
    for i in 0..KILLS {
        // The map doubles, so one store sees only about eight growths in 40,000 headers: once
        // a store is past half of them, the next kills go to a fresh one.
        if last_tip >= FRESH_STORE_ABOVE {
            dir = tempfile::tempdir().unwrap();
            stores += 1;
            last_tip = 0;
        }
        let mut writer = start_writer(dir.path());
        // Aim at the first growth after a random number of completed applies, so that kills
        // land in small and in large maps alike.
        let skip = rng.below(SKIP_APPLIES + 1) as usize;
        let mut done = 0;
        let mut grown_to = 0;
        while grown_to == 0 {
            match writer.next() {
                Some(Report::Done(_)) => done += 1,
                Some(Report::Grown(size)) if done >= skip => grown_to = *size,
                Some(Report::End) | None => panic!(
                    "run {i}: the writer finished before a growth after {skip} applies: {:?}",
                    writer.seen
                ),
                Some(_) => {}
            }
        }
        let jitter = rng.below(JITTER_MICROS + 1);
        let until = Instant::now() + Duration::from_micros(jitter);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        kill(&mut writer);
        let landed = landing(&writer.seen);
        let tip = check_store(dir.path(), &chain);
        // Nothing the writer reported committed is lost; the apply in flight is all or nothing.
        let allowed: Vec<u32> = std::iter::once(landed.committed)
            .chain(landed.in_flight)
            .collect();
        assert!(
            allowed.contains(&tip),
            "run {i}: store at {tip}, the writer committed {} and was writing {:?}; reports {:?}",
            landed.committed,
            landed.in_flight,
            writer.seen
        );
        assert!(
            tip >= last_tip,
            "run {i}: tip went back from {last_tip} to {tip}"
        );
        if landed.in_flight.is_some() && landed.growths_in_flight > 0 {
            in_growing_apply += 1;
        }
        eprintln!(
            "kill {i}: {jitter} µs after the map grew to {grown_to} (first growth after {skip} \
             applies) | committed {} | in flight {:?} after {} growths | store at {tip}",
            landed.committed, landed.in_flight, landed.growths_in_flight
        );
        last_tip = tip;
    }
    assert!(
        in_growing_apply >= MIN_KILLS_IN_GROWING_APPLY,
        "only {in_growing_apply} of {KILLS} kills landed inside an apply that had grown the map"
    );
    eprintln!("{KILLS} kills over {stores} stores, {in_growing_apply} inside a growing apply");

    // A last writer, not killed, finishes the chain from what the kills left.
    let mut writer = start_writer(dir.path());
    wait_success(&mut writer);
    assert_eq!(writer.seen.last(), Some(&Report::End));
    assert_eq!(check_store(dir.path(), &chain), 39_999);
    let data_len = std::fs::metadata(dir.path().join("data.mdb"))
        .unwrap()
        .len();
    // 40,000 headers are 3.2 MB of groups: the map grew from 64 KiB at least five times.
    assert!(
        data_len > (TINY_MAP as u64) << 5,
        "data file {data_len} bytes"
    );
}

#[test]
fn reports_parse_after_the_harness_prefix() {
    assert_eq!(
        parse("test a ... WRITER OPEN 12 65536"),
        Some(Report::Open(12))
    );
    assert_eq!(parse("WRITER GROWN 131072"), Some(Report::Grown(131_072)));
    assert_eq!(parse("WRITER END"), Some(Report::End));
    assert_eq!(parse("running 1 test"), None);
    let seen = [
        Report::Open(0),
        Report::Start(2000),
        Report::Grown(1),
        Report::Done(2000),
        Report::Start(4000),
        Report::Grown(2),
    ];
    let landed = landing(&seen);
    assert_eq!(landed.committed, 2000);
    assert_eq!(landed.in_flight, Some(4000));
    assert_eq!(landed.growths_in_flight, 1);
}
