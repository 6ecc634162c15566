//! The inspection commands `tip`, `header` and `export` of both binaries, on a store written
//! here directly (a regtest best chain plus one side header), read-only and without a network.

use std::path::Path;
use std::process::{Command, Output};

use bitcoin::block::Header;
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use bitcoin::hex::DisplayHex;
use bitcoin::{BlockHash, Work};
use headway_core::{Network, PersistChain};
use headway_store_lmdb::HeaderStore;

const BINARIES: [&str; 2] = [
    env!("CARGO_BIN_EXE_headway-mio"),
    env!("CARGO_BIN_EXE_headway-async-std"),
];
const BEST_LEN: u32 = 25;

/// A regtest header on `prev`, a second after it.
fn mine(prev: &Header, salt: u8) -> Header {
    headway_regtest::mine_spaced(prev, 1, salt, 1)[0]
}

struct Fixture {
    _dir: tempfile::TempDir,
    datadir: String,
    /// The best chain from genesis.
    best: Vec<Header>,
    /// A header at height 10 that is not on the best chain.
    side: Header,
}

fn work(headers: &[Header]) -> Work {
    headers
        .iter()
        .map(Header::work)
        .fold(Work::from_be_bytes([0; 32]), |a, b| a + b)
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("regtest");
    std::fs::create_dir_all(&store_dir).unwrap();
    let store = HeaderStore::open(&store_dir, Network::Regtest).unwrap();
    let mut best = vec![Network::Regtest.params().genesis];
    for height in 1..=BEST_LEN {
        let next = mine(&best[height as usize - 1], 1);
        best.push(next);
    }
    let side = mine(&best[9], 2);
    let change = PersistChain {
        fork_height: 0,
        rejoined: vec![],
        connected: best[1..].to_vec(),
        side: vec![(10, side)],
        tip_work: work(&best),
    };
    store.apply(&[change]).unwrap();
    drop(store);
    let datadir = dir.path().to_str().unwrap().to_string();
    Fixture {
        _dir: dir,
        datadir,
        best,
        side,
    }
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn field(report: &str, key: &str) -> String {
    report
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim())
        })
        .unwrap_or_else(|| panic!("no {key} in {report}"))
        .to_string()
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn tip_reports_height_hash_work_and_time() {
    let f = fixture();
    let tip = f.best.last().unwrap();
    for bin in BINARIES {
        // The network is found in the data directory when not given.
        let report = stdout_of(&run(bin, &["tip", "--datadir", &f.datadir]));
        assert_eq!(field(&report, "network"), "regtest");
        assert_eq!(field(&report, "height"), BEST_LEN.to_string());
        assert_eq!(field(&report, "hash"), tip.block_hash().to_string());
        assert_eq!(field(&report, "chainwork"), format!("{:x}", work(&f.best)));
        assert!(
            field(&report, "time").starts_with(&tip.time.to_string()),
            "{report}"
        );
    }
}

#[test]
fn header_by_height_and_by_hash_shows_fields_and_80_bytes() {
    let f = fixture();
    for bin in BINARIES {
        let report = stdout_of(&run(bin, &["header", "7", "--datadir", &f.datadir]));
        assert_eq!(field(&report, "hash"), f.best[7].block_hash().to_string());
        assert_eq!(field(&report, "prev"), f.best[6].block_hash().to_string());
        assert_eq!(field(&report, "best chain"), "yes");
        assert_eq!(field(&report, "nonce"), f.best[7].nonce.to_string());
        assert_eq!(
            field(&report, "hex"),
            serialize(&f.best[7]).to_lower_hex_string()
        );

        let side_hash = f.side.block_hash().to_string();
        let report = stdout_of(&run(bin, &["header", &side_hash, "--datadir", &f.datadir]));
        assert_eq!(field(&report, "height"), "10");
        assert_eq!(field(&report, "best chain"), "no");
        assert_eq!(
            field(&report, "hex"),
            serialize(&f.side).to_lower_hex_string()
        );
    }
}

