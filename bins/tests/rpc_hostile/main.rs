//! headway's JSON-RPC and REST server against hostile and broken clients, on the built
//! headway-mio binary syncing from a real peer (bcoin, regtest). It proves that every bad input
//! gets Bitcoin Core's status and error, that none of it crashes the node or stalls its sync,
//! and that the server's limits hold on real sockets:
//!
//! - JSON-RPC ([`json_rpc`]): malformed JSON and non-object bodies (-32700), wrong parameter types (-3 with
//!   Core's "Wrong type passed" text), wrong argument counts (-1 with the method's help),
//!   unknown methods (HTTP 404, -32601), unknown hashes (-5), malformed hashes (-8 with
//!   ParseHashV's messages), bad heights (-8 "Block height out of range" or -1 "JSON integer
//!   out of range"), JSON-RPC 2.0 errors inside HTTP 200, a notification's 204, a mixed batch
//!   and an empty one, and GET on `/` (405);
//! - HTTP ([`http_limits`]): a body over the 1 MiB cap is refused with 413 before it is read (and a chunked one
//!   that never ends is cut off, not swallowed), a head over 8192 bytes gets 431, garbage gets
//!   400 (a body and a head exactly at their limits are served);
//! - slow clients ([`connections`]), with `--rpc-timeout 1`: half a request, half a body, a client trickling a
//!   byte at a time and an idle keep-alive connection are each closed after about 1 s, and a
//!   client that never reads its large responses (REST headers, count 2000, pipelined) holds up
//!   no one else and is closed too;
//! - REST ([`rest`]) with `--rest`: Core's statuses and messages for a bad hash, counts 0 and 2001, no or
//!   an unknown extension, negative and huge heights; without `--rest`, 404;
//! - 300 sockets opened at once ([`connections`]): at most 128 stay open, and a normal client is answered at
//!   once (at the cap the longest idle connection is closed to make room);
//! - the work queue ([`queue`]), with `--rpc-threads 1 --rpc-work-queue 1`: with the worker in a
//!   `waitfornewblock` and the queue holding a second one, a third request gets 503 "Work
//!   queue depth exceeded" at once; one block on bcoin releases both waits; SIGTERM during a
//!   wait answers it and exits 0.
//!
//! Throughout the first test bcoin keeps mining, and afterwards headway's tip is bcoin's: the
//! abuse did not stall the sync. The node then still answers and exits 0 on SIGTERM.
//!
//! [`node`] starts the node under abuse.

#[path = "../support/mod.rs"]
mod support;

mod connections;
mod http_limits;
mod json_rpc;
mod node;
mod queue;
mod rest;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use json_rpc::expect_error;
use node::{start_node, EXIT_WAIT, SERVER_TIMEOUT_ARG, SYNC_WAIT};
use serde_json::json;
use support::bcoin::Bcoin;
use support::headway::wait_for;
use support::http::Rpc;

/// Blocks mined before the node starts: more than 2000, so that a REST request for 2000
/// headers gets a full (large) answer.
const INITIAL_BLOCKS: u32 = 2_500;
/// While the abuse runs, bcoin mines this many blocks after every pause, so that the node is
/// syncing the whole time.
const BACKGROUND_CHUNK: u32 = 20;
const BACKGROUND_PAUSE: Duration = Duration::from_millis(100);
/// How long headway may take to reach bcoin's tip once the abuse is over.
const FOLLOW_WAIT: Duration = Duration::from_secs(30);

/// One part of the abuse, against the node's endpoint.
type Step = fn(&Rpc);

/// Waits until the chain mined before the start is synced (REST's large answers need 2000
/// headers).
fn initial_sync_done(rpc: &Rpc) {
    wait_for(
        SYNC_WAIT,
        "the initial sync",
        || (rpc.height()? >= u64::from(INITIAL_BLOCKS)).then_some(()),
        || format!("headway at {:?}", rpc.height()),
    );
}

/// Stops the background miner when dropped, so that a failing step ends the test instead of
/// leaving the miner's scope waiting.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[test]
fn hostile_clients_get_cores_answers_and_never_stall_the_sync() {
    let bcoin = Bcoin::start();
    bcoin.mine(INITIAL_BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, rpc) = start_node(
        &bcoin,
        dir.path(),
        &["--rest", "--rpc-timeout", SERVER_TIMEOUT_ARG],
    );
    let mining = AtomicBool::new(true);
    let mut heights = Vec::new();
    thread::scope(|s| {
        s.spawn(|| {
            while mining.load(Ordering::Acquire) {
                bcoin.mine(BACKGROUND_CHUNK);
                thread::sleep(BACKGROUND_PAUSE);
            }
        });
        let _stop = StopOnDrop(&mining);
        let steps: [(&str, Step); 7] = [
            ("rpc inputs", json_rpc::rpc_inputs),
            ("http refusals", http_limits::http_refusals),
            ("slow clients", connections::slow_clients),
            ("initial sync", initial_sync_done),
            ("stalled reader", connections::stalled_reader),
            ("rest errors", rest::rest_errors),
            ("connection flood", connections::connection_flood),
        ];
        for (name, run) in steps {
            run(&rpc);
            node.assert_running();
            let height = rpc
                .height()
                .unwrap_or_else(|| panic!("no answer after {name}; log:\n{}", node.log()));
            heights.push((name, height));
        }
    });
    eprintln!("heights after each step: {heights:?}");
    let synced = heights.iter().find(|(name, _)| *name == "initial sync");
    let last = heights.last();
    assert!(
        matches!((synced, last), (Some((_, a)), Some((_, b))) if b > a),
        "the node followed bcoin while the abuse went on: {heights:?}"
    );

    // The sync kept going: once bcoin stops mining, headway's tip is bcoin's.
    let best = bcoin.best_hash();
    let height = bcoin.height();
    wait_for(
        FOLLOW_WAIT,
        "headway's tip to reach bcoin's after the abuse",
        || (rpc.best_hash()? == best).then_some(()),
        || {
            format!(
                "headway at {:?}, bcoin at {height}\n{}",
                rpc.height(),
                node.log()
            )
        },
    );
    assert!(
        height > u64::from(INITIAL_BLOCKS),
        "bcoin mined during the abuse"
    );
    assert_eq!(rpc.result("getblockcount", json!([])), json!(height));
    expect_error(
        &rpc.call("getblockhash", json!([height + 1])),
        500,
        -8,
        "Block height out of range",
        "the height after the tip",
    );
    assert!(!node.log().contains("panicked"), "{}", node.log());
    let status = node.terminate(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        node.log()
    );
}

#[test]
fn a_full_work_queue_is_refused_at_once_and_rest_is_off_by_default() {
    queue::a_full_work_queue_is_refused_at_once_and_rest_is_off_by_default();
}
