//! The transports' cost per `headers` message: one 2000-header message (162 kB, what a sync
//! moves 250 times for 500,000 headers) sent by one side and read by the other, over v1
//! framing (the baseline: encode with its double-SHA256 checksum, decode checking it) and over
//! a BIP324 v2 session (encode by short ID, ChaCha20-Poly1305 and its length cipher, decrypt,
//! decode). Both run the same `Transport` API the node uses.
//!
//! Run: `cargo bench -p headway-core --bench transport -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::params::Network;
use headway_core::rng::{SecretRng, SecretSeed};
use headway_core::transport::{Transport, V2Secrets};
use headway_core::wire::Frame;

fn secrets(seed: u8) -> V2Secrets {
    V2Secrets::draw(&mut SecretRng::from_seed(&SecretSeed::from_bytes(
        [seed; 32],
    )))
}

/// A sender and a receiver that completed their handshake (v2) or need none (v1).
fn pair(v2: bool) -> (Transport, Transport) {
    let magic = Network::Regtest.params().magic;
    if !v2 {
        let mut receiver = Transport::inbound(magic, None);
        let mut sender = Transport::v1(magic);
        // An inbound transport decides on the first bytes: a version opens it as v1.
        sender.send(NetworkMessage::Verack);
        let mut opening = headway_core::wire::encode(
            magic,
            NetworkMessage::Version(
                headway_core::bitcoin::p2p::message_network::VersionMessage::new(
                    headway_core::bitcoin::p2p::ServiceFlags::NONE,
                    0,
                    headway_core::bitcoin::p2p::Address::new(
                        &"127.0.0.1:1".parse().expect("addr"),
                        headway_core::bitcoin::p2p::ServiceFlags::NONE,
                    ),
                    headway_core::bitcoin::p2p::Address::new(
                        &"127.0.0.1:2".parse().expect("addr"),
                        headway_core::bitcoin::p2p::ServiceFlags::NONE,
                    ),
                    1,
                    "/bench/".into(),
                    0,
                ),
            ),
        );
        opening.extend(sender.take_outgoing());
        receiver.receive(&opening);
        while let Ok(Some(_)) = receiver.next_frame() {}
        return (sender, receiver);
    }
    let mut sender = Transport::v2_initiator(magic, secrets(1));
    let mut receiver = Transport::inbound(magic, Some(secrets(2)));
    for _ in 0..4 {
        receiver.receive(&sender.take_outgoing());
        sender.receive(&receiver.take_outgoing());
    }
    assert!(sender.session_id().is_some() && receiver.session_id().is_some());
    (sender, receiver)
}

/// Sends `msg` through `sender` and reads it back from `receiver`.
fn carry(sender: &mut Transport, receiver: &mut Transport, msg: &NetworkMessage) {
    sender.send(msg.clone());
    receiver.receive(&sender.take_outgoing());
    match receiver.next_frame() {
        Ok(Some(Frame::Message(m))) => {
            black_box(m);
        }
        other => panic!("the message did not come through: {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let headers = NetworkMessage::Headers(headway_regtest::chain(2000, 9));
    let bytes = 2000 * 81 + 3;

    // A plain-number report next to criterion's, so the ratio is visible at a glance.
    let rounds = 200;
    let rate = |v2: bool| {
        let (mut s, mut r) = pair(v2);
        let t = Instant::now();
        for _ in 0..rounds {
            carry(&mut s, &mut r, &headers);
        }
        (rounds * bytes) as f64 / t.elapsed().as_secs_f64() / 1e6
    };
    let v1 = rate(false);
    let v2 = rate(true);
    println!(
        "transport: one 2000-header message sent and read, v1 {v1:.0} MB/s, v2 {v2:.0} MB/s \
         (v2 takes {:.2}x v1's time)",
        v1 / v2
    );

    let mut group = c.benchmark_group("headers-message");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (name, v2) in [("v1", false), ("v2", true)] {
        let (mut s, mut r) = pair(v2);
        group.bench_function(name, |b| b.iter(|| carry(&mut s, &mut r, &headers)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
