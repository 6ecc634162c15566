//! The built binaries against a real, independent peer: bcoin on regtest, over loopback.
//!
//! - Handshake and ping (issue 2), for both binaries: bcoin's `getpeerinfo` shows our user
//!   agent, protocol version and direction, and after bcoin's `ping` RPC a ping time, which
//!   bcoin only records when a pong with its nonce came back. SIGTERM then exits with code 0.
//! - Header sync (issue 3): headway-mio syncs 20,000 headers from bcoin, follows 3 new blocks,
//!   and serves them to a headway-async-std node that is connected only to it; the `tip` and
//!   `export` commands read the store while the nodes run.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::bcoin::{free_port, Bcoin};
use support::headway::{
    inspect, report_field, wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO,
};

/// Our protocol version (core's `PROTOCOL_VERSION`).
const OUR_VERSION: u64 = 70016;
/// Generous bounds for liveness (a stuck node fails the test instead of hanging it); nothing
/// here asserts speed.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(60);
const SYNC_WAIT: Duration = Duration::from_secs(300);
/// New blocks must arrive "within seconds": well under the core's 60 s headers timeout, so a
/// node that only notices them when an unanswered getheaders times out fails here.
const FOLLOW_WAIT: Duration = Duration::from_secs(20);
const EXIT_WAIT: Duration = Duration::from_secs(30);

fn our_user_agent() -> String {
    format!("/headway:{}/", env!("CARGO_PKG_VERSION"))
}

/// bcoin's view of the headway peer, once it has seen our version message.
fn headway_peer(bcoin: &Bcoin) -> Option<Value> {
    bcoin.peers().into_iter().find(|p| {
        p["subver"]
            .as_str()
            .is_some_and(|s| s.starts_with("/headway:"))
    })
}

fn handshake_and_ping(bin: &'static str) {
    let bcoin = Bcoin::start();
    let data = tempfile::tempdir().unwrap();
    let datadir = data.path().join("data");
    let connect = bcoin.p2p_addr().to_string();
    let mut node = HeadwayProcess::start(
        bin,
        &[
            "--network",
            "regtest",
            "--connect",
            &connect,
            "--datadir",
            datadir.to_str().unwrap(),
        ],
        data.path(),
        "headway",
    );

    let peer = wait_for(
        HANDSHAKE_WAIT,
        "bcoin to list headway as a peer",
        || headway_peer(&bcoin),
        || format!("headway log:\n{}\nbcoin log:\n{}", node.log(), bcoin.log()),
    );
    assert_eq!(peer["subver"], json!(our_user_agent()), "{peer}");
    assert_eq!(peer["version"], json!(OUR_VERSION), "{peer}");
    assert_eq!(peer["inbound"], json!(true), "we dialled bcoin: {peer}");
    assert_eq!(
        peer["startingheight"],
        json!(0),
        "a fresh store is at genesis: {peer}"
    );

    // bcoin pings only peers whose handshake it completed, and records a ping time only for a
    // pong carrying its nonce: a ping time proves both.
    let pinged = wait_for(
        HANDSHAKE_WAIT,
        "a ping time for headway in bcoin's getpeerinfo",
        || {
            bcoin.rpc("ping", json!([]));
            headway_peer(&bcoin).filter(|p| {
                p["pingtime"].as_f64().is_some_and(|t| t >= 0.0)
                    && p["minping"].as_f64().is_some_and(|t| t >= 0.0)
            })
        },
        || format!("headway log:\n{}\nbcoin log:\n{}", node.log(), bcoin.log()),
    );
    assert_eq!(pinged["id"], peer["id"], "the same connection throughout");

    // Our side saw bcoin's version and verack too.
    wait_for(
        HANDSHAKE_WAIT,
        "headway to log the negotiated bcoin peer",
        || node.log().contains("peer negotiated").then_some(()),
        || node.log(),
    );
    let log = node.log();
    let negotiated = log
        .lines()
        .find(|l| l.contains("peer negotiated"))
        .unwrap_or_default();
    assert!(
        negotiated.contains("bcoin"),
        "bcoin's user agent in: {negotiated}"
    );

    node.assert_running();
    let status = node.terminate(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        node.log()
    );
    assert!(
        node.log().contains("stopped"),
        "clean shutdown logged:\n{}",
        node.log()
    );
}

#[test]
fn headway_mio_handshakes_and_answers_bcoins_ping() {
    handshake_and_ping(HEADWAY_MIO);
}

#[test]
fn headway_async_std_handshakes_and_answers_bcoins_ping() {
    handshake_and_ping(HEADWAY_ASYNC_STD);
}

/// The tip hash `bin tip` reports for `datadir`, if it has a store with a tip.
fn tip_of(bin: &str, datadir: &str) -> Option<(u64, String)> {
    let out = inspect(bin, &["tip", "--datadir", datadir, "--network", "regtest"]);
    if !out.status.success() {
        return None;
    }
    let report = String::from_utf8_lossy(&out.stdout);
    let height = report_field(&report, "height")?.parse().ok()?;
    Some((height, report_field(&report, "hash")?))
}

