//! The header chain on real mainnet data: a sync of the first 40,000 headers, known hashes,
//! the first difficulty change, locators and getheaders serving on it, reloading from a
//! store, and the July 2015 invalid fork.

mod chain_support;

use chain_support::{hashes, mainnet_headers, mine_one, read_headers, regtest_now, MAINNET_NOW};
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::BlockHash;
use headway_core::chain::locator::locator_heights;
use headway_core::chain::pow::{check_proof_of_work, U256};
use headway_core::chain::validate::check_version;
use headway_core::chain::{header_hash, HeaderError, HeaderRange, LoadError};
use headway_core::params::Network;
use headway_core::HeaderChain;

fn synced(headers: &[headway_core::bitcoin::block::Header]) -> HeaderChain {
    let mut chain = HeaderChain::new(Network::Mainnet.params());
    for batch in headers[1..].chunks(2000) {
        let acc = chain.accept(batch, MAINNET_NOW);
        assert_eq!(acc.error, None);
        assert_eq!(acc.added, batch.len());
    }
    chain
}

#[test]
fn syncs_40000_mainnet_headers_in_batches() {
    let headers = mainnet_headers();
    assert_eq!(headers.len(), 40_000);
    let mut chain = HeaderChain::new(Network::Mainnet.params());
    let mut height = 0u32;
    for batch in headers[1..].chunks(2000) {
        let acc = chain.accept(batch, MAINNET_NOW);
        assert_eq!(acc.error, None);
        assert_eq!(acc.added, batch.len());
        let change = acc.tip_change.expect("every batch extends the tip");
        assert_eq!(change.fork_height, height);
        assert!(change.disconnected.is_empty());
        assert_eq!(change.connected, hashes(batch));
        let persist = acc.persist.expect("every batch is persisted");
        assert_eq!(persist.fork_height, height);
        assert_eq!(persist.connected, batch.to_vec());
        assert!(persist.side.is_empty());
        assert_eq!(persist.tip_work, chain.tip_work());
        height += batch.len() as u32;
        assert_eq!(chain.tip_height(), height);
    }
    assert_eq!(chain.tip_height(), 39_999);
    assert_eq!(chain.tip_hash(), header_hash(&headers[39_999]));
    assert_eq!(*chain.tip_header(), headers[39_999]);

    let known = [
        (
            0u32,
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        ),
        (
            1,
            "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
        ),
        (
            2016,
            "00000000a141216a896c54f211301c436e557a8d55900637bbdce14c6c7bddef",
        ),
        (
            11111,
            "0000000069e244f73d78e8fd29ba2fd2ed618bd6fa2ee92559f542fdb26e7c1d",
        ),
        (
            33333,
            "000000002dd5588a74784eaa7ab0507a18ad16a236e7b1ce69f00d7ddfb5d0a6",
        ),
    ];
    for (h, hex) in known {
        let hash: BlockHash = hex.parse().expect("hex");
        assert_eq!(chain.hash_at(h), Some(hash), "height {h}");
        assert_eq!(chain.height_of(&hash), Some(h));
        assert!(chain.is_on_best_chain(&hash));
        let entry = chain.entry(&hash).expect("known");
        let header = headers[h as usize];
        assert_eq!(
            (
                entry.height,
                entry.time,
                entry.bits,
                entry.prev_blockhash,
                entry.on_best
            ),
            (
                h,
                header.time,
                header.bits.to_consensus(),
                header.prev_blockhash,
                true
            )
        );
    }
    // The first real difficulty change.
    assert_eq!(
        chain
            .hash_at(32255)
            .and_then(|h| chain.entry(&h))
            .map(|e| e.bits),
        Some(0x1d00ffff)
    );
    assert_eq!(
        chain
            .hash_at(32256)
            .and_then(|h| chain.entry(&h))
            .map(|e| e.bits),
        Some(0x1d00d86a)
    );
    // Work: 32256 blocks at difficulty 1 (0x100010001 each), the rest harder.
    let w = chain
        .work_of(&chain.hash_at(32255).expect("height"))
        .expect("work");
    let expected = U256::from_u64(0x1_0001_0001)
        .mul_div(32256, 1)
        .expect("fits");
    assert_eq!(w.to_le_bytes(), expected.to_le_bytes());
    assert!(chain.tip_work() > w);

    // Sending the same headers again adds nothing and persists nothing.
    let again = chain.accept(&headers[1..2001], MAINNET_NOW);
    assert_eq!(
        (again.added, again.tip_change, again.persist, again.error),
        (0, None, None, None)
    );
    assert_eq!(chain.len(), 40_000);
}

