//! The `work` leg: the work every validating client must do on top of the floor client's
//! download, measured in this process on the served chain's own headers, so that the goals
//! of targets 4 to 6 can be read against what the machine allows.
//!
//! The floor client neither hashes nor checks nor stores anything. A node that validates must
//! at least:
//! - hash every header once (double SHA-256 of its 80 bytes, with the node's own
//!   `chain::header_hash`, the fastest way this code base has): its identity, the proof of
//!   work and the link of the next header are all checked against it;
//! - check the checksum of every `headers` message (double SHA-256 of its payload, about
//!   162 kB for 2000 headers): v1 framing has no other integrity check;
//! - write the headers durably: here the cheapest form, a raw append of 80 bytes a header
//!   with one `fdatasync` every [`DURABLE_BATCH`] headers (no index, no tree).
//!
//! The two hashings run on one core (they are the node's core thread's, or whichever thread
//! does them); the durable write can run beside them on the other. The leg reports each, the
//! lower bounds they give for B's time over the floor's, and for presync (whose redownload
//! hashes and checks everything again) over the plain sync. Each is the median of
//! [`WORK_REPEATS`] runs.

use std::io::Write as _;

use headway_core::bitcoin::consensus::encode::{serialize, VarInt};
use headway_core::bitcoin::hashes::{sha256d, Hash};
use headway_core::chain::header_hash;

use super::*;

/// Runs of each measurement; the median is reported.
const WORK_REPEATS: usize = 3;
/// Headers between two `fdatasync`s of the raw append (the store's commits during a sync
/// are of this order).
const DURABLE_BATCH: usize = 20_000;
/// Headers in one `headers` message (Core's `MAX_HEADERS_RESULTS`).
const PER_MESSAGE: usize = 2000;

/// What the leg measured, for N headers.
pub(crate) struct RequiredWork {
    /// Double SHA-256 of every header.
    pub(crate) hashing: Duration,
    /// Double SHA-256 of every `headers` payload.
    pub(crate) checksums: Duration,
    /// The raw durable append.
    pub(crate) durable: Duration,
}

impl RequiredWork {
    /// The two hashings together: the least CPU time one core spends on N headers.
    pub(crate) fn cpu(&self) -> Duration {
        self.hashing + self.checksums
    }
}

fn median_of(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// Measures the required work on the served chain (read back from A's store).
pub(crate) fn work_leg(served: &ServedStore, scratch: &Path) -> Result<RequiredWork> {
    let store = HeaderStore::open_read_only(&served.dir)
        .with_context(|| format!("cannot open {} to read its headers", served.dir.display()))?;
    let mut headers = Vec::with_capacity(served.height as usize + 1);
    while headers.len() <= served.height as usize {
        let from = u32::try_from(headers.len()).context("height beyond u32")?;
        let got = store.best_headers(from, PER_MESSAGE)?;
        ensure!(!got.is_empty(), "A's store ends at height {from}");
        headers.extend(got);
    }
    drop(store);
    let headers = &headers[1..];
    let encoded: Vec<[u8; 80]> = headers
        .iter()
        .map(|h| {
            let mut out = [0u8; 80];
            out.copy_from_slice(&serialize(h));
            out
        })
        .collect();
    // Payloads as they cross the wire: a count, then each header and a zero transaction count.
    let payloads: Vec<Vec<u8>> = headers
        .chunks(PER_MESSAGE)
        .map(|chunk| {
            let mut payload = serialize(&VarInt(chunk.len() as u64));
            for header in chunk {
                payload.extend_from_slice(&serialize(header));
                payload.push(0);
            }
            payload
        })
        .collect();

    let mut hashing = Vec::new();
    let mut checksums = Vec::new();
    let mut durable = Vec::new();
    for _ in 0..WORK_REPEATS {
        let started = Instant::now();
        let mut fold = 0u8;
        for header in headers {
            fold ^= header_hash(header).to_byte_array()[0];
        }
        hashing.push(started.elapsed());
        let started = Instant::now();
        for payload in &payloads {
            fold ^= sha256d::Hash::hash(payload).to_byte_array()[0];
        }
        checksums.push(started.elapsed());
        std::hint::black_box(fold);

        let path = scratch.join("raw-append.bin");
        let mut file = File::create(&path).context("cannot create the raw append file")?;
        let started = Instant::now();
        for batch in encoded.chunks(DURABLE_BATCH) {
            let bytes: Vec<u8> = batch.iter().flatten().copied().collect();
            file.write_all(&bytes).context("raw append")?;
            file.sync_data().context("raw append fdatasync")?;
        }
        durable.push(started.elapsed());
        drop(file);
        std::fs::remove_file(&path).context("cannot remove the raw append file")?;
    }
    let work = RequiredWork {
        hashing: median_of(hashing),
        checksums: median_of(checksums),
        durable: median_of(durable),
    };
    println!(
        "  work: {} headers, one core: double SHA-256 of every header {:.3} s, of every headers \
         payload (the v1 checksum) {:.3} s, together {:.3} s ({:.0} headers/s); a raw append of \
         their 80 bytes with an fdatasync every {DURABLE_BATCH} {:.3} s",
        headers.len(),
        secs(work.hashing),
        secs(work.checksums),
        secs(work.cpu()),
        headers.len() as f64 / secs(work.cpu()),
        secs(work.durable),
    );
    Ok(work)
}
