//! headway's JSON-RPC and REST server end to end: the built binaries synced from a real,
//! independent node (bcoin on regtest, over loopback), asked over real sockets, with bcoin as
//! the oracle for the chain and rust-bitcoin's `bitcoincore-rpc` 0.19 as a real client.
//!
//! - bcoin as the oracle (both binaries): bcoin mines 300 blocks, headway syncs; bcoin then
//!   invalidates its tip-2 block and mines 5 more, and headway reorganises. For the tip,
//!   genesis, a middle block and the two reorged-out blocks, `getblockheader` (verbose and
//!   not), `getblockhash`, `getbestblockhash`, `getblockcount`, `getblockchaininfo`,
//!   `getchaintips`, `getdifficulty` and the errors for an unknown block or height are compared
//!   with bcoin's answers field by field. Where bcoin departs from Core, the departure itself is
//!   asserted (so the test says when bcoin changes) and headway is held to what Core answers:
//!   - `getblockheader`: bcoin's `bits` is a number (545259519) where Core gives hex
//!     (`"207fffff"`); bcoin leaves out `nonce`, `target` and `nTx`, which Core gives (headway:
//!     the header's nonce, the target from `bits`, and `nTx` 0, Core's value for a block it
//!     holds no data of; Core says 1 for genesis, whose block it always has); bcoin writes
//!     `"previousblockhash": null` for genesis and `"nextblockhash": null` at the tip where
//!     Core leaves the keys out; bcoin prints `difficulty` with 17 digits
//!     (4.6565423739069247e-10) where Core prints `%.16g` (4.656542373906925e-10, which is
//!     not quite the same double): headway's text must be Core's `%.16g` of bcoin's number,
//!     character for character. Everything else (hash, height, version, versionHex,
//!     merkleroot, time, mediantime, chainwork, confirmations on the best chain, the links)
//!     must equal bcoin's exactly, and does.
//!   - bcoin's `invalidateblock` forgets the invalidated block and its descendants: afterwards
//!     its `getblockheader` of them fails with code -1 (Core keeps them and answers with
//!     `confirmations` -1), and its `getchaintips` lists only the active tip (Core would list
//!     the branch as `invalid`). By its source (`rpc.js`, not reached here), bcoin's other side
//!     branches are `valid-headers` and their blocks' `confirmations` are counted as if they
//!     were on the best chain; Core's are -1. headway, which received
//!     the reorg as a peer, must list the old branch as `headers-only` (a header node has no
//!     block data for it; Core's status for such a branch) and give its blocks
//!     `confirmations` -1 and no `nextblockhash`, from bcoin's answers taken before the reorg.
//!   - Errors: an unknown block is code -1 in bcoin and -5 (`RPC_INVALID_ADDRESS_OR_KEY`) in
//!     Core; a height out of range is -8 in both, but bcoin's message ends with a full stop.
//!   - `getblockchaininfo`: bcoin has no `bits`, `target`, `time`, `initialblockdownload`,
//!     `size_on_disk` or `warnings` (Core v28+ has all; `warnings` an array), and has
//!     `softforks` as an array plus `bip9_softforks` (Core 0.18's shape; v23+ moved deployments
//!     to `getdeploymentinfo`) and `"pruneheight": null` (Core gives it only when pruned).
//!     bcoin's `verificationprogress` is its own time ratio (tip time over now minus 40
//!     minutes, from genesis) where Core's counts transactions; headway's is documented as a
//!     block-count estimate from the clock and checked against that formula. `chain`,
//!     `blocks`, `headers`, `bestblockhash`, `difficulty`, `mediantime`, `chainwork` and
//!     `pruned` must equal bcoin's.
//! - `bitcoincore-rpc` (both binaries, same nodes): every method headway serves through the
//!   client's typed calls, results deserialized and checked against bcoin (headers byte for
//!   byte, the peer's user agent and synced headers) down to `stop`, after which the process
//!   exits with code 0. `get_blockchain_info` included (see
//!   [`blockchain_info_through_the_typed_client`]).
//! - Long polls: `waitfornewblock` without a timeout returns within seconds of bcoin mining a
//!   block, with its hash and height, and `getblockheader` of it works at once; waits that time
//!   out return the current tip; `stop` ends a node logged in with its cookie, which is gone
//!   after the exit.
//! - REST against the store: 2000 headers from genesis in `.bin` are the bytes `export` reads
//!   from the store of the running node, `.hex` their hex and a newline, `.json` objects whose
//!   hashes are bcoin's; `blockhashbyheight` is bcoin's `getblockhash`; `chaininfo.json` is
//!   the RPC's `getblockchaininfo` but for the clock-dependent progress.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::consensus::encode::serialize;
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{BlockHash, CompactTarget, Target};
use bitcoincore_rpc::json::{
    GetBlockchainInfoResult, GetChainTipsResultStatus, GetPeerInfoResultConnectionType,
    GetPeerInfoResultNetwork, StringOrStringArray,
};
use bitcoincore_rpc::{Auth, Client, RpcApi};
use serde_json::{json, Map, Value};
use support::bcoin::{free_port, Bcoin};
use support::headway::{inspect, wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO};
use support::http::{basic_auth, get, rpc_listening, rpc_post, rpc_result};

/// Blocks bcoin mines before headway connects.
const CHAIN_LEN: u64 = 300;
/// The middle block compared.
const MIDDLE: u64 = 150;
/// bcoin invalidates the block this far below its tip, which takes it and its descendants
/// out of the best chain: a reorg of `REORG_DEPTH + 1` blocks.
const REORG_DEPTH: u64 = 2;
/// Blocks bcoin mines on the new branch.
const REORG_BLOCKS: u64 = 5;
/// Blocks for the REST test: more than one `/rest/headers/` answer holds.
const REST_CHAIN_LEN: u64 = 2500;
/// Core's `MAX_REST_HEADERS_RESULTS`.
const REST_COUNT: u64 = 2000;

