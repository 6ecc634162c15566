//! `--minimum-chain-work` and the `minimum_chain_work` key through the real binaries: a
//! malformed value is a one-line error naming the flag or the key (before anything is opened),
//! and a good one reaches the node, which logs it in Core's 64-digit form when it starts.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::headway::{wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO};

/// How long a node may take to start, and to exit after SIGTERM.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `bin` with `args`; the settings are refused before any store is opened, so it exits
/// at once (a child still running after [`TIMEOUT`] is killed and fails the test).
fn run_refused(bin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = std::time::Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {args:?} still running after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr:?}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from {stderr:?}"
        );
    }
}

#[test]
fn malformed_chain_work_is_one_line_naming_the_flag_or_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    let datadir = datadir.to_str().unwrap();
    let too_long = "1".repeat(65);
    for bin in [HEADWAY_MIO, HEADWAY_ASYNC_STD] {
        for bad in ["", "0x", "12zz", too_long.as_str()] {
            let out = run_refused(
                bin,
                &[
                    "--network",
                    "regtest",
                    "--datadir",
                    datadir,
                    "--minimum-chain-work",
                    bad,
                ],
            );
            assert_one_line_error(&out, &["error: --minimum-chain-work: ", "chain work"]);

            let config = dir.path().join("headway.toml");
            std::fs::write(&config, format!("minimum_chain_work = \"{bad}\"\n")).unwrap();
            let out = run_refused(
                bin,
                &[
                    "--network",
                    "regtest",
                    "--datadir",
                    datadir,
                    "--config",
                    config.to_str().unwrap(),
                ],
            );
            assert_one_line_error(&out, &["error: key `minimum_chain_work`: ", "chain work"]);
        }
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused setting must not create the store"
    );
}

#[test]
fn a_given_chain_work_reaches_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    let args = [
        "--network",
        "regtest",
        "--datadir",
        datadir.to_str().unwrap(),
        "--minimum-chain-work",
        "0x1F",
    ];
    let log_path = dir.path().join("node.log");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut node = HeadwayProcess::start(HEADWAY_MIO, &args, dir.path(), "node");
    wait_for(
        TIMEOUT,
        "\"starting node\" in the log",
        || {
            node.assert_running();
            read_log().contains("starting node").then_some(())
        },
        || format!("log:\n{}", read_log()),
    );
    let status = node.terminate(TIMEOUT);
    let log = node.log();
    assert!(status.success(), "exit {status}; log:\n{log}");
    let expected = format!("minimum_chain_work={}1f", "0".repeat(62));
    assert!(
        log.contains(&expected),
        "{expected} missing from log:\n{log}"
    );
}
