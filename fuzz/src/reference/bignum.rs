//! Just enough unbounded unsigned arithmetic for the difficulty rules, written for obviousness
//! rather than speed: a number is its big-endian bytes with no leading zero byte (zero is the
//! empty vector). Products never wrap, so a retarget is computed as btcd does with `big.Int`,
//! which for every network whose pow limit passes Core's sanity bound equals Core's 256-bit
//! `arith_uint256` arithmetic.

use std::cmp::Ordering;

/// An unsigned integer of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Big(Vec<u8>);

impl Big {
    /// Zero.
    pub fn zero() -> Big {
        Big(Vec::new())
    }

    /// The number these big-endian bytes spell.
    pub fn from_be_bytes(bytes: &[u8]) -> Big {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Big(bytes[first..].to_vec())
    }

    /// The number these little-endian bytes spell (how Core reads a block hash as a number,
    /// `UintToArith256`).
    pub fn from_le_bytes(bytes: &[u8]) -> Big {
        let mut be = bytes.to_vec();
        be.reverse();
        Big::from_be_bytes(&be)
    }

    /// The number from big-endian hex (an even number of digits).
    pub fn from_be_hex(hex: &str) -> Big {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("static hex"))
            .collect();
        Big::from_be_bytes(&bytes)
    }

    /// A small number.
    pub fn from_u64(v: u64) -> Big {
        Big::from_be_bytes(&v.to_be_bytes())
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// How many bytes the number needs (0 for zero).
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }

    /// `self * 256^n`.
    pub fn shl_bytes(&self, n: usize) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let mut out = self.0.clone();
        out.extend(std::iter::repeat_n(0u8, n));
        Big(out)
    }

    /// `self / 256^n`, truncating.
    pub fn shr_bytes(&self, n: usize) -> Big {
        let keep = self.0.len().saturating_sub(n);
        Big::from_be_bytes(&self.0[..keep])
    }

    /// The number modulo 2^256 (what a 256-bit register keeps).
    pub fn low_256(&self) -> Big {
        let skip = self.0.len().saturating_sub(32);
        Big::from_be_bytes(&self.0[skip..])
    }

    /// The lowest 64 bits.
    pub fn low_u64(&self) -> u64 {
        self.0
            .iter()
            .rev()
            .take(8)
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }

    /// `self * m`, schoolbook, from the least significant byte up.
    pub fn mul_u64(&self, m: u64) -> Big {
        let mut out = Vec::with_capacity(self.0.len() + 8);
        let mut carry: u128 = 0;
        for b in self.0.iter().rev() {
            let p = u128::from(*b) * u128::from(m) + carry;
            out.push((p & 0xff) as u8);
            carry = p >> 8;
        }
        while carry > 0 {
            out.push((carry & 0xff) as u8);
            carry >>= 8;
        }
        out.reverse();
        Big::from_be_bytes(&out)
    }

    /// `self / d`, truncating, long division from the most significant byte down. `d` must
    /// not be zero.
    pub fn div_u64(&self, d: u64) -> Big {
        assert!(d != 0, "division by zero");
        let mut out = Vec::with_capacity(self.0.len());
        let mut rem: u128 = 0;
        for b in &self.0 {
            let cur = (rem << 8) | u128::from(*b);
            out.push((cur / u128::from(d)) as u8);
            rem = cur % u128::from(d);
        }
        Big::from_be_bytes(&out)
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Big) -> Ordering {
        // No leading zeros: the longer number is the bigger one.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Big) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What Core's `arith_uint256::SetCompact(nCompact, &fNegative, &fOverflow)` makes of nBits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The exact value the encoding stands for (not cut to 256 bits).
    pub value: Big,
    /// Core's `fNegative`: the sign bit is set on a non-zero mantissa.
    pub negative: bool,
    /// Core's `fOverflow`: the value does not fit 256 bits.
    pub overflow: bool,
    /// The 256-bit register Core would hold is zero (the exact value, or what is left of it
    /// once cut to 256 bits).
    pub zero: bool,
}

