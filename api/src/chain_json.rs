//! Core's JSON objects for chain data, field for field and in Core's order (serde_json keeps
//! insertion order here): `blockheaderToJSON` (`getblockheader`, REST `headers`),
//! `getblockchaininfo` (also REST `chaininfo`) and `getchaintips`, as in Bitcoin Core v31's
//! `src/rpc/blockchain.cpp`. The text of each value comes from [`crate::format`]; the facts
//! come from [`ChainRead`].
//!
//! Where a header node cannot know what Core reports, the nearest honest value is given and
//! documented at the field: `nTx` is 0, `blocks` equals `headers`, `verificationprogress` is
//! an estimate from time.

use bitcoin::Work;
use headway_core::{Network, Params};
use serde_json::{json, Map, Value};

use crate::chain_view::{ChainError, ChainRead, ChainTip, ChainView, HeaderInfo};
use crate::format::{
    bits_hex, core_double, difficulty, hash_hex, target_hex, version_hex, work_hex,
};

/// Core's `DEFAULT_MAX_TIP_AGE` (validation.h): a tip older than this keeps a node in initial
/// block download.
pub const MAX_TIP_AGE_SECS: u64 = 24 * 60 * 60;

/// The default signet's block challenge, hex: Core's `SigNetParams` without `-signetchallenge`
/// (`src/kernel/chainparams.cpp`; `kernel::SIGNET_DEFAULT_CHALLENGE` in newer trees), a 1-of-2
/// bare multisig. headway joins only the default signet.
pub const SIGNET_DEFAULT_CHALLENGE_HEX: &str = "512103ad5e0edad18cb1f0fc0d28a3d4f1f3e445640337489abb10404f2d1e086be430210359ef5021964fe22d6f8e05b2463c9540ce96883fe3b278760f048f5189f2e6c452ae";

/// The chain name Core's `getblockchaininfo` reports (`ChainTypeToString`, chaintype.cpp);
/// btcd's simnet, which Core does not know, is `simnet`.
pub fn chain_name(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "main",
        Network::Testnet3 => "test",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        Network::Simnet => "simnet",
    }
}

/// Core's `blockheaderToJSON`: hash, confirmations, height, version, versionHex, merkleroot,
/// time, mediantime, nonce, bits, target, difficulty, chainwork, nTx, previousblockhash (not
/// for genesis), nextblockhash (only on the best chain below the tip).
///
/// `nTx` is 0: it is the block's transaction count, which Core also reports as 0 for a header
/// whose block it has not downloaded, and a header node downloads none (Core says 1 for
/// genesis, whose block it always has).
pub fn header_json(info: &HeaderInfo, params: &Params) -> Value {
    let header = &info.header;
    let mut obj = Map::new();
    obj.insert("hash".into(), hash_hex(&info.hash).into());
    obj.insert("confirmations".into(), info.confirmations.into());
    obj.insert("height".into(), info.height.into());
    obj.insert("version".into(), header.version.to_consensus().into());
    obj.insert(
        "versionHex".into(),
        version_hex(header.version.to_consensus()).into(),
    );
    // TxMerkleNode displays as uint256::GetHex does (bytes reversed).
    obj.insert("merkleroot".into(), header.merkle_root.to_string().into());
    obj.insert("time".into(), header.time.into());
    obj.insert("mediantime".into(), info.median_time.into());
    obj.insert("nonce".into(), header.nonce.into());
    obj.insert("bits".into(), bits_hex(header.bits).into());
    obj.insert(
        "target".into(),
        target_hex(header.bits, params.pow_limit).into(),
    );
    obj.insert("difficulty".into(), core_double(difficulty(header.bits)));
    obj.insert("chainwork".into(), work_hex(info.chainwork).into());
    obj.insert("nTx".into(), 0.into());
    if info.height > 0 {
        obj.insert(
            "previousblockhash".into(),
            hash_hex(&header.prev_blockhash).into(),
        );
    }
    if let Some(next) = &info.next {
        obj.insert("nextblockhash".into(), hash_hex(next).into());
    }
    Value::Object(obj)
}

