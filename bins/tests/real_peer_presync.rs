//! Headers presync and the minimum-chain-work rules through the real `headway-mio` binary,
//! against a real, independent peer: bcoin 1.0.2 on regtest, over loopback. Every regtest
//! block adds chain work 2, so a chain of N blocks above genesis carries work 2·(N+1).
//!
//! - A chain below `--minimum-chain-work` is downloaded twice before it is stored: bcoin holds
//!   4,500 blocks, the minimum is the work of 4,000, and headway first pre-synchronises (logs
//!   its progress, keeps only work and commitments), then redownloads and stores the chain up
//!   to bcoin's tip. It never calls that chain low-work.
//! - A chain that never reaches the minimum is never stored: with the minimum at the work of
//!   10,000 blocks, headway stays at genesis and logs `ignoring low-work chain` once, with the
//!   chain's height, work and the threshold. A new block on bcoin starts a new round with the
//!   same peer and fork point, which is still not stored and not reported again.
//! - A node below the minimum serves no headers: node A (minimum above bcoin's chain) stays at
//!   genesis while bcoin has blocks; node B (default minimum), connected only to A, gets an
//!   empty headers message, as Core sends, and logs `synced` at height 0 within seconds
//!   instead of waiting out a headers timeout.

mod support;

use std::thread;
use std::time::Duration;

use support::bcoin::{free_port, Bcoin};
use support::headway::{inspect, report_field, wait_for, HeadwayProcess, HEADWAY_MIO};

/// Generous bounds for liveness (a stuck node fails the test instead of hanging it); nothing
/// here asserts speed, except [`EMPTY_ANSWER_WAIT`].
const HANDSHAKE_WAIT: Duration = Duration::from_secs(60);
const SYNC_WAIT: Duration = Duration::from_secs(180);
/// Well under the core's 60 s headers timeout: a node that only moves on once an unanswered
/// getheaders times out fails here.
const EMPTY_ANSWER_WAIT: Duration = Duration::from_secs(20);
/// After the last expected log line, time for any unexpected one to show up.
const SETTLE: Duration = Duration::from_secs(2);

/// Regtest's genesis block hash.
const REGTEST_GENESIS: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
/// The info-level message of a chain that ended below the threshold. The core logs
/// `ignoring low-work chain` at debug for every such round, so counts use this full text.
const LOW_WORK_INFO: &str = "ignoring low-work chain: it ended below the work needed to store it";
/// The info-level message of presync progress.
const PRESYNC_INFO: &str = "pre-synchronising headers";

/// Chain work of a regtest chain `blocks` above genesis, as `--minimum-chain-work` takes it
/// and the log prints it (lowercase hex, no leading zeros).
fn work_hex(blocks: u64) -> String {
    format!("0x{:x}", 2 * (blocks + 1))
}

/// A headway-mio node on regtest with its store in `dir/<name>` and `extra` arguments.
fn start_node(dir: &tempfile::TempDir, name: &str, extra: &[&str]) -> (HeadwayProcess, String) {
    let datadir = dir.path().join(name).to_str().unwrap().to_string();
    let mut args = vec!["--network", "regtest", "--datadir", &datadir];
    args.extend_from_slice(extra);
    let node = HeadwayProcess::start(HEADWAY_MIO, &args, dir.path(), name);
    (node, datadir)
}

/// The stored tip (height, hash) of `datadir`, if it has a store with a tip.
fn tip_of(datadir: &str) -> Option<(u64, String)> {
    let out = inspect(
        HEADWAY_MIO,
        &["tip", "--datadir", datadir, "--network", "regtest"],
    );
    if !out.status.success() {
        return None;
    }
    let report = String::from_utf8_lossy(&out.stdout);
    let height = report_field(&report, "height")?.parse().ok()?;
    Some((height, report_field(&report, "hash")?))
}

/// Lines of `log` at info level that contain `message`.
fn info_lines<'a>(log: &'a str, message: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(" INFO ") && l.contains(message))
        .collect()
}

/// Every node's log and bcoin's, for failure messages.
fn logs(nodes: &[&HeadwayProcess], bcoin: &Bcoin) -> String {
    let mut text = String::new();
    for (i, node) in nodes.iter().enumerate() {
        text.push_str(&format!("=== headway log {i}:\n{}\n", node.log()));
    }
    text.push_str(&format!("=== bcoin log:\n{}", bcoin.log()));
    text
}

/// Waits for an info line containing `message` and every one of `fields`, and returns it.
fn wait_for_info(
    timeout: Duration,
    node: &HeadwayProcess,
    others: &[&HeadwayProcess],
    bcoin: &Bcoin,
    message: &str,
    fields: &[&str],
) -> String {
    wait_for(
        timeout,
        &format!("an info line `{message}` with {fields:?}"),
        || {
            let log = node.log();
            info_lines(&log, message)
                .into_iter()
                .find(|l| fields.iter().all(|f| l.contains(f)))
                .map(str::to_string)
        },
        || {
            let mut all = vec![node];
            all.extend_from_slice(others);
            logs(&all, bcoin)
        },
    )
}

