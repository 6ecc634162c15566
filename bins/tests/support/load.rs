//! The RPC load scenario shared by `tests/rpc_load.rs` and `benches/rpc_load.rs`: a headway
//! node syncs from bcoin from a fresh data directory, with or without a paced load of JSON-RPC
//! and REST requests on keep-alive connections, and reports how long the sync took from launch
//! to the stored tip and how every request was answered.
//!
//! The sync time is measured without polling: a `waitforblockheight` call placed as soon as
//! the RPC port accepts returns when the stored tip reaches the target height. The load
//! generator keeps a schedule (request `i` is due at `start + i / rate`) over a pool of
//! threads, each with its own connection, and checks every answer: status 200, a `result`, a
//! null `error`, and the hash or height it asked for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::bcoin::{free_port, Bcoin};
use super::http::{get_request, post_request, rpc_body, Conn, Response, Rpc, REPLY_TIMEOUT};

/// The regtest genesis block hash: known before any answer.
pub const REGTEST_GENESIS: &str =
    "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
/// The login every node of the scenario has.
const RPC_USER: &str = "load";
const RPC_PASSWORD: &str = "load-test-password";
/// How long the node may take to open its RPC port.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long a sync may take before the run fails (the `waitforblockheight` timeout).
const SYNC_WAIT: Duration = Duration::from_secs(600);
/// How long the node may take to exit after SIGTERM.
const EXIT_WAIT: Duration = Duration::from_secs(30);
/// Headers asked for by each REST request.
const REST_COUNT: usize = 5;
/// Block hashes from answers kept for later `getblockheader` and REST requests.
const HASH_POOL: usize = 4096;
/// Every this many `getblockhash` answers one is kept, to check against bcoin afterwards.
const SAMPLE_EVERY: u64 = 101;
/// Failures described in the report (the rest are counted).
const FAILURES_SHOWN: usize = 10;

/// How much load to apply.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Requests per second the schedule asks for.
    pub rate: u32,
    /// How long the schedule runs.
    pub duration: Duration,
    /// Client threads, each with its own keep-alive connection.
    pub threads: usize,
}

impl LoadPlan {
    /// The number of requests the schedule issues.
    pub fn requests(&self) -> u64 {
        (f64::from(self.rate) * self.duration.as_secs_f64()).round() as u64
    }
}

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Requests issued.
    pub requests: u64,
    /// Requests answered correctly.
    pub ok: u64,
    /// Requests that failed (a status other than 200, an error, a wrong answer, a connection
    /// error).
    pub failed: u64,
    /// The first failures, described.
    pub failures: Vec<String>,
    /// From the first scheduled request to the last answer.
    pub elapsed: Duration,
    /// Every answered request's latency (send to last byte), sorted.
    pub latencies: Vec<Duration>,
    /// The most a request was sent behind its schedule.
    pub max_lag: Duration,
    /// `(height, hash)` pairs from `getblockhash` answers, to check against bcoin.
    pub samples: Vec<(u64, String)>,
}

impl LoadReport {
    /// Correct answers per second over [`LoadReport::elapsed`].
    pub fn achieved_rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency at quantile `q` (0.5 for the median).
    pub fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }

    /// One line with the figures.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} requests in {:.2} s ({:.0}/s), {} failed; latency p50 {:.2} ms, p99 {:.2} ms, \
             max {:.2} ms; most behind schedule {:.2} ms",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.achieved_rate(),
            self.failed,
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            ms(self.max_lag),
        )
    }
}

/// One timed sync.
#[derive(Debug)]
pub struct SyncOutcome {
    /// From spawning the node to its stored tip reaching the target height.
    pub sync: Duration,
    /// The height `waitforblockheight` returned.
    pub height: u64,
    /// The load generator's report, if there was load.
    pub load: Option<LoadReport>,
}

/// A headway node for the scenario: logs at info (a debug log line per request would be part
/// of the load), SIGTERM to stop, killed if dropped while running.
struct QuietNode {
    child: Child,
    log: PathBuf,
}