/// Liveness bounds (a stuck node fails the test instead of hanging it).
const START_WAIT: Duration = Duration::from_secs(30);
const SYNC_WAIT: Duration = Duration::from_secs(120);
const EXIT_WAIT: Duration = Duration::from_secs(20);
/// A dropped `--connect` peer is redialled after the core's first backoff step (5 s).
const RECONNECT_WAIT: Duration = Duration::from_secs(30);
/// `waitfornewblock` must return "within a few seconds" of bcoin mining.
const NEW_BLOCK_WAIT: Duration = Duration::from_secs(5);
/// Time given to a long poll sent from another thread to reach the server before the event
/// it waits for is made to happen.
const WAIT_HEAD_START: Duration = Duration::from_millis(800);
/// Timeouts handed to the waiting methods, in milliseconds, and how late they may return.
const SHORT_WAIT_MS: u64 = 200;
const HEIGHT_WAIT_MS: u64 = 500;
const WAIT_SLACK: Duration = Duration::from_secs(3);

/// The regtest genesis hash.
const GENESIS: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
/// Core's `%.16g` of the regtest difficulty (every regtest header has bits 0x207fffff).
const REGTEST_DIFFICULTY: &str = "4.656542373906925e-10";
/// bcoin's text for the same number (JavaScript's shortest round trip, 17 digits).
const BCOIN_REGTEST_DIFFICULTY: &str = "4.6565423739069247e-10";
/// Core's `getblockheader` keys in Core's order (plus `previousblockhash` but for genesis,
/// `nextblockhash` but at the tip and off the best chain).
const CORE_HEADER_KEYS: [&str; 14] = [
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
];
/// Core v31's `getblockchaininfo` keys off signet, in its order.
const CORE_CHAININFO_KEYS: [&str; 15] = [
    "chain",
    "blocks",
    "headers",
    "bestblockhash",
    "bits",
    "target",
    "difficulty",
    "time",
    "mediantime",
    "verificationprogress",
    "initialblockdownload",
    "chainwork",
    "size_on_disk",
    "pruned",
    "warnings",
];
/// Core's target block spacing, which headway's `verificationprogress` estimate uses.
const TARGET_SPACING_SECS: f64 = 600.0;
/// bcoin's user agent.
const BCOIN_USER_AGENT: &str = "/bcoin:v1.0.2/";
/// bcoin's protocol version.
const BCOIN_VERSION: u64 = 70015;
/// The RPC password of the user/password nodes.
const PASSWORD: &str = "correct horse battery staple";

/// How a test logs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Login {
    /// `--rpc-user`/`--rpc-password`.
    UserPassword,
    /// The `.cookie` file headway writes.
    Cookie,
}

/// bcoin with a chain and a headway node synced from it, RPC and REST on a free port.
struct Pair {
    bcoin: Bcoin,
    node: HeadwayProcess,
    _tmp: tempfile::TempDir,
    datadir: PathBuf,
    addr: SocketAddr,
    authorization: String,
    auth: Auth,
    started: Instant,
}

impl Pair {
    fn start(bin: &'static str, blocks: u64, login: Login) -> Pair {
        let bcoin = Bcoin::start();
        bcoin.mine(u32::try_from(blocks).expect("a small chain"));
        let tmp = tempfile::tempdir().expect("tempdir");
        let datadir = tmp.path().join("data");
        let connect = bcoin.p2p_addr().to_string();
        let port = free_port().to_string();
        let mut args = vec![
            "--network",
            "regtest",
            "--connect",
            &connect,
            "--datadir",
            datadir.to_str().expect("UTF-8 temp path"),
            "--rest",
            "--rpc-port",
            &port,
        ];
        if login == Login::UserPassword {
            args.extend(["--rpc-user", "headway-test", "--rpc-password", PASSWORD]);
        }
        let started = Instant::now();
        let node = HeadwayProcess::start(bin, &args, tmp.path(), "headway");
        let addr = rpc_listening(&node, START_WAIT);
        let cookie = datadir.join("regtest").join(".cookie");
        let (authorization, auth) = match login {
            Login::UserPassword => (
                basic_auth("headway-test", PASSWORD),
                Auth::UserPass("headway-test".into(), PASSWORD.into()),
            ),
            Login::Cookie => {
                let text = std::fs::read_to_string(&cookie)
                    .unwrap_or_else(|e| panic!("{}: {e}; log:\n{}", cookie.display(), node.log()));
                let (user, secret) = text.split_once(':').expect("cookie is user:secret");
                (basic_auth(user, secret), Auth::CookieFile(cookie))
            }
        };
        let pair = Pair {
            bcoin,
            node,
            _tmp: tmp,
            datadir,
            addr,
            authorization,
            auth,
            started,
        };
        pair.wait_synced();
        pair
    }

    fn datadir(&self) -> &str {
        self.datadir.to_str().expect("UTF-8 temp path")
    }

    /// The end of both logs, for failure messages.
    fn logs(&self) -> String {
        let tail = |log: String| {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "headway log (end):\n{}\nbcoin log (end):\n{}",
            tail(self.node.log()),
            tail(self.bcoin.log())
        )
    }

    /// headway's `result` for `method`.
    fn hw(&self, method: &str, params: Value) -> Value {
        rpc_result(self.addr, &self.authorization, method, params)
    }

    /// headway's `error` for `method`, which must fail.
    fn hw_error(&self, method: &str, params: Value) -> Value {
        let response = rpc_post(self.addr, Some(&self.authorization), method, params);
        let value = response.json();
        assert!(
            !value["error"].is_null(),
            "headway {method} did not fail: {value}"
        );
        value["error"].clone()
    }

    /// bcoin's `error` for `method`, which must fail.
    fn bcoin_error(&self, method: &str, params: Value) -> Value {
        match self.bcoin.try_rpc(method, params) {
            Ok(value) => panic!("bcoin {method} did not fail: {value}"),
            Err(text) => {
                let start = text
                    .find('{')
                    .unwrap_or_else(|| panic!("no error object: {text}"));
                serde_json::from_str(&text[start..])
                    .unwrap_or_else(|e| panic!("bcoin error {text:?} is not JSON: {e}"))
            }
        }
    }

    fn client(&self) -> Client {
        Client::new(&format!("http://{}", self.addr), self.auth.clone()).expect("an RPC client")
    }

    /// Waits until headway's best block is bcoin's.
    fn wait_synced(&self) {
        let best = self.bcoin.best_hash();
        wait_for(
            SYNC_WAIT,
            &format!("headway's best block to be bcoin's {best}"),
            || (self.hw("getbestblockhash", json!([])) == json!(best)).then_some(()),
            || self.logs(),
        );
    }

