//! Proof of work: 256-bit target arithmetic, Bitcoin Core's compact target encoding
//! (`arith_uint256::SetCompact` / `GetCompact`), `CheckProofOfWork`, and the work a header adds
//! to its chain (`GetBlockProof`).
//!
//! The compact decoder is our own because Core's flags (negative, overflow) are consensus: a
//! header whose nBits sets them is invalid, and `bitcoin::Target::from_compact` hides them.

use std::cmp::Ordering;

use bitcoin::{BlockHash, Target};

use super::HeaderError;

/// An unsigned 256-bit integer, as Core's `arith_uint256`: little-endian 64-bit limbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct U256([u64; 4]);

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl U256 {
    /// Zero.
    pub const ZERO: U256 = U256([0; 4]);

    /// The number whose little-endian bytes these are (how Core reads a hash as a number).
    pub fn from_le_bytes(bytes: [u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(b);
        }
        U256(limbs)
    }

    /// The little-endian bytes of this number.
    pub fn to_le_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, limb) in out.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// A small number.
    pub const fn from_u64(v: u64) -> U256 {
        U256([v, 0, 0, 0])
    }

    /// A block hash read as a number, as Core's `UintToArith256`.
    pub fn from_hash(hash: &BlockHash) -> U256 {
        U256::from_le_bytes(*hash.as_ref())
    }

    /// The same value as a `bitcoin` target.
    pub fn to_target(self) -> Target {
        Target::from_le_bytes(self.to_le_bytes())
    }

    /// The value of a `bitcoin` target.
    pub fn from_target(target: Target) -> U256 {
        U256::from_le_bytes(target.to_le_bytes())
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    /// Number of significant bits (0 for zero), as `arith_uint256::bits`.
    pub fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + (64 - self.0[i].leading_zeros());
            }
        }
        0
    }

    /// The lowest 64 bits.
    pub fn low_u64(&self) -> u64 {
        self.0[0]
    }

    /// Shift left; bits shifted past 256 are lost (as `arith_uint256 <<=`).
    pub fn shifted_left(self, n: u32) -> U256 {
        if n >= 256 {
            return U256::ZERO;
        }
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut out = [0u64; 4];
        for i in (limbs..4).rev() {
            let src = i - limbs;
            out[i] = self.0[src] << bits;
            if bits > 0 && src > 0 {
                out[i] |= self.0[src - 1] >> (64 - bits);
            }
        }
        U256(out)
    }

    /// Shift right.
    pub fn shifted_right(self, n: u32) -> U256 {
        if n >= 256 {
            return U256::ZERO;
        }
        let (limbs, bits) = ((n / 64) as usize, n % 64);
        let mut out = [0u64; 4];
        for (i, o) in out.iter_mut().enumerate().take(4 - limbs) {
            let src = i + limbs;
            *o = self.0[src] >> bits;
            if bits > 0 && src + 1 < 4 {
                *o |= self.0[src + 1] << (64 - bits);
            }
        }
        U256(out)
    }

    /// `self * mul / div`, truncating, computed in 320 bits so that the product cannot wrap;
    /// `None` if the quotient does not fit 256 bits or `div` is zero.
    ///
    /// For every network whose pow limit satisfies Core's sanity bound
    /// (`powLimit < 2^256 / (4 * timespan)`) this equals Core's `bn *= t; bn /= T`. Simnet's
    /// limit (2^255 - 1) breaks that bound; btcd computes it with unbounded integers, which
    /// is what this does.
    pub fn mul_div(self, mul: u64, div: u64) -> Option<U256> {
        if div == 0 {
            return None;
        }
        let mut wide = [0u64; 5];
        let mut carry: u128 = 0;
        for (i, limb) in self.0.iter().enumerate() {
            let p = u128::from(*limb) * u128::from(mul) + carry;
            wide[i] = p as u64;
            carry = p >> 64;
        }
        wide[4] = carry as u64;
        let mut rem: u128 = 0;
        for limb in wide.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / u128::from(div)) as u64;
            rem = cur % u128::from(div);
        }
        if wide[4] != 0 {
            return None;
        }
        Some(U256([wide[0], wide[1], wide[2], wide[3]]))
    }
}

