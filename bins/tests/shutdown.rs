//! How a node stops, against a real peer (bcoin): on SIGTERM in the middle of a sync it closes
//! its connections, writes what is pending and exits with 0, and the store then holds every
//! header the node had accepted; a second signal exits at once with code 130 and leaves a
//! consistent store; a store that fails for real shuts the node down with a one-line error.
//!
//! Making the store fail: the tests run as root, so taking away write permission does not stop
//! LMDB, the binary has no setting for the map size, and no small file system can be mounted
//! here. A file size limit does it: the node is started with `RLIMIT_FSIZE` at 256 KiB (and
//! SIGXFSZ ignored), so the first commit that grows `data.mdb` past it is cut short by the
//! kernel (a short write, then `EFBIG`), as on a full disk; LMDB reports the short write as an
//! I/O error (`EIO`).

mod kill_support;
mod support;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use headway_core::Network;
use kill_support::{check_store, number, text, wait_synced, NodeRun};
use support::bcoin::Bcoin;

/// Blocks bcoin mines for the SIGTERM test: about a third of a second of bcoin's serving, many
/// commits.
const MANY_BLOCKS: u32 = 10_000;
/// Blocks for the tests that need only a sync in progress.
const SOME_BLOCKS: u32 = 4_000;
/// The file size limit that makes the store fail: a new store (about 30 KB) fits, the first
/// 2000-header commit (about 500 KB) does not.
const FILE_SIZE_LIMIT: u64 = 256 << 10;
/// Liveness bounds: a stuck node fails the test instead of hanging it.
const SYNC_WAIT: Duration = Duration::from_secs(60);
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// Every "tip changed" height in the log (the core's tip as it moved; no reorgs here).
fn tip_heights(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| number(l, "tip changed", "height"))
        .collect()
}

#[test]
fn sigterm_mid_sync_exits_0_with_everything_accepted_in_the_store() {
    let bcoin = Bcoin::start();
    bcoin.mine(MANY_BLOCKS);
    let work = tempfile::tempdir().unwrap();
    let datadir = work.path().join("data");
    let store_dir = datadir.join(Network::Regtest.name());
    let peer = bcoin.p2p_addr().to_string();

    let mut node = NodeRun::start(&peer, &datadir, work.path().join("node.log"), "debug");
    // Aim the signal at a commit in progress past the first one: the store logs "persisted"
    // right before it commits, the store thread "stored" right after.
    let mut commits_started = 0;
    let mut commits_done = 0;
    node.wait_for_line(SYNC_WAIT, "a second commit in progress", |line| {
        if number(line, "persisted", "tip_height").is_some() {
            commits_started += 1;
        }
        if number(line, "stored", "headers").is_some() {
            commits_done += 1;
        }
        commits_started >= 2 && commits_started > commits_done
    });
    node.signal(libc::SIGTERM);
    let signalled_at = Instant::now();
    let status = node.wait_exit(EXIT_WAIT);
    let exit_ms = signalled_at.elapsed().as_millis();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log tail:\n{}",
        node.tail(40)
    );

    let lines = node.lines.clone();
    let shutting = lines
        .iter()
        .position(|l| l.contains("shutting down"))
        .unwrap_or_else(|| panic!("no `shutting down` line; log tail:\n{}", node.tail(40)));
    let stopped = lines
        .iter()
        .rev()
        .find(|l| number(l, "stopped", "height").is_some())
        .unwrap_or_else(|| panic!("no `stopped` line; log tail:\n{}", node.tail(40)));
    let stopped_height = number(stopped, "stopped", "height").unwrap();
    let stopped_tip = text(stopped, "stopped", "tip").unwrap();
    let accepted = tip_heights(&lines).into_iter().max().unwrap_or(0);
    let stored_after_signal = lines[shutting..]
        .iter()
        .filter(|l| number(l, "stored", "headers").is_some())
        .count();
    let synced = lines
        .iter()
        .any(|l| number(l, "synced", "height").is_some());

    let end = check_store(&store_dir).expect("the store exists");
    eprintln!(
        "SIGTERM during commit {commits_started}: exit 0 in {exit_ms} ms, {stored_after_signal} \
         commits after the signal, core tip {accepted}, stopped at {stopped_height}, store at \
         {} of bcoin's {MANY_BLOCKS}",
        end.height
    );
    assert!(
        !synced && u64::from(end.height) < u64::from(MANY_BLOCKS),
        "the sync had finished before the signal; lower MANY_BLOCKS' margin"
    );
    // Every header the node accepted (logged as its tip) is in the store, and the store's tip
    // is the node's own last tip.
    assert_eq!(
        u64::from(end.height),
        accepted,
        "accepted headers were lost"
    );
    assert_eq!(u64::from(end.height), stopped_height);
    assert_eq!(end.hash.to_string(), stopped_tip);
    // The commit that was in progress at the signal was finished and logged.
    assert!(
        stored_after_signal >= 1,
        "no commit finished after the signal; log tail:\n{}",
        node.tail(40)
    );
    let hash = bcoin.rpc("getblockhash", serde_json::json!([end.height]));
    assert_eq!(hash.as_str(), Some(end.hash.to_string().as_str()));
}

