//! Edge cases of running a node from the command line found in review: errors that happen
//! after the logger is up still end in one `error:` line that names what to fix, and a store
//! LMDB refuses is reported without repeating LMDB's reason.
//! These tests only bind and talk to 127.0.0.1.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BINARIES: [&str; 2] = [
    env!("CARGO_BIN_EXE_headway-mio"),
    env!("CARGO_BIN_EXE_headway-async-std"),
];

/// How long a command may run, and how long a node may take to start: every one of these
/// exits or starts at once, so a child still running (or not started) after this is killed
/// and fails the test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Reads `pipe` to its end on a thread of its own, so that a full pipe never blocks the child.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` to exit, at most [`TIMEOUT`]; past that it is killed and the test fails.
fn wait_with_timeout(child: &mut Child, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {TIMEOUT:?}; killed");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn run(bin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let status = wait_with_timeout(&mut child, &format!("{bin} {args:?}"));
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// A node left running by a test, its standard error collected as it comes; killed and reaped
/// when dropped, so that a failing test leaves no node behind.
struct RunningNode {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    what: String,
}

impl RunningNode {
    /// Starts `bin` as a regtest node on `datadir`, logging at info level.
    fn start(bin: &str, datadir: &str) -> RunningNode {
        let mut child = Command::new(bin)
            .args(["--network", "regtest", "--datadir", datadir])
            .args(["--log-level", "info", "--rpc-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the node starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().expect("piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        RunningNode {
            child,
            stderr,
            what: format!("{bin} on {datadir}"),
        }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until the node has logged `needle`, at most [`TIMEOUT`]; fails the test if it
    /// exits first or the time runs out.
    fn wait_for_log(&mut self, needle: &str) {
        let started = Instant::now();
        loop {
            if self.stderr().contains(needle) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Its last words may still be in the pipe.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "{} exited ({status}) before logging {needle:?}; stderr:\n{}",
                    self.what,
                    self.stderr()
                );
            }
            if started.elapsed() > TIMEOUT {
                panic!(
                    "{} did not log {needle:?} within {TIMEOUT:?}; stderr:\n{}",
                    self.what,
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails the test if the node has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "{} exited ({status}); stderr:\n{}",
                self.what,
                self.stderr()
            );
        }
    }

    /// Kills the node and waits (at most [`TIMEOUT`]) until it is gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        wait_with_timeout(&mut self.child, &self.what);
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Takes the data directory's lock as a node does (`headway.lock` in the network's store),
/// retrying until [`TIMEOUT`], which fails the test; released when the file is dropped.
fn take_lock(store: &Path) -> std::fs::File {
    let path = store.join("headway.lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return file,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() <= TIMEOUT => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{} still locked after {TIMEOUT:?}: {e}", path.display()),
        }
    }
}

/// The failed run's last standard-error line, which must be the one `error:` line.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "not one error line: {stderr:?}");
    assert_eq!(
        stderr.trim_end().lines().last(),
        Some(errors[0]),
        "{stderr:?}"
    );
    errors[0].to_string()
}

#[test]
fn a_listen_port_in_use_is_one_line_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    for bin in BINARIES {
        let out = run(
            bin,
            &[
                "--network",
                "regtest",
                "--datadir",
                datadir,
                "--listen",
                &addr,
            ],
        );
        let line = error_line(&out);
        assert!(line.contains(&addr), "{line}");
        assert!(line.to_lowercase().contains("in use"), "{line}");
    }
}

#[test]
fn a_store_lmdb_refuses_is_one_line_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("regtest");
    std::fs::create_dir(&store).unwrap();
    let garbage = vec![0x5au8; 65_536];
    std::fs::write(store.join("data.mdb"), &garbage).unwrap();
    let datadir = dir.path().to_str().unwrap();
    for bin in BINARIES {
        for args in [
            &["--network", "regtest", "--datadir", datadir][..],
            &["tip", "--datadir", datadir][..],
        ] {
            let line = error_line(&run(bin, args));
            assert!(line.contains("MDB_INVALID"), "{line}");
            assert_eq!(line.matches("MDB_INVALID").count(), 1, "{line}");
        }
    }
    // Refused untouched.
    assert_eq!(std::fs::read(store.join("data.mdb")).unwrap(), garbage);
}

#[test]
fn a_datadir_that_is_a_file_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let datadir = file.to_str().unwrap();
    for bin in BINARIES {
        let line = error_line(&run(bin, &["--network", "regtest", "--datadir", datadir]));
        assert!(line.contains(datadir), "{line}");
        let line = error_line(&run(bin, &["tip", "--datadir", datadir]));
        assert!(line.contains(datadir), "{line}");
    }
}

#[test]
fn a_bad_connect_address_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("d");
    for bin in BINARIES {
        let out = run(
            bin,
            &[
                "--network",
                "regtest",
                "--datadir",
                datadir.to_str().unwrap(),
                "--connect",
                "127.0.0.1:notaport",
            ],
        );
        let line = error_line(&out);
        assert!(
            line.contains("--connect") && line.contains("notaport"),
            "{line}"
        );
        assert!(!datadir.exists(), "the data directory was created");
    }
}

#[test]
fn a_second_node_on_the_same_data_directory_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    let store = dir.path().join("regtest");
    let mut first = RunningNode::start(BINARIES[0], datadir);
    // A node opens its store only once it holds the lock.
    first.wait_for_log("store opened");
    let outcomes: Vec<String> = BINARIES
        .iter()
        .map(|bin| error_line(&run(bin, &["--network", "regtest", "--datadir", datadir])))
        .collect();
    // Refused while the first one still ran.
    first.assert_running();
    first.kill();
    for line in outcomes {
        assert!(line.contains("in use by another headway node"), "{line}");
    }
    // Killed, the first node leaves no stale lock: it can be taken at once, and a new node
    // takes the directory.
    drop(take_lock(&store));
    let mut again = RunningNode::start(BINARIES[1], datadir);
    again.wait_for_log("store opened");
    again.assert_running();
    again.kill();
}
