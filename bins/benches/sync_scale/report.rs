//! The bench's report: each leg's line and the summary against issue 13's goals.

use super::*;

/// The startup leg's launches: (to a taken connect, to the first `headers` answer).
#[derive(Default)]
pub(crate) struct Startup {
    pub(crate) full: Vec<(Duration, Duration)>,
    pub(crate) genesis: Vec<(Duration, Duration)>,
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets"
    } else {
        "MISSES"
    }
}

/// The time a header over mark..N over the time a header over 0..mark; `None` when the chain
/// ends at the mark.
fn growth(to_mark: Duration, to_full: Duration, mark: u32, height: u32) -> Option<f64> {
    (height > mark).then(|| {
        let late = secs(to_full.saturating_sub(to_mark)) / f64::from(height - mark);
        let early = secs(to_mark) / f64::from(mark);
        late / early
    })
}

/// Headers a second over 0..mark and over mark..N.
fn rates(to_mark: Duration, to_full: Duration, mark: u32, height: u32) -> (f64, Option<f64>) {
    let early = f64::from(mark) / secs(to_mark);
    let late =
        (height > mark).then(|| f64::from(height - mark) / secs(to_full.saturating_sub(to_mark)));
    (early, late)
}

fn opt(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) => format!("{v:.digits$}"),
        None => "n/a".to_string(),
    }
}

impl SyncRun {
    pub(crate) fn line(&self, config: &Config, height: u32) -> String {
        let (early, late) = rates(self.to_mark, self.to_full, config.mark, height);
        format!(
            "to {} {:7.3} s, to {height} {:7.3} s (core synced at {} s); headers/s {early:.0} \
             over 0..{}, {} after; peak RssAnon {:.1} MB, VmRSS {:.1} MB, VmHWM {:.1} MB \
             ({} samples); cpu B {:.2} s ({}), A {:.2} s; presync log lines {}",
            config.mark,
            secs(self.to_mark),
            secs(self.to_full),
            opt(self.core_synced.map(secs), 3),
            config.mark,
            opt(late, 0),
            mb(self.memory.rss_anon),
            mb(self.memory.vm_rss),
            mb(self.memory.vm_hwm),
            self.memory.samples,
            self.b_cpu,
            thread_cpu_line(&self.b_threads),
            self.a_cpu,
            self.presync_lines,
        )
    }
}

