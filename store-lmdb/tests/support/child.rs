//! A child process for the kill tests: this test binary run again on one test, with a store
//! directory in an environment variable, whose stdout lines are parsed into reports and
//! carried over a channel, so the parent can wait for a moment to kill it at and then see
//! everything it wrote before it died. Killed on drop.

use std::fmt::Debug;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A running child and what it has reported.
pub struct ReportingChild<R> {
    child: std::process::Child,
    reports: mpsc::Receiver<R>,
    /// Every report taken so far, in order.
    pub seen: Vec<R>,
    reader: Option<thread::JoinHandle<()>>,
    /// How long one report (or a bounded exit) may take before the test fails.
    wait: Duration,
}

impl<R: Debug + Send + 'static> ReportingChild<R> {
    /// Runs `test_name` of this test binary alone, with `env` set to `dir`; each stdout line
    /// that `parse` reads is a report.
    pub fn start(
        test_name: &str,
        env: &str,
        dir: &Path,
        parse: fn(&str) -> Option<R>,
        wait: Duration,
    ) -> ReportingChild<R> {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(env, dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, reports) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(report) = parse(&line) {
                    if tx.send(report).is_err() {
                        break;
                    }
                }
            }
        });
        ReportingChild {
            child,
            reports,
            seen: Vec::new(),
            reader: Some(reader),
            wait,
        }
    }

    /// The next report, kept in [`ReportingChild::seen`]; `None` once the child has closed its
    /// output. Panics, with what was seen, if none comes within the wait.
    pub fn next(&mut self) -> Option<&R> {
        match self.reports.recv_timeout(self.wait) {
            Ok(report) => {
                self.seen.push(report);
                self.seen.last()
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "the child reported nothing for {:?}; seen: {:?}",
                self.wait, self.seen
            ),
        }
    }

    /// SIGKILL (if still running), reap, and collect every report written before it died:
    /// whether it was still running, and how it ended.
    pub fn kill(&mut self) -> (bool, ExitStatus) {
        let running = matches!(self.child.try_wait(), Ok(None));
        let _ = self.child.kill();
        let status = self.child.wait().expect("reap the child");
        self.drain();
        (running, status)
    }

    /// Waits for the child to exit by itself, within the wait when `bounded`, and collects its
    /// reports.
    pub fn wait_exit(&mut self, bounded: bool) -> ExitStatus {
        let status = if bounded {
            let deadline = Instant::now() + self.wait;
            loop {
                if let Some(status) = self.child.try_wait().expect("try_wait") {
                    break status;
                }
                assert!(
                    Instant::now() < deadline,
                    "the child did not finish within {:?}; seen {:?}",
                    self.wait,
                    self.seen
                );
                thread::sleep(Duration::from_millis(10));
            }
        } else {
            self.child.wait().expect("wait for the child")
        };
        self.drain();
        status
    }

    fn drain(&mut self) {
        if let Some(reader) = self.reader.take() {
            // The pipe is closed once the child is gone, so the reader thread ends.
            reader.join().expect("the report reader");
        }
        self.seen.extend(self.reports.try_iter());
    }
}

impl<R> Drop for ReportingChild<R> {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
