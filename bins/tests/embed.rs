//! The embedding API against a real peer: a node started in-process with each driver
//! ([`RunningNode::start`]) syncs from bcoin, its subscribers hear every stored tip change,
//! a reorg (bcoin `invalidateblock`) arrives with the blocks that left and joined the best
//! chain, every announced tip can be read from [`RunningNode::chain`] at once, and
//! [`RunningNode::shutdown`] ends the subscription.

mod support;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use headway::cli::RunArgs;
use headway::config::{FileConfig, Settings};
use headway::embed::RunningNode;
use headway::run::NodeDriver;
use headway_core::{Request, TipChange};
use serde_json::json;
use support::bcoin::Bcoin;

/// Blocks bcoin mines before the node starts.
const FIRST_BLOCKS: u32 = 200;
/// Generous bound for each expected tip change (nothing here measures speed).
const CHANGE_WAIT: Duration = Duration::from_secs(60);

/// Waits for the change that brings the tip to `hash`, checking each one on the way: it is
/// readable from the store when it arrives.
fn until_tip(node: &RunningNode, changes: &Receiver<TipChange>, hash: &str) -> Vec<TipChange> {
    let deadline = Instant::now() + CHANGE_WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let change = changes
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no tip change to {hash} within {CHANGE_WAIT:?}: {e}"));
        let stored = node
            .chain()
            .read(|r| r.header_info(&change.tip))
            .expect("the store answers");
        let info = stored.expect("an announced tip is already stored");
        assert_eq!(info.height, change.tip_height);
        let done = change.tip.to_string() == hash;
        seen.push(change);
        if done {
            // Nothing is mined after it: it is the stored tip.
            assert_eq!(info.confirmations, 1, "the last change is the stored tip");
            return seen;
        }
    }
}

fn embedded_node_follows_tips_and_reorgs<D: NodeDriver>() {
    let bcoin = Bcoin::start();
    bcoin.mine(FIRST_BLOCKS);
    let data = tempfile::tempdir().expect("temp dir");
    let args = RunArgs {
        network: Some("regtest".into()),
        datadir: Some(data.path().to_path_buf()),
        ..RunArgs::default()
    };
    let mut settings = Settings::resolve(&args, &FileConfig::default()).expect("settings");
    settings.rpc.enabled = false;
    let node = RunningNode::start::<D>(&settings).expect("the node starts");
    assert!(node.rpc_addrs().is_empty(), "RPC off as asked");
    // Subscribed before the peer is added, so no change can slip past.
    let changes = node.subscribe();
    node.request(Request::AddPeer(bcoin.p2p_addr()));

    // The initial sync: changes arrive in height order and end at bcoin's tip.
    let synced = until_tip(&node, &changes, &bcoin.best_hash());
    let heights: Vec<u32> = synced.iter().map(|c| c.tip_height).collect();
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");
    assert_eq!(node.tip().height, FIRST_BLOCKS);

    // One new block: one change, one connected hash.
    bcoin.mine(1);
    let one = until_tip(&node, &changes, &bcoin.best_hash());
    let last = one.last().expect("a change");
    assert_eq!(last.connected.len(), 1);
    assert!(last.disconnected.is_empty());

    // A reorg: bcoin drops its last 3 blocks and mines 5 on the block below them.
    let height = bcoin.height();
    let fork_hash = bcoin.rpc("getblockhash", json!([height - 3]));
    let gone = bcoin.rpc("getblockhash", json!([height - 2]));
    let old: Vec<String> = (height - 2..=height)
        .map(|h| {
            bcoin
                .rpc("getblockhash", json!([h]))
                .as_str()
                .expect("hash")
                .to_string()
        })
        .collect();
    bcoin.rpc("invalidateblock", json!([gone]));
    bcoin.mine(5);
    let reorg = until_tip(&node, &changes, &bcoin.best_hash());
    let change = reorg
        .iter()
        .find(|c| !c.disconnected.is_empty())
        .expect("the reorg is announced as one change with the blocks that left");
    assert_eq!(change.fork_height as u64, height - 3);
    let mut disconnected: Vec<String> = change.disconnected.iter().map(|h| h.to_string()).collect();
    disconnected.reverse();
    assert_eq!(disconnected, old, "highest first, as TipChange promises");
    assert_eq!(
        node.chain()
            .read(|r| r.hash_at(change.fork_height))
            .expect("store")
            .map(|h| h.to_string()),
        fork_hash.as_str().map(str::to_string)
    );
    assert_eq!(node.tip().height as u64, height - 3 + 5);

    let summary = node.shutdown().expect("a clean shutdown");
    assert_eq!(summary.height as u64, height + 2);
    // The subscription ends with the node.
    assert!(changes.recv_timeout(Duration::from_secs(5)).is_err());
}

#[test]
fn mio_embedded_node_follows_tips_and_reorgs() {
    embedded_node_follows_tips_and_reorgs::<headway_driver_mio::Driver>();
}

#[test]
fn async_std_embedded_node_follows_tips_and_reorgs() {
    embedded_node_follows_tips_and_reorgs::<headway_driver_async_std::Driver>();
}
