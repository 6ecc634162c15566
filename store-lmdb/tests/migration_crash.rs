//! Migrations killed at any moment, schema 1's (resumable, many transactions) and schema 3's
//! (one transaction, `a_packed_index_migration_killed_at_any_moment_leaves_a_whole_store`,
//! which also kills the compaction that follows it).
//!
//! Schema 1: a child process (this test binary, re-executed) opens a
//! schema-1 store read-write, which migrates it to schema 4; the parent kills it with SIGKILL
//! at varied moments, and after every kill the store must be a whole schema-1 store (every
//! height, the tip, the index) or a whole schema-4 one (verify, every header, lookups), never
//! something between; the next child resumes. At the end a child runs to completion and the
//! store must hold exactly the headers written.
//!
//! When a kill lands: the child reports, through a small `tracing` subscriber, the
//! migration's `begins`, `progress` (after each committed chunk), `switching` and `done`
//! events. The kills aim, in turn, at a moment inside the first chunk of a run, inside its
//! second, right after a commit, and inside the final switch, each after a delay that grows
//! with the kill's number (a fraction of the measured chunk time). What the child printed
//! says where the kill landed. Each round of four starts from a fresh schema-1 copy; when the
//! round's last kill landed inside the switch, an uncut run first resumes that store, which
//! must go straight to the switch.
//!
//! Size: `HEADWAY_MIGRATION_HEADERS` headers (default 1,000,000: sixteen chunks; the whole
//! test takes about 35 s in the debug profile on 2 shared cores, most of it writing the
//! schema-1 store and checking every header after each kill; `-- --nocapture` shows where
//! each kill landed). A kill aimed at the switch may find the run already ended (the switch
//! takes milliseconds); the kills aimed at the copy must land in it.

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use headway_core::bitcoin::block::Header;
use headway_core::Network;
use headway_store_lmdb::{Durability, HeaderStore, StoreError, StoreOptions, SCHEMA_VERSION};
use support::child::ReportingChild;
use support::schema1::{self, side_branch, synthetic_chain};
use support::{data_len, schema3, COMPACT_FILE};

/// SIGKILLs, before the last, unkilled run.
const KILLS: usize = 16;
/// The default chain length (heights above genesis): the million of the target.
const DEFAULT_HEADERS: usize = 1_000_000;
/// A child that reports nothing for this long fails the test.
const CHILD_WAIT: Duration = Duration::from_secs(120);
/// Headers a migration transaction copies (the crate's `MIGRATION_CHUNK`).
const CHUNK: usize = 65_536;

/// Set in the child: the store directory to open (and so migrate).
const CHILD_ENV: &str = "HEADWAY_STORE_TEST_MIGRATION_DIR";
const TEST_NAME: &str = "a_migration_killed_at_any_moment_leaves_a_whole_store";
const PACKED_TEST_NAME: &str = "a_packed_index_migration_killed_at_any_moment_leaves_a_whole_store";
/// SIGKILLs of the schema-3 migration (one transaction) and the compaction after it, before
/// the last, unkilled run.
const PACKED_KILLS: usize = 16;

fn headers() -> usize {
    std::env::var("HEADWAY_MIGRATION_HEADERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_HEADERS)
}

fn options() -> StoreOptions {
    // SIGKILL loses nothing committed at any durability (the OS keeps the written pages).
    StoreOptions {
        durability: Durability::NoSync,
        ..StoreOptions::default()
    }
}

/// One line to the parent, straight to the pipe (the harness may capture `println!`).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "MIGRATOR {line}")
        .and_then(|()| out.flush())
        .expect("report to the parent");
}

/// A `tracing` subscriber that reports the migration's events.
struct MigrationReporter;

