//! The node processes of the loopback benches (`v2_sync`, `sync_scale`): a [`Process`] logs to
//! a file, stops on SIGTERM and is killed and reaped when dropped while it still runs, so no
//! exit path of a bench leaves a node behind.

use super::*;

/// How long a node may take to exit after SIGTERM.
pub(super) const EXIT_WAIT: Duration = Duration::from_secs(60);
/// How often the exit is looked for.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// Log lines shown in an error.
const LOG_TAIL_LINES: usize = 40;

/// A headway node process: log to a file, SIGTERM to stop, killed if dropped while running.
pub(super) struct Process {
    pub(super) child: Child,
    pub(super) bin: String,
    pub(super) log: PathBuf,
}

impl Process {
    pub(super) fn spawn(bin: &str, args: &[String], log: PathBuf) -> Result<Process> {
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot clone the log handle")?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {bin}"))?;
        Ok(Process {
            child,
            bin: bin.to_string(),
            log,
        })
    }

    /// Its log so far.
    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for error messages.
    pub(super) fn log_tail(&self) -> String {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    pub(super) fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow!(
                "{} exited early ({status}); log:\n{}",
                self.bin,
                self.log_tail()
            )),
            Err(e) => Err(anyhow!("cannot wait for {}: {e}", self.bin)),
        }
    }

    /// User and system CPU seconds the process has used so far (Linux `/proc`).
    pub(super) fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds_of(self.child.id())
    }

    /// CPU seconds by thread name (threads of one name summed), largest first: where a
    /// process's time went, without a profiler. Threads that have ended are not listed.
    pub(super) fn cpu_by_thread(&self) -> Result<Vec<(String, f64)>> {
        let tasks = format!("/proc/{}/task", self.child.id());
        let mut by_name: Vec<(String, f64)> = Vec::new();
        for entry in std::fs::read_dir(&tasks).with_context(|| format!("cannot list {tasks}"))? {
            let path = entry.context("cannot list a task")?.path().join("stat");
            // A thread may end between the listing and the read.
            let Ok(stat) = std::fs::read_to_string(&path) else {
                continue;
            };
            let (name, secs) = stat_cpu(&stat)?;
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += secs,
                None => by_name.push((name, secs)),
            }
        }
        by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(by_name)
    }

    /// SIGTERM, then up to [`EXIT_WAIT`] for the exit, which must be a clean one (status 0).
    pub(super) fn stop_cleanly(&mut self, who: &str) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid does not fit pid_t")?;
        // SAFETY: signalling our own child, which we have not yet reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        ensure!(rc == 0, "kill -TERM {pid} failed");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().context("try_wait")? {
                break status;
            }
            ensure!(
                started.elapsed() < EXIT_WAIT,
                "{who} ({}) still running {EXIT_WAIT:?} after SIGTERM; log:\n{}",
                self.bin,
                self.log_tail()
            );
            thread::sleep(EXIT_POLL);
        };
        ensure!(
            status.code() == Some(0),
            "{who} ({}) exited with {status} after SIGTERM; log:\n{}",
            self.bin,
            self.log_tail()
        );
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU seconds by thread (as [`Process::cpu_by_thread`] gives them) for a report line:
/// `name 0.42, ...` for the threads that used at least 10 ms, the rest summed as `other`.
pub(super) fn thread_cpu_line(threads: &[(String, f64)]) -> String {
    let (shown, rest): (Vec<_>, Vec<_>) = threads.iter().partition(|(_, s)| *s >= 0.01);
    let mut parts: Vec<String> = shown.iter().map(|(n, s)| format!("{n} {s:.2}")).collect();
    let other: f64 = rest.iter().map(|(_, s)| s).sum();
    if other > 0.0 {
        parts.push(format!("other {other:.2}"));
    }
    parts.join(", ")
}

/// User and system CPU seconds process `pid` has used so far (Linux `/proc`).
pub(super) fn cpu_seconds_of(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("cannot read /proc/<pid>/stat")?;
    Ok(stat_cpu(&stat)?.1)
}

/// The command (thread) name and the user and system CPU seconds of a `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Result<(String, f64)> {
    // The command name, in parentheses, may hold spaces: count fields after its end.
    // There utime and stime are fields 14 and 15 of the line, 12th and 13th here.
    let (head, rest) = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow!("malformed /proc/<pid>/stat: {stat:?}"))?;
    let name = head.split_once('(').map(|(_, n)| n).unwrap_or(head);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| anyhow!("malformed /proc/<pid>/stat: {stat:?}"))
    };
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ensure!(hz > 0, "sysconf(_SC_CLK_TCK) failed");
    Ok((name.to_string(), (ticks(11)? + ticks(12)?) / hz as f64))
}
