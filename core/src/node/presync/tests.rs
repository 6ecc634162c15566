//! The presync secrets against an attacker who reads every nonce we send: the salt and the
//! commitment offset come from the secret generator, so recovering the nonce generator from
//! the wire predicts our nonces but not them.

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;

use super::state::{HeadersPresync, PresyncNext};
use super::*;
use crate::chain::HeaderChain;
use crate::input::Input;
use crate::node::test_peer::{decoded, handshake, receive, sent};
use crate::node::Config;
use crate::params::Network;
use crate::rng::{Rng, SecretSeed};
use crate::wire::encode;

/// `n` regtest headers after genesis.
fn mine(n: usize) -> Vec<Header> {
    headway_regtest::mine(&Network::Regtest.params().genesis, n, 1)
}

/// A regtest node that presyncs any chain of fewer than 4000 headers.
fn node(seed: u64, secret: u8) -> Node {
    node_presyncing_below(seed, secret, 4000)
}

/// A regtest node that presyncs any chain of fewer than `headers` headers.
fn node_presyncing_below(seed: u64, secret: u8, headers: u128) -> Node {
    let mut params = Network::Regtest.params();
    let mut be = [0u8; 32];
    be[16..].copy_from_slice(&(2u128 * (headers + 1)).to_be_bytes());
    params.minimum_chain_work = bitcoin::Work::from_be_bytes(be);
    let mut config = Config::new(Network::Regtest);
    config.seed = seed;
    config.secret_seed = SecretSeed::from_bytes([secret; 32]);
    // The attacker takes its time over the first getheaders; it is not replaced for it.
    config.headers_timeout = std::time::Duration::from_secs(3600);
    Node::new(config, HeaderChain::new(params))
}

/// Two attacker connections (each pong answered), a round of pings, then the low-work
/// headers that start a presync with the first: returns the nonces seen (version, ping,
/// version, ping), the two pings of the next round, and the presync's secrets.
fn run(seed: u64, secret: u8) -> (Vec<u64>, Vec<u64>, (u64, u32)) {
    let mut node = node(seed, secret);
    let now = Time::from_secs(1_700_000_000);
    let magic = Network::Regtest.params().magic;
    let mut nonces = Vec::new();
    for peer in [PeerId(1), PeerId(2)] {
        for (_, msg) in handshake(&mut node, now, peer) {
            match msg {
                NetworkMessage::Version(v) => nonces.push(v.nonce),
                NetworkMessage::Ping(n) => {
                    nonces.push(n);
                    let bytes = encode(magic, NetworkMessage::Pong(n));
                    node.handle(now, Input::Received { peer, bytes });
                }
                _ => {}
            }
        }
    }
    let later = now + node.config().ping_interval;
    node.handle(later, Input::Tick);
    let pings: Vec<u64> = sent(&mut node)
        .into_iter()
        .filter_map(|(_, m)| match m {
            NetworkMessage::Ping(n) => Some(n),
            _ => None,
        })
        .collect();
    let headers = encode(magic, NetworkMessage::Headers(mine(MAX_HEADERS_RESULTS)));
    node.handle(
        later,
        Input::Received {
            peer: PeerId(1),
            bytes: headers,
        },
    );
    let secrets = node
        .peers
        .get(&PeerId(1))
        .and_then(|p| p.presync.as_ref())
        .map(|s| s.secrets())
        .expect("the low-work headers started a presync");
    (nonces, pings, secrets)
}

#[test]
fn an_attacker_who_recovers_the_nonce_generator_predicts_nonces_but_not_the_salt() {
    let (nonces, pings, (salt, _)) = run(7, 1);
    assert_eq!(nonces.len(), 4, "two versions and two pings");
    assert_eq!(pings.len(), 2);
    // Draws: version 1, ping 1, the sync peer's pick (unseen), version 2, ping 2.
    let seen = [
        (0, nonces[0]),
        (1, nonces[1]),
        (3, nonces[2]),
        (4, nonces[3]),
    ];
    let mut attacker = Rng::recover(&seen).expect("the wire gives the state away");
    let predicted: Vec<u64> = (0..80).map(|_| attacker.next_u64()).collect();
    assert_eq!(
        &predicted[5..7],
        &pings[..],
        "the next nonces are predicted"
    );
    // Had the salt come from the nonce generator it would be among its next outputs.
    assert!(
        !predicted[5..].contains(&salt),
        "the salt follows from the nonces"
    );
}

