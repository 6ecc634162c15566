//! headway's JSON-RPC and REST server end to end: the built binaries synced from a real,
//! independent node (bcoin on regtest, over loopback), asked over real sockets, with bcoin as
//! the oracle for the chain and rust-bitcoin's `bitcoincore-rpc` 0.19 as a real client. It
//! proves that
//!
//! - through a reorg, headway's chain methods answer as bcoin does wherever bcoin answers as
//!   Core, and as Core where bcoin departs from it (each departure asserted, so the test says
//!   when bcoin changes): [`oracle`], both binaries, with bcoin's answers translated to Core's
//!   by [`core_answers`];
//! - every method headway serves works through `bitcoincore-rpc`'s typed calls, checked
//!   against bcoin, down to `stop` and exit code 0: [`client`], both binaries, same nodes;
//! - long polls return within seconds of bcoin mining a block, and timed-out waits the current
//!   tip; `stop` ends a node logged in with its cookie, which is gone after the exit:
//!   [`waits`];
//! - REST serves the store: the bytes `export` reads, their hex and bcoin's hashes: [`rest`].
//!
//! [`pair`] starts bcoin with a chain and a headway node synced from it.

#[path = "../support/mod.rs"]
mod support;

mod client;
mod core_answers;
mod oracle;
mod pair;
mod rest;
mod waits;

use support::headway::{HEADWAY_ASYNC_STD, HEADWAY_MIO};

#[test]
fn headway_mio_answers_as_bcoin_and_serves_bitcoincore_rpc() {
    oracle::answers_as_bcoin_and_serves_bitcoincore_rpc(HEADWAY_MIO);
}

#[test]
fn headway_async_std_answers_as_bcoin_and_serves_bitcoincore_rpc() {
    oracle::answers_as_bcoin_and_serves_bitcoincore_rpc(HEADWAY_ASYNC_STD);
}

#[test]
fn waits_return_when_bcoin_mines_and_stop_removes_the_cookie() {
    waits::return_when_bcoin_mines_and_stop_removes_the_cookie();
}

#[test]
fn rest_serves_the_store() {
    rest::serves_the_store();
}
