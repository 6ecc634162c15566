//! Building blocks shared by the simulation tests: nodes on a stored regtest chain, and a model
//! of the store that replays persist commands.

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::BlockHash;
use headway_core::{Config, HeaderChain, Network, Node, Params, PersistChain};

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
        HeaderChain::from_stored(params, all, vec![]).expect("valid stored chain")
    };
    Node::new(config, chain)
}

/// Applies persist commands to a model of the store: the best chain as a list of hashes.
pub fn replay(persisted: &[PersistChain]) -> Vec<BlockHash> {
    let mut best = vec![Network::Regtest.params().genesis.block_hash()];
    for p in persisted {
        best.truncate(p.fork_height as usize + 1);
        best.extend(p.connected.iter().map(Header::block_hash));
    }
    best
}
