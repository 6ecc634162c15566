//! Fuzz target `wire`: arbitrary bytes, cut into arbitrary chunks, fed to `FrameDecoder`.
//!
//! Input layout: byte 0 picks the chunking (0: the whole stream at once; otherwise the seed of a
//! small generator of chunk lengths, biased to tiny chunks), the rest is the stream.
//!
//! Checks: no panic; after every chunk is drained, `buffered()` is at most one frame plus that
//! chunk; the chunked decode yields exactly the frames (messages, and frames rejected for a bad
//! checksum, command or payload, after which the stream goes on) and the error of a one-shot
//! decode of the same bytes; every decoded message re-encodes with `wire::encode` to one frame that
//! decodes to the same message.

#![no_main]

use bitcoin::p2p::Magic;
use headway_core::wire::{
    encode, Frame, FrameDecoder, WireError, FRAME_HEADER_LEN, MAX_MESSAGE_LENGTH,
};
use libfuzzer_sys::fuzz_target;

const MAGIC: Magic = Magic::REGTEST;

/// Chunk lengths from a one-byte seed: xorshift, mostly short, sometimes a few hundred bytes.
struct Chunker(u32);

impl Chunker {
    fn next_len(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        let r = self.0 as usize;
        match r % 4 {
            0 => 1 + (r >> 2) % 4,
            1 => 1 + (r >> 2) % FRAME_HEADER_LEN,
            2 => 1 + (r >> 2) % 100,
            _ => 1 + (r >> 2) % 1000,
        }
    }
}

/// Drains the decoder into `out`; returns the error if the stream broke.
fn drain(decoder: &mut FrameDecoder, out: &mut Vec<Frame>) -> Option<WireError> {
    loop {
        match decoder.next_frame() {
            Ok(Some(msg)) => out.push(msg),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };

    // Reference: the whole stream at once.
    let mut whole = FrameDecoder::new(MAGIC);
    whole.extend(stream);
    let mut expected = Vec::new();
    let expected_error = drain(&mut whole, &mut expected);

    // Under test: the same stream in chunks.
    let mut chunked = FrameDecoder::new(MAGIC);
    let mut got = Vec::new();
    let mut got_error = None;
    let mut chunker = Chunker(u32::from(selector).wrapping_mul(0x9e37_79b9) | 1);
    let mut rest = stream;
    while !rest.is_empty() && got_error.is_none() {
        let take = if selector == 0 {
            rest.len()
        } else {
            chunker.next_len().min(rest.len())
        };
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        chunked.extend(chunk);
        got_error = drain(&mut chunked, &mut got);
        assert!(
            chunked.buffered() <= FRAME_HEADER_LEN + MAX_MESSAGE_LENGTH + chunk.len(),
            "buffered {} after a chunk of {}",
            chunked.buffered(),
            chunk.len()
        );
    }
    assert_eq!(got, expected, "chunking changed the frames");
    assert_eq!(got_error, expected_error, "chunking changed the error");
    if let Some(error) = &got_error {
        assert_eq!(
            chunked.next_message().as_ref(),
            Err(error),
            "the decoder must stay failed"
        );
    }

    let messages = got.into_iter().filter_map(|f| match f {
        Frame::Message(msg) => Some(msg),
        Frame::Rejected(_) => None,
    });
    for msg in messages {
        let frame = encode(MAGIC, msg.clone());
        let mut again = FrameDecoder::new(MAGIC);
        again.extend(&frame);
        assert_eq!(
            again.next_message(),
            Ok(Some(msg)),
            "re-encoded frame decodes differently"
        );
        assert_eq!(again.next_message(), Ok(None));
        assert_eq!(again.buffered(), 0);
    }
});
