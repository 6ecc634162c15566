//! BIP324 between real processes, for both binaries in both roles:
//!
//! - A (one binary) syncs from bcoin 1.0.2, which speaks only v1: A's v2 opening is refused
//!   (bcoin sends its v1 `version` at once and drops our key), A comes back with v1 at once,
//!   and syncs; after bcoin is disconnected, A redials it straight with v1 (the downgrade is
//!   remembered): one "retrying with v1" line in all;
//! - B (the other binary) syncs from A over v2: `getpeerinfo` says `v2` on both ends, with
//!   the same `session_id`, and A says `v1` for bcoin; both announce NODE_P2P_V2
//!   (`getnetworkinfo`);
//! - with `--v2transport=false` B speaks v1 to A, and A answers it in v1.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::bcoin::{free_port, Bcoin};
use support::headway::{wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO};
use support::http::{basic_auth, rpc_listening, rpc_result};

const BLOCKS: u32 = 300;
const WAIT: Duration = Duration::from_secs(120);
const EXIT_WAIT: Duration = Duration::from_secs(30);
const RETRY_LINE: &str = "peer refused the v2 transport; retrying with v1";

/// A running node with its RPC login.
struct Node {
    process: HeadwayProcess,
    rpc: std::net::SocketAddr,
    auth: String,
}

impl Node {
    fn start(bin: &'static str, dir: &Path, name: &str, extra: &[&str]) -> Node {
        let datadir: PathBuf = dir.join(name);
        let port = free_port().to_string();
        let mut args = vec![
            "--network",
            "regtest",
            "--datadir",
            datadir.to_str().expect("UTF-8 temp path"),
            "--rpc-port",
            &port,
        ];
        args.extend_from_slice(extra);
        let process = HeadwayProcess::start(bin, &args, dir, name);
        let rpc = rpc_listening(&process, WAIT);
        let cookie = datadir.join("regtest").join(".cookie");
        let text = std::fs::read_to_string(&cookie)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", cookie.display(), process.log()));
        let (user, secret) = text.split_once(':').expect("cookie is user:secret");
        Node {
            auth: basic_auth(user, secret),
            process,
            rpc,
        }
    }

    fn call(&self, method: &str, params: Value) -> Value {
        rpc_result(self.rpc, &self.auth, method, params)
    }

    fn wait_tip(&self, hash: &str) {
        wait_for(
            WAIT,
            "the node to reach the tip",
            || (self.call("getbestblockhash", json!([])) == json!(hash)).then_some(()),
            || self.process.log(),
        );
    }

    /// The `getpeerinfo` entry whose address is `addr`.
    fn peer(&self, addr: &str) -> Value {
        let peers = self.call("getpeerinfo", json!([]));
        peers
            .as_array()
            .and_then(|all| all.iter().find(|p| p["addr"] == json!(addr)).cloned())
            .unwrap_or_else(|| panic!("no peer {addr} in {peers}"))
    }

    /// The entry of the only inbound peer.
    fn inbound(&self) -> Value {
        let peers = self.call("getpeerinfo", json!([]));
        let inbound: Vec<&Value> = peers
            .as_array()
            .map(|all| all.iter().filter(|p| p["inbound"] == json!(true)).collect())
            .unwrap_or_default();
        assert_eq!(inbound.len(), 1, "{peers}");
        inbound[0].clone()
    }

    fn retry_lines(&self) -> usize {
        self.process
            .log()
            .lines()
            .filter(|l| l.contains(RETRY_LINE))
            .count()
    }
}

fn announces_v2(node: &Node) -> bool {
    let info = node.call("getnetworkinfo", json!([]));
    info["localservicesnames"]
        .as_array()
        .is_some_and(|names| names.contains(&json!("P2P_V2")))
}

fn v2_between(serving: &'static str, syncing: &'static str) {
    let bcoin = Bcoin::start();
    bcoin.mine(BLOCKS);
    let best = bcoin.best_hash();
    let dir = tempfile::tempdir().expect("temp dir");
    let bcoin_addr = bcoin.p2p_addr().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut a = Node::start(
        serving,
        dir.path(),
        "a",
        &["--connect", &bcoin_addr, "--listen", &listen],
    );
    a.wait_tip(&best);
    // bcoin speaks v1 only: one refused v2 attempt, then v1.
    assert_eq!(a.retry_lines(), 1, "{}", a.process.log());
    assert_eq!(a.peer(&bcoin_addr)["transport_protocol_type"], json!("v1"));
    assert!(announces_v2(&a));

    let mut b = Node::start(syncing, dir.path(), "b", &["--connect", &listen]);
    b.wait_tip(&best);
    let theirs = b.peer(&listen);
    let ours = a.inbound();
    assert_eq!(theirs["transport_protocol_type"], json!("v2"), "{theirs}");
    assert_eq!(ours["transport_protocol_type"], json!("v2"), "{ours}");
    let session = theirs["session_id"].as_str().expect("a session id");
    assert_eq!(session.len(), 64, "{theirs}");
    assert_eq!(
        ours["session_id"],
        json!(session),
        "both ends derived one session"
    );
    assert_eq!(b.retry_lines(), 0, "{}", b.process.log());
    assert!(
        b.process.log().contains("transport=v2"),
        "the negotiated line names it"
    );

    // bcoin is dropped and redialled: straight with v1 this time.
    let id = a.peer(&bcoin_addr)["id"].clone();
    a.call("disconnectnode", json!(["", id]));
    wait_for(
        WAIT,
        "A to reconnect to bcoin",
        || {
            let peers = a.call("getpeerinfo", json!([]));
            peers.as_array().and_then(|all| {
                all.iter()
                    .find(|p| {
                        p["addr"] == json!(bcoin_addr) && p["id"] != id && p["version"] != json!(0)
                    })
                    .map(|p| p["transport_protocol_type"].clone())
            })
        },
        || a.process.log(),
    );
    assert_eq!(a.peer(&bcoin_addr)["transport_protocol_type"], json!("v1"));
    assert_eq!(a.retry_lines(), 1, "the downgrade was remembered");

    // B with v2 off speaks v1 to A, which answers in v1.
    assert!(
        b.process.terminate(EXIT_WAIT).success(),
        "{}",
        b.process.log()
    );
    let mut c = Node::start(
        syncing,
        dir.path(),
        "c",
        &["--connect", &listen, "--v2transport=false"],
    );
    c.wait_tip(&best);
    assert_eq!(c.peer(&listen)["transport_protocol_type"], json!("v1"));
    assert_eq!(a.inbound()["transport_protocol_type"], json!("v1"));
    assert!(!announces_v2(&c));
    assert!(
        c.process.log().contains("v2 transport off"),
        "{}",
        c.process.log()
    );

    assert!(
        c.process.terminate(EXIT_WAIT).success(),
        "{}",
        c.process.log()
    );
    assert!(
        a.process.terminate(EXIT_WAIT).success(),
        "{}",
        a.process.log()
    );
}

#[test]
fn mio_serves_async_std_over_v2() {
    v2_between(HEADWAY_MIO, HEADWAY_ASYNC_STD);
}

#[test]
fn async_std_serves_mio_over_v2() {
    v2_between(HEADWAY_ASYNC_STD, HEADWAY_MIO);
}
