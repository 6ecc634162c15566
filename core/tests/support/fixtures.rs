//! Building blocks shared by the simulation tests: nodes on a stored regtest chain, and a model
//! of the store that replays persist commands.

use std::cell::RefCell;
use std::collections::BTreeMap;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::BlockHash;
use headway_core::{Config, HeaderChain, Network, Node, Params, PersistChain};

thread_local! {
    /// Every header a node of this test was built on: the store those nodes would have loaded
    /// from, which the simulation reads when a node asks for headers to serve.
    static STORED: RefCell<BTreeMap<BlockHash, Header>> = const { RefCell::new(BTreeMap::new()) };
}

/// Remembers `headers` as stored (see [`stored_header`]).
pub fn remember(headers: &[Header]) {
    STORED.with(|s| {
        let mut s = s.borrow_mut();
        for h in headers {
            s.insert(h.block_hash(), *h);
        }
    });
}

/// A header some node of this test was built on.
pub fn stored_header(hash: &BlockHash) -> Option<Header> {
    STORED.with(|s| s.borrow().get(hash).copied())
}

/// A regtest node seeded with `seed` whose chain is genesis plus `best`, under `params`.
pub fn node_on(seed: u64, params: Params, best: &[Header]) -> Node {
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    node_with(config, params, best)
}

/// A node with `config` whose chain is genesis plus `best`, under `params`.
#[allow(dead_code)]
pub fn node_with(config: Config, params: Params, best: &[Header]) -> Node {
    let chain = if best.is_empty() {
        HeaderChain::new(params)
    } else {
        let mut all = vec![params.genesis];
        all.extend_from_slice(best);
        remember(&all);
        HeaderChain::from_stored(params, all, vec![]).expect("valid stored chain")
    };
    Node::new(config, chain)
}

/// Applies persist commands to a model of the store: the best chain as a list of hashes.
pub fn replay(persisted: &[PersistChain]) -> Vec<BlockHash> {
    let mut best = vec![Network::Regtest.params().genesis.block_hash()];
    for p in persisted {
        best.truncate(p.fork_height as usize + 1);
        best.extend(p.rejoined.iter().copied());
        best.extend(p.connected.iter().map(Header::block_hash));
    }
    best
}
