//! Turning fuzz bytes into choices: every read succeeds, with zeros once the bytes run out, so
//! that every input, however short, is a valid program for a target.

/// A cursor over the fuzzer's bytes.
#[derive(Debug, Clone)]
pub struct FuzzInput<'a> {
    data: &'a [u8],
}

impl<'a> FuzzInput<'a> {
    /// Reads from `data`, front to back.
    pub fn new(data: &'a [u8]) -> FuzzInput<'a> {
        FuzzInput { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    /// The next byte, 0 when exhausted.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A choice in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::from(self.u16()) % n
    }

    /// Up to `n` next bytes (fewer when exhausted).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    /// 32 bytes, zero-padded when exhausted.
    pub fn array32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(self.bytes(32)) {
            *o = *b;
        }
        out
    }
}
