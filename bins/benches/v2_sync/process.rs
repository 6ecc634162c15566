//! The node processes of a leg: their arguments and their JSON-RPC (the processes themselves
//! are `shared/node_process.rs`).

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
