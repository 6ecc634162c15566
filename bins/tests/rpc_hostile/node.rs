//! The node under abuse: headway-mio on regtest, connected only to bcoin, with our login on a
//! free port and the flags a test asks for; and the timing bounds the checks share.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::bcoin::{free_port, Bcoin};
use crate::support::headway::{wait_for, HeadwayProcess, HEADWAY_MIO};
use crate::support::http::Rpc;

/// The login of every node here.
const RPC_USER: &str = "hostile";
const RPC_PASSWORD: &str = "hostile-test-password";
/// The server timeout of the first test's node (`--rpc-timeout`).
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(1);
pub const SERVER_TIMEOUT_ARG: &str = "1";
/// A timed-out connection may be closed this much before the timeout by our clock (it is
/// timed from the accept, which we see a little after our connect returns)...
pub const EARLY_SLACK: Duration = Duration::from_millis(150);
/// ...and at most this much after it (a busy 2-core machine).
pub const LATE_SLACK: Duration = Duration::from_secs(2);
/// An answer "at once".
pub const PROMPT: Duration = Duration::from_secs(1);
/// Time for a request sent on one connection to reach a worker before the next one is sent.
pub const DISPATCH_SETTLE: Duration = Duration::from_millis(300);
/// Liveness bounds: a stuck node fails the test instead of hanging it.
const START_WAIT: Duration = Duration::from_secs(60);
pub const SYNC_WAIT: Duration = Duration::from_secs(120);
pub const EXIT_WAIT: Duration = Duration::from_secs(30);

/// Starts headway-mio on regtest, connected only to `bcoin`, with our login on a free port
/// and `extra` flags, and waits until its RPC answers.
pub fn start_node(bcoin: &Bcoin, dir: &Path, extra: &[&str]) -> (HeadwayProcess, Rpc) {
    let port = free_port();
    let datadir = dir.join("data");
    let connect = bcoin.p2p_addr().to_string();
    let port_arg = port.to_string();
    let mut args = vec![
        "--network",
        "regtest",
        "--connect",
        &connect,
        "--datadir",
        datadir.to_str().unwrap(),
        "--rpc-port",
        &port_arg,
        "--rpc-user",
        RPC_USER,
        "--rpc-password",
        RPC_PASSWORD,
    ];
    args.extend_from_slice(extra);
    let node = HeadwayProcess::start(HEADWAY_MIO, &args, dir, "headway");
    let rpc = Rpc::new(
        SocketAddr::from(([127, 0, 0, 1], port)),
        RPC_USER,
        RPC_PASSWORD,
    );
    wait_for(
        START_WAIT,
        "headway's RPC to answer",
        || rpc.height(),
        || node.log(),
    );
    (node, rpc)
}