#[test]
fn a_clock_before_the_headers_refuses_them_as_too_new() {
    let headers = mainnet_headers();
    let mut chain = HeaderChain::new(Network::Mainnet.params());
    // One second before block 1's time minus the 2-hour allowance.
    let t1 = headers[1].time;
    let now = headway_core::Time::from_secs(u64::from(t1) - 7201);
    let acc = chain.accept(&headers[1..3], now);
    assert_eq!(acc.added, 0);
    assert_eq!(
        acc.error,
        Some((
            header_hash(&headers[1]),
            HeaderError::TimeTooNew {
                time: t1,
                now: now.as_secs()
            }
        ))
    );
    assert_eq!(chain.tip_height(), 0);
}

#[test]
fn locators_on_the_real_chain() {
    let headers = mainnet_headers();
    let chain = synced(&headers[..1001]);
    let locator = chain.locator();
    let expected: Vec<BlockHash> = locator_heights(1000)
        .iter()
        .map(|&h| header_hash(&headers[h as usize]))
        .collect();
    assert_eq!(locator, expected);
    assert_eq!(locator.len(), 21);
    assert_eq!(chain.locator_from(&header_hash(&headers[1000])), locator);
    assert_eq!(
        chain.locator_from(&BlockHash::all_zeros()),
        Vec::<BlockHash>::new()
    );
    let from_500 = chain.locator_from(&header_hash(&headers[500]));
    assert_eq!(from_500.first(), Some(&header_hash(&headers[500])));
    assert_eq!(from_500.last(), Some(&header_hash(&headers[0])));

    let full = synced(&headers);
    let l = full.locator();
    assert!(l.len() <= 101);
    assert_eq!(l.len(), locator_heights(39_999).len());
    assert_eq!(l.last(), Some(&header_hash(&headers[0])));
}

#[test]
fn headers_after_serves_getheaders() {
    let headers = mainnet_headers();
    let chain = synced(&headers[..3001]);
    let zero = BlockHash::all_zeros();
    let h = |i: usize| header_hash(&headers[i]);
    // What the store would send for a range of heights.
    let served = |r: HeaderRange| headers[r.first as usize..(r.first + r.count) as usize].to_vec();

    // The first known locator entry wins; unknown entries are skipped.
    let got = chain.headers_after(
        &[BlockHash::from_byte_array([7; 32]), h(500), h(100)],
        &zero,
        2000,
    );
    assert_eq!(served(got), headers[501..2501].to_vec());
    // Nothing known: start after genesis.
    let got = chain.headers_after(&[BlockHash::from_byte_array([7; 32])], &zero, 2000);
    assert_eq!(served(got), headers[1..2001].to_vec());
    // The stop hash is included and ends the answer.
    let got = chain.headers_after(&[h(500)], &h(510), 2000);
    assert_eq!(served(got), headers[501..=510].to_vec());
    // A stop hash behind the start or unknown does not stop anything.
    let got = chain.headers_after(&[h(2990)], &h(10), 2000);
    assert_eq!(served(got), headers[2991..=3000].to_vec());
    // `max` limits.
    assert_eq!(
        served(chain.headers_after(&[h(0)], &zero, 5)),
        headers[1..6].to_vec()
    );
    assert_eq!(chain.headers_after(&[h(0)], &zero, 0).count, 0);
    // From the tip: nothing to give.
    assert_eq!(chain.headers_after(&[h(3000)], &zero, 2000).count, 0);
    // Empty locator: only the stop header, as in Core.
    assert_eq!(
        served(chain.headers_after(&[], &h(42), 2000)),
        vec![headers[42]]
    );
    assert_eq!(chain.headers_after(&[], &zero, 2000).count, 0);
}

#[test]
fn reloads_from_stored_headers() {
    let headers = mainnet_headers();
    let chain = synced(&headers);
    let loaded = HeaderChain::from_stored(Network::Mainnet.params(), headers.clone(), vec![])
        .expect("loads");
    assert_eq!(loaded.tip_height(), chain.tip_height());
    assert_eq!(loaded.tip_hash(), chain.tip_hash());
    assert_eq!(loaded.tip_work(), chain.tip_work());
    assert_eq!(loaded.locator(), chain.locator());
    assert_eq!(*loaded.tip_header(), headers[39_999]);
    // A loaded chain goes on validating: the next header after a cut must be accepted.
    let mut partial =
        HeaderChain::from_stored(Network::Mainnet.params(), headers[..32256].to_vec(), vec![])
            .expect("loads");
    let acc = partial.accept(&headers[32256..34000], MAINNET_NOW);
    assert_eq!(acc.error, None);
    assert_eq!(partial.tip_hash(), header_hash(&headers[33999]));
}

