//! A headway binary running as a child process for tests: its log goes to a file (read back
//! for failure messages), SIGTERM stops it, and dropping it kills it if it still runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The `headway-mio` binary built for these tests.
pub const HEADWAY_MIO: &str = env!("CARGO_BIN_EXE_headway-mio");
/// The `headway-async-std` binary built for these tests.
pub const HEADWAY_ASYNC_STD: &str = env!("CARGO_BIN_EXE_headway-async-std");

/// A running headway node.
pub struct HeadwayProcess {
    child: Child,
    log: PathBuf,
    /// The binary it runs.
    pub bin: &'static str,
}

impl HeadwayProcess {
    /// Starts `bin` with `args`, logging at debug level into `log_dir/<name>.log`.
    pub fn start(bin: &'static str, args: &[&str], log_dir: &Path, name: &str) -> HeadwayProcess {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create headway log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(bin)
            .args(args)
            .args(rpc_port_args(args))
            .args(["--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start headway");
        HeadwayProcess { child, log, bin }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}); log:\n{}", self.bin, self.log());
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: signalling our own child, which we have not yet reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if started.elapsed() > timeout {
                panic!(
                    "{} still running {timeout:?} after SIGTERM; log:\n{}",
                    self.bin,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl HeadwayProcess {
    /// Waits up to `timeout` for the process to exit by itself (after the RPC's `stop`, say)
    /// and returns its status; panics with the log if it is still running then.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if started.elapsed() > timeout {
                panic!(
                    "{} still running after {timeout:?}; log:\n{}",
                    self.bin,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HeadwayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs an inspection command of `bin` to completion.
pub fn inspect(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("run inspection command")
}

/// The value of `key:` in a `tip`/`header` report.
pub fn report_field(report: &str, key: &str) -> Option<String> {
    report.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with
/// `what` and the context `describe` gives.
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if started.elapsed() > timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                describe()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `--rpc-port 0` (an ephemeral port) unless `args` already say where RPC goes: tests run
/// side by side, and every node on the default port would clash.
pub fn rpc_port_args(args: &[&str]) -> &'static [&'static str] {
    if args
        .iter()
        .any(|a| a.starts_with("--rpc") || *a == "--no-rpc")
    {
        &[]
    } else {
        &["--rpc-port", "0"]
    }
}

/// Runs `bin` with `args` to completion and collects its output; a run still going after
/// `timeout` is killed and fails the test instead of hanging it.
pub fn run_bounded(bin: &str, args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {args:?} still running after {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect output")
}

/// Asserts a failed run whose standard error is exactly one line containing every `needle`.
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr:?}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from {stderr:?}"
        );
    }
}
