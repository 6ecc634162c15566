//! The node processes of a leg: their arguments, their JSON-RPC, and their lifetime.

use super::*;

/// The arguments every node here gets.
pub(super) fn node_args(datadir: &Path, rpc: SocketAddr, flag: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--network",
        "regtest",
        "--datadir",
        &datadir.display().to_string(),
        "--rpc-port",
        &rpc.port().to_string(),
        "--rpc-user",
        RPC_USER,
        "--rpc-password",
        RPC_PASSWORD,
        // Per-message debug lines would be part of what is measured.
        "--log-level",
        "info",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(flag.map(str::to_string));
    args
}

/// Calls `method` once its RPC port answers, polling from the launch; its `result`.
pub(super) fn wait_rpc(
    node: &mut Process,
    rpc: &Rpc,
    method: &str,
    params: Value,
) -> Result<Value> {
    let started = Instant::now();
    loop {
        if let Ok(response) = rpc.try_post(&rpc_body(method, params.clone())) {
            ensure!(
                response.status == 200,
                "{method}: status {}: {}",
                response.status,
                response.text()
            );
            return Ok(response.json()["result"].clone());
        }
        node.check_running()?;
        ensure!(
            started.elapsed() < START_WAIT,
            "RPC not answering {START_WAIT:?} after launch; log:\n{}",
            node.log_tail()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// The moment B's stored tip reached `height`: one `waitforblockheight` call, placed as soon
/// as the RPC port accepts, returns when the store holds it (no polling interval to blur the
/// time, and the call costs nothing while it waits).
pub(super) fn wait_stored_height(
    node: &mut Process,
    rpc: &Rpc,
    height: u32,
    launched: Instant,
) -> Result<Instant> {
    let mut conn = loop {
        if let Ok(conn) = Conn::open(rpc.addr) {
            break conn;
        }
        node.check_running()?;
        ensure!(
            launched.elapsed() < START_WAIT,
            "B's RPC port not open {START_WAIT:?} after launch; log:\n{}",
            node.log_tail()
        );
        thread::sleep(Duration::from_millis(2));
    };
    conn.stream()
        .set_read_timeout(Some(SYNC_WAIT + REPLY_TIMEOUT))
        .context("cannot set the read timeout")?;
    let wait_ms = u64::try_from(SYNC_WAIT.as_millis()).unwrap_or(u64::MAX);
    let body = rpc_body("waitforblockheight", json!([height, wait_ms]));
    let reply = conn
        .post(Some(&rpc.auth), body.as_bytes())
        .with_context(|| format!("waitforblockheight; log:\n{}", node.log_tail()))?;
    let reached = Instant::now();
    ensure!(
        reply.status == 200,
        "waitforblockheight: status {}: {}",
        reply.status,
        reply.text()
    );
    let got = reply.json()["result"]["height"].as_u64().unwrap_or(0);
    ensure!(
        got >= u64::from(height),
        "B reached only {got} of {height} within {SYNC_WAIT:?}; log:\n{}",
        node.log_tail()
    );
    Ok(reached)
}

/// `method`'s result, or an error with the answer.
pub(super) fn rpc_result(rpc: &Rpc, method: &str, params: Value) -> Result<Value> {
    let response = rpc
        .try_post(&rpc_body(method, params))
        .with_context(|| format!("{method} to {}", rpc.addr))?;
    ensure!(
        response.status == 200,
        "{method}: status {}: {}",
        response.status,
        response.text()
    );
    Ok(response.json()["result"].clone())
}

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

    /// The last lines of its log, for error messages.
    pub(super) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
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
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .context("cannot read /proc/<pid>/stat")?;
        // The command name, in parentheses, may hold spaces: count fields after its end.
        // There utime and stime are fields 14 and 15 of the line, 12th and 13th here.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow!("malformed /proc/<pid>/stat: {stat:?}"))?;
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
        Ok((ticks(11)? + ticks(12)?) / hz as f64)
    }

    pub(super) fn terminate(&mut self) -> Result<ExitStatus> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid does not fit pid_t")?;
        // SAFETY: signalling our own child, which we have not yet reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        ensure!(rc == 0, "kill -TERM {pid} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().context("try_wait")? {
                return Ok(status);
            }
            ensure!(
                started.elapsed() < EXIT_WAIT,
                "{} still running {EXIT_WAIT:?} after SIGTERM; log:\n{}",
                self.bin,
                self.log_tail()
            );
            thread::sleep(Duration::from_millis(20));
        }
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
