//! The node processes of the bench: their arguments, their JSON-RPC and their memory (the
//! processes themselves, and their lifetime, are `shared/node_process.rs`).

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// The arguments every node here gets.
pub(super) fn node_args(datadir: &Path, rpc: SocketAddr, transport: Transport) -> Vec<String> {
    let args: Vec<String> = [
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
        transport.flag(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args
}

/// The arguments of a serving node: listening on `p2p`, dialling nobody.
pub(super) fn serving_args(
    datadir: &Path,
    rpc: SocketAddr,
    p2p: SocketAddr,
    t: Transport,
) -> Vec<String> {
    let mut args = node_args(datadir, rpc, t);
    args.extend(
        [
            "--listen",
            &p2p.to_string(),
            "--max-outbound",
            "0",
            "--no-dns-seeds",
            "--no-fixed-seeds",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
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
        thread::sleep(RPC_RETRY);
    }
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

/// The moment the node's stored tip reached `height`: one `waitforblockheight` call, placed
/// as soon as the RPC port accepts, returns when the store holds it (no polling interval to
/// blur the time), with the CPU seconds the node and the serving process (`pids`: the node's,
/// the server's) had used by then.
/// Gives up when `stop` is set (the node died) or after the waits.
fn wait_stored_height(
    rpc: &Rpc,
    height: u32,
    launched: Instant,
    stop: &AtomicBool,
    pids: (u32, u32),
) -> Result<Reached> {
    let mut conn = loop {
        if let Ok(conn) = Conn::open(rpc.addr) {
            break conn;
        }
        ensure!(!stop.load(Ordering::Relaxed), "the node stopped");
        ensure!(
            launched.elapsed() < START_WAIT,
            "RPC port not open {START_WAIT:?} after launch"
        );
        thread::sleep(RPC_RETRY);
    };
    conn.stream()
        .set_read_timeout(Some(SYNC_WAIT + REPLY_TIMEOUT))
        .context("cannot set the read timeout")?;
    let wait_ms = u64::try_from(SYNC_WAIT.as_millis()).unwrap_or(u64::MAX);
    let body = rpc_body("waitforblockheight", json!([height, wait_ms]));
    let reply = conn
        .post(Some(&rpc.auth), body.as_bytes())
        .context("waitforblockheight")?;
    let at = Instant::now();
    let (node_cpu, server_cpu) = (cpu_seconds_of(pids.0)?, cpu_seconds_of(pids.1)?);
    ensure!(
        reply.status == 200,
        "waitforblockheight: status {}: {}",
        reply.status,
        reply.text()
    );
    let got = reply.json()["result"]["height"].as_u64().unwrap_or(0);
    ensure!(
        got >= u64::from(height),
        "reached only {got} of {height} within {SYNC_WAIT:?}"
    );
    Ok(Reached {
        at,
        node_cpu,
        server_cpu,
    })
}

/// When a node's stored tip reached a height, and the CPU used by then.
pub(super) struct Reached {
    pub(super) at: Instant,
    /// CPU seconds of the node since its launch.
    pub(super) node_cpu: f64,
    /// CPU seconds of the serving process since its launch.
    pub(super) server_cpu: f64,
}

/// The peaks of a process's memory over a run, in bytes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Memory {
    pub(super) rss_anon: u64,
    pub(super) vm_rss: u64,
    /// The kernel's own peak resident size (`VmHWM`), read at the end.
    pub(super) vm_hwm: u64,
    pub(super) samples: u64,
}

impl Memory {
    fn sample(&mut self, pid: u32) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        self.samples += 1;
        for line in status.lines() {
            if let Some(kb) = status_kb(line, "RssAnon:") {
                self.rss_anon = self.rss_anon.max(kb * 1024);
            } else if let Some(kb) = status_kb(line, "VmRSS:") {
                self.vm_rss = self.vm_rss.max(kb * 1024);
            } else if let Some(kb) = status_kb(line, "VmHWM:") {
                self.vm_hwm = self.vm_hwm.max(kb * 1024);
            }
        }
    }
}

/// The kB of a `/proc/<pid>/status` line `Name:   123 kB`.
fn status_kb(line: &str, name: &str) -> Option<u64> {
    line.strip_prefix(name)?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Waits until `node`'s stored tip reaches each of `heights` (one `waitforblockheight` call
/// each, on threads of their own), sampling its memory every [`MEMORY_SAMPLE`] meanwhile:
/// the moments each height was reached (with the CPU that node and `server_pid` had used by
/// then), and the peaks.
pub(super) fn wait_heights_sampling(
    node: &mut Process,
    server_pid: u32,
    rpc: &Rpc,
    heights: &[u32],
    launched: Instant,
) -> Result<(Vec<Reached>, Memory)> {
    let stop = AtomicBool::new(false);
    let mut memory = Memory::default();
    let pid = node.child.id();
    let results = thread::scope(|scope| {
        let waits: Vec<_> = heights
            .iter()
            .map(|&h| {
                let stop = &stop;
                scope.spawn(move || wait_stored_height(rpc, h, launched, stop, (pid, server_pid)))
            })
            .collect();
        let mut failure = None;
        while !waits.iter().all(|w| w.is_finished()) {
            memory.sample(pid);
            if let Err(e) = node.check_running() {
                failure = Some(e);
                stop.store(true, Ordering::Relaxed);
                break;
            }
            thread::sleep(MEMORY_SAMPLE);
        }
        memory.sample(pid);
        let joined: Vec<Result<Reached>> = waits
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow!("a waiting thread panicked")))
            })
            .collect();
        match failure {
            Some(e) => Err(e),
            None => Ok(joined),
        }
    })?;
    let mut reached = Vec::with_capacity(results.len());
    for (height, result) in heights.iter().zip(results) {
        reached.push(result.with_context(|| {
            format!(
                "waiting for stored height {height}; log:\n{}",
                node.log_tail()
            )
        })?);
    }
    Ok((reached, memory))
}