impl QuietNode {
    fn spawn(bin: &str, args: &[String], log: PathBuf) -> QuietNode {
        let out = std::fs::File::create(&log).expect("create headway log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(bin)
            .args(args)
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start headway");
        QuietNode { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: signalling our own child, which we have not yet reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < EXIT_WAIT,
                "headway still running {EXIT_WAIT:?} after SIGTERM; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for QuietNode {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `bin` on a fresh data directory under `work`, connected only to `bcoin`, and times
/// its sync to `height`, with `load` applied from the moment its RPC port accepts. The node is
/// stopped with SIGTERM afterwards and must exit with 0.
pub fn timed_sync(
    bin: &str,
    bcoin: &Bcoin,
    height: u64,
    load: Option<LoadPlan>,
    work: &Path,
    name: &str,
) -> SyncOutcome {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args: Vec<String> = [
        "--network",
        "regtest",
        "--datadir",
        &work.join(format!("{name}-data")).display().to_string(),
        "--connect",
        &bcoin.p2p_addr().to_string(),
        "--rpc-port",
        &port.to_string(),
        "--rpc-user",
        RPC_USER,
        "--rpc-password",
        RPC_PASSWORD,
        "--rest",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rpc = Rpc::new(addr, RPC_USER, RPC_PASSWORD);

    let launched = Instant::now();
    let mut node = QuietNode::spawn(bin, &args, work.join(format!("{name}.log")));
    let mut waiter = loop {
        if let Ok(conn) = Conn::open(addr) {
            break conn;
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            panic!("headway exited early ({status}); log:\n{}", node.log());
        }
        assert!(
            launched.elapsed() < START_WAIT,
            "RPC port not open after {START_WAIT:?}; log:\n{}",
            node.log()
        );
        thread::sleep(Duration::from_millis(2));
    };
    let _ = waiter
        .stream()
        .set_read_timeout(Some(SYNC_WAIT + REPLY_TIMEOUT));
    let wait_ms = u64::try_from(SYNC_WAIT.as_millis()).unwrap_or(u64::MAX);
    let body = rpc_body("waitforblockheight", json!([height, wait_ms]));
    let auth = rpc.auth.clone();
    let (tip, load) = thread::scope(|s| {
        let tip = s.spawn(move || {
            let reply = waiter.post(Some(&auth), body.as_bytes());
            (Instant::now(), reply)
        });
        let report = load.map(|plan| run_load(addr, &rpc.auth, plan));
        (tip.join().expect("waiter thread"), report)
    });
    let (reached, reply) = tip;
    let reply = reply.unwrap_or_else(|e| panic!("waitforblockheight: {e}; log:\n{}", node.log()));
    assert_eq!(reply.status, 200, "waitforblockheight: {}", reply.text());
    let reached_height = reply.json()["result"]["height"].as_u64().unwrap_or(0);
    assert!(
        reached_height >= height,
        "sync to {height} did not finish within {SYNC_WAIT:?} (at {reached_height}); log:\n{}",
        node.log()
    );
    let status = node.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        node.log()
    );
    SyncOutcome {
        sync: reached.duration_since(launched),
        height: reached_height,
        load,
    }
}

/// Checks the sampled `getblockhash` answers against bcoin's own; returns how many.
pub fn check_samples(bcoin: &Bcoin, report: &LoadReport) -> usize {
    for (height, hash) in &report.samples {
        let theirs = bcoin.rpc("getblockhash", json!([height]));
        assert_eq!(
            theirs.as_str(),
            Some(hash.as_str()),
            "headway's hash at {height} under load"
        );
    }
    report.samples.len()
}

/// What one request asks.
#[derive(Debug, Clone)]
enum Ask {
    Count,
    Best,
    HashAt(u64),
    Header(String),
    RestHeaders(String),
}

/// What the threads share.
struct Shared {
    next: AtomicU64,
    known_height: AtomicU64,
    hashes: Mutex<Vec<String>>,
    samples: Mutex<Vec<(u64, String)>>,
    answered_hashes: AtomicU64,
}

/// One thread's tally.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    failures: Vec<String>,
    latencies: Vec<Duration>,
    max_lag: Duration,
    last_answer: Option<Instant>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.failures.len() < FAILURES_SHOWN {
            self.failures.push(what);
        }
    }
}

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Runs `plan` against the server at `addr`, logged in with `auth`.
pub fn run_load(addr: SocketAddr, auth: &str, plan: LoadPlan) -> LoadReport {
    let total = plan.requests();
    let shared = Shared {
        next: AtomicU64::new(0),
        known_height: AtomicU64::new(0),
        hashes: Mutex::new(vec![REGTEST_GENESIS.to_string()]),
        samples: Mutex::new(Vec::new()),
        answered_hashes: AtomicU64::new(0),
    };
    let start = Instant::now();
    let tallies: Vec<Tally> = thread::scope(|s| {
        let workers: Vec<_> = (0..plan.threads.max(1))
            .map(|t| {
                let shared = &shared;
                s.spawn(move || client(addr, auth, plan, total, start, shared, t as u64))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("load thread"))
            .collect()
    });
    let mut report = LoadReport {
        requests: total,
        samples: shared.samples.into_inner().unwrap_or_default(),
        ..LoadReport::default()
    };
    let mut last = start;
    for tally in tallies {
        report.ok += tally.ok;
        report.failed += tally.failed;
        for f in tally.failures {
            if report.failures.len() < FAILURES_SHOWN {
                report.failures.push(f);
            }
        }
        report.latencies.extend(tally.latencies);
        report.max_lag = report.max_lag.max(tally.max_lag);
        last = last.max(tally.last_answer.unwrap_or(start));
    }
    report.latencies.sort();
    report.elapsed = last.duration_since(start);
    report
}

fn client(
    addr: SocketAddr,
    auth: &str,
    plan: LoadPlan,
    total: u64,
    start: Instant,
    shared: &Shared,
    thread_index: u64,
) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (thread_index + 1).wrapping_mul(0x1234_5679));
    let mut conn: Option<Conn> = None;
    let interval_nanos = 1_000_000_000u64 / u64::from(plan.rate.max(1));
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return tally;
        }
        let due = start + Duration::from_nanos(i * interval_nanos);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        } else {
            tally.max_lag = tally.max_lag.max(now - due);
        }
        let ask = pick(i, &mut rng, shared);
        let request = match &ask {
            Ask::Count => post_request(Some(auth), rpc_body("getblockcount", json!([])).as_bytes()),
            Ask::Best => post_request(
                Some(auth),
                rpc_body("getbestblockhash", json!([])).as_bytes(),
            ),
            Ask::HashAt(h) => {
                post_request(Some(auth), rpc_body("getblockhash", json!([h])).as_bytes())
            }
            Ask::Header(hash) => post_request(
                Some(auth),
                rpc_body("getblockheader", json!([hash, true])).as_bytes(),
            ),
            Ask::RestHeaders(hash) => {
                get_request(&format!("/rest/headers/{hash}.json?count={REST_COUNT}"))
            }
        };
        if conn.is_none() {
            match Conn::open(addr) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tally.fail(format!("{ask:?}: connect: {e}"));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let sent = Instant::now();
        let answer = c.send(&request).and_then(|()| c.read_response());
        let latency = sent.elapsed();
        match answer {
            Ok(reply) => {
                if reply
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                {
                    conn = None;
                }
                match check(&ask, &reply, shared) {
                    Ok(()) => {
                        tally.ok += 1;
                        tally.latencies.push(latency);
                        tally.last_answer = Some(Instant::now());
                    }
                    Err(why) => tally.fail(why),
                }
            }
            Err(e) => {
                tally.fail(format!("{ask:?}: {e}"));
                conn = None;
            }
        }
    }
}

