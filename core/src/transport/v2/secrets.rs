//! The secrets of one v2 handshake, and how they reach the `bip324` crate.

use std::fmt;

use bitcoin::secp256k1::SecretKey;

use super::MAX_GARBAGE_LEN;
use crate::rng::SecretRng;

/// Our secrets for one v2 handshake: the secret key and the garbage sent after the public
/// key. Drawn from the core's [`SecretRng`]; `Debug` shows neither.
#[derive(Clone)]
pub struct V2Secrets {
    pub(super) key: [u8; 32],
    pub(super) garbage: Vec<u8>,
}

impl V2Secrets {
    /// A valid secret key and 0 to 4095 bytes of garbage, uniformly, as Core's
    /// `GenerateRandomGarbage`.
    pub fn draw(rng: &mut SecretRng) -> V2Secrets {
        V2Secrets::draw_with_garbage(rng, MAX_GARBAGE_LEN)
    }

    /// A valid secret key and 0 to `max_garbage` (at most 4095) bytes of garbage, uniformly.
    pub fn draw_with_garbage(rng: &mut SecretRng, max_garbage: usize) -> V2Secrets {
        let key = loop {
            let mut key = [0u8; 32];
            rng.fill(&mut key);
            // A 256-bit value is a valid key unless it is zero or at least the group order
            // (probability about 2^-128).
            if SecretKey::from_slice(&key).is_ok() {
                break key;
            }
        };
        let mut garbage = vec![0u8; rng.below(max_garbage.min(MAX_GARBAGE_LEN) + 1)];
        rng.fill(&mut garbage);
        V2Secrets { key, garbage }
    }

    /// Secrets from fixed parts, for tests (`key` must be a valid secret key).
    pub fn from_parts(key: [u8; 32], garbage: Vec<u8>) -> V2Secrets {
        V2Secrets { key, garbage }
    }
}

impl fmt::Debug for V2Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V2Secrets(.., {} bytes of garbage)", self.garbage.len())
    }
}

/// Hands the crate our fixed secret key instead of a generator.
pub(super) struct FixedKey(pub(super) [u8; 32]);

impl bip324::FillBytes for FixedKey {
    fn fill_bytes(&mut self, dest: &mut [u8; 32]) {
        *dest = self.0;
    }
}
