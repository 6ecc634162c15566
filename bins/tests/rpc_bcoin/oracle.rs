//! bcoin as the oracle for the chain (both binaries): bcoin mines 300 blocks, headway syncs;
//! bcoin then invalidates its tip-2 block and mines 5 more, and headway reorganises. For the
//! tip, genesis, a middle block and the two reorged-out blocks, `getblockheader` (verbose and
//! not), `getblockhash`, `getbestblockhash`, `getblockcount`, `getblockchaininfo`,
//! `getchaintips`, `getdifficulty` and the errors for an unknown block or height are compared
//! with bcoin's answers field by field. Where bcoin departs from Core, the departure itself is
//! asserted (so the test says when bcoin changes) and headway is held to what Core answers:
//!
//! - `getblockheader`: bcoin's `bits` is a number (545259519) where Core gives hex
//!   (`"207fffff"`); bcoin leaves out `nonce`, `target` and `nTx`, which Core gives (headway:
//!   the header's nonce, the target from `bits`, and `nTx` 0, Core's value for a block it
//!   holds no data of; Core says 1 for genesis, whose block it always has); bcoin writes
//!   `"previousblockhash": null` for genesis and `"nextblockhash": null` at the tip where
//!   Core leaves the keys out; bcoin prints `difficulty` with 17 digits
//!   (4.6565423739069247e-10) where Core prints `%.16g` (4.656542373906925e-10, which is
//!   not quite the same double): headway's text must be Core's `%.16g` of bcoin's number,
//!   character for character. Everything else (hash, height, version, versionHex,
//!   merkleroot, time, mediantime, chainwork, confirmations on the best chain, the links)
//!   must equal bcoin's exactly, and does.
//! - bcoin's `invalidateblock` forgets the invalidated block and its descendants: afterwards
//!   its `getblockheader` of them fails with code -1 (Core keeps them and answers with
//!   `confirmations` -1), and its `getchaintips` lists only the active tip (Core would list
//!   the branch as `invalid`). By its source (`rpc.js`, not reached here), bcoin's other side
//!   branches are `valid-headers` and their blocks' `confirmations` are counted as if they
//!   were on the best chain; Core's are -1. headway, which received the reorg as a peer,
//!   must list the old branch as `headers-only` (a header node has no block data for it;
//!   Core's status for such a branch) and give its blocks `confirmations` -1 and no
//!   `nextblockhash`, from bcoin's answers taken before the reorg.
//! - Errors: an unknown block is code -1 in bcoin and -5 (`RPC_INVALID_ADDRESS_OR_KEY`) in
//!   Core; a height out of range is -8 in both, but bcoin's message ends with a full stop.
//! - `getblockchaininfo`: bcoin has no `bits`, `target`, `time`, `initialblockdownload`,
//!   `size_on_disk` or `warnings` (Core v28+ has all; `warnings` an array), and has
//!   `softforks` as an array plus `bip9_softforks` (Core 0.18's shape; v23+ moved deployments
//!   to `getdeploymentinfo`) and `"pruneheight": null` (Core gives it only when pruned).
//!   bcoin's `verificationprogress` is its own time ratio (tip time over now minus 40
//!   minutes, from genesis) where Core's counts transactions; headway's is documented as a
//!   block-count estimate from the clock and checked against that formula. `chain`,
//!   `blocks`, `headers`, `bestblockhash`, `difficulty`, `mediantime`, `chainwork` and
//!   `pruned` must equal bcoin's.
//!
//! The same nodes then go on to [`crate::client`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::client::through_bitcoincore_rpc;
use crate::core_answers::{
    assert_header, core_g16, core_header_from_bcoin, number_text, snapshot,
    BCOIN_REGTEST_DIFFICULTY,
};
use crate::pair::{Login, Pair};
use crate::support::load::REGTEST_GENESIS;

/// Blocks bcoin mines before headway connects.
pub const CHAIN_LEN: u64 = 300;
/// The middle block compared.
pub const MIDDLE: u64 = 150;
/// bcoin invalidates the block this far below its tip, which takes it and its descendants
/// out of the best chain: a reorg of `REORG_DEPTH + 1` blocks.
pub const REORG_DEPTH: u64 = 2;
/// Blocks bcoin mines on the new branch.
const REORG_BLOCKS: u64 = 5;
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

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// For `bin`: bcoin as the oracle through a reorg, then every method through
/// `bitcoincore-rpc`, ending with `stop`.
pub fn answers_as_bcoin_and_serves_bitcoincore_rpc(bin: &'static str) {
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
    assert_eq!(genesis, REGTEST_GENESIS);
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
