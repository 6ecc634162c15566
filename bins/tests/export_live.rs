//! `export` against a store that is being written, end to end with the binary: it reads in
//! chunks of 10,000 headers, each in its own read transaction, so that a running node's writer
//! is never held back for long.
//!
//! - A reorg between two chunks would splice two chains; `export` must refuse it instead. The
//!   test makes the reorg land exactly between the chunks: `export` writes to a pipe that the
//!   test stops reading after the first bytes, so `export` is blocked writing its first chunk
//!   (800,000 bytes, far beyond a pipe's buffer) when the test reorganises the store.
//! - While a writer grows the map (it starts at 64 KiB), `export` runs again and again; every
//!   run must succeed with a prefix of the chain at least as long as the chain stored when it
//!   started.
//!
//! `HeaderStore::map_size` is called here only on the writer's own thread: called on another
//! thread while an apply grows the map, it reads LMDB's meta page through the mapping being
//! replaced (`mdb_env_info` without the store's map lock) and can crash the process with
//! SIGSEGV. That is a bug in the store, reported rather than fixed by these tests.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bitcoin::block::Header;
use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::Work;
use headway_core::{Network, PersistChain};
use headway_regtest::mine;
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};

const HEADWAY_MIO: &str = env!("CARGO_BIN_EXE_headway-mio");
/// `export` reads this many heights per transaction (`EXPORT_CHUNK` in `bins/src/inspect.rs`).
const EXPORT_CHUNK: usize = 10_000;
/// Liveness bound on every wait for a child.
const CHILD_WAIT: Duration = Duration::from_secs(30);

fn work(headers: &[Header]) -> Work {
    headers
        .iter()
        .map(Header::work)
        .fold(Work::from_be_bytes([0; 32]), |a, b| a + b)
}

fn bytes(headers: &[Header]) -> Vec<u8> {
    headers.iter().flat_map(serialize).collect()
}

/// Waits up to [`CHILD_WAIT`] for `child` to exit; kills it and panics with `context` if not.
fn wait_exit(child: &mut Child, context: impl Fn() -> String) -> std::process::ExitStatus {
    let deadline = Instant::now() + CHILD_WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("export still running after {CHILD_WAIT:?}; {}", context());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `headway-mio export` with `args` to completion, bounded by [`CHILD_WAIT`].
fn export(args: &[&str]) -> Output {
    let mut child = Command::new(HEADWAY_MIO)
        .arg("export")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start export");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = wait_exit(&mut child, || format!("args {args:?}"));
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

#[test]
fn export_refuses_a_chain_that_reorganises_between_its_chunks() {
    let genesis = Network::Regtest.params().genesis;
    let mut old = vec![genesis];
    old.extend(mine(&genesis, EXPORT_CHUNK + 2_500, 1));
    // The new branch forks in the middle of the first chunk and ends above the old tip.
    let fork = 5_000;
    let branch = mine(&old[fork], old.len() - fork + 500, 2);
    let mut new = old[..=fork].to_vec();
    new.extend_from_slice(&branch);

    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().to_str().unwrap().to_string();
    let store = HeaderStore::open(&tmp.path().join("regtest"), Network::Regtest).unwrap();
    store
        .apply(&[PersistChain {
            fork_height: 0,
            rejoined: vec![],
            connected: old[1..].to_vec(),
            side: vec![],
            tip_work: work(&old),
        }])
        .unwrap();

    let mut child = Command::new(HEADWAY_MIO)
        .args(["export", "--datadir", &datadir])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start export");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    // The first bytes on the pipe mean the first chunk has been read (it is written only after
    // its transaction ends); `export` then blocks on the full pipe until the test reads on.
    let (first_tx, first_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let out_reader = thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let first = stdout.read_exact(&mut buf);
        let _ = first_tx.send(first.is_ok());
        if first.is_ok() && go_rx.recv_timeout(CHILD_WAIT).is_ok() {
            let _ = stdout.read_to_end(&mut buf);
        }
        buf
    });
    let started = first_rx.recv_timeout(CHILD_WAIT);
    if started != Ok(true) {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = err_reader.join().unwrap_or_default();
        panic!(
            "export wrote no first chunk ({started:?}); stderr: {}",
            String::from_utf8_lossy(&stderr)
        );
    }
    store
        .apply(&[PersistChain {
            fork_height: fork as u32,
            rejoined: vec![],
            connected: branch.clone(),
            side: vec![],
            tip_work: work(&new),
        }])
        .unwrap();
    go_tx.send(()).unwrap();
    let status = wait_exit(&mut child, || "after the reorg".to_string());
    let written = out_reader.join().expect("stdout reader");
    let stderr = String::from_utf8(err_reader.join().expect("stderr reader")).unwrap();

    assert!(!status.success(), "export accepted a spliced chain");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the best chain changed during the export"),
        "{stderr}"
    );
    // What it wrote before it noticed is the old chain's first chunk, and nothing of the new
    // chain.
    assert_eq!(written.len(), EXPORT_CHUNK * 80, "{stderr}");
    assert!(written == bytes(&old[..EXPORT_CHUNK]), "not the old chain");

    // Run again, it exports the new chain whole.
    let out = export(&["--datadir", &datadir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == bytes(&new), "not the new chain");
}

/// The 40,000 first mainnet headers (the core's test data).
fn mainnet_headers() -> Vec<Header> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/testdata/mainnet-headers-0-39999.bin");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    raw.chunks_exact(80)
        .map(|c| deserialize(c).expect("a header"))
        .collect()
}

