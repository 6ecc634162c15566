//! The work queue, with `--rpc-threads 1 --rpc-work-queue 1` (and REST off, the default): with
//! the worker in a `waitfornewblock` and the queue holding a second one, a third request gets
//! 503 "Work queue depth exceeded" at once; one block on bcoin releases both waits and frees
//! the worker; SIGTERM during a wait answers it with the tip and exits 0.

use std::thread;
use std::time::Instant;

use serde_json::{json, Value};

use crate::node::{start_node, DISPATCH_SETTLE, EXIT_WAIT, PROMPT, SYNC_WAIT};
use crate::rest::all_unknown_without_rest;
use crate::support::bcoin::Bcoin;
use crate::support::headway::wait_for;
use crate::support::http::{post_request, rpc_body, Conn};

/// Blocks mined for the work-queue test (any short chain will do).
const QUEUE_BLOCKS: u32 = 10;

/// On a node without `--rest`: REST off, then the work queue.
pub fn a_full_work_queue_is_refused_at_once_and_rest_is_off_by_default() {
    let bcoin = Bcoin::start();
    bcoin.mine(QUEUE_BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, rpc) = start_node(
        &bcoin,
        dir.path(),
        &["--rpc-threads", "1", "--rpc-work-queue", "1"],
    );
    let tip = bcoin.best_hash();
    wait_for(
        SYNC_WAIT,
        "headway to sync bcoin's chain",
        || (rpc.best_hash()? == tip).then_some(()),
        || node.log(),
    );

    all_unknown_without_rest(&rpc);

    // The one worker waits for a new block; the one queue slot holds a second wait (from the
    // tip now, so that the same block ends it); a third request finds the queue full.
    let wait = |params: Value| {
        let mut conn = Conn::open(rpc.addr).expect("connect");
        conn.send(&post_request(
            Some(&rpc.auth),
            rpc_body("waitfornewblock", params).as_bytes(),
        ))
        .expect("send wait");
        thread::sleep(DISPATCH_SETTLE);
        conn
    };
    let mut in_worker = wait(json!([]));
    let mut in_queue = wait(json!([0, tip]));
    let asked = Instant::now();
    let refused = rpc.call("getblockcount", json!([]));
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (503, "Work queue depth exceeded"),
        "a third request with the worker and the queue taken"
    );
    assert!(
        asked.elapsed() < PROMPT,
        "the 503 took {:?}",
        asked.elapsed()
    );

    bcoin.mine(1);
    let new_tip = bcoin.best_hash();
    let released = json!({ "hash": new_tip, "height": QUEUE_BLOCKS + 1 });
    for (what, conn) in [("in the worker", &mut in_worker), ("queued", &mut in_queue)] {
        let reply = conn
            .read_response()
            .unwrap_or_else(|e| panic!("wait {what}: {e}; log:\n{}", node.log()));
        assert_eq!(reply.status, 200, "wait {what}: {}", reply.text());
        assert_eq!(reply.json()["result"], released, "wait {what}");
    }
    assert_eq!(
        rpc.result("getblockcount", json!([])),
        json!(QUEUE_BLOCKS + 1),
        "the worker is free again"
    );

    // SIGTERM while a wait holds the worker: the wait is answered with the tip and the node
    // exits cleanly.
    let mut waiting = wait(json!([]));
    let status = node.terminate(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM during a wait; log:\n{}",
        node.log()
    );
    let reply = waiting
        .read_response()
        .expect("the wait is answered at shutdown");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["result"],
        released,
        "a wait ended by shutdown returns the tip"
    );
}