#[test]
fn low_work_chain_is_presynced_then_redownloaded_and_stored_up_to_bcoins_tip() {
    let bcoin = Bcoin::start();
    bcoin.mine(4500);
    let (best, height) = (bcoin.best_hash(), bcoin.height());
    assert_eq!(height, 4500);

    let dir = tempfile::tempdir().unwrap();
    let connect = bcoin.p2p_addr().to_string();
    let minimum = work_hex(4000);
    assert_eq!(minimum, "0x1f42");
    let (mut node, datadir) = start_node(
        &dir,
        "headway",
        &["--connect", &connect, "--minimum-chain-work", &minimum],
    );
    wait_for(
        SYNC_WAIT,
        &format!("headway to store bcoin's tip {height} {best}"),
        || tip_of(&datadir).filter(|(_, hash)| *hash == best),
        || {
            format!(
                "store tip: {:?}\n{}",
                tip_of(&datadir),
                logs(&[&node], &bcoin)
            )
        },
    );
    node.assert_running();
    assert_eq!(tip_of(&datadir), Some((height, best)));

    let log = node.log();
    let describe = || logs(&[&node], &bcoin);
    let presync = info_lines(&log, PRESYNC_INFO);
    assert!(
        presync
            .iter()
            .any(|l| l.contains("height=") && l.contains("progress=~")),
        "no presync progress line with height and progress\n{}",
        describe()
    );
    // The second download: the core's debug lines of the redownload phase.
    assert!(
        log.lines()
            .any(|l| l.contains("presync continues") && l.contains("phase=Redownload")),
        "no redownload phase in the debug log\n{}",
        describe()
    );
    assert!(
        !log.contains("ignoring low-work chain"),
        "a chain that reaches the minimum work was called low-work\n{}",
        describe()
    );
}

#[test]
fn chain_below_minimum_work_is_never_stored_and_reported_once_per_peer_and_fork_point() {
    let bcoin = Bcoin::start();
    bcoin.mine(4500);
    let dir = tempfile::tempdir().unwrap();
    let connect = bcoin.p2p_addr().to_string();
    let threshold = work_hex(10_000);
    assert_eq!(threshold, "0x4e22");
    let (mut node, datadir) = start_node(
        &dir,
        "headway",
        &["--connect", &connect, "--minimum-chain-work", &threshold],
    );

    let fields = [
        "height=4500".to_string(),
        format!("work={} ", work_hex(4500)),
        format!("threshold={threshold}"),
    ];
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    wait_for_info(SYNC_WAIT, &node, &[], &bcoin, LOW_WORK_INFO, &fields);
    thread::sleep(SETTLE);
    node.assert_running();
    let genesis = Some((0, REGTEST_GENESIS.to_string()));
    assert_eq!(tip_of(&datadir), genesis, "{}", logs(&[&node], &bcoin));

    // A new block: bcoin announces it, headway asks again and presyncs the grown chain from
    // the same fork point (genesis). The core's debug line marks the end of that round.
    bcoin.mine(1);
    wait_for(
        SYNC_WAIT,
        "headway to end a new low-work round at height 4501",
        || {
            node.log()
                .lines()
                .any(|l| {
                    l.contains("DEBUG")
                        && l.contains("ignoring low-work chain")
                        && l.contains("height=4501")
                })
                .then_some(())
        },
        || logs(&[&node], &bcoin),
    );
    thread::sleep(SETTLE);
    node.assert_running();
    assert_eq!(tip_of(&datadir), genesis, "{}", logs(&[&node], &bcoin));
    let log = node.log();
    let reported = info_lines(&log, LOW_WORK_INFO);
    assert_eq!(
        reported.len(),
        1,
        "the low-work chain reported {} times: {reported:#?}\n{}",
        reported.len(),
        logs(&[&node], &bcoin)
    );
    assert!(
        !log.contains("tip changed"),
        "a low-work chain moved the tip\n{}",
        logs(&[&node], &bcoin)
    );
}

#[test]
fn node_below_minimum_work_answers_getheaders_empty_so_its_peer_syncs_at_genesis_at_once() {
    let bcoin = Bcoin::start();
    bcoin.mine(100);
    let dir = tempfile::tempdir().unwrap();
    let connect = bcoin.p2p_addr().to_string();
    let listen_a = format!("127.0.0.1:{}", free_port());
    let (mut a, dir_a) = start_node(
        &dir,
        "a",
        &[
            "--connect",
            &connect,
            "--listen",
            &listen_a,
            "--minimum-chain-work",
            &work_hex(10_000),
        ],
    );
    // A has heard bcoin's whole chain and refused it.
    wait_for_info(
        HANDSHAKE_WAIT,
        &a,
        &[],
        &bcoin,
        LOW_WORK_INFO,
        &["height=100 "],
    );
    let genesis = Some((0, REGTEST_GENESIS.to_string()));
    assert_eq!(tip_of(&dir_a), genesis, "{}", logs(&[&a], &bcoin));

    let (mut b, dir_b) = start_node(&dir, "b", &["--connect", &listen_a]);
    let synced = wait_for_info(
        EMPTY_ANSWER_WAIT,
        &b,
        &[&a],
        &bcoin,
        "synced",
        &["height=0 "],
    );
    assert!(synced.contains(REGTEST_GENESIS), "{synced}");
    wait_for(
        HANDSHAKE_WAIT,
        "A to log its empty answer to B's getheaders",
        || {
            a.log()
                .contains("our chain is below the minimum chain work: answering getheaders empty")
                .then_some(())
        },
        || logs(&[&a, &b], &bcoin),
    );
    thread::sleep(SETTLE);
    a.assert_running();
    b.assert_running();
    assert_eq!(tip_of(&dir_b), genesis, "{}", logs(&[&b, &a], &bcoin));
    assert_eq!(tip_of(&dir_a), genesis, "{}", logs(&[&a, &b], &bcoin));
    assert!(
        !b.log().contains("tip changed"),
        "B got past genesis\n{}",
        logs(&[&b, &a], &bcoin)
    );
}