/// A decoded nBits: the value and Core's two flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compact {
    /// The target (what `SetCompact` leaves in the number; meaningless if `overflow`).
    pub value: U256,
    /// The sign bit is set on a non-zero mantissa.
    pub negative: bool,
    /// The value does not fit 256 bits.
    pub overflow: bool,
}

/// Core's `arith_uint256::SetCompact`.
pub fn decode_compact(bits: u32) -> Compact {
    let size = bits >> 24;
    let mut word = bits & 0x007f_ffff;
    let value = if size <= 3 {
        word >>= 8 * (3 - size);
        U256::from_u64(u64::from(word))
    } else {
        U256::from_u64(u64::from(word)).shifted_left(8 * (size - 3))
    };
    let negative = word != 0 && (bits & 0x0080_0000) != 0;
    let overflow =
        word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    Compact {
        value,
        negative,
        overflow,
    }
}

/// Core's `arith_uint256::GetCompact` for a non-negative value.
pub fn encode_compact(value: U256) -> u32 {
    let mut size = value.bits().div_ceil(8);
    let mut compact = if size <= 3 {
        (value.low_u64() << (8 * (3 - size))) as u32
    } else {
        value.shifted_right(8 * (size - 3)).low_u64() as u32
    };
    // The mantissa's top bit is the sign: move one byte into the exponent instead.
    if compact & 0x0080_0000 != 0 {
        compact >>= 8;
        size += 1;
    }
    compact | (size << 24)
}

/// The target nBits stands for, if Core's `CheckProofOfWork` accepts nBits itself: not
/// negative, not overflowing, not zero, not above `pow_limit`.
pub fn target_from_bits(bits: u32, pow_limit: &U256) -> Result<U256, HeaderError> {
    let c = decode_compact(bits);
    if c.negative {
        return Err(HeaderError::NegativeTarget(bits));
    }
    if c.overflow {
        return Err(HeaderError::OverflowTarget(bits));
    }
    if c.value.is_zero() {
        return Err(HeaderError::ZeroTarget(bits));
    }
    if c.value > *pow_limit {
        return Err(HeaderError::TargetAbovePowLimit(bits));
    }
    Ok(c.value)
}

/// Core's `CheckProofOfWork(hash, nBits, powLimit)`; gives the target on success.
pub fn check_proof_of_work(
    hash: &BlockHash,
    bits: u32,
    pow_limit: &U256,
) -> Result<U256, HeaderError> {
    let target = target_from_bits(bits, pow_limit)?;
    if U256::from_hash(hash) > target {
        return Err(HeaderError::HighHash);
    }
    Ok(target)
}

/// The work a header with this target adds (Core's `GetBlockProof`, `2^256 / (target + 1)`),
/// saturating at `u128::MAX`.
///
/// Saturation is never reached by a header whose proof of work was checked: a proof above
/// 2^128 needs a hash below 2^128, that is about 2^128 hashing attempts. Keeping cumulative
/// work in 128 bits halves its share of the per-header memory.
pub fn block_proof(target: &U256) -> u128 {
    if target.bits() <= 128 {
        return u128::MAX;
    }
    let work = target.to_target().to_work().to_le_bytes();
    let mut low = [0u8; 16];
    low.copy_from_slice(&work[..16]);
    if work[16..].iter().any(|b| *b != 0) {
        return u128::MAX;
    }
    u128::from_le_bytes(low)
}