/// Core's `getblockchaininfo`, in its order: chain, blocks, headers, bestblockhash, bits,
/// target, difficulty, time, mediantime, verificationprogress, initialblockdownload,
/// chainwork, size_on_disk, pruned, signet_challenge (signet only), warnings. `now_secs` is
/// the wall clock (Unix seconds); `minimum_chain_work` Core's `nMinimumChainWork` (or the
/// node's `-minimumchainwork`).
///
/// - `blocks` and `headers` are both the best header's height. Core's `blocks` counts blocks
///   it has validated, which a header node has none of; but clients such as LDK's block
///   sync and Electrum-style servers compare `blocks` with `headers` to judge whether the node
///   has caught up, and the header chain is all that headway syncs, so equal values say
///   "caught up with what I hold".
/// - `verificationprogress` has no transaction counts to work from (Core's
///   `GuessVerificationProgress` divides transactions done by transactions expected): it is
///   the same ratio in blocks, `height / (height + (now - tip time) / spacing)` with Core's
///   600-second spacing, capped at 1; 1 when the tip's time is not in the past.
/// - `initialblockdownload` is Core's `IsInitialBlockDownload`: true while the tip has less
///   work than `minimum_chain_work` or is older than [`MAX_TIP_AGE_SECS`]; once false it stays
///   false for the life of the [`ChainView`] (Core's latch).
/// - `size_on_disk` is the size of the store's data file, `pruned` is false, `warnings` an
///   empty array (Core v28+ without `-deprecatedrpc=warnings`).
pub fn blockchain_info_json(
    view: &ChainView,
    read: &ChainRead<'_>,
    now_secs: u64,
    minimum_chain_work: Work,
) -> Result<Value, ChainError> {
    let network = view.network();
    let params = network.params();
    let tip = read.tip()?;
    let info = read.header_info_at(tip.height)?.ok_or_else(|| {
        view.corrupt(format!("no best-chain header at tip height {}", tip.height))
    })?;
    let tip_time = u64::from(info.header.time);
    let ibd = initial_block_download(view, info.chainwork, tip_time, now_secs, minimum_chain_work);
    let mut obj = Map::new();
    obj.insert("chain".into(), chain_name(network).into());
    obj.insert("blocks".into(), tip.height.into());
    obj.insert("headers".into(), tip.height.into());
    obj.insert("bestblockhash".into(), hash_hex(&tip.hash).into());
    obj.insert("bits".into(), bits_hex(info.header.bits).into());
    obj.insert(
        "target".into(),
        target_hex(info.header.bits, params.pow_limit).into(),
    );
    obj.insert(
        "difficulty".into(),
        core_double(difficulty(info.header.bits)),
    );
    obj.insert("time".into(), info.header.time.into());
    obj.insert("mediantime".into(), info.median_time.into());
    obj.insert(
        "verificationprogress".into(),
        core_double(verification_progress(
            tip.height,
            tip_time,
            now_secs,
            params.pow_target_spacing,
        )),
    );
    obj.insert("initialblockdownload".into(), ibd.into());
    obj.insert("chainwork".into(), work_hex(info.chainwork).into());
    obj.insert("size_on_disk".into(), view.size_on_disk().into());
    obj.insert("pruned".into(), false.into());
    if network == Network::Signet {
        obj.insert(
            "signet_challenge".into(),
            SIGNET_DEFAULT_CHALLENGE_HEX.into(),
        );
    }
    obj.insert("warnings".into(), Value::Array(Vec::new()));
    Ok(Value::Object(obj))
}

/// Core's `getchaintips` entries: height, hash, branchlen, status. The active tip is
/// `active`; every other tip is `headers-only`, Core's status for a branch whose block data it
/// lacks ("This block cannot be connected because full block data for it or one of its
/// parents is missing"), which is every branch of a header node.
pub fn chain_tips_json(tips: &[ChainTip]) -> Value {
    Value::Array(
        tips.iter()
            .map(|tip| {
                json!({
                    "height": tip.height,
                    "hash": hash_hex(&tip.hash),
                    "branchlen": tip.branchlen,
                    "status": if tip.active { "active" } else { "headers-only" },
                })
            })
            .collect(),
    )
}

/// Core's `IsInitialBlockDownload` with its latch kept in `view`.
fn initial_block_download(
    view: &ChainView,
    tip_work: Work,
    tip_time: u64,
    now_secs: u64,
    minimum_chain_work: Work,
) -> bool {
    if view.finished_ibd() {
        return false;
    }
    if tip_work < minimum_chain_work {
        return true;
    }
    // Core: `Tip()->Time() < Now() - max_tip_age`.
    if tip_time < now_secs.saturating_sub(MAX_TIP_AGE_SECS) {
        return true;
    }
    view.latch_finished_ibd();
    false
}