#[test]
fn salts_follow_the_secret_seed_not_the_wire_seed() {
    let (nonces_a, _, secrets_a) = run(7, 1);
    let (nonces_b, _, secrets_b) = run(7, 2);
    let (nonces_c, _, secrets_c) = run(8, 1);
    assert_eq!(nonces_a, nonces_b, "same wire seed, same nonces");
    assert_ne!(
        secrets_a.0, secrets_b.0,
        "another secret seed, another salt"
    );
    assert_ne!(nonces_a, nonces_c);
    assert_eq!(
        secrets_a, secrets_c,
        "the wire seed does not move the secrets"
    );
}

/// A presync of the regtest chain from genesis, with a commitment every header (offset 0),
/// the given work threshold, redownload buffer `buffer` and commitment cap.
fn presync_from_genesis(threshold: u128, buffer: u32, max_commitments: u64) -> HeadersPresync {
    let mut params = Network::Regtest.params();
    params.headers_commitment_period = 1;
    params.headers_redownload_buffer = buffer;
    let genesis = params.genesis;
    HeadersPresync::new(
        &params,
        (
            genesis.block_hash(),
            0,
            genesis.bits.to_consensus(),
            genesis.time,
            2,
        ),
        vec![genesis.block_hash()],
        threshold,
        0x5eed,
        0,
        max_commitments,
    )
}

fn hashes(headers: &[Header]) -> Vec<BlockHash> {
    headers.iter().map(Header::block_hash).collect()
}

#[test]
fn a_commitment_is_the_low_bit_of_the_salted_hash() {
    use bitcoin::hashes::sha256;
    let state = presync_from_genesis(u128::MAX, 10, 1_000);
    let (salt, _) = state.secrets();
    let chain = mine(64);
    let mut ones = 0;
    for hash in hashes(&chain) {
        let mut buf = salt.to_le_bytes().to_vec();
        buf.extend_from_slice(hash.as_ref());
        let expected = sha256::Hash::hash(&buf).to_byte_array()[0] & 1 == 1;
        assert_eq!(state.commitment_bit(&hash), expected);
        ones += usize::from(expected);
    }
    // A fair coin over 64 hashes: the test data is not degenerate.
    assert!((16..=48).contains(&ones), "{ones}");
}

#[test]
fn the_commitment_cap_allows_exactly_its_number_of_commitments() {
    let chain = mine(6);
    let mut state = presync_from_genesis(u128::MAX, 10, 5);
    let first = state.process(&chain[..5], &hashes(&chain[..5]), true);
    assert!(
        matches!(first.next, PresyncNext::RequestMore(_)),
        "five commitments fit a cap of five: {:?}",
        first.next
    );
    let sixth = state.process(&chain[5..], &hashes(&chain[5..]), true);
    assert!(
        matches!(sixth.next, PresyncNext::Aborted(_)),
        "{:?}",
        sixth.next
    );
}

#[test]
fn an_invalid_header_in_the_redownload_releases_nothing_of_its_message() {
    // Threshold at 40 headers (work 2 each, genesis included); buffer 5.
    let chain = mine(40);
    let mut state = presync_from_genesis(2 * 41, 5, 1_000);
    let all = hashes(&chain);
    let done = state.process(&chain, &all, true);
    assert!(
        matches!(done.next, PresyncNext::RequestMore(_)),
        "{:?}",
        done.next
    );
    assert_eq!(state.status().phase, PresyncPhase::Redownload);
    // The redownload: 30 sound headers, then one with a bad hash.
    let mut batch = chain[..31].to_vec();
    while batch[30].validate_pow(batch[30].target()).is_ok() {
        batch[30].nonce = batch[30].nonce.wrapping_add(1);
    }
    let processed = state.process(&batch, &hashes(&batch), true);
    assert!(
        matches!(processed.next, PresyncNext::Invalid(..)),
        "{:?}",
        processed.next
    );
    assert!(
        processed.release.is_empty(),
        "{} headers released from a failed message",
        processed.release.len()
    );
}