#[test]
fn header_lookups_that_miss_are_one_line_errors() {
    let f = fixture();
    let unknown = BlockHash::from_byte_array([7; 32]).to_string();
    for bin in BINARIES {
        for which in ["26", unknown.as_str(), "nonsense"] {
            let out = run(bin, &["header", which, "--datadir", &f.datadir]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{which}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        }
    }
}

#[test]
fn export_writes_the_raw_best_chain() {
    let f = fixture();
    let all: Vec<u8> = f.best.iter().flat_map(serialize).collect();
    for bin in BINARIES {
        let out = run(bin, &["export", "--datadir", &f.datadir]);
        assert_eq!(out.stdout, all, "the whole chain from genesis");

        let file = Path::new(&f.datadir).join("part.bin");
        let file_arg = file.to_str().unwrap();
        let args = [
            "export",
            "--from",
            "3",
            "--to",
            "5",
            "--output",
            file_arg,
            "--datadir",
        ];
        let out = run(bin, &[&args[..], &[f.datadir.as_str()]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&file).unwrap(), all[3 * 80..6 * 80].to_vec());

        let out = run(bin, &["export", "--to", "99", "--datadir", &f.datadir]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("above the best tip"));
    }
}

#[test]
fn a_store_of_another_network_is_refused() {
    let f = fixture();
    // Pretend the regtest store is a signet one: the store's own metadata says otherwise.
    let renamed = Path::new(&f.datadir).join("signet");
    std::fs::rename(Path::new(&f.datadir).join("regtest"), &renamed).unwrap();
    for bin in BINARIES {
        let out = run(
            bin,
            &["tip", "--datadir", &f.datadir, "--network", "signet"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("regtest") && stderr.contains("signet"),
            "{stderr}"
        );
    }
}

#[test]
fn json_output_has_getblockheaders_fields() {
    let f = fixture();
    for bin in BINARIES {
        let tip: serde_json::Value = serde_json::from_str(&stdout_of(&run(
            bin,
            &["tip", "--json", "--datadir", &f.datadir],
        )))
        .expect("tip --json prints JSON");
        let best_tip = f.best[BEST_LEN as usize];
        assert_eq!(tip["hash"], best_tip.block_hash().to_string());
        assert_eq!(tip["height"], BEST_LEN);
        assert_eq!(tip["confirmations"], 1);
        assert_eq!(
            tip["previousblockhash"],
            f.best[BEST_LEN as usize - 1].block_hash().to_string()
        );
        assert!(
            tip.get("nextblockhash").is_none(),
            "the tip has no next block"
        );
        assert_eq!(tip["bits"], "207fffff");
        assert_eq!(
            tip["chainwork"],
            format!("{:064x}", work(&f.best)),
            "cumulative work of the whole chain"
        );

        let at_five: serde_json::Value = serde_json::from_str(&stdout_of(&run(
            bin,
            &["header", "5", "--json", "--datadir", &f.datadir],
        )))
        .expect("header --json prints JSON");
        assert_eq!(at_five["confirmations"], BEST_LEN - 5 + 1);
        assert_eq!(at_five["nextblockhash"], f.best[6].block_hash().to_string());
        assert_eq!(at_five["time"], f.best[5].time);
        // Median of the times at heights 0..=5.
        let mut times: Vec<u32> = f.best[..=5].iter().map(|h| h.time).collect();
        times.sort();
        assert_eq!(at_five["mediantime"], times[times.len() / 2]);
        let keys: Vec<&str> = at_five
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "hash",
                "confirmations",
                "height",
                "version",
                "versionHex",
                "merkleroot",
                "time",
                "mediantime",
                "nonce",
                "bits",
                "target",
                "difficulty",
                "chainwork",
                "nTx",
                "previousblockhash",
                "nextblockhash"
            ],
            "Core's field order"
        );

        let side_hash = f.side.block_hash().to_string();
        let side: serde_json::Value = serde_json::from_str(&stdout_of(&run(
            bin,
            &["header", &side_hash, "--json", "--datadir", &f.datadir],
        )))
        .expect("header --json prints JSON");
        assert_eq!(side["confirmations"], -1, "off the best chain");
        assert_eq!(side["height"], 10);
        assert!(side.get("nextblockhash").is_none());

        let miss = run(bin, &["header", "99", "--json", "--datadir", &f.datadir]);
        assert!(!miss.status.success());
        let err = String::from_utf8_lossy(&miss.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("no header at height 99"), "{err}");
    }
}
