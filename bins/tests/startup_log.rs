//! What a starting node logs about its settings: the wire generator's seed only when the user
//! gave it (`--seed`, or `seed` in the config file), never a drawn one, and never the secret
//! generator's seed; a minimum chain work the user set, in Core's 64-digit form. Runs the real `headway-mio` on regtest with a fresh data directory and no
//! peers, waits for "starting node", stops it with SIGTERM and reads its log (standard error;
//! the helper sends standard output, empty for a running node, to the same file).
//!
//! Every child has a deadline: waiting for the start and for the exit both panic after a
//! timeout, and a panicking test drops its `HeadwayProcess`, which kills the child.

mod support;

use std::path::Path;
use std::time::Duration;

use support::headway::{wait_for, HeadwayProcess, HEADWAY_MIO};

/// How long a node may take to open its store and start (it usually takes well under 1 s).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `headway-mio` on regtest in a fresh data directory under `dir`, with no peers and
/// `extra` flags, until it logs "starting node"; stops it with SIGTERM and returns its log.
fn run_until_started(dir: &Path, name: &str, extra: &[&str]) -> String {
    let datadir = dir.join(format!("{name}-data"));
    let datadir = datadir.to_str().expect("temp path is UTF-8");
    let mut args = vec!["--network", "regtest", "--datadir", datadir];
    args.extend_from_slice(extra);
    let log_path = dir.join(format!("{name}.log"));
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let mut node = HeadwayProcess::start(HEADWAY_MIO, &args, dir, name);
    wait_for(
        START_TIMEOUT,
        "\"starting node\" in the log",
        || {
            node.assert_running();
            read_log().contains("starting node").then_some(())
        },
        || format!("log:\n{}", read_log()),
    );
    let status = node.terminate(STOP_TIMEOUT);
    let log = node.log();
    assert!(status.success(), "exit {status} after SIGTERM; log:\n{log}");
    assert!(log.contains("stopped"), "no clean stop; log:\n{log}");
    log
}

/// The lines of `log` that carry a `seed` field (`seed=...` as the fmt subscriber writes it).
fn seed_fields(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            line.split_whitespace()
                .any(|word| word.starts_with("seed=") || word.starts_with("secret_seed="))
        })
        .collect()
}

/// Asserts that nothing in `log` looks like the secret seed or the secret generator.
fn assert_no_secret(log: &str) {
    for needle in ["secret", "SecretSeed"] {
        assert!(
            !log.contains(needle),
            "{needle:?} appears in the log:\n{log}"
        );
    }
}

#[test]
fn a_drawn_seed_is_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = run_until_started(dir.path(), "drawn", &[]);
    let starting: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("starting node"))
        .collect();
    assert_eq!(starting.len(), 1, "log:\n{log}");
    assert!(starting[0].contains("user_agent="), "{}", starting[0]);
    assert_eq!(
        seed_fields(&log),
        Vec::<&str>::new(),
        "a seed field in the log of a node whose seed was drawn:\n{log}"
    );
    assert_no_secret(&log);
}

#[test]
fn a_seed_the_user_gave_is_logged() {
    let dir = tempfile::tempdir().unwrap();

    let log = run_until_started(dir.path(), "flag", &["--seed", "42"]);
    let fields = seed_fields(&log);
    assert_eq!(fields.len(), 1, "log:\n{log}");
    assert!(
        fields[0].contains("starting node") && fields[0].contains(" seed=42"),
        "{}",
        fields[0]
    );
    assert_no_secret(&log);

    // From the config file it counts as given too.
    let config = dir.path().join("headway.toml");
    std::fs::write(&config, "seed = 7\n").unwrap();
    let config = config.to_str().unwrap();
    let log = run_until_started(dir.path(), "file", &["--config", config]);
    let fields = seed_fields(&log);
    assert_eq!(fields.len(), 1, "log:\n{log}");
    assert!(fields[0].contains(" seed=7"), "{}", fields[0]);
    assert_no_secret(&log);
}

#[test]
fn a_given_minimum_chain_work_reaches_the_node_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = run_until_started(dir.path(), "work", &["--minimum-chain-work", "0x1F"]);
    let expected = format!("minimum_chain_work={}1f", "0".repeat(62));
    assert!(
        log.contains(&expected),
        "{expected} missing from log:\n{log}"
    );
    assert_no_secret(&log);
}