/// A 128-bit cumulative work as the `bitcoin` type the public API speaks.
pub fn work_from_u128(work: u128) -> bitcoin::Work {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&work.to_le_bytes());
    bitcoin::Work::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trips_known_values() {
        for bits in [
            0x1d00ffffu32,
            0x207fffff,
            0x1c05a3f4,
            0x1b0404cb,
            0x1e0377ae,
            0x03123456,
        ] {
            let c = decode_compact(bits);
            assert!(!c.negative && !c.overflow, "{bits:#x}");
            assert_eq!(encode_compact(c.value), bits, "{bits:#x}");
        }
    }

    #[test]
    fn compact_encodes_like_core_below_three_bytes() {
        // Core's arith_uint256_tests `bignum_SetCompact`: the value each nBits decodes to,
        // and what GetCompact gives back for it.
        for (bits, value, back) in [
            (0x0112_3456u32, 0x12u64, 0x0112_0000u32),
            (0x0212_3456, 0x1234, 0x0212_3400),
            (0x0312_3456, 0x12_3456, 0x0312_3456),
            (0x0412_3456, 0x1234_5600, 0x0412_3456),
            (0x0500_9234, 0x9234_0000, 0x0500_9234),
            // A mantissa whose top bit would read as the sign moves a byte into the size.
            (0x0200_8000, 0x80, 0x0200_8000),
        ] {
            let c = decode_compact(bits);
            assert_eq!(c.value, U256::from_u64(value), "{bits:#x}");
            assert_eq!(encode_compact(U256::from_u64(value)), back, "{bits:#x}");
        }
        assert_eq!(encode_compact(U256::ZERO), 0);
    }

    #[test]
    fn shifts_match_multiplication() {
        let one = U256::from_u64(1);
        assert_eq!(one.shifted_left(255).bits(), 256);
        assert_eq!(one.shifted_left(255).shifted_right(255), one);
        assert_eq!(one.shifted_left(256), U256::ZERO);
        let x = U256::from_u64(0xdead_beef);
        assert_eq!(x.shifted_left(70).shifted_right(70), x);
        assert_eq!(x.mul_div(1 << 20, 1), Some(x.shifted_left(20)));
        // Whole-limb shifts move limbs and mix in nothing from their neighbours.
        let y = U256([0x1111, 0x2222, 0x3333, 0x4444]);
        assert_eq!(y.shifted_left(64), U256([0, 0x1111, 0x2222, 0x3333]));
        assert_eq!(y.shifted_left(128), U256([0, 0, 0x1111, 0x2222]));
        assert_eq!(y.shifted_right(64), U256([0x2222, 0x3333, 0x4444, 0]));
        assert_eq!(y.shifted_right(192), U256([0x4444, 0, 0, 0]));
    }

    #[test]
    fn overflow_flags_sit_exactly_at_cores_bounds() {
        // arith_uint256::SetCompact: a mantissa of one byte fits up to size 34, two bytes up
        // to 33, three up to 32.
        for (bits, overflow) in [
            (0x2200_00ff, false),
            (0x2200_0100, true),
            (0x2100_ffff, false),
            (0x2101_0000, true),
            (0x2000_ffff, false),
            (0x2300_0001, true),
        ] {
            assert_eq!(decode_compact(bits).overflow, overflow, "{bits:#010x}");
        }
    }

    #[test]
    fn mul_div_carries_remainders_across_limbs() {
        // Values below 2^96 times multipliers below 2^32 fit u128: an independent answer.
        let cases: [(u128, u64, u64); 5] = [
            ((1 << 95) + 12_345, 0xffff_fff1, 7),
            (0x0123_4567_89ab_cdef_0123_4567, 1_209_600, 302_399),
            (u128::from(u64::MAX) + 1, 3, 2),
            (0xffff_ffff_ffff_ffff_ffff, 4, 1_209_599),
            (999_999_999_999_999_999_999, 600, 601),
        ];
        for (value, mul, div) in cases {
            let x = U256([value as u64, (value >> 64) as u64, 0, 0]);
            let want = value * u128::from(mul) / u128::from(div);
            let got = x.mul_div(mul, div).expect("fits");
            assert_eq!(
                got,
                U256([want as u64, (want >> 64) as u64, 0, 0]),
                "{value} * {mul} / {div}"
            );
        }
        // Full limbs: `x * 3 / 3` is `x`, and the remainders run through every limb.
        let full = U256([u64::MAX, u64::MAX - 5, u64::MAX, u64::MAX >> 2]);
        assert_eq!(full.mul_div(3, 3), Some(full));
        assert_eq!(full.mul_div(7, 7), Some(full));
        assert_eq!(U256::from_u64(1).mul_div(1, 0), None);
    }

    #[test]
    fn block_proof_matches_known_work() {
        // Difficulty 1 (0x1d00ffff) is 0x100010001 hashes.
        let t = decode_compact(0x1d00ffff).value;
        assert_eq!(block_proof(&t), 0x1_0001_0001);
        // Regtest: target ~2^255 gives work 2.
        assert_eq!(block_proof(&decode_compact(0x207fffff).value), 2);
    }
}
