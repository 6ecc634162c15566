//! The core's two sources of randomness, both seeded through the config so that the same seeds
//! and the same inputs always give the same outputs (DESIGN.md, rules of the core):
//!
//! - [`Rng`], a fast xoshiro256** for values that go on the wire (version and ping nonces) and
//!   for tie-breaks. It is invertible: four consecutive outputs give away its whole state, so
//!   anyone who reads our nonces can predict every later output.
//! - [`SecretRng`], ChaCha20, for secrets that must never follow from what we send: the headers
//!   presync salt and commitment offset now, address-book bucket keys and BIP324 keys later.
//!   Nothing it produces goes on the wire, and its seed ([`SecretSeed`]) never reaches a log.

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};

/// A deterministic pseudo-random generator seeded through the config.
///
/// Not cryptographic: it picks version and ping nonces and breaks ties, none of which an
/// attacker gains anything by predicting beyond what they already see on the wire. Never draw
/// a secret from it: use [`SecretRng`].
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn from_seed(seed: u64) -> Rng {
        // splitmix64 spreads a single word over the state, as the xoshiro authors recommend.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A random value that is never zero (ping nonces: Core treats 0 as "no nonce").
    pub fn nonzero_u64(&mut self) -> u64 {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return v;
            }
        }
    }

    /// A uniform index below `n` (`n` must be non-zero).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (self.next_u64() % n as u64) as usize
    }
}

/// The 32-byte seed of the [`SecretRng`]. Its `Debug` shows nothing of it, so a logged config
/// or node never reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSeed([u8; 32]);

impl SecretSeed {
    /// A seed from 32 bytes: from the operating system's generator in a real node, a fixed
    /// value in tests.
    pub fn from_bytes(bytes: [u8; 32]) -> SecretSeed {
        SecretSeed(bytes)
    }
}

impl fmt::Debug for SecretSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSeed(..)")
    }
}

/// The cryptographic generator behind every secret of the core (ChaCha20, keyed by a
/// [`SecretSeed`]). Its outputs cannot be predicted from any number of [`Rng`] outputs, nor
/// from earlier outputs of its own.
pub struct SecretRng(ChaCha20Rng);

impl SecretRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn from_seed(seed: &SecretSeed) -> SecretRng {
        SecretRng(ChaCha20Rng::from_seed(seed.0))
    }

    /// The next 64 secret bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Fills `dest` with secret bytes (BIP324 keys and garbage).
    pub fn fill(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    /// A uniform secret index below `n` (`n` must be non-zero); the modulo bias is below
    /// 2^-40 for every `n` the core uses (under 2^24).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

impl fmt::Debug for SecretRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretRng(..)")
    }
}

#[cfg(test)]
impl Rng {
    /// What an attacker who reads our nonces can do: recover the generator from outputs at
    /// known positions (`(k, v)`: the k-th output after the unknown state was `v`) and return
    /// it at that state, or `None` if they do not pin it down. xoshiro256**'s state update is
    /// linear over GF(2) and its output scrambler is invertible, so 256 independent output
    /// bits (four outputs) suffice: Gaussian elimination over the state's 256 bits.
    pub(crate) fn recover(observed: &[(usize, u64)]) -> Option<Rng> {
        // Undo `rotl(s1 * 5, 7) * 9`: 9 and 5 are odd, so invertible modulo 2^64.
        let inverse = |a: u64| {
            (0..6).fold(a, |x, _| {
                x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)))
            })
        };
        let unscramble = |v: u64| {
            v.wrapping_mul(inverse(9))
                .rotate_right(7)
                .wrapping_mul(inverse(5))
        };
        // s1 after k steps from the basis state e_i, for every i and observed k.
        let s1_after = |i: usize, k: usize| {
            let mut state = [0u64; 4];
            state[i / 64] = 1 << (i % 64);
            let mut rng = Rng { s: state };
            for _ in 0..k {
                rng.next_u64();
            }
            rng.s[1]
        };
        // One equation per observed bit: row (256 coefficient bits) and right-hand side.
        let mut rows: Vec<([u64; 4], bool)> = Vec::new();
        for &(k, v) in observed {
            let target = unscramble(v);
            let columns: Vec<u64> = (0..256).map(|i| s1_after(i, k)).collect();
            for bit in 0..64 {
                let mut row = [0u64; 4];
                for (i, col) in columns.iter().enumerate() {
                    if col >> bit & 1 == 1 {
                        row[i / 64] |= 1 << (i % 64);
                    }
                }
                rows.push((row, target >> bit & 1 == 1));
            }
        }
        let mut solved = [0u64; 4];
        let mut pivots = Vec::new();
        // Every column must find a pivot (full rank), so pivot rows and columns go together.
        for (pivot_row, col) in (0..256).enumerate() {
            let has = |r: &([u64; 4], bool)| r.0[col / 64] >> (col % 64) & 1 == 1;
            let found = (pivot_row..rows.len()).find(|&r| has(&rows[r]))?;
            rows.swap(pivot_row, found);
            let pivot = rows[pivot_row];
            for (r, row) in rows.iter_mut().enumerate() {
                if r != pivot_row && has(row) {
                    for w in 0..4 {
                        row.0[w] ^= pivot.0[w];
                    }
                    row.1 ^= pivot.1;
                }
            }
            pivots.push((col, pivot_row));
        }
        for (col, r) in pivots {
            if rows[r].1 {
                solved[col / 64] |= 1 << (col % 64);
            }
        }
        Some(Rng { s: solved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_observed_outputs_give_away_the_nonce_generator() {
        let mut victim = Rng::from_seed(0xfeed);
        let outputs: Vec<u64> = (0..8).map(|_| victim.next_u64()).collect();
        // Positions 0, 1, 3 and 4 seen on the wire; 2 drawn for something unseen.
        let seen: Vec<(usize, u64)> = [0, 1, 3, 4].iter().map(|&k| (k, outputs[k])).collect();
        let mut attacker = Rng::recover(&seen).expect("four outputs pin the state down");
        let replay: Vec<u64> = (0..8).map(|_| attacker.next_u64()).collect();
        assert_eq!(replay, outputs);
        assert!(Rng::recover(&seen[..2]).is_none(), "two are not enough");
    }

    #[test]
    fn secret_generator_is_seeded_and_its_seed_is_never_printed() {
        let seed = SecretSeed::from_bytes([7; 32]);
        let mut a = SecretRng::from_seed(&seed);
        let mut b = SecretRng::from_seed(&seed);
        let mut c = SecretRng::from_seed(&SecretSeed::from_bytes([8; 32]));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
        let shown = format!("{seed:?} {a:?}");
        assert!(!shown.contains('7'), "{shown}");
    }

    #[test]
    fn same_seed_same_stream_and_different_seed_differs() {
        let mut a = Rng::from_seed(7);
        let mut b = Rng::from_seed(7);
        let mut c = Rng::from_seed(8);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}
