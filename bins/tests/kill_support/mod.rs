//! Helpers of the kill, crash and shutdown tests (`crash_recovery.rs`, `crash_reorg.rs`,
//! `crash_commit.rs`, `shutdown.rs`): a `headway-mio` run that can be signalled and whose log is read as it
//! grows, the log's `key=value` fields, a seeded generator for kill schedules, and a full
//! check of a store left behind.

#![allow(dead_code)] // each test file uses a different part

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use headway_core::bitcoin::{BlockHash, Work};
use headway_core::Network;
use headway_store_lmdb::{HeaderStore, StoreError};

/// The `headway-mio` binary built for these tests.
pub const HEADWAY_MIO: &str = env!("CARGO_BIN_EXE_headway-mio");

/// xorshift64*: a tiny seeded generator, enough to pick kill moments reproducibly.
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator seeded with `HEADWAY_CRASH_SEED` if set, else with `default`; the seed is
    /// printed so that a failing schedule can be replayed.
    pub fn from_env(default: u64) -> Xorshift {
        let seed = match std::env::var("HEADWAY_CRASH_SEED") {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("HEADWAY_CRASH_SEED={text:?} is not a u64: {e}")),
            Err(_) => default,
        };
        eprintln!("schedule seed: {seed} (replay with HEADWAY_CRASH_SEED={seed})");
        Xorshift(seed.max(1))
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// One `headway-mio` node run, logging to a file; killed on drop if it still runs.
pub struct NodeRun {
    child: Child,
    log_path: PathBuf,
    /// The log read so far by [`NodeRun::new_lines`].
    log_file: File,
    partial: String,
    /// Every complete log line read so far.
    pub lines: Vec<String>,
    /// Lines read by [`NodeRun::wait_for_line`] after the one it returned: the next wait
    /// looks at them first, so two lines written together are both found, in order.
    unmatched: std::collections::VecDeque<String>,
    /// When it was spawned.
    pub started: Instant,
}

impl NodeRun {
    /// Starts `headway-mio` on regtest against `peer` with data in `datadir`, logging at
    /// `level` to `log`.
    pub fn start(peer: &str, datadir: &Path, log: PathBuf, level: &str) -> NodeRun {
        NodeRun::start_with(peer, datadir, log, level, |_| {})
    }

    /// [`NodeRun::start`], with `adjust` applied to the command before the spawn.
    pub fn start_with(
        peer: &str,
        datadir: &Path,
        log: PathBuf,
        level: &str,
        adjust: impl FnOnce(&mut Command),
    ) -> NodeRun {
        let out = File::create(&log).expect("create node log");
        let err = out.try_clone().expect("clone log handle");
        let mut command = Command::new(HEADWAY_MIO);
        command
            .args(["--network", "regtest", "--connect", peer, "--datadir"])
            .arg(datadir)
            .args(["--log-level", level, "--rpc-port", "0"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        adjust(&mut command);
        let started = Instant::now();
        let child = command.spawn().expect("start headway-mio");
        let log_file = File::open(&log).expect("open node log");
        NodeRun {
            child,
            log_path: log,
            log_file,
            partial: String::new(),
            unmatched: std::collections::VecDeque::new(),
            lines: Vec::new(),
            started,
        }
    }

    /// Its whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` lines of its log, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The complete lines written to the log since the last call (also kept in `lines`).
    pub fn new_lines(&mut self) -> Vec<String> {
        let mut chunk = String::new();
        let _ = self.log_file.read_to_string(&mut chunk);
        if chunk.is_empty() {
            return Vec::new();
        }
        self.partial.push_str(&chunk);
        let mut out = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            out.push(line.trim_end().to_string());
        }
        self.lines.extend(out.iter().cloned());
        out
    }

    /// Rereads the log from the start into `lines` (after the process died, say).
    pub fn reread(&mut self) {
        self.lines.clear();
        self.partial.clear();
        let _ = self.log_file.seek(SeekFrom::Start(0));
        self.new_lines();
    }

    /// Its process id, for signals.
    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t")
    }

    /// Sends `signal`; panics if that fails.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: signalling our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill -{signal} {}", self.pid());
    }

    /// Panics with the log tail if the node has exited by itself.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "headway-mio exited by itself ({status}); log tail:\n{}",
                self.tail(40)
            );
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix) a running node, reap it, and read the rest
    /// of its log.
    pub fn sigkill(&mut self) {
        self.assert_running();
        self.child.kill().expect("SIGKILL headway-mio");
        let status = self.child.wait().expect("reap headway-mio");
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "killed node status {status}; log tail:\n{}",
            self.tail(40)
        );
        self.new_lines();
    }

    /// Waits up to `timeout` for the exit status; panics with the log tail if it does not come.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.new_lines();
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "headway-mio still running {timeout:?} on; log tail:\n{}",
                self.tail(40)
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls the log every 0.2 ms until a line satisfies `found`, and returns it; panics
    /// with the log tail if the node exits first or `timeout` passes.
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        what: &str,
        mut found: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let fresh = self.new_lines();
            self.unmatched.extend(fresh);
            while let Some(line) = self.unmatched.pop_front() {
                if found(&line) {
                    return line;
                }
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "no {what} in the log within {timeout:?}; log tail:\n{}",
                self.tail(40)
            );
            thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `key=value` fields of `line` if its message is exactly `message`. Lines read
/// `<time> <LEVEL> <message> <key=value>...` (the binary logs without targets), so "stored"
/// does not match "header store opened".
pub fn fields(line: &str, message: &str) -> Option<Vec<(String, String)>> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let words: Vec<&str> = message.split_whitespace().collect();
    if tokens.get(2..2 + words.len()) != Some(words.as_slice()) {
        return None;
    }
    // The message ends where the fields begin: "stored" must not match "stored something".
    if let Some(next) = tokens.get(2 + words.len()) {
        if !next.contains('=') {
            return None;
        }
    }
    Some(
        tokens[2 + words.len()..]
            .iter()
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect(),
    )
}

