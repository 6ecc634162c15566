//! Edge cases of running a node from the command line found in review: errors that happen
//! after the logger is up still end in one `error:` line that names what to fix, and a store
//! LMDB refuses is reported without repeating LMDB's reason.
//! These tests only bind and talk to 127.0.0.1.

use std::net::TcpListener;
use std::process::{Command, Output};

const BINARIES: [&str; 2] = [
    env!("CARGO_BIN_EXE_headway-mio"),
    env!("CARGO_BIN_EXE_headway-async-std"),
];

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The failed run's last standard-error line, which must be the one `error:` line.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "not one error line: {stderr:?}");
    assert_eq!(
        stderr.trim_end().lines().last(),
        Some(errors[0]),
        "{stderr:?}"
    );
    errors[0].to_string()
}

#[test]
fn a_listen_port_in_use_is_one_line_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
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
                "--listen",
                &addr,
            ],
        );
        let line = error_line(&out);
        assert!(line.contains(&addr), "{line}");
        assert!(line.to_lowercase().contains("in use"), "{line}");
    }
}

#[test]
fn a_store_lmdb_refuses_is_one_line_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("regtest");
    std::fs::create_dir(&store).unwrap();
    let garbage = vec![0x5au8; 65_536];
    std::fs::write(store.join("data.mdb"), &garbage).unwrap();
    let datadir = dir.path().to_str().unwrap();
    for bin in BINARIES {
        for args in [
            &["--network", "regtest", "--datadir", datadir][..],
            &["tip", "--datadir", datadir][..],
        ] {
            let line = error_line(&run(bin, args));
            assert!(line.contains("MDB_INVALID"), "{line}");
            assert_eq!(line.matches("MDB_INVALID").count(), 1, "{line}");
        }
    }
    // Refused untouched.
    assert_eq!(std::fs::read(store.join("data.mdb")).unwrap(), garbage);
}

#[test]
fn a_datadir_that_is_a_file_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let datadir = file.to_str().unwrap();
    for bin in BINARIES {
        let line = error_line(&run(bin, &["--network", "regtest", "--datadir", datadir]));
        assert!(line.contains(datadir), "{line}");
        let line = error_line(&run(bin, &["tip", "--datadir", datadir]));
        assert!(line.contains(datadir), "{line}");
    }
}

#[test]
fn a_bad_connect_address_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("d");
    for bin in BINARIES {
        let out = run(
            bin,
            &[
                "--network",
                "regtest",
                "--datadir",
                datadir.to_str().unwrap(),
                "--connect",
                "127.0.0.1:notaport",
            ],
        );
        let line = error_line(&out);
        assert!(
            line.contains("--connect") && line.contains("notaport"),
            "{line}"
        );
        assert!(!datadir.exists(), "the data directory was created");
    }
}

#[test]
fn a_second_node_on_the_same_data_directory_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    let mut first = Command::new(BINARIES[0])
        .args(["--network", "regtest", "--datadir", datadir])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the first node starts");
    // The first node holds the lock once its store exists.
    let store = dir.path().join("regtest").join("data.mdb");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !store.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let outcomes: Vec<String> = BINARIES
        .iter()
        .map(|bin| error_line(&run(bin, &["--network", "regtest", "--datadir", datadir])))
        .collect();
    let _ = first.kill();
    let _ = first.wait();
    for line in outcomes {
        assert!(line.contains("in use by another headway node"), "{line}");
    }
    // Killed, the first node leaves no stale lock: a new node may take the directory.
    let mut again = Command::new(BINARIES[1])
        .args(["--network", "regtest", "--datadir", datadir])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("a node starts again");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let still_running = again.try_wait().expect("try_wait").is_none();
    let _ = again.kill();
    let _ = again.wait();
    assert!(still_running, "the directory was free again after the kill");
}
