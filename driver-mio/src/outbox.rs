//! The outgoing byte queue of one connection: what the core asked us to send and the socket has
//! not yet taken.
//!
//! Chunks are kept as the core produced them (no copying into one big buffer); a write hands the
//! kernel several chunks at once with `write_vectored`, so many small frames (pongs, getheaders)
//! cost one system call.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Most chunks handed to one `write_vectored` call (Linux accepts up to 1024; a few dozen is
/// plenty to amortise the call).
const MAX_SLICES_PER_WRITE: usize = 64;

/// The bytes queued for one peer, in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Whole chunks as queued; the front one may be partly written.
    chunks: VecDeque<Vec<u8>>,
    /// How much of the front chunk the socket already took.
    front_written: usize,
    /// Bytes still to write, over all chunks.
    len: usize,
}

/// How a flush ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything queued was written.
    Empty,
    /// The socket would block; a writable event will tell us when to continue.
    WouldBlock,
}

impl Outbox {
    /// Queues `bytes` behind everything queued before.
    pub(crate) fn push(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.len = self.len.saturating_add(bytes.len());
        self.chunks.push_back(bytes);
    }

    /// Bytes still to write.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes to `writer` until the queue is empty or the writer would block.
    ///
    /// Any other error is returned as is; what was written before it stays consumed.
    pub(crate) fn flush_to<W: Write>(&mut self, writer: &mut W) -> io::Result<Flushed> {
        while !self.is_empty() {
            let written = {
                let mut slices = Vec::with_capacity(MAX_SLICES_PER_WRITE.min(self.chunks.len()));
                for (i, chunk) in self.chunks.iter().take(MAX_SLICES_PER_WRITE).enumerate() {
                    let start = if i == 0 { self.front_written } else { 0 };
                    if let Some(rest) = chunk.get(start..) {
                        slices.push(IoSlice::new(rest));
                    }
                }
                writer.write_vectored(&slices)
            };
            match written {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Flushed::Empty)
    }

    /// Drops the first `n` queued bytes (the writer took them).
    fn consume(&mut self, mut n: usize) {
        self.len = self.len.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let remaining = front.len().saturating_sub(self.front_written);
            if n >= remaining {
                n -= remaining;
                self.chunks.pop_front();
                self.front_written = 0;
            } else {
                self.front_written += n;
                n = 0;
            }
        }
        if self.chunks.is_empty() {
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `budget` bytes in total, then would block, and at most
    /// `per_call` bytes per call (like a socket with a small send buffer).
    struct Trickle {
        taken: Vec<u8>,
        budget: usize,
        per_call: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.per_call).min(self.budget);
            self.taken.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn queued(chunks: &[&[u8]]) -> Outbox {
        let mut outbox = Outbox::default();
        for chunk in chunks {
            outbox.push(chunk.to_vec());
        }
        outbox
    }

    #[test]
    fn partial_writes_keep_order_and_resume_mid_chunk() {
        let mut outbox = queued(&[b"hello ", b"", b"wide ", b"world"]);
        assert_eq!(outbox.len(), 16, "the empty chunk counts for nothing");
        let mut sink = Trickle {
            taken: Vec::new(),
            budget: 8,
            per_call: 3,
        };
        assert_eq!(outbox.flush_to(&mut sink).unwrap(), Flushed::WouldBlock);
        assert_eq!(sink.taken, b"hello wi");
        assert_eq!(outbox.len(), 8);

        sink.budget = usize::MAX;
        assert_eq!(outbox.flush_to(&mut sink).unwrap(), Flushed::Empty);
        assert_eq!(sink.taken, b"hello wide world");
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_writer_that_takes_nothing_is_an_error_not_a_loop() {
        struct Zero;
        impl Write for Zero {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut outbox = queued(&[b"x"]);
        let err = outbox.flush_to(&mut Zero).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(outbox.len(), 1, "nothing was consumed");
    }

    #[test]
    fn many_chunks_are_written_in_several_vectored_calls() {
        let mut outbox = Outbox::default();
        let mut expected = Vec::new();
        for i in 0..(MAX_SLICES_PER_WRITE * 3 + 5) {
            let chunk = vec![(i % 251) as u8; 1 + i % 7];
            expected.extend_from_slice(&chunk);
            outbox.push(chunk);
        }
        let mut sink = Vec::new();
        assert_eq!(outbox.flush_to(&mut sink).unwrap(), Flushed::Empty);
        assert_eq!(sink, expected);
    }
}
