//! The binaries' edges: `--help` documents every flag, and a bad config file, a bad network
//! name or a missing store give a one-line error on standard error and a non-zero exit code.
//! None of these tests touches the network.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use support::headway::{assert_one_line_error, run_bounded};

const BINARIES: [&str; 2] = [
    env!("CARGO_BIN_EXE_headway-mio"),
    env!("CARGO_BIN_EXE_headway-async-std"),
];

/// How long a command may run: every one of these exits at once, so a child still running
/// after this is killed and fails the test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(30);

fn run(bin: &str, args: &[&str]) -> Output {
    run_bounded(bin, args, TIMEOUT)
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("headway.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn help_documents_every_flag_and_command() {
    for bin in BINARIES {
        let out = run(bin, &["--help"]);
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in [
            "--config",
            "--network",
            "--connect",
            "--listen",
            "--datadir",
            "--log-level",
            "--ping-interval",
            "--ping-timeout",
            "--handshake-timeout",
            "--seed",
            "tip",
            "header",
            "export",
        ] {
            assert!(help.contains(flag), "{bin} --help lacks {flag}");
        }
        let export = run(bin, &["export", "--help"]);
        let help = String::from_utf8_lossy(&export.stdout);
        for flag in ["--from", "--to", "--output", "--datadir"] {
            assert!(help.contains(flag), "{bin} export --help lacks {flag}");
        }
    }
}

#[test]
fn unknown_config_key_is_a_one_line_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "network = \"regtest\"\nconect = [\"127.0.0.1\"]\n",
    );
    for bin in BINARIES {
        let out = run(bin, &["--config", &config]);
        assert_one_line_error(&out, &["conect", "headway.toml"]);
    }
}

#[test]
fn wrong_config_type_is_a_one_line_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "network = \"regtest\"\nseed = \"lucky\"\n");
    for bin in BINARIES {
        let out = run(bin, &["--config", &config]);
        assert_one_line_error(&out, &["`seed`", "line 2"]);
    }
}

#[test]
fn unknown_network_is_a_one_line_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "network = \"moonnet\"\n");
    for bin in BINARIES {
        let out = run(bin, &["--config", &config]);
        assert_one_line_error(&out, &["`network`", "moonnet"]);
        let out = run(bin, &["--network", "marsnet"]);
        assert_one_line_error(&out, &["--network", "marsnet"]);
    }
}

#[test]
fn a_missing_config_file_is_a_one_line_error() {
    for bin in BINARIES {
        let out = run(bin, &["--config", "/nonexistent/headway.toml"]);
        assert_one_line_error(&out, &["/nonexistent/headway.toml"]);
    }
}

#[test]
fn inspecting_an_empty_datadir_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    for bin in BINARIES {
        let out = run(bin, &["tip", "--datadir", datadir]);
        assert_one_line_error(&out, &["no store in"]);
        let out = run(
            bin,
            &["header", "0", "--datadir", datadir, "--network", "regtest"],
        );
        assert_one_line_error(&out, &["no regtest store"]);
    }
}

#[test]
fn inspecting_with_several_networks_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("regtest")).unwrap();
    std::fs::create_dir(dir.path().join("signet")).unwrap();
    let datadir = dir.path().to_str().unwrap();
    for bin in BINARIES {
        let out = run(bin, &["tip", "--datadir", datadir]);
        assert_one_line_error(&out, &["regtest, signet", "--network"]);
    }
}

#[test]
fn a_bad_log_level_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    for bin in BINARIES {
        let out = run(
            bin,
            &[
                "--network",
                "regtest",
                "--datadir",
                datadir,
                "--log-level",
                "info,=[",
            ],
        );
        assert_one_line_error(&out, &["log level"]);
    }
}

#[test]
fn malformed_chain_work_is_one_line_naming_the_flag_or_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    let datadir = datadir.to_str().unwrap();
    let too_long = "1".repeat(65);
    for bin in BINARIES {
        for bad in ["", "0x", "12zz", too_long.as_str()] {
            let args = ["--network", "regtest", "--datadir", datadir];
            let mut flag = args.to_vec();
            flag.extend(["--minimum-chain-work", bad]);
            let out = run(bin, &flag);
            assert_one_line_error(&out, &["error: --minimum-chain-work: ", "chain work"]);

            let config = write_config(dir.path(), &format!("minimum_chain_work = \"{bad}\"\n"));
            let mut key = args.to_vec();
            key.extend(["--config", config.as_str()]);
            let out = run(bin, &key);
            assert_one_line_error(&out, &["error: key `minimum_chain_work`: ", "chain work"]);
        }
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused setting must not create the store"
    );
}