/// Waits until `datadir`'s tip is bcoin's best block.
fn wait_for_tip(bcoin: &Bcoin, node: &HeadwayProcess, datadir: &str, timeout: Duration) {
    let best = bcoin.best_hash();
    let height = bcoin.height();
    wait_for(
        timeout,
        &format!("{} to reach bcoin's tip {height} {best}", node.bin),
        || tip_of(HEADWAY_MIO, datadir).filter(|(_, hash)| *hash == best),
        || {
            let log = node.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            format!(
                "store tip: {:?}\nlast log lines (newest first):\n{}",
                tip_of(HEADWAY_MIO, datadir),
                tail.join("\n")
            )
        },
    );
    assert_eq!(tip_of(HEADWAY_MIO, datadir).map(|(h, _)| h), Some(height));
}

#[test]
fn headway_syncs_from_bcoin_follows_new_blocks_and_serves_another_headway() {
    const BLOCKS: u32 = 20_000;
    let started = Instant::now();
    let bcoin = Bcoin::start();
    bcoin.mine(BLOCKS);
    assert_eq!(bcoin.height(), u64::from(BLOCKS));
    // Phase times go to the test output for whoever tunes the suite; nothing asserts on them.
    eprintln!(
        "bcoin started and mined {BLOCKS} blocks in {:?}",
        started.elapsed()
    );

    let data = tempfile::tempdir().unwrap();
    let dir_a = data.path().join("a");
    let dir_b = data.path().join("b");
    let (dir_a, dir_b) = (dir_a.to_str().unwrap(), dir_b.to_str().unwrap());
    let listen_a = format!("127.0.0.1:{}", free_port());
    let connect = bcoin.p2p_addr().to_string();

    // A: headway-mio, synced from bcoin, listening for B.
    let mut a = HeadwayProcess::start(
        HEADWAY_MIO,
        &[
            "--network",
            "regtest",
            "--connect",
            &connect,
            "--listen",
            &listen_a,
            "--datadir",
            dir_a,
        ],
        data.path(),
        "a",
    );
    let phase = Instant::now();
    wait_for_tip(&bcoin, &a, dir_a, SYNC_WAIT);
    eprintln!("A synced from bcoin in {:?}", phase.elapsed());

    // New blocks reach A through bcoin's announcement.
    let phase = Instant::now();
    bcoin.mine(3);
    wait_for_tip(&bcoin, &a, dir_a, FOLLOW_WAIT);
    eprintln!("A followed 3 new blocks in {:?}", phase.elapsed());

    // B: headway-async-std, connected to A only, gets the whole chain from A.
    let mut b = HeadwayProcess::start(
        HEADWAY_ASYNC_STD,
        &[
            "--network",
            "regtest",
            "--connect",
            &listen_a,
            "--datadir",
            dir_b,
        ],
        data.path(),
        "b",
    );
    let phase = Instant::now();
    wait_for_tip(&bcoin, &b, dir_b, SYNC_WAIT);
    eprintln!("B synced from A in {:?}", phase.elapsed());

    // The exported best chains are identical, start at genesis and end at bcoin's tip.
    let export_a = inspect(HEADWAY_MIO, &["export", "--datadir", dir_a]);
    let export_b = inspect(HEADWAY_ASYNC_STD, &["export", "--datadir", dir_b]);
    assert!(export_a.status.success() && export_b.status.success());
    assert_eq!(export_a.stdout.len(), (BLOCKS as usize + 4) * 80);
    assert!(
        export_a.stdout == export_b.stdout,
        "A and B hold different best chains"
    );
    let genesis = inspect(HEADWAY_MIO, &["header", "0", "--datadir", dir_a]);
    let genesis = String::from_utf8_lossy(&genesis.stdout);
    assert_eq!(
        report_field(&genesis, "hash").as_deref(),
        Some("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")
    );
    let best = bcoin.best_hash();
    let tip = inspect(HEADWAY_MIO, &["header", &best, "--datadir", dir_a]);
    let tip = String::from_utf8_lossy(&tip.stdout);
    assert_eq!(
        report_field(&tip, "height"),
        Some((BLOCKS + 3).to_string()),
        "{tip}"
    );
    assert_eq!(
        report_field(&tip, "best chain").as_deref(),
        Some("yes"),
        "{tip}"
    );

    for node in [&mut b, &mut a] {
        node.assert_running();
        let status = node.terminate(EXIT_WAIT);
        assert_eq!(
            status.code(),
            Some(0),
            "exit after SIGTERM; log:\n{}",
            node.log()
        );
    }
    // What the nodes acknowledged survived their shutdown.
    assert_eq!(
        tip_of(HEADWAY_MIO, dir_a),
        Some((u64::from(BLOCKS) + 3, best.clone()))
    );
    assert_eq!(
        tip_of(HEADWAY_MIO, dir_b),
        Some((u64::from(BLOCKS) + 3, best))
    );
}
