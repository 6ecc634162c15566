//! Header ingest speed: the 40,000 real mainnet headers from genesis accepted into a fresh
//! chain in 2000-header batches (what one `headers` message carries), against a baseline of
//! plain double-SHA256 of the same headers, the floor no validation can beat.
//!
//! Run: `cargo bench -p headway-core --bench ingest -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::consensus::{deserialize, serialize};
use headway_core::bitcoin::hashes::{sha256d, Hash};
use headway_core::bitcoin::TxMerkleNode;
use headway_core::chain::header_hash;
use headway_core::chain::pow::{decode_compact, U256};
use headway_core::params::Network;
use headway_core::{HeaderChain, Time};

fn headers() -> Vec<Header> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/mainnet-headers-0-39999.bin");
    let bytes = std::fs::read(path).expect("core/testdata/mainnet-headers-0-39999.bin");
    bytes
        .chunks_exact(80)
        .map(|c| deserialize(c).expect("header decodes"))
        .collect()
}

fn ingest(headers: &[Header]) -> HeaderChain {
    let mut chain = HeaderChain::new(Network::Mainnet.params());
    let now = Time::from_secs(1_300_000_000);
    for batch in headers[1..].chunks(2000) {
        let acc = chain.accept(batch, now);
        assert!(acc.error.is_none());
    }
    chain
}

fn bench(c: &mut Criterion) {
    let headers = headers();
    let raw: Vec<Vec<u8>> = headers.iter().map(serialize).collect();
    let n = (headers.len() - 1) as u64;

    // A plain-number report next to criterion's, so the ratio is visible at a glance.
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for r in &raw[1..] {
            black_box(sha256d::Hash::hash(black_box(r)));
        }
    }
    let hash_rate = (n * rounds) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(ingest(black_box(&headers)));
    }
    let ingest_rate = (n * rounds) as f64 / t.elapsed().as_secs_f64();
    println!(
        "ingest: {:.0} headers/s; double-SHA256 alone: {:.0} headers/s; ingest costs {:.2}x hashing",
        ingest_rate,
        hash_rate,
        hash_rate / ingest_rate
    );

    let mut group = c.benchmark_group("ingest-40000-mainnet");
    group.throughput(Throughput::Elements(n));
    group.bench_function("double-sha256 only", |b| {
        b.iter(|| {
            for r in &raw[1..] {
                black_box(sha256d::Hash::hash(black_box(r)));
            }
        })
    });
    group.bench_function("accept in 2000-header batches", |b| {
        b.iter(|| black_box(ingest(black_box(&headers))))
    });
    group.bench_function("from_stored (reload)", |b| {
        b.iter(|| {
            black_box(
                HeaderChain::from_stored(
                    Network::Mainnet.params(),
                    black_box(headers.clone()),
                    vec![],
                )
                .expect("loads"),
            )
        })
    });
    group.finish();
}

/// One million regtest headers (easy proof of work, about two nonces each), genesis first.
fn regtest_million() -> Vec<Header> {
    let genesis = Network::Regtest.params().genesis;
    let mut out = Vec::with_capacity(1_000_000);
    out.push(genesis);
    let mut prev = genesis;
    for i in 1..1_000_000u32 {
        let mut h = Header {
            prev_blockhash: header_hash(&prev),
            time: prev.time + 600,
            merkle_root: TxMerkleNode::from_byte_array([(i % 251) as u8; 32]),
            ..prev
        };
        while U256::from_hash(&header_hash(&h)) > decode_compact(h.bits.to_consensus()).value {
            h.nonce = h.nonce.wrapping_add(1);
        }
        out.push(h);
        prev = h;
    }
    out
}

fn bench_reload_million(c: &mut Criterion) {
    let headers = regtest_million();
    let t = Instant::now();
    let chain = HeaderChain::from_stored(Network::Regtest.params(), headers.clone(), vec![])
        .expect("loads");
    println!("from_stored of {} headers: {:?}", chain.len(), t.elapsed());
    drop(chain);
    let mut group = c.benchmark_group("reload-1m-regtest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(headers.len() as u64));
    group.bench_function("from_stored", |b| {
        b.iter(|| {
            black_box(
                HeaderChain::from_stored(
                    Network::Regtest.params(),
                    black_box(headers.clone()),
                    vec![],
                )
                .expect("loads"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench, bench_reload_million);
criterion_main!(benches);