#[test]
fn export_during_map_growth_writes_a_prefix_of_the_chain() {
    let chain = mainnet_headers();
    let tmp = tempfile::tempdir().unwrap();
    let datadir = tmp.path().to_str().unwrap().to_string();
    let out_file = tmp.path().join("export.bin");
    let out_arg = out_file.to_str().unwrap().to_string();
    // Fully synced commits, as the node writes, on a map that starts at 64 KiB and doubles
    // about eight times on the way to 40,000 headers.
    let options = StoreOptions {
        initial_map_size: 64 << 10,
        durability: Durability::Full,
    };
    let store =
        HeaderStore::open_with(&tmp.path().join("mainnet"), Network::Mainnet, &options).unwrap();
    let map_at_start = store.map_size();

    // The writer records when each apply ran and the map size after it; the map size is read
    // only on the writer's thread (see the note on `HeaderStore::map_size` below).
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut applies: Vec<(Instant, Instant, usize)> = Vec::new();
    let mut exports: Vec<(usize, Instant, Instant)> = Vec::new();
    thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut applies = Vec::new();
            let mut start = 1;
            while start < chain.len() {
                let end = (start + 1000).min(chain.len());
                let began = Instant::now();
                store
                    .apply(&[PersistChain {
                        fork_height: start as u32 - 1,
                        rejoined: vec![],
                        connected: chain[start..end].to_vec(),
                        side: vec![],
                        tip_work: work(&chain[..end]),
                    }])
                    .unwrap();
                applies.push((began, Instant::now(), store.map_size()));
                start = end;
            }
            done_tx.send(()).unwrap();
            applies
        });
        let deadline = Instant::now() + CHILD_WAIT;
        loop {
            let writer_done = done_rx.try_recv().is_ok();
            let tip_before = store.tip().unwrap().unwrap().height as usize;
            let began = Instant::now();
            let out = export(&["--datadir", &datadir, "--output", &out_arg]);
            let ended = Instant::now();
            assert!(
                out.status.success(),
                "export during growth failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let written = std::fs::read(&out_file).unwrap();
            let headers = written.len() / 80;
            assert_eq!(written.len() % 80, 0);
            assert!(
                headers > tip_before,
                "export wrote {headers} headers, the store held {}",
                tip_before + 1
            );
            assert!(
                written == bytes(&chain[..headers]),
                "export of {headers} headers is not the chain's prefix"
            );
            exports.push((headers, began, ended));
            if writer_done {
                break;
            }
            assert!(Instant::now() < deadline, "the writer did not finish");
        }
        applies = writer.join().expect("the writer");
    });
    // An apply grew the map if the size after it differs from the size before it.
    let mut growths = Vec::new();
    let mut size = map_at_start;
    for &(began, ended, after) in &applies {
        if after != size {
            growths.push((began, ended));
        }
        size = after;
    }
    let grew_during = exports
        .iter()
        .filter(|(_, began, ended)| growths.iter().any(|(b, e)| b < ended && e > began))
        .count();
    eprintln!(
        "{} exports ({} while an apply grew the map), {} growths, map {} -> {}: {:?}",
        exports.len(),
        grew_during,
        growths.len(),
        map_at_start,
        size,
        exports.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    assert_eq!(exports.last().map(|e| e.0), Some(chain.len()));
    assert!(size >= map_at_start << 6);
    assert!(
        grew_during >= 1,
        "no export ran while an apply grew the map"
    );
}