/// Blocks done over blocks expected by now, capped at 1 (see [`blockchain_info_json`]).
fn verification_progress(height: u32, tip_time: u64, now_secs: u64, spacing: u32) -> f64 {
    if now_secs <= tip_time || spacing == 0 {
        return 1.0;
    }
    let behind = (now_secs - tip_time) as f64 / f64::from(spacing);
    let done = f64::from(height);
    (done / (done + behind)).min(1.0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bitcoin::block::Header;
    use headway_core::PersistChain;
    use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};

    use super::*;

    use headway_regtest::work_of;

    fn view_of(dir: &std::path::Path, network: Network, chain: &[Header]) -> ChainView {
        let options = StoreOptions {
            durability: Durability::NoSync,
            ..StoreOptions::default()
        };
        let store = HeaderStore::open_with(dir, network, &options).unwrap();
        if chain.len() > 1 {
            store
                .apply(&[PersistChain {
                    fork_height: 0,
                    rejoined: vec![],
                    connected: chain[1..].to_vec(),
                    side: vec![],
                    tip_work: work_of(chain),
                }])
                .unwrap();
        }
        ChainView::new(Arc::new(store))
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    const HEADER_KEYS: [&str; 14] = [
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

    #[test]
    fn chain_json_header_is_cores_blockheader_to_json() {
        let chain = headway_regtest::chain(2, 1);
        let side = headway_regtest::mine(&chain[0], 1, 2)[0];
        let dir = tempfile::tempdir().unwrap();
        let view = view_of(dir.path(), Network::Regtest, &chain);
        let params = Network::Regtest.params();
        let (genesis, middle, tip) = view
            .read(|r| {
                Ok((
                    r.header_info_at(0)?.unwrap(),
                    r.header_info_at(1)?.unwrap(),
                    r.header_info_at(2)?.unwrap(),
                ))
            })
            .unwrap();
        // Core v31 `getblockheader` of the regtest genesis, but for nTx (Core has the block).
        let expected = format!(
            concat!(
                r#"{{"hash":"0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206","#,
                r#""confirmations":3,"height":0,"version":1,"versionHex":"00000001","#,
                r#""merkleroot":"4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b","#,
                r#""time":1296688602,"mediantime":1296688602,"nonce":2,"bits":"207fffff","#,
                r#""target":"7fffff0000000000000000000000000000000000000000000000000000000000","#,
                r#""difficulty":4.656542373906925e-10,"#,
                r#""chainwork":"0000000000000000000000000000000000000000000000000000000000000002","#,
                r#""nTx":0,"nextblockhash":"{}"}}"#
            ),
            chain[1].block_hash()
        );
        assert_eq!(
            serde_json::to_string(&header_json(&genesis, &params)).unwrap(),
            expected
        );

        let middle = header_json(&middle, &params);
        let mut with_links = HEADER_KEYS.to_vec();
        with_links.extend(["previousblockhash", "nextblockhash"]);
        assert_eq!(keys(&middle), with_links);
        assert_eq!(
            middle["previousblockhash"],
            chain[0].block_hash().to_string()
        );
        assert_eq!(middle["nextblockhash"], chain[2].block_hash().to_string());
        assert_eq!(middle["confirmations"], 2);
        assert_eq!(
            middle["chainwork"],
            "0000000000000000000000000000000000000000000000000000000000000004"
        );

        let tip = header_json(&tip, &params);
        let mut prev_only = HEADER_KEYS.to_vec();
        prev_only.push("previousblockhash");
        assert_eq!(keys(&tip), prev_only);
        assert_eq!(tip["confirmations"], 1);

        // A side header: -1 confirmations, never a next hash.
        let options = StoreOptions {
            durability: Durability::NoSync,
            ..StoreOptions::default()
        };
        let side_dir = tempfile::tempdir().unwrap();
        let store = HeaderStore::open_with(side_dir.path(), Network::Regtest, &options).unwrap();
        store
            .apply(&[PersistChain {
                fork_height: 0,
                rejoined: vec![],
                connected: chain[1..].to_vec(),
                side: vec![(1, side)],
                tip_work: work_of(&chain),
            }])
            .unwrap();
        let side_view = ChainView::new(Arc::new(store));
        let info = side_view
            .read(|r| r.header_info(&side.block_hash()))
            .unwrap()
            .unwrap();
        let json = header_json(&info, &params);
        assert_eq!(keys(&json), prev_only);
        assert_eq!(json["confirmations"], -1);
    }

    #[test]
    fn chain_json_blockchain_info_follows_cores_order_and_rules() {
        let chain = headway_regtest::chain(100, 1);
        let tip_time = u64::from(chain[100].time);
        let dir = tempfile::tempdir().unwrap();
        let view = view_of(dir.path(), Network::Regtest, &chain);
        let zero = Work::from_be_bytes([0; 32]);
        let info = |now, min_work| {
            view.read(|r| blockchain_info_json(&view, r, now, min_work))
                .unwrap()
        };

        // A day and a second behind: in IBD.
        let old = info(tip_time + MAX_TIP_AGE_SECS + 1, zero);
        assert_eq!(old["initialblockdownload"], true);
        // More work wanted than the tip has: in IBD however recent the tip.
        let heavy = Work::from_be_bytes([0xff; 32]);
        assert_eq!(info(tip_time, heavy)["initialblockdownload"], true);

        let fresh = info(tip_time + 60, zero);
        assert_eq!(
            keys(&fresh),
            [
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
                "warnings"
            ]
        );
        assert_eq!(fresh["chain"], "regtest");
        assert_eq!(fresh["blocks"], 100);
        assert_eq!(fresh["headers"], 100);
        assert_eq!(fresh["bestblockhash"], chain[100].block_hash().to_string());
        assert_eq!(fresh["bits"], "207fffff");
        assert_eq!(
            fresh["target"],
            "7fffff0000000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(
            serde_json::to_string(&fresh["difficulty"]).unwrap(),
            "4.656542373906925e-10"
        );
        assert_eq!(fresh["time"], chain[100].time);
        assert_eq!(fresh["mediantime"], chain[95].time);
        assert_eq!(fresh["initialblockdownload"], false);
        assert_eq!(
            fresh["chainwork"],
            "00000000000000000000000000000000000000000000000000000000000000ca"
        );
        assert_eq!(fresh["size_on_disk"], view.size_on_disk());
        assert_eq!(fresh["pruned"], false);
        assert_eq!(fresh["warnings"], json!([]));
        // Behind by 100 spacings: progress 0.5.
        let half = info(tip_time + 600 * 100, zero);
        assert_eq!(
            serde_json::to_string(&half["verificationprogress"]).unwrap(),
            "0.5"
        );
        // Core's latch: out of IBD for good, even when the tip grows old or the work wanted
        // grows.
        assert_eq!(info(tip_time, heavy)["initialblockdownload"], false);
        assert_eq!(
            info(tip_time + 10 * MAX_TIP_AGE_SECS, zero)["initialblockdownload"],
            false
        );
        // The tip's time in the future: progress is 1.
        assert_eq!(
            serde_json::to_string(&info(tip_time - 5, zero)["verificationprogress"]).unwrap(),
            "1"
        );
    }

    #[test]
    fn chain_json_names_each_network_and_gives_signets_challenge() {
        for network in Network::ALL {
            let dir = tempfile::tempdir().unwrap();
            let view = view_of(dir.path(), network, &[]);
            let info = view
                .read(|r| blockchain_info_json(&view, r, 0, Work::from_be_bytes([0; 32])))
                .unwrap();
            assert_eq!(info["chain"], chain_name(network));
            assert_eq!(info["blocks"], 0);
            assert_eq!(
                info["bestblockhash"],
                network.params().genesis_hash().to_string()
            );
            let names: Vec<&str> = keys(&info);
            if network == Network::Signet {
                assert_eq!(info["signet_challenge"], SIGNET_DEFAULT_CHALLENGE_HEX);
                assert_eq!(names[names.len() - 2..], ["signet_challenge", "warnings"]);
            } else {
                assert!(!names.contains(&"signet_challenge"), "{network}");
            }
        }
        let names: Vec<&str> = Network::ALL.iter().map(|n| chain_name(*n)).collect();
        assert_eq!(
            names,
            ["main", "test", "testnet4", "signet", "regtest", "simnet"]
        );
    }

    #[test]
    fn chain_json_tips_are_active_or_headers_only() {
        let hash = |b: u8| bitcoin::BlockHash::from_byte_array([b; 32]);
        use bitcoin::hashes::Hash;
        let tips = [
            ChainTip {
                height: 10,
                hash: hash(1),
                branchlen: 0,
                active: true,
            },
            ChainTip {
                height: 9,
                hash: hash(2),
                branchlen: 3,
                active: false,
            },
        ];
        let expected = format!(
            r#"[{{"height":10,"hash":"{}","branchlen":0,"status":"active"}},{{"height":9,"hash":"{}","branchlen":3,"status":"headers-only"}}]"#,
            hash(1),
            hash(2)
        );
        assert_eq!(
            serde_json::to_string(&chain_tips_json(&tips)).unwrap(),
            expected
        );
        assert_eq!(chain_tips_json(&[]), json!([]));
    }
}
