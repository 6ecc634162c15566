//! Long polls against a node syncing from bcoin (headway-mio, logged in with its cookie):
//! `waitfornewblock` without a timeout returns within seconds of bcoin mining a block, with
//! its hash and height, and `getblockheader` of it works at once; given a `current_tip` that
//! is no longer the tip it returns at once; waits that time out return the current tip, no
//! sooner; `stop` ends the node with exit code 0 and the cookie is gone after the exit.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bitcoin::BlockHash;
use bitcoincore_rpc::RpcApi;
use serde_json::json;

use crate::pair::{Login, Pair, EXIT_WAIT};
use crate::support::headway::HEADWAY_MIO;

/// `waitfornewblock` must return "within a few seconds" of bcoin mining.
const NEW_BLOCK_WAIT: Duration = Duration::from_secs(5);
/// Time given to a long poll sent from another thread to reach the server before the event
/// it waits for is made to happen.
const WAIT_HEAD_START: Duration = Duration::from_millis(800);
/// Timeouts handed to the waiting methods, in milliseconds, and how late they may return.
pub const SHORT_WAIT_MS: u64 = 200;
const HEIGHT_WAIT_MS: u64 = 500;
const WAIT_SLACK: Duration = Duration::from_secs(3);

pub fn return_when_bcoin_mines_and_stop_removes_the_cookie() {
    let mut pair = Pair::start(HEADWAY_MIO, 10, Login::Cookie);
    let client = pair.client();
    let old_tip: BlockHash = pair.bcoin.best_hash().parse().expect("a hash");
    let height = pair.bcoin.height();

    // A long poll without a timeout, from another thread.
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let client = pair.client();
        thread::spawn(move || {
            let _ = tx.send(client.wait_for_new_block(0));
        })
    };
    thread::sleep(WAIT_HEAD_START);
    assert!(
        rx.try_recv().is_err(),
        "waitfornewblock returned before a block was mined"
    );
    pair.bcoin.mine(1);
    let mined = Instant::now();
    let new_tip: BlockHash = pair.bcoin.best_hash().parse().expect("a hash");
    let got = rx
        .recv_timeout(NEW_BLOCK_WAIT)
        .unwrap_or_else(|_| {
            panic!(
                "waitfornewblock still waiting {NEW_BLOCK_WAIT:?} after the block\n{}",
                pair.logs()
            )
        })
        .expect("waitfornewblock");
    let took = mined.elapsed();
    waiter.join().expect("the waiting thread");
    assert_eq!(
        (got.hash, got.height),
        (new_tip, height + 1),
        "took {took:?}"
    );
    // The store has it before the wait returns.
    let header = client
        .get_block_header_info(&new_tip)
        .expect("getblockheader right after waitfornewblock");
    assert_eq!(
        (header.confirmations, header.height as u64),
        (1, height + 1)
    );
    assert_eq!(header.previous_block_hash, Some(old_tip));

    // With the tip it knows given (Core v29's current_tip): returns at once when it moved.
    let moved: bitcoincore_rpc::json::BlockRef = client
        .call("waitfornewblock", &[json!(0), json!(old_tip.to_string())])
        .expect("waitfornewblock with current_tip");
    assert_eq!(moved.hash, new_tip);

    // Timeouts that expire return the current tip, no sooner.
    let started = Instant::now();
    let at: bitcoincore_rpc::json::BlockRef = client
        .call(
            "waitforblockheight",
            &[json!(height + 3), json!(HEIGHT_WAIT_MS)],
        )
        .expect("waitforblockheight");
    let waited = started.elapsed();
    assert_eq!((at.hash, at.height), (new_tip, height + 1));
    assert!(
        waited >= Duration::from_millis(HEIGHT_WAIT_MS)
            && waited < Duration::from_millis(HEIGHT_WAIT_MS) + WAIT_SLACK,
        "waitforblockheight with {HEIGHT_WAIT_MS} ms took {waited:?}"
    );
    let started = Instant::now();
    let same = client
        .wait_for_new_block(SHORT_WAIT_MS)
        .expect("wait_for_new_block");
    let waited = started.elapsed();
    assert_eq!((same.hash, same.height), (new_tip, height + 1));
    assert!(
        waited >= Duration::from_millis(SHORT_WAIT_MS)
            && waited < Duration::from_millis(SHORT_WAIT_MS) + WAIT_SLACK,
        "waitfornewblock with {SHORT_WAIT_MS} ms took {waited:?}"
    );
    let started = Instant::now();
    let other: BlockHash = "11".repeat(32).parse().expect("a hash");
    let still = client
        .wait_for_block(&other, SHORT_WAIT_MS)
        .expect("wait_for_block");
    assert_eq!(still.hash, new_tip);
    assert!(started.elapsed() >= Duration::from_millis(SHORT_WAIT_MS));

    // stop: exit code 0 within seconds, the cookie gone.
    let cookie = pair.datadir.join("regtest").join(".cookie");
    assert!(cookie.exists());
    assert_eq!(client.stop().expect("stop"), "headway stopping");
    let status = pair.node.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{}", pair.logs());
    assert!(!cookie.exists(), "the cookie outlived the node");
}