/// The mix, by request index: 20% getblockcount, 20% getbestblockhash, 30% getblockhash of a
/// random height at or below the best seen, 20% getblockheader and 10% REST headers of a hash
/// seen in an answer.
fn pick(i: u64, rng: &mut Rng, shared: &Shared) -> Ask {
    let known_hash = |rng: &mut Rng| {
        let hashes = shared.hashes.lock().unwrap_or_else(|e| e.into_inner());
        hashes[rng.below(hashes.len() as u64) as usize].clone()
    };
    match i % 10 {
        0 | 1 => Ask::Count,
        2 | 3 => Ask::Best,
        4..=6 => {
            let known = shared.known_height.load(Ordering::Relaxed);
            Ask::HashAt(rng.below(known + 1))
        }
        7 | 8 => Ask::Header(known_hash(rng)),
        _ => Ask::RestHeaders(known_hash(rng)),
    }
}

/// Whether `reply` is a correct answer to `ask`; keeps what it learns (heights, hashes).
fn check(ask: &Ask, reply: &Response, shared: &Shared) -> Result<(), String> {
    if reply.status != 200 {
        return Err(format!(
            "{ask:?}: status {} {:?}",
            reply.status,
            reply.text()
        ));
    }
    let value: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{ask:?}: not JSON ({e}): {:?}", reply.text()))?;
    if let Ask::RestHeaders(hash) = ask {
        let first = value
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| format!("{ask:?}: no headers: {value}"))?;
        return (first["hash"].as_str() == Some(hash.as_str()))
            .then_some(())
            .ok_or_else(|| format!("{ask:?}: first header {first}"));
    }
    if !value["error"].is_null() || value["result"].is_null() {
        return Err(format!("{ask:?}: {value}"));
    }
    let result = &value["result"];
    let is_hash = |v: &Value| v.as_str().is_some_and(|s| s.len() == 64);
    match ask {
        Ask::Count => {
            let height = result.as_u64().ok_or_else(|| format!("{ask:?}: {value}"))?;
            shared.known_height.fetch_max(height, Ordering::Relaxed);
        }
        Ask::Best if is_hash(result) => {}
        Ask::HashAt(height) if is_hash(result) => {
            let hash = result.as_str().unwrap_or_default().to_string();
            let n = shared.answered_hashes.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(SAMPLE_EVERY) {
                let mut samples = shared.samples.lock().unwrap_or_else(|e| e.into_inner());
                samples.push((*height, hash.clone()));
            }
            let mut hashes = shared.hashes.lock().unwrap_or_else(|e| e.into_inner());
            if hashes.len() < HASH_POOL {
                hashes.push(hash);
            } else {
                let slot = (n as usize) % HASH_POOL;
                hashes[slot] = hash;
            }
        }
        Ask::Header(hash)
            if result["hash"].as_str() == Some(hash.as_str()) && result["height"].is_u64() => {}
        _ => return Err(format!("{ask:?}: {value}")),
    }
    Ok(())
}