#[test]
fn a_second_signal_exits_at_once_with_130() {
    let bcoin = Bcoin::start();
    bcoin.mine(SOME_BLOCKS);
    let work = tempfile::tempdir().unwrap();
    let datadir = work.path().join("data");
    let store_dir = datadir.join(Network::Regtest.name());
    let peer = bcoin.p2p_addr().to_string();

    let mut node = NodeRun::start(&peer, &datadir, work.path().join("node.log"), "debug");
    node.wait_for_line(SYNC_WAIT, "a first commit", |l| {
        number(l, "stored", "headers").is_some()
    });
    // Two signals in a row, deterministically before the first shutdown can finish: stopped,
    // the node keeps both pending (SIGTERM and SIGINT are distinct, so neither is merged into
    // the other), and on SIGCONT its signal thread takes them one after the other.
    node.signal(libc::SIGSTOP);
    node.signal(libc::SIGTERM);
    node.signal(libc::SIGINT);
    node.signal(libc::SIGCONT);
    let status = node.wait_exit(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(130),
        "exit after two signals; log tail:\n{}",
        node.tail(40)
    );
    let log = node.lines.join("\n");
    assert!(log.contains("shutting down"), "{}", node.tail(40));
    assert!(
        log.contains("second signal: exiting without waiting"),
        "{}",
        node.tail(40)
    );
    assert!(
        !node
            .lines
            .iter()
            .any(|l| number(l, "stopped", "height").is_some()),
        "the node stopped cleanly instead of at once"
    );
    // Leaving at once is a crash as far as the store knows: it must still be consistent.
    let end = check_store(&store_dir).expect("the store exists");
    let hash = bcoin.rpc("getblockhash", serde_json::json!([end.height]));
    assert_eq!(hash.as_str(), Some(end.hash.to_string().as_str()));
    eprintln!("two signals: exit 130, store consistent at {}", end.height);
}

#[test]
fn a_failing_store_shuts_the_node_down_with_one_line() {
    let bcoin = Bcoin::start();
    bcoin.mine(SOME_BLOCKS);
    let work = tempfile::tempdir().unwrap();
    let datadir = work.path().join("data");
    let store_dir = datadir.join(Network::Regtest.name());
    let peer = bcoin.p2p_addr().to_string();

    // At info level the log stays far below the limit, which binds the log file too.
    let mut node = NodeRun::start_with(
        &peer,
        &datadir,
        work.path().join("node.log"),
        "info",
        |command| {
            // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                        return Err(std::io::Error::last_os_error());
                    }
                    let limit = libc::rlimit {
                        rlim_cur: FILE_SIZE_LIMIT,
                        rlim_max: FILE_SIZE_LIMIT,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    let status = node.wait_exit(SYNC_WAIT);
    let log = node.log();
    assert_eq!(status.code(), Some(1), "exit status; log:\n{log}");
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line; log:\n{log}");
    let error = errors[0];
    assert_eq!(
        log.lines().last(),
        Some(error),
        "the error line ends the output"
    );
    assert!(
        error.starts_with("error: store write failed: header store I/O failed: ")
            && error.ends_with("check free disk space and the disk's health"),
        "{error}"
    );
    assert!(
        log.contains("store write failed; shutting down"),
        "the store thread's own line; log:\n{log}"
    );
    assert!(log.contains("all connections closed"), "{log}");
    // Nothing of the failed commit was written; what was committed before is intact.
    let end = check_store(&store_dir).expect("the store exists");
    let data_len = std::fs::metadata(store_dir.join("data.mdb")).unwrap().len();
    assert!(data_len <= FILE_SIZE_LIMIT, "data.mdb is {data_len} bytes");
    eprintln!(
        "store failure: exit 1 with `{error}`; store consistent at {}",
        end.height
    );

    // With the limit gone the same data directory syncs to bcoin's tip.
    let tip = bcoin.best_hash();
    let mut node = NodeRun::start(&peer, &datadir, work.path().join("again.log"), "info");
    wait_synced(&mut node, &store_dir, &tip, SYNC_WAIT);
    node.signal(libc::SIGTERM);
    assert_eq!(node.wait_exit(EXIT_WAIT).code(), Some(0));
}

/// `n` regtest headers after genesis, a second apart.
fn regtest_chain(n: usize) -> Vec<headway_core::bitcoin::block::Header> {
    headway_regtest::mine_spaced(&headway_regtest::genesis(), n, 3, 1)
}

#[test]
fn sigterm_while_the_store_loads_still_exits_0() {
    // A store large enough that loading it takes a while: a signal in that window used to meet
    // the default action (killed, exit 143) because the handlers were installed only later.
    let work = tempfile::tempdir().unwrap();
    let datadir = work.path().join("data");
    let store_dir = datadir.join(Network::Regtest.name());
    let headers = regtest_chain(300_000);
    {
        let store =
            headway_store_lmdb::HeaderStore::open(&store_dir, Network::Regtest).expect("store");
        let mut chain = headway_core::HeaderChain::new(Network::Regtest.params());
        let now = headway_core::Time::from_secs(u64::from(headers[headers.len() - 1].time));
        let accepted = chain.accept(&headers, now);
        assert_eq!(accepted.error, None);
        store
            .apply(&[accepted.persist.expect("headers to persist")])
            .expect("written");
    }
    // Nobody listens there: the node only opens its store, loads it and waits.
    let mut node = NodeRun::start(
        "127.0.0.1:1",
        &datadir,
        work.path().join("node.log"),
        "info",
    );
    node.wait_for_line(SYNC_WAIT, "the store opening", |l| {
        l.contains("header store opened")
    });
    let loaded_before_the_signal = node.lines.iter().any(|l| l.contains("starting node"));
    node.signal(libc::SIGTERM);
    let status = node.wait_exit(EXIT_WAIT);
    assert!(
        !loaded_before_the_signal,
        "the signal came after the load; the window was missed: {}",
        node.tail(20)
    );
    assert_eq!(
        status.code(),
        Some(0),
        "a signal during the load; log tail:\n{}",
        node.tail(20)
    );
    let end = check_store(&store_dir).expect("the store exists");
    assert_eq!(end.height, 300_000);
}