#[test]
fn refuses_bad_stored_chains() {
    let headers = mainnet_headers();
    let wrong =
        HeaderChain::from_stored(Network::Testnet3.params(), headers[..10].to_vec(), vec![]);
    assert_eq!(
        wrong.err(),
        Some(LoadError::WrongGenesis {
            found: header_hash(&headers[0]),
            network: Network::Testnet3
        })
    );
    // The link to genesis is checked; links above it are the store's to keep (the loader
    // takes each hash from the next header instead of hashing them all: `chain::load`).
    let mut broken = headers[..10].to_vec();
    broken.remove(1);
    let err = HeaderChain::from_stored(Network::Mainnet.params(), broken, vec![]).err();
    assert_eq!(err, Some(LoadError::BrokenLink(1)));
    let mut damaged = headers[..10].to_vec();
    damaged[0].nonce ^= 1;
    let err = HeaderChain::from_stored(Network::Mainnet.params(), damaged.clone(), vec![]).err();
    assert_eq!(
        err,
        Some(LoadError::WrongGenesis {
            found: header_hash(&damaged[0]),
            network: Network::Mainnet
        })
    );
    let orphan = headers[20];
    let err = HeaderChain::from_stored(
        Network::Mainnet.params(),
        headers[..10].to_vec(),
        vec![(20, orphan)],
    )
    .err();
    assert_eq!(err, Some(LoadError::OrphanSide(header_hash(&orphan))));
    // An empty store is a fresh chain.
    let fresh = HeaderChain::from_stored(Network::Mainnet.params(), vec![], vec![]).expect("fresh");
    assert_eq!(fresh.tip_hash(), header_hash(&headers[0]));
}

#[test]
fn july_2015_invalid_fork_is_refused_for_its_version() {
    let fork = read_headers("mainnet-invalid-fork-363731-6headers.bin");
    assert_eq!(fork.len(), 6);
    let params = Network::Mainnet.params();
    let limit = U256::from_target(params.pow_limit);
    for (i, h) in fork.iter().enumerate() {
        // Real proof of work: only the contextual version rule can refuse it.
        assert!(
            check_proof_of_work(&header_hash(h), h.bits.to_consensus(), &limit).is_ok(),
            "header {i}"
        );
        if i > 0 {
            assert_eq!(h.prev_blockhash, header_hash(&fork[i - 1]));
        }
    }
    let first = fork[0];
    assert_eq!(first.version.to_consensus(), 2);
    assert_eq!(
        check_version(&params, 363_731, first.version.to_consensus()),
        Err(HeaderError::BadVersion {
            version: 2,
            min: 3,
            height: 363_731
        })
    );
    // Before BIP66 activated the same version was fine.
    assert!(check_version(&params, 363_724, first.version.to_consensus()).is_ok());
    // Its parent (height 363730) is far beyond our 40,000 headers, so a chain can only refuse
    // this fork as unknown. The rule is shown on headers whose parent is known instead, with
    // the activation heights moved down to where we have headers.

    // Real headers: every mainnet header here has version 1, refused once BIP34 is active.
    let headers = mainnet_headers();
    let mut early_bip34 = Network::Mainnet.params();
    early_bip34.bip34_height = 1000;
    let mut chain =
        HeaderChain::from_stored(early_bip34, headers[..1000].to_vec(), vec![]).expect("loads");
    let acc = chain.accept(&headers[1000..1002], MAINNET_NOW);
    let refused = HeaderError::BadVersion {
        version: 1,
        min: 2,
        height: 1000,
    };
    assert_eq!(
        acc.error,
        Some((header_hash(&headers[1000]), refused.clone()))
    );
    assert!(refused.is_offence());
    assert_eq!(acc.added, 0);
    assert_eq!(chain.tip_height(), 999);
    // Their version is their only fault: under the real heights the same headers are accepted.
    let mut real =
        HeaderChain::from_stored(params, headers[..1000].to_vec(), vec![]).expect("loads");
    let acc = real.accept(&headers[1000..1002], MAINNET_NOW);
    assert_eq!((acc.error, acc.added), (None, 2));

    // The fork's own fault, version 2 where BIP66 asks for 3, on mined regtest headers with
    // BIP66 active from height 3 (and BIP65 never).
    let mut early_bip66 = Network::Regtest.params();
    early_bip66.bip66_height = 3;
    early_bip66.bip65_height = u32::MAX;
    let genesis = early_bip66.genesis;
    let bits = genesis.bits.to_consensus();
    let h1 = mine_one(&genesis, genesis.time + 600, bits, 2, 1);
    let h2 = mine_one(&h1, h1.time + 600, bits, 2, 1);
    let v2 = mine_one(&h2, h2.time + 600, bits, 2, 1);
    let v3 = mine_one(&h2, h2.time + 600, bits, 3, 1);
    let mut chain = HeaderChain::new(early_bip66);
    let acc = chain.accept(&[h1, h2, v2], regtest_now());
    assert_eq!(acc.added, 2, "version 2 is enough below BIP66's height");
    assert_eq!(
        acc.error,
        Some((
            header_hash(&v2),
            HeaderError::BadVersion {
                version: 2,
                min: 3,
                height: 3
            }
        ))
    );
    // The same header with version 3 (solved again) is accepted on the same parent.
    let acc = chain.accept(&[v3], regtest_now());
    assert_eq!((acc.error, acc.added), (None, 1));
    assert_eq!(chain.tip_hash(), header_hash(&v3));
}