/// The summary: medians over the rounds, each goal met or missed.
pub(crate) fn summarise(
    config: &Config,
    startup: Option<&Startup>,
    work: Option<&RequiredWork>,
    rounds: &[Round],
) {
    let height = config.headers;
    let mark = config.mark;
    println!(
        "summary: {height} headers, mark {mark}, {} round(s){}",
        rounds.len(),
        if rounds.len() > 1 { ", medians" } else { "" }
    );
    if height != DEFAULT_HEADERS {
        println!(
            "  (the goals are set at {DEFAULT_HEADERS} headers; at {height} they are only \
             indicative)"
        );
    }
    if let Some(s) = startup {
        let med = |v: &[(Duration, Duration)], answer: bool| {
            let values: Vec<f64> = v
                .iter()
                .map(|(l, a)| ms(if answer { *a } else { *l }))
                .collect();
            median(&values)
        };
        let full = med(&s.full, true);
        let genesis = med(&s.genesis, true);
        println!(
            "  target 3, startup (launch to the first headers answer, median of {STARTUP_LAUNCHES}): \
             {} ms on {height} headers (listening at {} ms), {} ms on genesis only (listening at \
             {} ms); the chain adds {} ms; goal <= {GOAL_STARTUP_MS} ms: {}",
            opt(full, 1),
            opt(med(&s.full, false), 1),
            opt(genesis, 1),
            opt(med(&s.genesis, false), 1),
            opt(full.zip(genesis).map(|(f, g)| f - g), 1),
            verdict(full.is_some_and(|f| f <= GOAL_STARTUP_MS))
        );
    }

    let floors: Vec<&FloorRun> = rounds.iter().filter_map(|r| r.floor.as_ref()).collect();
    if !floors.is_empty() {
        let to_mark = median(&floors.iter().map(|f| secs(f.to_mark)).collect::<Vec<_>>());
        let total = median(&floors.iter().map(|f| secs(f.total)).collect::<Vec<_>>());
        let growths: Vec<f64> = floors
            .iter()
            .filter_map(|f| growth(f.to_mark, f.total, mark, height))
            .collect();
        println!(
            "  floor (do-nothing client): to {mark} {} s ({} headers/s), to {height} {} s ({} \
             headers/s); time a header after {mark} over before: {}",
            opt(to_mark, 3),
            opt(to_mark.map(|t| f64::from(mark) / t), 0),
            opt(total, 3),
            opt(total.map(|t| f64::from(height) / t), 0),
            opt(median(&growths), 3),
        );
        if let (Some(w), Some(to_mark), Some(total)) = (work, to_mark, total) {
            // A validating client cannot be done before it has hashed and checked everything,
            // however well its download overlaps: the work alone over the floor is a floor for
            // targets 4 and 6 on this machine.
            let share = f64::from(mark) / f64::from(height);
            println!(
                "  floor of a validating client (work leg): hashing and checksums alone are \
                 {:.2}x the floor's download at {mark} and {:.2}x at {height}; the raw durable \
                 append alone {:.2}x at {height}",
                secs(w.cpu()) * share / to_mark,
                secs(w.cpu()) / total,
                secs(w.durable) / total,
            );
        }
    }

    let mut to_full_by_client: Vec<Option<f64>> = Vec::new();
    for (i, (name, _)) in config.clients.iter().enumerate() {
        let plain: Vec<(&Round, &SyncRun)> = rounds
            .iter()
            .filter_map(|r| r.sync[i][0].as_ref().map(|s| (r, s)))
            .collect();
        let presync: Vec<(&Round, &SyncRun)> = rounds
            .iter()
            .filter_map(|r| r.sync[i][1].as_ref().map(|s| (r, s)))
            .collect();
        let to_full = median(
            &plain
                .iter()
                .map(|(_, s)| secs(s.to_full))
                .collect::<Vec<_>>(),
        );
        to_full_by_client.push(to_full);
        if !plain.is_empty() {
            let to_mark = median(
                &plain
                    .iter()
                    .map(|(_, s)| secs(s.to_mark))
                    .collect::<Vec<_>>(),
            );
            let core: Vec<f64> = plain
                .iter()
                .filter_map(|(_, s)| s.core_synced.map(secs))
                .collect();
            let ratio = |full: bool| {
                let values: Vec<f64> = plain
                    .iter()
                    .filter_map(|(r, s)| {
                        let f = r.floor.as_ref()?;
                        Some(if full {
                            secs(s.to_full) / secs(f.total)
                        } else {
                            secs(s.to_mark) / secs(f.to_mark)
                        })
                    })
                    .collect();
                median(&values)
            };
            let (r_mark, r_full) = (ratio(false), ratio(true));
            // The core's `synced` line over the floor: the network and validation part,
            // without the store's commits behind it (informative; the goal is on the store).
            let r_core = median(
                &plain
                    .iter()
                    .filter_map(|(r, s)| Some(secs(s.core_synced?) / secs(r.floor.as_ref()?.total)))
                    .collect::<Vec<_>>(),
            );
            let early = median(
                &plain
                    .iter()
                    .map(|(_, s)| rates(s.to_mark, s.to_full, mark, height).0)
                    .collect::<Vec<_>>(),
            );
            let late = median(
                &plain
                    .iter()
                    .filter_map(|(_, s)| rates(s.to_mark, s.to_full, mark, height).1)
                    .collect::<Vec<_>>(),
            );
            let g = median(
                &plain
                    .iter()
                    .filter_map(|(_, s)| growth(s.to_mark, s.to_full, mark, height))
                    .collect::<Vec<_>>(),
            );
            let rss_anon = median(
                &plain
                    .iter()
                    .map(|(_, s)| mb(s.memory.rss_anon))
                    .collect::<Vec<_>>(),
            );
            let vm_rss = median(
                &plain
                    .iter()
                    .map(|(_, s)| mb(s.memory.vm_rss))
                    .collect::<Vec<_>>(),
            );
            let judged = |v: Option<f64>, goal: f64| match v {
                Some(v) => verdict(v <= goal),
                None => "n/a (no floor leg)",
            };
            println!(
                "  {name}: stored {mark} at {} s, {height} at {} s (core synced at {} s)",
                opt(to_mark, 3),
                opt(to_full, 3),
                opt(median(&core), 3),
            );
            println!(
                "    target 4, over the floor: {} at {mark} (goal <= {GOAL_RATIO_MARK}: {}), {} \
                 at {height} (goal <= {GOAL_RATIO_FULL}: {}); the core's synced line at {} \
                 times the floor's {height}",
                opt(r_mark, 3),
                judged(r_mark, GOAL_RATIO_MARK),
                opt(r_full, 3),
                judged(r_full, GOAL_RATIO_FULL),
                opt(r_core, 3),
            );
            // The CPU both processes used over the machine's cores: on a machine they keep
            // busy, the least wall time B's sync could take for the work it did, whatever the
            // order of that work. Its ratio to the floor is what the CPU alone costs; its
            // share of the sync's time says how busy the cores were (1: busy throughout).
            let cores = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            // The bound of a run at the mark and at N.
            let bounds = |s: &SyncRun| {
                let (b, a) = s.cpu_to_mark;
                ((b + a) / cores, (s.b_cpu + s.a_cpu) / cores)
            };
            let over_floor = |full: bool| {
                median(
                    &plain
                        .iter()
                        .filter_map(|(r, s)| {
                            let f = r.floor.as_ref()?;
                            let (at_mark, at_full) = bounds(s);
                            Some(if full {
                                at_full / secs(f.total)
                            } else {
                                at_mark / secs(f.to_mark)
                            })
                        })
                        .collect::<Vec<_>>(),
                )
            };
            let busy = median(
                &plain
                    .iter()
                    .map(|(_, s)| bounds(s).1 / secs(s.to_full))
                    .collect::<Vec<_>>(),
            );
            println!(
                "    CPU of B and A over {cores} cores: {} times the floor at {mark}, {} at \
                 {height} (the least time over the floor for the work done, in any order); the \
                 sync took {} of its time at {height} (1: every core busy throughout)",
                opt(over_floor(false), 3),
                opt(over_floor(true), 3),
                opt(busy, 2),
            );
            println!(
                "    target 6, headers/s: {} over 0..{mark}, {} over {mark}..{height}, {} \
                 overall; time a header after {mark} over before {} (goal <= {GOAL_GROWTH}: {})",
                opt(early, 0),
                opt(late, 0),
                opt(to_full.map(|t| f64::from(height) / t), 0),
                opt(g, 3),
                match g {
                    Some(g) => verdict(g <= GOAL_GROWTH),
                    None => "n/a (the chain ends at the mark)",
                },
            );
            println!(
                "    target 7, memory: peak RssAnon {} MB (goal <= {GOAL_RSS_ANON_MB}: {}), peak \
                 VmRSS {} MB",
                opt(rss_anon, 1),
                verdict(rss_anon.is_some_and(|r| r <= GOAL_RSS_ANON_MB)),
                opt(vm_rss, 1),
            );
        }
        if !presync.is_empty() {
            let with = median(
                &presync
                    .iter()
                    .map(|(_, s)| secs(s.to_full))
                    .collect::<Vec<_>>(),
            );
            let ratios: Vec<f64> = presync
                .iter()
                .filter_map(|(r, s)| {
                    let p = r.sync[i][0].as_ref()?;
                    Some(secs(s.to_full) / secs(p.to_full))
                })
                .collect();
            let ratio = median(&ratios);
            let rss_anon = median(
                &presync
                    .iter()
                    .map(|(_, s)| mb(s.memory.rss_anon))
                    .collect::<Vec<_>>(),
            );
            // The redownload starts when the presync pass has ended, and that pass hashes and
            // checks every header and message once: at least the work leg's time on top of
            // the plain sync.
            let bound = median(
                &presync
                    .iter()
                    .filter_map(|(r, _)| {
                        let p = r.sync[i][0].as_ref()?;
                        Some(1.0 + secs(work?.cpu()) / secs(p.to_full))
                    })
                    .collect::<Vec<_>>(),
            );
            // The headers cross the wire twice, one pass after the other (Core's order, one
            // peer): the first download alone is at least the floor client's, so the ratio is
            // at least 1 + floor / plain sync, however cheap the presync pass's work.
            let download_bound = median(
                &presync
                    .iter()
                    .filter_map(|(r, _)| {
                        let p = r.sync[i][0].as_ref()?;
                        Some(1.0 + secs(r.floor.as_ref()?.total) / secs(p.to_full))
                    })
                    .collect::<Vec<_>>(),
            );
            println!(
                "    target 5, presync: stored {height} at {} s through presync and redownload \
                 (peak RssAnon {} MB); over the plain sync {} (goal <= {GOAL_PRESYNC_RATIO}: {}; \
                 the presync pass's hashing and checksums alone make it at least {}, its \
                 download alone at least {})",
                opt(with, 3),
                opt(rss_anon, 1),
                opt(ratio, 3),
                match ratio {
                    Some(r) => verdict(r <= GOAL_PRESYNC_RATIO),
                    None => "n/a (no plain sync leg)",
                },
                opt(bound, 3),
                opt(download_bound, 3),
            );
        }
    }
    if let [Some(mio), Some(async_std)] = to_full_by_client.as_slice() {
        let ratios: Vec<f64> = rounds
            .iter()
            .filter_map(|r| {
                let m = r.sync[0][0].as_ref()?;
                let a = r.sync[1][0].as_ref()?;
                Some(secs(a.to_full) / secs(m.to_full))
            })
            .collect();
        let ratio = median(&ratios);
        println!(
            "  target 7, drivers: {height} headers in {mio:.3} s on mio, {async_std:.3} s on \
             async-std; async-std/mio {} (goal within {:.0}%: {})",
            opt(ratio, 3),
            GOAL_DRIVER_SPREAD * 100.0,
            verdict(ratio.is_some_and(|r| (r - 1.0).abs() <= GOAL_DRIVER_SPREAD))
        );
    }
}