#[derive(Default)]
struct Fields {
    message: String,
    copied: Option<u64>,
    headers_per_s: Option<u64>,
    seconds: Option<f64>,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "copied" => self.copied = Some(value),
            "headers_per_s" => self.headers_per_s = Some(value),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "seconds" {
            self.seconds = Some(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for MigrationReporter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let m = f.message.as_str();
        if m.starts_with("header store migration: schema 1 to the current schema begins")
            || m.starts_with("header store migration: packing the hash index begins")
        {
            say("BEGIN");
        } else if m.starts_with("header store migration: progress") {
            say(&format!("PROGRESS {}", f.copied.unwrap_or(0)));
        } else if m.starts_with("header store migration: all headers copied") {
            say("SWITCHING");
        } else if m.starts_with("header store: compacting the data file begins") {
            say("COMPACTING");
        } else if m.starts_with("header store: data file compacted") {
            say(&format!("COMPACTED {:.3}", f.seconds.unwrap_or(0.0)));
        } else if m.starts_with("header store migration: done") {
            say(&format!(
                "DONE {} {:.3}",
                f.headers_per_s.unwrap_or(0),
                f.seconds.unwrap_or(0.0)
            ));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The child's side: open the store (which migrates it), then say so.
fn run_child(dir: &Path) {
    tracing::subscriber::set_global_default(MigrationReporter).expect("install the subscriber");
    say("START");
    let store = HeaderStore::open_with(dir, Network::Mainnet, &options()).expect("open");
    let tip = store.tip().expect("tip").expect("a tip").height;
    say(&format!("OPEN {tip}"));
}

/// A child's report.
#[derive(Debug, Clone, PartialEq)]
enum Report {
    Start,
    Begin,
    Progress(u64),
    Switching,
    Done { rate: u64, seconds: f64 },
    Compacting,
    Compacted { seconds: f64 },
    Open,
}

fn parse(line: &str) -> Option<Report> {
    let (_, rest) = line.split_once("MIGRATOR ")?;
    let mut words = rest.split_whitespace();
    Some(match words.next()? {
        "START" => Report::Start,
        "BEGIN" => Report::Begin,
        "PROGRESS" => Report::Progress(words.next()?.parse().ok()?),
        "SWITCHING" => Report::Switching,
        "DONE" => Report::Done {
            rate: words.next()?.parse().ok()?,
            seconds: words.next()?.parse().ok()?,
        },
        "COMPACTING" => Report::Compacting,
        "COMPACTED" => Report::Compacted {
            seconds: words.next()?.parse().ok()?,
        },
        "OPEN" => Report::Open,
        _ => return None,
    })
}

/// The migrating child (see `support::child`).
type Child = ReportingChild<Report>;

fn start_child(dir: &Path) -> Child {
    ReportingChild::start(TEST_NAME, CHILD_ENV, dir, parse, CHILD_WAIT)
}

fn start_packing_child(dir: &Path) -> Child {
    ReportingChild::start(PACKED_TEST_NAME, CHILD_ENV, dir, parse, CHILD_WAIT)
}

/// Waits for a report matching `want`; `false` if the child ended first.
fn wait_for(child: &mut Child, want: impl Fn(&Report) -> bool) -> bool {
    while let Some(report) = child.next() {
        if want(report) {
            return true;
        }
    }
    false
}

/// SIGKILL (if still running), reap, and collect every report written before it died;
/// whether it was killed (it was still running, and did not end well).
fn kill(child: &mut Child) -> bool {
    let (running, status) = child.kill();
    running && !status.success()
}

fn wait_success(child: &mut Child) {
    let status = child.wait_exit(false);
    assert!(
        status.success(),
        "child failed: {status}; seen {:?}",
        child.seen
    );
}

/// Where a kill landed, from what the child printed.
fn landing(seen: &[Report]) -> String {
    let progress: Vec<u64> = seen
        .iter()
        .filter_map(|r| match r {
            Report::Progress(n) => Some(*n),
            _ => None,
        })
        .collect();
    if seen.contains(&Report::Open) {
        "after the open returned".into()
    } else if seen.iter().any(|r| matches!(r, Report::Done { .. })) {
        "after the switch committed".into()
    } else if seen.contains(&Report::Switching) {
        "inside the switch transaction".into()
    } else if let Some(last) = progress.last() {
        format!(
            "copying after {} commits of this run (last at {last})",
            progress.len()
        )
    } else if seen.contains(&Report::Begin) {
        "inside the run's first chunk".into()
    } else {
        "before the migration began".into()
    }
}

/// Checks the store after a kill; returns its schema and, for schema 1, the recorded
/// progress is not checked (the copy is schema 1's own business until the switch).
fn check_store(dir: &Path, best: &[Header], side: &[(u32, Header)], thorough: bool) -> u32 {
    let schema = schema1::schema(dir);
    match schema {
        1 => {
            let err = HeaderStore::open_read_only(dir).unwrap_err();
            assert!(matches!(err, StoreError::NeedsMigration { .. }), "{err:?}");
            schema1::assert_holds(dir, best, side, if thorough { 1 } else { 997 });
        }
        3 => {
            let err = HeaderStore::open_read_only(dir).unwrap_err();
            assert!(matches!(err, StoreError::NeedsMigration { .. }), "{err:?}");
            schema3::assert_holds(dir, best, 3, if thorough { 1 } else { 997 });
        }
        SCHEMA_VERSION => {
            let store = HeaderStore::open_read_only(dir).expect("a schema-4 store opens");
            let report = store.verify().expect("verify");
            assert!(report.is_consistent(), "problems: {:#?}", report.problems);
            let (loaded, mut loaded_side) = store.load().expect("load");
            assert!(loaded == best, "the migrated best chain differs");
            loaded_side.sort_by_key(|(h, header)| (*h, header.block_hash()));
            let mut side = side.to_vec();
            side.sort_by_key(|(h, header)| (*h, header.block_hash()));
            assert_eq!(loaded_side, side);
            let step = if thorough { 1 } else { 997 };
            for height in (0..best.len()).step_by(step).chain([best.len() - 1]) {
                let header = best[height];
                assert_eq!(
                    store.header_by_hash(&header.block_hash()).unwrap(),
                    Some((height as u32, header, true)),
                    "lookup of height {height}"
                );
            }
            for (height, header) in &side {
                assert_eq!(
                    store.header_by_hash(&header.block_hash()).unwrap(),
                    Some((*height, *header, false))
                );
            }
        }
        other => panic!("schema {other} after a kill"),
    }
    schema
}

fn fresh_copy(pristine: &Path, dir: &Path) {
    let _ = std::fs::remove_file(dir.join("lock.mdb"));
    let _ = std::fs::remove_file(dir.join(COMPACT_FILE));
    std::fs::copy(pristine.join("data.mdb"), dir.join("data.mdb")).expect("copy the store");
}

/// What both kill tests start from, in the parent: the time, the chain to migrate
/// ([`headers`] headers and a short side branch near the tip) and a directory for the pristine
/// store. `None` in the child, after it has run (see [`run_child`]).
#[allow(clippy::type_complexity)]
fn parent_setup() -> Option<(Instant, Vec<Header>, Vec<(u32, Header)>, tempfile::TempDir)> {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_child(Path::new(&dir));
        return None;
    }
    let started = Instant::now();
    let best = synthetic_chain(Network::Mainnet, headers());
    let side = side_branch(&best, best.len() - 11, 3);
    Some((started, best, side, tempfile::tempdir().unwrap()))
}

/// What an uncut run measured: the migration's headers/s and seconds, and the compaction's
/// seconds.
struct Uncut {
    rate: u64,
    seconds: f64,
    compaction: f64,
}

/// Runs `child` to its end (it must succeed and report `DONE` and `COMPACTED`), checks the
/// migrated store in `dir`, and gives what it measured.
fn uncut_run(mut child: Child, dir: &Path, best: &[Header], side: &[(u32, Header)]) -> Uncut {
    wait_success(&mut child);
    let Some(Report::Compacted {
        seconds: compaction,
    }) = child
        .seen
        .iter()
        .find(|r| matches!(r, Report::Compacted { .. }))
        .cloned()
    else {
        panic!("the uncut run reported no compaction: {:?}", child.seen)
    };
    let Some(Report::Done { rate, seconds }) = child
        .seen
        .iter()
        .find(|r| matches!(r, Report::Done { .. }))
        .cloned()
    else {
        panic!("the uncut run reported no DONE: {:?}", child.seen)
    };
    assert_eq!(check_store(dir, best, side, false), SCHEMA_VERSION);
    Uncut {
        rate,
        seconds,
        compaction,
    }
}

#[test]
fn a_migration_killed_at_any_moment_leaves_a_whole_store() {
    let Some((started, best, side, pristine)) = parent_setup() else {
        return;
    };
    let count = best.len() - 1;
    schema1::write(pristine.path(), Network::Mainnet, &best, &side);
    let data_len = std::fs::metadata(pristine.path().join("data.mdb"))
        .unwrap()
        .len();
    eprintln!(
        "schema-1 store of {count} headers written in {:.1} s ({:.0} bytes a header)",
        started.elapsed().as_secs_f64(),
        data_len as f64 / count as f64
    );

    // One uncut run on a copy: the migration's speed, and the time a chunk takes here.
    let work = tempfile::tempdir().unwrap();
    fresh_copy(pristine.path(), work.path());
    let Uncut { rate, seconds, .. } =
        uncut_run(start_child(work.path()), work.path(), &best, &side);
    eprintln!("uncut migration: {count} headers in {seconds:.2} s, {rate} headers/s");
    let chunk_time = Duration::from_secs_f64(seconds * CHUNK as f64 / count as f64);

    // The kills, on one store resumed from kill to kill (a fresh copy once one completes).
    fresh_copy(pristine.path(), work.path());
    let mut landings = Vec::new();
    let mut resumed_at_switch = 0;
    for i in 0..KILLS {
        if i % 4 == 0 && i > 0 {
            if schema1::schema(work.path()) == 1
                && landings
                    .last()
                    .is_some_and(|(_, l): &(bool, String)| l.contains("inside the switch"))
            {
                // A kill inside the switch left a complete copy: a run resumes right at the
                // switch, copying nothing.
                let mut child = start_child(work.path());
                wait_success(&mut child);
                assert!(
                    !child.seen.iter().any(|r| matches!(r, Report::Progress(_))),
                    "the resumed run copied again: {:?}",
                    child.seen
                );
                assert_eq!(
                    check_store(work.path(), &best, &side, false),
                    SCHEMA_VERSION
                );
                resumed_at_switch += 1;
            }
            // Each round's first kill starts from schema 1 with nothing copied.
            fresh_copy(pristine.path(), work.path());
        } else if schema1::schema(work.path()) == SCHEMA_VERSION {
            fresh_copy(pristine.path(), work.path());
        }
        let mut child = start_child(work.path());
        // A delay that grows with the kill's number, as a fraction of a chunk's time.
        let grow = (i / 4 + 1) as f64 / (KILLS / 4 + 1) as f64;
        let (aim, delay) = match i % 4 {
            0 => ("in the first chunk", chunk_time.mul_f64(grow * 0.9)),
            1 => ("in the second chunk", chunk_time.mul_f64(grow * 0.9)),
            2 => (
                "right after a commit",
                Duration::from_micros((grow * 2000.0) as u64),
            ),
            _ => (
                "in the switch",
                // It takes a few milliseconds: 0, 1, 2, 3 ms after it begins.
                Duration::from_millis((i / 4) as u64),
            ),
        };
        let reached = match i % 4 {
            0 => wait_for(&mut child, |r| *r == Report::Begin),
            1 | 2 => wait_for(&mut child, |r| matches!(r, Report::Progress(_))),
            _ => wait_for(&mut child, |r| *r == Report::Switching),
        };
        if reached {
            // Spin: a sleep may overshoot a short delay by more than the delay.
            let until = Instant::now() + delay;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        let killed = kill(&mut child);
        let landed = if killed {
            landing(&child.seen)
        } else {
            "not killed: the run had ended".to_string()
        };
        let schema = check_store(work.path(), &best, &side, false);
        eprintln!(
            "kill {i:>2}: aimed {aim} +{delay:?} | landed {landed} | store is schema {schema}"
        );
        landings.push((killed, landed));
    }
    let killed = landings.iter().filter(|(k, _)| *k).count();
    let inside = |what: &str| landings.iter().filter(|(_, l)| l.contains(what)).count();
    eprintln!(
        "{killed} of {KILLS} runs killed, {resumed_at_switch} uncut runs resumed at the switch: \
         {} in a run's first chunk, {} while copying later \
         chunks, {} inside the switch, {} after the switch",
        inside("first chunk"),
        inside("copying"),
        inside("inside the switch"),
        inside("after the switch")
    );
    // The kills aimed at the copy must have landed in it.
    assert!(
        inside("first chunk") + inside("copying") >= KILLS / 2,
        "too few kills landed while copying: {landings:?}"
    );

    // A last run, not killed, finishes what the kills left; every header must be there.
    let mut child = start_child(work.path());
    wait_success(&mut child);
    assert!(child.seen.contains(&Report::Open), "{:?}", child.seen);
    assert_eq!(check_store(work.path(), &best, &side, true), SCHEMA_VERSION);
    let store = HeaderStore::open_with(work.path(), Network::Mainnet, &options()).unwrap();
    let tip = store.tip().unwrap().unwrap();
    assert_eq!(tip.height as usize, count);
    assert_eq!(store.best_headers(0, count + 1).unwrap(), best);
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
}

/// The schema-3 to schema-4 migration is one transaction, and the compaction after it
/// replaces the data file with one rename: killed anywhere in either (or before or after),
/// the store is the whole schema-3 store or a whole schema-4 one. Half the kills land at
/// delays spread over the measured length of an uncut migration, after its `begins` line;
/// the other half over the compaction's, after its own.
#[test]
fn a_packed_index_migration_killed_at_any_moment_leaves_a_whole_store() {
    let Some((started, best, side, pristine)) = parent_setup() else {
        return;
    };
    let count = best.len() - 1;
    schema3::write(pristine.path(), &best, &side, &options());
    assert_eq!(check_store(pristine.path(), &best, &side, false), 3);
    let schema3_len = data_len(pristine.path());
    eprintln!(
        "schema-3 store of {count} headers ({schema3_len} bytes) written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let work = tempfile::tempdir().unwrap();
    fresh_copy(pristine.path(), work.path());
    let Uncut {
        seconds: migration,
        compaction,
        ..
    } = uncut_run(start_packing_child(work.path()), work.path(), &best, &side);
    eprintln!("uncut open: migration {migration:.3} s, compaction {compaction:.3} s");

    let (mut in_migration, mut in_compaction) = (0, 0);
    let half = PACKED_KILLS / 2;
    for i in 0..PACKED_KILLS {
        fresh_copy(pristine.path(), work.path());
        let mut child = start_packing_child(work.path());
        // The migration's kills reach a little past its measured end; the compaction's stop
        // at its measured length, which a loaded machine stretches more than the kills' runs.
        let (mark, span, step) = if i < half {
            (Report::Begin, migration * 1.2, i)
        } else {
            (Report::Compacting, compaction, i - half)
        };
        let delay = Duration::from_secs_f64(span * step as f64 / (half - 1) as f64);
        if wait_for(&mut child, |r| *r == mark) {
            let until = Instant::now() + delay;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        let killed = kill(&mut child);
        let seen = |want: fn(&Report) -> bool| child.seen.iter().any(want);
        let done = seen(|r| matches!(r, Report::Done { .. }));
        let schema = check_store(work.path(), &best, &side, false);
        let landed = if !killed {
            "not killed: the open had returned"
        } else if !done {
            assert_eq!(schema, 3, "killed before its commit was reported");
            in_migration += 1;
            "inside the migration's transaction"
        } else if seen(|r| *r == Report::Compacting)
            && !seen(|r| matches!(r, Report::Compacted { .. }))
        {
            assert_eq!(schema, SCHEMA_VERSION);
            in_compaction += 1;
            "inside the compaction"
        } else {
            assert_eq!(schema, SCHEMA_VERSION);
            "between the two, or after the compaction"
        };
        eprintln!("kill {i:>2}: {mark:?} +{delay:?} | {landed} | store is schema {schema}");
    }
    assert!(
        in_migration >= half / 2 && in_compaction >= 2,
        "too few kills landed inside the migration ({in_migration}) or the compaction \
         ({in_compaction}) of {PACKED_KILLS}"
    );

    // A last run, not killed, on the store the last kill left (verify reads every index
    // entry; a lookup of every height would scan the tail for each of its headers): a
    // store a kill left uncompacted is compacted now.
    let mut child = start_packing_child(work.path());
    wait_success(&mut child);
    assert!(child.seen.contains(&Report::Open), "{:?}", child.seen);
    assert_eq!(
        check_store(work.path(), &best, &side, false),
        SCHEMA_VERSION
    );
    assert!(!work.path().join(COMPACT_FILE).exists());
    let compacted = data_len(work.path());
    assert!(
        compacted + 10 * count as u64 <= schema3_len,
        "{compacted} bytes after the upgrade, {schema3_len} before"
    );
    eprintln!(
        "data file {schema3_len} -> {compacted} bytes ({:.1} a header); total {:.1} s",
        compacted as f64 / (count + 1) as f64,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn reports_parse_after_the_harness_prefix() {
    assert_eq!(parse("test a ... MIGRATOR BEGIN"), Some(Report::Begin));
    assert_eq!(
        parse("MIGRATOR PROGRESS 65536"),
        Some(Report::Progress(65_536))
    );
    assert_eq!(
        parse("MIGRATOR DONE 500000 2.000"),
        Some(Report::Done {
            rate: 500_000,
            seconds: 2.0
        })
    );
    assert_eq!(parse("running 1 test"), None);
    assert_eq!(
        landing(&[Report::Start, Report::Begin, Report::Progress(65_536)]),
        "copying after 1 commits of this run (last at 65536)"
    );
}
