//! Every method headway serves through `bitcoincore-rpc` 0.19's typed calls (both binaries,
//! on the nodes [`crate::oracle`] leaves after its reorg): results deserialized and checked
//! against bcoin (headers byte for byte, the peer's user agent and synced headers), `addnode`
//! and `disconnectnode` with Core's codes and the `--connect` peer redialled, waits satisfied
//! at once, `help`, and `stop`, after which the process exits with code 0.
//! `get_blockchain_info` included (see [`blockchain_info_through_the_typed_client`]).

use std::thread;
use std::time::{Duration, Instant};

use bitcoin::consensus::encode::serialize;
use bitcoin::hex::DisplayHex;
use bitcoin::BlockHash;
use bitcoincore_rpc::json::{
    GetBlockchainInfoResult, GetChainTipsResultStatus, GetPeerInfoResultConnectionType,
    GetPeerInfoResultNetwork, StringOrStringArray,
};
use bitcoincore_rpc::{Client, RpcApi};
use serde_json::json;

use crate::core_answers::{assert_near, REGTEST_DIFFICULTY};
use crate::oracle::{CHAIN_LEN, MIDDLE, REORG_DEPTH};
use crate::pair::{Pair, EXIT_WAIT};
use crate::support::bcoin::free_port;
use crate::support::headway::wait_for;
use crate::support::load::REGTEST_GENESIS;
use crate::waits::SHORT_WAIT_MS;

/// A dropped `--connect` peer is redialled after the core's first backoff step (5 s).
const RECONNECT_WAIT: Duration = Duration::from_secs(30);
/// bcoin's user agent.
const BCOIN_USER_AGENT: &str = "/bcoin:v1.0.2/";
/// bcoin's protocol version.
const BCOIN_VERSION: u64 = 70015;

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

/// Every method through `bitcoincore-rpc`, on a node synced to `tip_height` with the
/// reorged-out `old_tip`.
pub fn through_bitcoincore_rpc(pair: &mut Pair, tip_height: u64, old_tip: &str, old_tip_raw: &str) {
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
    let genesis: BlockHash = REGTEST_GENESIS.parse().expect("a hash");
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
    // NODE_P2P_V2: v2 is on by default.
    assert_eq!(network.local_services, "0000000000000800");
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