    fn bcoin_hash(&self, height: u64) -> String {
        self.bcoin
            .rpc("getblockhash", json!([height]))
            .as_str()
            .expect("bcoin's getblockhash is a string")
            .to_string()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// C's `printf("%.16g", x)`, as Core writes doubles, for finite `x`.
fn core_g16(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let sci = format!("{x:.15e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("an exponent");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..16).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exponent.abs())
    } else {
        let decimals = usize::try_from(15 - exponent).unwrap_or(0);
        trim(&format!("{x:.decimals$}"))
    }
}

/// A header's text as JSON number text (arbitrary precision keeps it as written).
fn number_text(value: &Value) -> String {
    value.to_string()
}

/// The Core answer bcoin's `getblockheader` object stands for, given the header's raw hex
/// (bcoin's non-verbose answer). Asserts each way bcoin departs from Core on the way.
fn core_header_from_bcoin(bcoin: &Value, raw_hex: &str) -> Value {
    let what = &bcoin["hash"];
    let bits = bcoin["bits"]
        .as_u64()
        .unwrap_or_else(|| panic!("bcoin's bits is no longer a number: {bcoin}"));
    let bits = u32::try_from(bits).expect("bits fit 32 bits");
    for absent in ["nonce", "target", "nTx"] {
        assert!(
            bcoin.get(absent).is_none(),
            "bcoin now gives {absent} for {what}: {bcoin}"
        );
    }
    for null_when_none in ["previousblockhash", "nextblockhash"] {
        assert!(
            bcoin.get(null_when_none).is_some(),
            "bcoin no longer gives {null_when_none} (null when none) for {what}: {bcoin}"
        );
    }
    assert_eq!(
        number_text(&bcoin["difficulty"]),
        BCOIN_REGTEST_DIFFICULTY,
        "bcoin's difficulty text for {what}"
    );
    let raw = Vec::<u8>::from_hex(raw_hex).expect("bcoin's raw header is hex");
    assert_eq!(raw.len(), 80, "bcoin's raw header {raw_hex}");
    let nonce = u32::from_le_bytes(raw[76..80].try_into().expect("4 bytes"));
    let target = Target::from_compact(CompactTarget::from_consensus(bits));

    let mut core = Map::new();
    for key in [
        "hash",
        "confirmations",
        "height",
        "version",
        "versionHex",
        "merkleroot",
        "time",
        "mediantime",
    ] {
        core.insert(key.into(), bcoin[key].clone());
    }
    core.insert("nonce".into(), json!(nonce));
    core.insert("bits".into(), json!(format!("{bits:08x}")));
    core.insert(
        "target".into(),
        json!(target.to_be_bytes().to_lower_hex_string()),
    );
    core.insert("difficulty".into(), bcoin["difficulty"].clone());
    core.insert("chainwork".into(), bcoin["chainwork"].clone());
    core.insert("nTx".into(), json!(0));
    for link in ["previousblockhash", "nextblockhash"] {
        if !bcoin[link].is_null() {
            core.insert(link.into(), bcoin[link].clone());
        }
    }
    Value::Object(core)
}

/// `headway` is Core's `getblockheader` answer `core`: the same keys in Core's order, the same
/// values, `difficulty` as Core's `%.16g` of the same number.
fn assert_header(headway: &Value, core: &Value, what: &str) {
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("{what}: not an object: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(headway), keys(core), "{what}: keys or their order");
    let mut expected_keys: Vec<String> = CORE_HEADER_KEYS.iter().map(|k| k.to_string()).collect();
    for link in ["previousblockhash", "nextblockhash"] {
        if core.get(link).is_some() {
            expected_keys.push(link.into());
        }
    }
    assert_eq!(keys(headway), expected_keys, "{what}: Core's key order");
    for key in keys(core) {
        if key == "difficulty" {
            let bcoin = core[&key].as_f64().expect("a number");
            assert_eq!(
                number_text(&headway[&key]),
                core_g16(bcoin),
                "{what}: difficulty as Core prints bcoin's"
            );
            assert_eq!(number_text(&headway[&key]), REGTEST_DIFFICULTY, "{what}");
        } else {
            assert_eq!(headway[&key], core[&key], "{what}: field {key}");
        }
    }
}

/// `x` is the double that `text` (Core's `%.16g`) stands for, give or take the last places:
/// 16 digits do not always round-trip, and serde_json's default float parser (which the
/// client's typed results go through) is not correctly rounded either.
fn assert_near(x: f64, text: &str, what: &str) {
    let expected: f64 = text.parse().expect("a double");
    assert!(
        (x - expected).abs() <= 4.0 * f64::EPSILON * expected.abs(),
        "{what}: {x:e}, expected {text}"
    );
}

/// `verificationprogress` as headway documents it: blocks done over blocks expected by `now`.
fn expected_progress(height: u64, tip_time: u64, now: u64) -> f64 {
    if now <= tip_time {
        return 1.0;
    }
    let behind = (now - tip_time) as f64 / TARGET_SPACING_SECS;
    let done = height as f64;
    (done / (done + behind)).min(1.0)
}

/// A block's header as bcoin reports it: verbose object and raw hex.
struct Snapshot {
    json: Value,
    raw: String,
}

fn snapshot(bcoin: &Bcoin, hash: &str) -> Snapshot {
    Snapshot {
        json: bcoin.rpc("getblockheader", json!([hash, true])),
        raw: bcoin
            .rpc("getblockheader", json!([hash, false]))
            .as_str()
            .expect("raw header hex")
            .to_string(),
    }
}

/// Item 1 and 2 for `bin`: bcoin as the oracle through a reorg, then every method through
/// `bitcoincore-rpc`, ending with `stop`.
fn answers_as_bcoin_and_serves_bitcoincore_rpc(bin: &'static str) {
    let mut pair = Pair::start(bin, CHAIN_LEN, Login::UserPassword);
    let old_tip_hash = pair.bcoin.best_hash();
    let fork_height = CHAIN_LEN - REORG_DEPTH;
    let fork_hash = pair.bcoin_hash(fork_height);
    let old_tip = snapshot(&pair.bcoin, &old_tip_hash);
    let old_fork = snapshot(&pair.bcoin, &fork_hash);
    // Before the reorg headway agrees on the old tip as bcoin's best block.
    assert_header(
        &pair.hw("getblockheader", json!([old_tip_hash])),
        &core_header_from_bcoin(&old_tip.json, &old_tip.raw),
        "the tip before the reorg",
    );

    pair.bcoin.rpc("invalidateblock", json!([fork_hash]));
    assert_eq!(pair.bcoin.height(), fork_height - 1, "bcoin rewound");
    pair.bcoin
        .mine(u32::try_from(REORG_BLOCKS).expect("a few blocks"));
    pair.wait_synced();
    let tip_height = fork_height - 1 + REORG_BLOCKS;
    let tip_hash = pair.bcoin.best_hash();
    assert_eq!(pair.bcoin.height(), tip_height);

    // The tip, its hash and height.
    assert_eq!(pair.hw("getbestblockhash", json!([])), json!(tip_hash));
    assert_eq!(
        pair.hw("getblockcount", json!([])),
        pair.bcoin.rpc("getblockcount", json!([]))
    );
    assert_eq!(pair.hw("getblockcount", json!([])), json!(tip_height));
    for height in [0, 1, MIDDLE, fork_height, tip_height] {
        assert_eq!(
            pair.hw("getblockhash", json!([height])),
            pair.bcoin.rpc("getblockhash", json!([height])),
            "getblockhash {height}"
        );
    }
    assert_ne!(
        pair.hw("getblockhash", json!([fork_height])),
        json!(fork_hash),
        "the reorg replaced height {fork_height}"
    );
    // Out of range: -8 both, bcoin's message with a full stop.
    let ours = pair.hw_error("getblockhash", json!([tip_height + 1]));
    let theirs = pair.bcoin_error("getblockhash", json!([tip_height + 1]));
    assert_eq!(
        ours,
        json!({"code": -8, "message": "Block height out of range"})
    );
    assert_eq!(
        theirs,
        json!({"code": -8, "message": "Block height out of range."})
    );
    assert_eq!(
        pair.hw_error("getblockhash", json!([-1])),
        json!({"code": -8, "message": "Block height out of range"})
    );

    // Headers on the best chain: bcoin's current answers.
    let genesis = pair.bcoin_hash(0);
    assert_eq!(genesis, GENESIS);
    let middle = pair.bcoin_hash(MIDDLE);
    for (hash, what) in [
        (&tip_hash, "the tip"),
        (&genesis, "genesis"),
        (&middle, "the middle block"),
    ] {
        let theirs = snapshot(&pair.bcoin, hash);
        assert_header(
            &pair.hw("getblockheader", json!([hash])),
            &core_header_from_bcoin(&theirs.json, &theirs.raw),
            what,
        );
        assert_header(
            &pair.hw("getblockheader", json!([hash, true])),
            &core_header_from_bcoin(&theirs.json, &theirs.raw),
            what,
        );
        assert_eq!(
            pair.hw("getblockheader", json!([hash, false])),
            json!(theirs.raw),
            "{what}: raw header"
        );
    }
    // The genesis and tip departures, spelled out.
    let bcoin_genesis = pair.bcoin.rpc("getblockheader", json!([genesis]));
    assert!(bcoin_genesis["previousblockhash"].is_null());
    assert!(pair
        .hw("getblockheader", json!([genesis]))
        .get("previousblockhash")
        .is_none());
    let bcoin_tip = pair.bcoin.rpc("getblockheader", json!([tip_hash]));
    assert!(bcoin_tip["nextblockhash"].is_null());
    assert!(pair
        .hw("getblockheader", json!([tip_hash]))
        .get("nextblockhash")
        .is_none());

    // The reorged-out blocks: bcoin forgot them; headway answers as Core, from bcoin's
    // answers before the reorg.
    for (hash, before, what) in [
        (&old_tip_hash, &old_tip, "the old tip"),
        (&fork_hash, &old_fork, "the invalidated block"),
    ] {
        assert_eq!(
            pair.bcoin_error("getblockheader", json!([hash])),
            json!({"code": -1, "message": "Block not found"}),
            "bcoin forgets {what} after invalidateblock"
        );
        let mut core = core_header_from_bcoin(&before.json, &before.raw);
        let obj = core.as_object_mut().expect("an object");
        obj.insert("confirmations".into(), json!(-1));
        obj.remove("nextblockhash");
        assert_header(&pair.hw("getblockheader", json!([hash])), &core, what);
        assert_eq!(
            pair.hw("getblockheader", json!([hash, false])),
            json!(before.raw),
            "{what}: raw header"
        );
    }
    // An unknown block: Core's -5, bcoin's -1.
    let unknown = "11".repeat(32);
    assert_eq!(
        pair.hw_error("getblockheader", json!([unknown])),
        json!({"code": -5, "message": "Block not found"})
    );
    assert_eq!(
        pair.bcoin_error("getblockheader", json!([unknown]))["code"],
        json!(-1)
    );

    // getblockchaininfo.
    let size_before = std::fs::metadata(pair.datadir.join("regtest/data.mdb"))
        .expect("the store's data file")
        .len();
    let now_before = now_secs();
    let info = pair.hw("getblockchaininfo", json!([]));
    let now_after = now_secs();
    let size_after = std::fs::metadata(pair.datadir.join("regtest/data.mdb"))
        .expect("the store's data file")
        .len();
    let theirs = pair.bcoin.rpc("getblockchaininfo", json!([]));
    let info_keys: Vec<&str> = info
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        info_keys, CORE_CHAININFO_KEYS,
        "Core's keys in Core's order"
    );
    for key in [
        "chain",
        "blocks",
        "headers",
        "bestblockhash",
        "mediantime",
        "chainwork",
        "pruned",
    ] {
        assert_eq!(info[key], theirs[key], "getblockchaininfo {key}");
    }
    assert_eq!(
        number_text(&info["difficulty"]),
        core_g16(theirs["difficulty"].as_f64().expect("a number"))
    );
    for missing in [
        "bits",
        "target",
        "time",
        "initialblockdownload",
        "size_on_disk",
        "warnings",
    ] {
        assert!(
            theirs.get(missing).is_none(),
            "bcoin now gives {missing}: {theirs}"
        );
    }
    assert!(
        theirs["softforks"].is_array(),
        "bcoin's softforks: {theirs}"
    );
    assert!(theirs["bip9_softforks"].is_object(), "{theirs}");
    assert!(theirs["pruneheight"].is_null() && theirs.get("pruneheight").is_some());
    for absent in ["softforks", "bip9_softforks", "pruneheight"] {
        assert!(info.get(absent).is_none(), "headway gives {absent}: {info}");
    }
    let tip_header = snapshot(&pair.bcoin, &tip_hash);
    let tip_core = core_header_from_bcoin(&tip_header.json, &tip_header.raw);
    assert_eq!(info["bits"], tip_core["bits"]);
    assert_eq!(info["target"], tip_core["target"]);
    assert_eq!(info["time"], tip_core["time"]);
    assert_eq!(info["initialblockdownload"], json!(false), "a fresh tip");
    assert_eq!(info["warnings"], json!([]));
    let size = info["size_on_disk"].as_u64().expect("size_on_disk");
    assert!(
        (size_before..=size_after).contains(&size),
        "size_on_disk {size}, data.mdb {size_before}..{size_after}"
    );
    let tip_time = tip_core["time"].as_u64().expect("time");
    let progress = info["verificationprogress"].as_f64().expect("a number");
    let (low, high) = (
        expected_progress(tip_height, tip_time, now_after),
        expected_progress(tip_height, tip_time, now_before),
    );
    assert!(
        progress >= low - 1e-12 && progress <= high + 1e-12,
        "verificationprogress {progress} outside {low}..{high}"
    );
    let bcoin_progress = theirs["verificationprogress"].as_f64().expect("a number");
    assert!((0.0..=1.0).contains(&bcoin_progress));

    // getchaintips: bcoin lists only its active tip; headway also the old branch.
    let tips = pair.hw("getchaintips", json!([]));
    let bcoin_tips = pair.bcoin.rpc("getchaintips", json!([]));
    assert_eq!(
        bcoin_tips.as_array().map(Vec::len),
        Some(1),
        "bcoin kept the invalidated branch: {bcoin_tips}"
    );
    assert_eq!(
        tips,
        json!([
            bcoin_tips[0].clone(),
            {
                "height": CHAIN_LEN,
                "hash": old_tip_hash,
                "branchlen": REORG_DEPTH + 1,
                "status": "headers-only"
            }
        ])
    );
    assert_eq!(
        bcoin_tips[0],
        json!({"height": tip_height, "hash": tip_hash, "branchlen": 0, "status": "active"})
    );

    // getdifficulty.
    let difficulty = pair.hw("getdifficulty", json!([]));
    let bcoin_difficulty = pair.bcoin.rpc("getdifficulty", json!([]));
    assert_eq!(number_text(&bcoin_difficulty), BCOIN_REGTEST_DIFFICULTY);
    assert_eq!(
        number_text(&difficulty),
        core_g16(bcoin_difficulty.as_f64().expect("a number"))
    );

    through_bitcoincore_rpc(&mut pair, tip_height, &old_tip_hash, &old_tip.raw);
}

/// `get_blockchain_info` in bitcoincore-rpc 0.19 first calls `getnetworkinfo` and, for a
/// `version` below 190000 (Core 0.19), expects Core 0.18's `softforks` array and
/// `bip9_softforks` map. headway's `version` names the Core interface it follows (310000), so
/// the typed call reads the answer as Core v31's.
fn blockchain_info_through_the_typed_client(client: &Client, tip_height: u64) {
    let version = client.version().expect("getnetworkinfo version");
    assert_eq!(version, 310_000, "the Core interface headway follows");
    let info: GetBlockchainInfoResult = client
        .get_blockchain_info()
        .expect("get_blockchain_info deserializes");
    assert_eq!(info.chain, bitcoin::Network::Regtest);
    assert_eq!(info.blocks, tip_height);
    assert_eq!(info.headers, tip_height);
    assert!(!info.initial_block_download);
    assert!(!info.pruned);
    assert!(info.softforks.is_empty());
    assert_eq!(info.warnings, StringOrStringArray::StringArray(vec![]));
    assert_eq!(info.chain_work.len(), 32);
}

/// Item 2: every method through `bitcoincore-rpc`, on a node synced to `tip_height` with the
/// reorged-out `old_tip`.
fn through_bitcoincore_rpc(pair: &mut Pair, tip_height: u64, old_tip: &str, old_tip_raw: &str) {
    let client = pair.client();
    let tip: BlockHash = pair.bcoin.best_hash().parse().expect("a hash");
    let old_tip: BlockHash = old_tip.parse().expect("a hash");

    assert_eq!(
        client.get_best_block_hash().expect("get_best_block_hash"),
        tip
    );
    assert_eq!(
        client.get_block_count().expect("get_block_count"),
        tip_height
    );
    let middle = client.get_block_hash(MIDDLE).expect("get_block_hash");
    assert_eq!(middle.to_string(), pair.bcoin_hash(MIDDLE));
    assert!(client.get_block_hash(tip_height + 1).is_err());

    // Headers as bcoin serializes them.
    let genesis: BlockHash = GENESIS.parse().expect("a hash");
    for hash in [tip, genesis, middle] {
        let header = client.get_block_header(&hash).expect("get_block_header");
        let raw = pair
            .bcoin
            .rpc("getblockheader", json!([hash.to_string(), false]));
        assert_eq!(
            json!(serialize(&header).to_lower_hex_string()),
            raw,
            "{hash}"
        );
        assert_eq!(header.block_hash(), hash);
    }
    let header = client.get_block_header(&old_tip).expect("the old tip");
    assert_eq!(serialize(&header).to_lower_hex_string(), old_tip_raw);

    let info = client
        .get_block_header_info(&middle)
        .expect("get_block_header_info");
    let bcoin = pair
        .bcoin
        .rpc("getblockheader", json!([middle.to_string()]));
    assert_eq!(info.hash, middle);
    assert_eq!(
        i64::from(info.confirmations),
        (tip_height - MIDDLE + 1) as i64
    );
    assert_eq!(info.height as u64, MIDDLE);
    assert_eq!(json!(info.version.to_consensus()), bcoin["version"]);
    assert_eq!(
        info.version_hex.as_ref().map(|v| v.to_lower_hex_string()),
        bcoin["versionHex"].as_str().map(str::to_string)
    );
    assert_eq!(json!(info.merkle_root.to_string()), bcoin["merkleroot"]);
    assert_eq!(json!(info.time), bcoin["time"]);
    assert_eq!(
        info.median_time.map(|t| json!(t)),
        Some(bcoin["mediantime"].clone())
    );
    assert_eq!(info.bits, "207fffff");
    assert_near(info.difficulty, REGTEST_DIFFICULTY, "header difficulty");
    assert_eq!(
        json!(info.chainwork.to_lower_hex_string()),
        bcoin["chainwork"]
    );
    assert_eq!(info.n_tx, 0);
    assert_eq!(
        info.previous_block_hash.map(|h| json!(h.to_string())),
        Some(bcoin["previousblockhash"].clone())
    );
    assert_eq!(
        info.next_block_hash.map(|h| json!(h.to_string())),
        Some(bcoin["nextblockhash"].clone())
    );
    let genesis_info = client.get_block_header_info(&genesis).expect("genesis");
    assert_eq!(genesis_info.previous_block_hash, None);
    assert_eq!(genesis_info.nonce, 2);
    let old_info = client.get_block_header_info(&old_tip).expect("the old tip");
    assert_eq!(old_info.confirmations, -1);
    assert_eq!(old_info.next_block_hash, None);
    assert_eq!(old_info.height as u64, CHAIN_LEN);
    let tip_info = client.get_block_header_info(&tip).expect("the tip");
    assert_eq!(tip_info.confirmations, 1);
    assert_eq!(tip_info.next_block_hash, None);

    blockchain_info_through_the_typed_client(&client, tip_height);

    let tips = client.get_chain_tips().expect("get_chain_tips");
    assert_eq!(tips.len(), 2, "{tips:?}");
    assert_eq!((tips[0].hash, tips[0].height), (tip, tip_height));
    assert_eq!(tips[0].branch_length, 0);
    assert_eq!(tips[0].status, GetChainTipsResultStatus::Active);
    assert_eq!((tips[1].hash, tips[1].height), (old_tip, CHAIN_LEN));
    assert_eq!(tips[1].branch_length as u64, REORG_DEPTH + 1);
    assert_eq!(tips[1].status, GetChainTipsResultStatus::HeadersOnly);

    let difficulty = client.get_difficulty().expect("get_difficulty");
    assert_near(difficulty, REGTEST_DIFFICULTY, "get_difficulty");

    // Network: the one bcoin peer.
    let network = client.get_network_info().expect("get_network_info");
    assert_eq!(
        network.version, 310_000,
        "the Core interface headway follows"
    );
    assert_eq!(
        network.subversion,
        format!("/headway:{}/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(network.protocol_version, 70016);
    assert_eq!(network.local_services, "0000000000000000");
    assert!(!network.local_relay);
    assert!(network.network_active);
    assert_eq!(network.connections, 1);
    assert_eq!(network.connections_in, Some(0));
    assert_eq!(network.connections_out, Some(1));
    let names: Vec<&str> = network.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["ipv4", "ipv6", "onion", "i2p", "cjdns"]);
    assert_eq!(network.relay_fee.to_sat(), 1000);
    assert_eq!(network.incremental_fee.to_sat(), 1000);
    assert!(network.local_addresses.is_empty());
    assert_eq!(network.warnings, StringOrStringArray::StringArray(vec![]));
    assert_eq!(
        client.get_connection_count().expect("get_connection_count"),
        1
    );

    let bcoin_addr = pair.bcoin.p2p_addr().to_string();
    let peers = client.get_peer_info().expect("get_peer_info");
    assert_eq!(peers.len(), 1, "{peers:?}");
    let peer = &peers[0];
    assert_eq!(peer.addr, bcoin_addr);
    assert_eq!(peer.subver, BCOIN_USER_AGENT);
    assert_eq!(peer.version, BCOIN_VERSION);
    assert!(!peer.inbound);
    assert_eq!(
        peer.startingheight, CHAIN_LEN as i64,
        "bcoin's height when we connected"
    );
    assert_eq!(peer.synced_headers, tip_height as i64);
    assert_eq!(peer.synced_blocks, -1);
    assert_eq!(
        peer.network,
        Some(GetPeerInfoResultNetwork::NotPubliclyRoutable)
    );
    assert_eq!(
        peer.connection_type,
        Some(GetPeerInfoResultConnectionType::Manual),
        "a --connect peer is Core's manual connection"
    );
    assert_eq!(peer.services, "0000000000000009", "bcoin's NETWORK|WITNESS");
    assert!(peer.bytesrecv > 0 && peer.bytessent > 0);
    // bcoin sees the connection from the address headway says it bound.
    let seen_by_bcoin = pair
        .bcoin
        .peers()
        .into_iter()
        .filter(|p| {
            p["subver"]
                .as_str()
                .is_some_and(|s| s.starts_with("/headway:"))
        })
        .map(|p| p["addr"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        seen_by_bcoin.as_slice(),
        std::slice::from_ref(&peer.addrbind),
        "addrbind"
    );

    // addnode: add, again (Core's -23), remove, again (Core's -24), onetry.
    let nobody = format!("127.0.0.1:{}", free_port());
    let code = |result: bitcoincore_rpc::Result<()>| match result {
        Err(bitcoincore_rpc::Error::JsonRpc(bitcoincore_rpc::jsonrpc::Error::Rpc(e))) => e.code,
        other => panic!("expected an RPC error, got {other:?}"),
    };
    assert_eq!(
        code(client.add_node(&bcoin_addr)),
        -23,
        "--connect peers are added"
    );
    client.add_node(&nobody).expect("add_node");
    assert_eq!(code(client.add_node(&nobody)), -23);
    client.remove_node(&nobody).expect("remove_node");
    assert_eq!(code(client.remove_node(&nobody)), -24);
    client.onetry_node(&nobody).expect("onetry_node");
    // onetry to a connected address opens no second connection (Core's OpenNetworkConnection).
    client.onetry_node(&bcoin_addr).expect("onetry_node");
    thread::sleep(Duration::from_millis(500));
    let peers = client.get_peer_info().expect("get_peer_info");
    assert_eq!(
        peers.iter().filter(|p| p.addr == bcoin_addr).count(),
        1,
        "{peers:?}"
    );

    // disconnectnode by id, then by address: each time the --connect peer is redialled.
    let first = peer.id;
    client
        .disconnect_node_by_id(u32::try_from(first).expect("small id"))
        .expect("by id");
    let second = wait_for_redial(pair, &client, first);
    client
        .disconnect_node(&bcoin_addr)
        .expect("disconnect_node");
    let third = wait_for_redial(pair, &client, second);
    assert_eq!(code(client.disconnect_node("127.0.0.1:1")), -29);
    assert_eq!(code(client.disconnect_node_by_id(999_999)), -29);
    // Node ids are 64-bit, as Core's NodeId.
    let huge: bitcoincore_rpc::Result<()> =
        client.call("disconnectnode", &[json!(""), json!(4_294_967_295u64)]);
    assert_eq!(code(huge), -29);
    assert!(third > second && second > first);

    let uptime = client.uptime().expect("uptime");
    assert!(
        uptime <= pair.started.elapsed().as_secs(),
        "uptime {uptime} s, started {:?} ago",
        pair.started.elapsed()
    );
    assert!(
        uptime >= 5,
        "two redials took at least 5 s each, uptime {uptime}"
    );

    // Waits that are satisfied at once, and one that times out.
    let now = client.wait_for_block(&tip, 0).expect("wait_for_block");
    assert_eq!((now.hash, now.height), (tip, tip_height));
    let at: bitcoincore_rpc::json::BlockRef = client
        .call("waitforblockheight", &[json!(tip_height), json!(0)])
        .expect("waitforblockheight");
    assert_eq!((at.hash, at.height), (tip, tip_height));
    let started = Instant::now();
    let same = client
        .wait_for_new_block(SHORT_WAIT_MS)
        .expect("wait_for_new_block");
    assert_eq!((same.hash, same.height), (tip, tip_height));
    assert!(started.elapsed() >= Duration::from_millis(SHORT_WAIT_MS));

    let help: String = client.call("help", &[]).expect("help");
    assert!(help.starts_with("== "), "{help}");
    for method in [
        "getblockheader",
        "getblockhash",
        "getbestblockhash",
        "getblockcount",
        "getblockchaininfo",
        "getchaintips",
        "getdifficulty",
        "getpeerinfo",
        "getnetworkinfo",
        "getconnectioncount",
        "addnode",
        "disconnectnode",
        "uptime",
        "stop",
        "help",
    ] {
        assert!(
            help.lines()
                .any(|l| l.split_whitespace().next() == Some(method)),
            "help lists no {method}:\n{help}"
        );
        let one: String = client
            .call("help", &[json!(method)])
            .expect("help <method>");
        assert!(one.starts_with(method), "help {method}: {one}");
    }
    // Core files the long polls under "hidden": out of the list, but with their own help.
    for method in ["waitfornewblock", "waitforblock", "waitforblockheight"] {
        assert!(
            !help
                .lines()
                .any(|l| l.split_whitespace().next() == Some(method)),
            "help lists hidden {method}:\n{help}"
        );
        let one: String = client
            .call("help", &[json!(method)])
            .expect("help <method>");
        assert!(one.starts_with(method), "help {method}: {one}");
    }
    let unknown: String = client
        .call("help", &[json!("getblock")])
        .expect("help getblock");
    assert_eq!(unknown, "help: unknown command: getblock");

    let stopping = client.stop().expect("stop");
    assert_eq!(stopping, "headway stopping");
    let status = pair.node.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{}", pair.logs());
}

/// Waits until the --connect peer `gone` has been replaced by a new connection that has
/// synced the headers again, and returns the new peer's id.
fn wait_for_redial(pair: &Pair, client: &Client, gone: u64) -> u64 {
    let tip_height = pair.bcoin.height() as i64;
    wait_for(
        RECONNECT_WAIT,
        &format!("bcoin to be redialled after peer {gone} was disconnected"),
        || {
            let peers = client.get_peer_info().ok()?;
            match peers.as_slice() {
                [p] if p.id != gone && p.synced_headers == tip_height => Some(p.id),
                _ => None,
            }
        },
        || pair.logs(),
    )
}

#[test]
fn headway_mio_answers_as_bcoin_and_serves_bitcoincore_rpc() {
    answers_as_bcoin_and_serves_bitcoincore_rpc(HEADWAY_MIO);
}

#[test]
fn headway_async_std_answers_as_bcoin_and_serves_bitcoincore_rpc() {
    answers_as_bcoin_and_serves_bitcoincore_rpc(HEADWAY_ASYNC_STD);
}

#[test]
fn waits_return_when_bcoin_mines_and_stop_removes_the_cookie() {
    let mut pair = Pair::start(HEADWAY_MIO, 10, Login::Cookie);
    let client = pair.client();
    let old_tip: BlockHash = pair.bcoin.best_hash().parse().expect("a hash");
    let height = pair.bcoin.height();

    // A long poll without a timeout, from another thread.
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let client = pair.client();
        thread::spawn(move || {
            let _ = tx.send(client.wait_for_new_block(0));
        })
    };
    thread::sleep(WAIT_HEAD_START);
    assert!(
        rx.try_recv().is_err(),
        "waitfornewblock returned before a block was mined"
    );
    pair.bcoin.mine(1);
    let mined = Instant::now();
    let new_tip: BlockHash = pair.bcoin.best_hash().parse().expect("a hash");
    let got = rx
        .recv_timeout(NEW_BLOCK_WAIT)
        .unwrap_or_else(|_| {
            panic!(
                "waitfornewblock still waiting {NEW_BLOCK_WAIT:?} after the block\n{}",
                pair.logs()
            )
        })
        .expect("waitfornewblock");
    let took = mined.elapsed();
    waiter.join().expect("the waiting thread");
    assert_eq!(
        (got.hash, got.height),
        (new_tip, height + 1),
        "took {took:?}"
    );
    // The store has it before the wait returns.
    let header = client
        .get_block_header_info(&new_tip)
        .expect("getblockheader right after waitfornewblock");
    assert_eq!(
        (header.confirmations, header.height as u64),
        (1, height + 1)
    );
    assert_eq!(header.previous_block_hash, Some(old_tip));

    // With the tip it knows given (Core v29's current_tip): returns at once when it moved.
    let moved: bitcoincore_rpc::json::BlockRef = client
        .call("waitfornewblock", &[json!(0), json!(old_tip.to_string())])
        .expect("waitfornewblock with current_tip");
    assert_eq!(moved.hash, new_tip);

    // Timeouts that expire return the current tip, no sooner.
    let started = Instant::now();
    let at: bitcoincore_rpc::json::BlockRef = client
        .call(
            "waitforblockheight",
            &[json!(height + 3), json!(HEIGHT_WAIT_MS)],
        )
        .expect("waitforblockheight");
    let waited = started.elapsed();
    assert_eq!((at.hash, at.height), (new_tip, height + 1));
    assert!(
        waited >= Duration::from_millis(HEIGHT_WAIT_MS)
            && waited < Duration::from_millis(HEIGHT_WAIT_MS) + WAIT_SLACK,
        "waitforblockheight with {HEIGHT_WAIT_MS} ms took {waited:?}"
    );
    let started = Instant::now();
    let same = client
        .wait_for_new_block(SHORT_WAIT_MS)
        .expect("wait_for_new_block");
    let waited = started.elapsed();
    assert_eq!((same.hash, same.height), (new_tip, height + 1));
    assert!(
        waited >= Duration::from_millis(SHORT_WAIT_MS)
            && waited < Duration::from_millis(SHORT_WAIT_MS) + WAIT_SLACK,
        "waitfornewblock with {SHORT_WAIT_MS} ms took {waited:?}"
    );
    let started = Instant::now();
    let other: BlockHash = "11".repeat(32).parse().expect("a hash");
    let still = client
        .wait_for_block(&other, SHORT_WAIT_MS)
        .expect("wait_for_block");
    assert_eq!(still.hash, new_tip);
    assert!(started.elapsed() >= Duration::from_millis(SHORT_WAIT_MS));

    // stop: exit code 0 within seconds, the cookie gone.
    let cookie = pair.datadir.join("regtest").join(".cookie");
    assert!(cookie.exists());
    assert_eq!(client.stop().expect("stop"), "headway stopping");
    let status = pair.node.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{}", pair.logs());
    assert!(!cookie.exists(), "the cookie outlived the node");
}

#[test]
fn rest_serves_the_store() {
    let mut pair = Pair::start(HEADWAY_MIO, REST_CHAIN_LEN, Login::UserPassword);
    let addr = pair.addr;

    let last = (REST_COUNT - 1).to_string();
    let export = inspect(
        HEADWAY_MIO,
        &[
            "export",
            "--datadir",
            pair.datadir(),
            "--network",
            "regtest",
            "--to",
            &last,
        ],
    );
    assert!(
        export.status.success(),
        "export: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert_eq!(export.stdout.len() as u64, REST_COUNT * 80);

    let bin = get(
        addr,
        &format!("/rest/headers/{GENESIS}.bin?count={REST_COUNT}"),
    );
    assert_eq!(bin.status, 200, "{}", bin.text());
    assert_eq!(bin.header("Content-Type"), Some("application/octet-stream"));
    assert!(
        bin.body == export.stdout,
        "REST .bin is not what export read"
    );
    let deprecated = get(addr, &format!("/rest/headers/{REST_COUNT}/{GENESIS}.bin"));
    assert!(deprecated.body == export.stdout, "the /<count>/<hash> form");

    let hex = get(
        addr,
        &format!("/rest/headers/{GENESIS}.hex?count={REST_COUNT}"),
    );
    assert_eq!(hex.status, 200);
    assert_eq!(hex.header("Content-Type"), Some("text/plain"));
    assert_eq!(
        hex.text(),
        format!("{}\n", export.stdout.to_lower_hex_string())
    );

    let json = get(
        addr,
        &format!("/rest/headers/{GENESIS}.json?count={REST_COUNT}"),
    );
    assert_eq!(json.status, 200);
    assert_eq!(json.header("Content-Type"), Some("application/json"));
    let headers = json.json();
    let headers = headers.as_array().expect("an array");
    assert_eq!(headers.len() as u64, REST_COUNT);
    for (height, header) in headers.iter().enumerate() {
        let height = height as u64;
        assert_eq!(header["height"], json!(height));
        assert_eq!(
            header["hash"],
            json!(pair.bcoin_hash(height)),
            "REST .json hash at {height}"
        );
    }
    // Whole objects as bcoin (translated to Core) and the RPC give them.
    for height in [0, 1000, REST_COUNT - 1] {
        let hash = pair.bcoin_hash(height);
        let theirs = snapshot(&pair.bcoin, &hash);
        let what = format!("REST header {height}");
        assert_header(
            &headers[height as usize],
            &core_header_from_bcoin(&theirs.json, &theirs.raw),
            &what,
        );
        assert_eq!(
            headers[height as usize],
            pair.hw("getblockheader", json!([hash])),
            "{what} vs getblockheader"
        );
    }

    let tip_height = pair.bcoin.height();
    for height in [0, 1, 1000, tip_height] {
        let hash = pair.bcoin_hash(height);
        let hex = get(addr, &format!("/rest/blockhashbyheight/{height}.hex"));
        assert_eq!(hex.status, 200, "{}", hex.text());
        assert_eq!(hex.text(), format!("{hash}\n"));
        let json = get(addr, &format!("/rest/blockhashbyheight/{height}.json"));
        assert_eq!(json.json(), json!({ "blockhash": hash }));
        let bin = get(addr, &format!("/rest/blockhashbyheight/{height}.bin"));
        let mut reversed = bin.body.clone();
        reversed.reverse();
        assert_eq!(reversed.to_lower_hex_string(), hash, "internal byte order");
    }
    let beyond = get(
        addr,
        &format!("/rest/blockhashbyheight/{}.hex", tip_height + 1),
    );
    assert_eq!(beyond.status, 404);
    assert_eq!(beyond.text(), "Block height out of range\r\n");

    let rest_info = get(addr, "/rest/chaininfo.json");
    assert_eq!(rest_info.status, 200);
    let mut rest_info = rest_info.json();
    let mut rpc_info = pair.hw("getblockchaininfo", json!([]));
    for info in [&mut rest_info, &mut rpc_info] {
        let progress = info
            .as_object_mut()
            .expect("an object")
            .remove("verificationprogress")
            .expect("verificationprogress");
        assert!(progress.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
    }
    assert_eq!(rest_info, rpc_info, "chaininfo.json vs getblockchaininfo");
    assert_eq!(rest_info["blocks"], json!(tip_height));

    assert_eq!(pair.node.terminate(EXIT_WAIT).code(), Some(0));
}
