//! Back-pressure with a slow reader: a scripted peer asks a node with a long chain for many
//! 2000-header answers and then stops reading, while it goes on writing. The driver must stop
//! reading the peer once too much is queued for it (so the peer's writes stall), keep the
//! connection, and once the peer reads again deliver every answer, byte for byte and in order,
//! then read on and answer the peer's last ping.
//!
//! A node that talks to another node always reads, so this scenario has no pair version.

use std::io::Write;
use std::iter;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::wire;

use super::harness::{config, disconnects, Running, TestDriver};
use super::script::{getheaders_from_genesis, served_chain, ScriptedPeer, CHAIN_LEN, MAGIC};
use super::transcript::{wire_summary, Record};

const SERVER_SEED: u64 = 31;

/// The drivers' `send_buffer_cap` here: small, so the pause comes early (both drivers pause
/// reading above it).
const SEND_BUFFER_CAP: usize = 256 * 1024;

/// Getheaders sent before the peer stops reading: 200 answers of 162 kB, 32 MB, far more than
/// the cap and the kernel's socket buffers on both ends hold (a few MB on Linux loopback).
const REQUESTS: usize = 200;

/// What the peer writes while it does not read: 128 messages of 1 MiB that the node ignores
/// (alerts), then a ping. A driver that pauses lets through what it read before the pause
/// (the drivers stop reading once 16 MiB wait for the core) plus what the kernel buffers take
/// (on this machine at most 32 MiB for the receiver and 4 MiB for the sender): far less.
const FILLER_FRAMES: usize = 128;
const FILLER_PAYLOAD: usize = 1 << 20;

/// The writer reports its progress every this many bytes.
const WRITE_SLICE: usize = 64 * 1024;

/// A driver that stopped reading leaves the peer's writes blocked for good; the test takes
/// this long without progress as the sign that it happened. It only decides when the peer
/// starts reading again: a stall for any other reason (a busy machine) just starts it sooner,
/// and the test then passes or fails on the same grounds.
const STALL_PROOF: Duration = Duration::from_secs(2);

const LAST_PING: u64 = 0x1a57_0000_0000_0001;

pub fn slow_reader<D: TestDriver>() -> Record {
    let chain = served_chain();
    let mut node: Running<D> = Running::start(
        "server",
        config(SERVER_SEED),
        chain,
        true,
        Some(SEND_BUFFER_CAP),
    );
    let mut peer = ScriptedPeer::connect(node.listen_addr(), format!("{} slow reader", D::NAME));
    let nonce = peer.handshake_inbound();
    peer.send(NetworkMessage::Pong(nonce));
    peer.barrier(0xba77_1e00_0000_0006);

    // The requests; from here on nobody reads the answers.
    let request = wire::encode(MAGIC, getheaders_from_genesis());
    peer.send_bytes(&request.repeat(REQUESTS));

    let filler = wire::encode(MAGIC, NetworkMessage::Alert(vec![0; FILLER_PAYLOAD]));
    let last_ping = wire::encode(MAGIC, NetworkMessage::Ping(LAST_PING));
    let total = filler.len() * FILLER_FRAMES + last_ping.len();
    // The writer thread's bytes are part of the script too.
    for _ in 0..FILLER_FRAMES {
        peer.note_sent(&filler);
    }
    peer.note_sent(&last_ping);
    let (progress_tx, progress) = mpsc::channel();
    let mut out = peer.stream_clone();
    // Its writes time out with the hang guard (set on the socket by `ScriptedPeer`).
    let writer = thread::spawn(move || -> std::io::Result<()> {
        let mut written = 0;
        let parts = iter::repeat_n(filler.as_slice(), FILLER_FRAMES).chain([last_ping.as_slice()]);
        for part in parts {
            for slice in part.chunks(WRITE_SLICE) {
                out.write_all(slice)?;
                written += slice.len();
                let _ = progress_tx.send(written);
            }
        }
        Ok(())
    });
    let who = node.who();
    let mut written = 0;
    loop {
        match progress.recv_timeout(STALL_PROOF) {
            Ok(n) if n >= total => panic!(
                "{who}: read all {total} bytes from a peer that did not read its answers: \
                 no back-pressure"
            ),
            Ok(n) => written = n,
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => match writer.join() {
                Ok(Err(e)) => panic!("{who}: the peer's write failed after {written} bytes: {e}"),
                _ => panic!("{who}: the writer ended early"),
            },
        }
    }
    node.take_pending();
    assert_eq!(
        disconnects(node.log_so_far()),
        vec![],
        "{who}: the slow reader was dropped (after {written} bytes of filler)"
    );

    // Reading again: every answer, as the node encodes it, in order; then the last pong.
    let Some(batch) = chain.get(1..=2000) else {
        panic!("the served chain is too short")
    };
    let expected = wire::encode(MAGIC, NetworkMessage::Headers(batch.to_vec()));
    for i in 0..REQUESTS {
        let frame = peer.read_raw("an answer");
        if frame != expected {
            let msg = peer.decode(&frame);
            panic!(
                "{who}: answer {i} of {REQUESTS} is not the first 2000 headers but {}",
                wire_summary(&msg)
            );
        }
    }
    let last = peer.read("the last pong");
    assert_eq!(
        last,
        NetworkMessage::Pong(LAST_PING),
        "{who}: after the answers"
    );
    match writer.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{who}: the peer's write failed: {e}"),
        Err(_) => panic!("{who}: the writer panicked"),
    }

    let node = node.finish();
    peer.assert_closed();
    assert_eq!(
        disconnects(&node.log),
        vec![headway_core::DisconnectReason::Shutdown],
        "{who}: the slow reader stayed connected to the end"
    );
    assert_eq!(node.node.chain().tip_height() as usize, CHAIN_LEN, "{who}");

    let mut record = Record::default();
    record.node("server", &node.log);
    record.peer("slow reader", &peer);
    record
}