/// Decodes nBits as Core's `SetCompact` (src/arith_uint256.cpp): a one-byte size `s` and a
/// 23-bit mantissa `m` stand for `m * 256^(s - 3)`, the mantissa shifted right when `s < 3`;
/// bit 23 of the mantissa is a sign.
pub fn decode_compact(bits: u32) -> Decoded {
    let size = (bits >> 24) as usize;
    let mut word = bits & 0x007f_ffff;
    let value = if size <= 3 {
        word >>= 8 * (3 - size);
        Big::from_u64(u64::from(word))
    } else {
        Big::from_u64(u64::from(word)).shl_bytes(size - 3)
    };
    let negative = word != 0 && bits & 0x0080_0000 != 0;
    // Core spells this out by cases of size and mantissa; they amount to "needs more than 32
    // bytes".
    let overflow = value.byte_len() > 32;
    let zero = value.low_256().is_zero();
    Decoded {
        value,
        negative,
        overflow,
        zero,
    }
}

/// Encodes a value as Core's `GetCompact` (non-negative): the size in bytes, and the top three
/// bytes as mantissa, moved one byte down (size + 1) when its top bit would read as a sign.
pub fn encode_compact(value: &Big) -> u32 {
    let mut size = value.byte_len();
    let mut mantissa = if size <= 3 {
        (value.low_u64() << (8 * (3 - size))) as u32
    } else {
        value.shr_bytes(size - 3).low_u64() as u32
    };
    if mantissa & 0x0080_0000 != 0 {
        mantissa >>= 8;
        size += 1;
    }
    mantissa | ((size as u32) << 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_exact() {
        let x = Big::from_u64(0xdead_beef);
        assert_eq!(x.mul_u64(1 << 32).shr_bytes(4), x);
        assert_eq!(x.mul_u64(1_000_000).div_u64(1_000_000), x);
        assert_eq!(Big::from_u64(7).div_u64(2), Big::from_u64(3));
        assert!(Big::from_u64(256) > Big::from_u64(255));
        assert_eq!(Big::from_be_hex("00ff"), Big::from_u64(255));
        assert_eq!(Big::from_le_bytes(&[1, 2]), Big::from_u64(0x0201));
        // 2^255 * 4 needs 258 bits: nothing is lost.
        let big = Big::from_u64(1).shl_bytes(31).mul_u64(128);
        assert_eq!(big.mul_u64(4).byte_len(), 33);
        assert_eq!(big.mul_u64(4).div_u64(4), big);
    }

    #[test]
    fn compact_vectors_from_core() {
        // Core's arith_uint256_tests: SetCompact / GetCompact.
        assert_eq!(decode_compact(0x01003456).value, Big::zero());
        assert_eq!(decode_compact(0x01123456).value, Big::from_u64(0x12));
        assert_eq!(encode_compact(&Big::from_u64(0x12)), 0x01120000);
        assert_eq!(decode_compact(0x02008000).value, Big::from_u64(0x80));
        assert_eq!(encode_compact(&Big::from_u64(0x80)), 0x02008000);
        assert_eq!(decode_compact(0x05009234).value, Big::from_u64(0x9234_0000));
        assert_eq!(encode_compact(&Big::from_u64(0x9234_0000)), 0x05009234);
        assert_eq!(decode_compact(0x04923456).value, Big::from_u64(0x1234_5600));
        assert!(decode_compact(0x04923456).negative);
        assert_eq!(decode_compact(0x04123456).value, Big::from_u64(0x1234_5600));
        assert_eq!(encode_compact(&Big::from_u64(0x1234_5600)), 0x04123456);
        assert!(decode_compact(0xff123456).overflow);
        assert!(!decode_compact(0x20123456).overflow);
        // 0x010000 * 256^30 is 2^256: over 256 bits, and zero once cut to them.
        let cut = decode_compact(0x21010000);
        assert!(cut.overflow && cut.zero && !cut.negative);
        for bits in [0x1d00ffffu32, 0x207fffff, 0x1b0404cb, 0x1e0377ae] {
            assert_eq!(encode_compact(&decode_compact(bits).value), bits);
        }
    }
}