#[test]
fn an_incomplete_redownload_message_still_releases_what_passed_the_buffer() {
    let chain = mine(40);
    let mut state = presync_from_genesis(2 * 41, 5, 1_000);
    let all = hashes(&chain);
    state.process(&chain, &all, true);
    assert_eq!(state.status().phase, PresyncPhase::Redownload);
    // The peer now serves only 30 of the 40 again, in a short message: Core gives up on the
    // rest but releases the headers the buffer already vouches for.
    let processed = state.process(&chain[..30], &all[..30], false);
    assert!(
        matches!(processed.next, PresyncNext::Aborted(_)),
        "{:?}",
        processed.next
    );
    assert_eq!(processed.release.as_slice(), &chain[..25]);
}

#[test]
fn the_request_after_a_presync_message_is_known_before_it_only_while_the_phase_cannot_change() {
    // Threshold at 40 headers (work 2 each, genesis included).
    let chain = mine(50);
    let all = hashes(&chain);
    let mut state = presync_from_genesis(2 * 41, 5, 1_000);
    assert!(matches!(
        state.process(&chain[..10], &all[..10], true).next,
        PresyncNext::RequestMore(_)
    ));
    let ahead = state.request_after(&chain[10..20], &all[19], true);
    assert!(ahead.is_some(), "a full message far below the threshold");
    assert_eq!(state.request_after(&chain[10..20], &all[19], false), None);
    assert_eq!(
        state.request_after(&chain[11..20], &all[19], true),
        None,
        "a message that does not continue the presync"
    );
    match state.process(&chain[10..20], &all[10..20], true).next {
        PresyncNext::RequestMore(locator) => assert_eq!(Some(locator), ahead),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        state.request_after(&chain[20..40], &all[39], true),
        None,
        "a message that reaches the threshold switches to the redownload"
    );
    state.process(&chain[20..40], &all[20..40], true);
    assert_eq!(state.status().phase, PresyncPhase::Redownload);
    assert_eq!(
        state.request_after(&chain[..10], &all[9], true),
        None,
        "never in the redownload"
    );
}

#[test]
fn a_presync_message_is_processed_after_the_request_that_follows_it_is_taken() {
    let mut node = node_presyncing_below(7, 1, 10_000);
    let now = Time::from_secs(1_700_000_000);
    handshake(&mut node, now, PeerId(1));
    let chain = mine(3 * MAX_HEADERS_RESULTS);
    let height = |node: &Node| {
        node.peers
            .get(&PeerId(1))
            .and_then(|p| p.presync.as_ref())
            .map(|s| s.status().height)
    };
    receive(
        &mut node,
        now,
        PeerId(1),
        NetworkMessage::Headers(chain[..MAX_HEADERS_RESULTS].to_vec()),
    );
    sent(&mut node);
    assert_eq!(
        height(&node),
        Some(MAX_HEADERS_RESULTS as u32),
        "presync started"
    );
    receive(
        &mut node,
        now,
        PeerId(1),
        NetworkMessage::Headers(chain[MAX_HEADERS_RESULTS..2 * MAX_HEADERS_RESULTS].to_vec()),
    );
    assert!(node.validation_pending());
    let first = node.poll().expect("the request for the next message");
    match decoded(&first) {
        Some(NetworkMessage::GetHeaders(m)) => {
            assert_eq!(
                m.locator_hashes[0],
                chain[2 * MAX_HEADERS_RESULTS - 1].block_hash()
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        height(&node),
        Some(MAX_HEADERS_RESULTS as u32),
        "not yet processed"
    );
    while node.poll().is_some() {}
    assert_eq!(height(&node), Some(2 * MAX_HEADERS_RESULTS as u32));
}