/// The numeric field `key` of `line` if its message is `message`.
pub fn number(line: &str, message: &str, key: &str) -> Option<u64> {
    fields(line, message)?
        .into_iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// The text field `key` of `line` if its message is `message`.
pub fn text(line: &str, message: &str, key: &str) -> Option<String> {
    fields(line, message)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A store as found after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreState {
    /// Its tip height.
    pub height: u32,
    /// Its tip hash.
    pub hash: BlockHash,
    /// Its best chain's work.
    pub work: Work,
    /// Side headers it holds.
    pub side: u64,
}

/// Opens the store read-only, runs its own `verify`, and walks the best chain independently:
/// height 0 is regtest's genesis, every header names the previous one's hash, the walk ends
/// at the tip record, and `header_at(tip)` is the tip header. `None` only if no store was ever
/// created (a kill before the first commit of a fresh directory).
pub fn check_store(store_dir: &Path) -> Option<StoreState> {
    let store = match HeaderStore::open_read_only(store_dir) {
        Ok(store) => store,
        Err(StoreError::NoStore { .. }) => return None,
        Err(e) => panic!("reopening the store failed: {e}"),
    };
    let report = store.verify().expect("verify the store");
    assert!(report.is_consistent(), "store inconsistent: {report:#?}");
    let tip = store
        .tip()
        .expect("read the tip")
        .expect("a store always has a tip");
    assert_eq!((tip.height, tip.hash), (report.tip_height, report.tip_hash));
    assert_eq!(report.best_headers, u64::from(tip.height) + 1);
    let genesis = Network::Regtest.params().genesis_hash();
    let mut prev: Option<BlockHash> = None;
    let mut walked = 0u32;
    store
        .for_each_best(0, u32::MAX, |height, header| {
            assert_eq!(height, walked, "heights are contiguous");
            match prev {
                None => assert_eq!(header.block_hash(), genesis, "height 0 is genesis"),
                Some(p) => assert_eq!(header.prev_blockhash, p, "height {height} links"),
            }
            prev = Some(header.block_hash());
            walked += 1;
            Ok(())
        })
        .expect("walk the best chain");
    assert_eq!(walked, tip.height + 1, "the walk covers genesis..=tip");
    assert_eq!(prev, Some(tip.hash), "the walk ends at the tip record");
    let at_tip = store
        .header_at(tip.height)
        .expect("header_at")
        .expect("a header at the tip height");
    assert_eq!(at_tip.block_hash(), tip.hash, "height index and tip agree");
    Some(StoreState {
        height: tip.height,
        hash: tip.hash,
        work: tip.work,
        side: report.side_headers,
    })
}

/// The stored best chain's hash at `height`, if the store has one there.
pub fn stored_hash_at(store_dir: &Path, height: u32) -> Option<BlockHash> {
    let store = HeaderStore::open_read_only(store_dir).ok()?;
    let header = store.header_at(height).ok()??;
    Some(header.block_hash())
}

/// Polls the store's tip every 2 ms until `done` holds for it; panics with the log tail if the
/// node exits or `timeout` passes. The store handle is dropped on return (heed allows one
/// open environment per path and process).
pub fn wait_for_store(
    node: &mut NodeRun,
    store_dir: &Path,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(u32, &BlockHash) -> bool,
) -> u32 {
    let deadline = Instant::now() + timeout;
    let mut store: Option<HeaderStore> = None;
    loop {
        node.assert_running();
        if store.is_none() {
            // Fails until the node has created the store; that is expected early on.
            store = HeaderStore::open_read_only(store_dir).ok();
        }
        if let Some(tip) = store.as_ref().and_then(|s| s.tip().ok().flatten()) {
            if done(tip.height, &tip.hash) {
                return tip.height;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the store did not reach {what} within {timeout:?}; log tail:\n{}",
            node.tail(40)
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the store holds `tip` and the run has logged `synced` at that height: a store
/// may hold the tip before the run has even started its node (and installed its signal
/// handlers, so a SIGTERM sent then would kill it outright).
pub fn wait_synced(node: &mut NodeRun, store_dir: &Path, tip: &str, timeout: Duration) -> u32 {
    let height = wait_for_store(node, store_dir, timeout, "the peer's tip", |_, hash| {
        hash.to_string() == tip
    });
    node.wait_for_line(timeout, "`synced` at the peer's tip", |line| {
        number(line, "synced", "height") == Some(u64::from(height))
    });
    height
}

#[test]
fn fields_match_whole_messages_only() {
    let line = "2026-12-01T20:39:40.571096Z DEBUG stored changes=1 headers=1 commit_ms=78.6";
    assert_eq!(number(line, "stored", "headers"), Some(1));
    assert_eq!(number(line, "stored", "commit_ms"), None);
    assert_eq!(
        number("t INFO header store opened map_size=4", "stored", "x"),
        None
    );
    assert_eq!(
        number("t INFO store opened height=7", "store opened", "height"),
        Some(7)
    );
    assert_eq!(number("t INFO stored something x=1", "stored", "x"), None);
    assert_eq!(
        text("t INFO stopped height=7 tip=00ab", "stopped", "tip").as_deref(),
        Some("00ab")
    );
    let mut rng = Xorshift(42);
    let xs: Vec<u64> = (0..50).map(|_| rng.below(10)).collect();
    assert!(xs.iter().all(|&x| x < 10) && xs.iter().any(|&x| x != xs[0]));
}
