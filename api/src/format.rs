//! Bitcoin Core's JSON value formats: how Core writes a double, an amount, compact bits, a
//! version, chain work, a target and a block hash, so that our answers match Core's byte for
//! byte.
//!
//! This module owns the text of single values only. Which fields an answer carries, and in what
//! order, belongs to the RPC and REST handlers that build them.
//!
//! Each function names the Core function it mirrors; the references are to Bitcoin Core's
//! `src/univalue/lib/univalue.cpp`, `src/core_write.cpp`, `src/rpc/blockchain.cpp`,
//! `src/rpc/util.cpp`, `src/pow.cpp` and `src/arith_uint256.cpp`.

use bitcoin::hex::DisplayHex;
use bitcoin::{BlockHash, CompactTarget, Target, Work};
use serde_json::{Number, Value};

/// Significant digits in a double as Core writes it: `UniValue::setFloat` streams the value with
/// `std::setprecision(16)` (univalue.cpp), the default float field, so C's `%.16g`.
const DOUBLE_SIGNIFICANT_DIGITS: i32 = 16;

/// `%g` switches to the exponent form when the decimal exponent is below this (C11 7.21.6.1,
/// the `g` conversion: "if P > X >= -4, the conversion is with style f").
const MIN_FIXED_EXPONENT: i32 = -4;

/// `%e` writes at least this many exponent digits (C11 7.21.6.1: "The exponent always contains
/// at least two digits").
const MIN_EXPONENT_DIGITS: usize = 2;

/// Satoshis in one bitcoin: Core's `COIN` (consensus/amount.h), the divisor of
/// `ValueFromAmount` (core_write.cpp).
const COIN: u64 = 100_000_000;

/// The exponent at which `GetDifficulty` (rpc/blockchain.cpp) counts difficulty 1: a compact
/// size of 29 bytes is the size of the difficulty-1 target `0x1d00ffff`.
const DIFFICULTY_ONE_SHIFT: u32 = 29;

/// The mantissa of the difficulty-1 target `0x1d00ffff`, the numerator of `GetDifficulty`
/// (rpc/blockchain.cpp).
const DIFFICULTY_ONE_MANTISSA: f64 = 0xffff as f64;

/// A JSON number written exactly as Core's UniValue writes a double.
///
/// Mirrors `UniValue::setFloat` (univalue.cpp): an `std::ostringstream` in the classic locale
/// with `std::setprecision(16)`, which is C's `%.16g`: 16 significant digits, correctly rounded
/// (ties to even on the exact binary value), trailing zeros and a bare decimal point removed,
/// the exponent form `d.ddde-10` / `de+20` (sign and at least two digits) when the decimal
/// exponent is below -4 or at least 16, the fixed form otherwise. So 1 is `1`, 0.1 is `0.1`,
/// 1e16 is `1e+16`, 1e-5 is `1e-05`, and the regtest difficulty is `4.656542373906925e-10`.
///
/// A NaN or an infinity has no JSON form: this returns `null`. (Core's `setFloat` would hand
/// `inf` or `nan` to `setNumStr`, which refuses it and fails the call; no value we format can be
/// non-finite, since validated headers never carry a zero mantissa.)
///
/// The value holds the text verbatim (serde_json's `arbitrary_precision`), so
/// `serde_json::to_string` prints exactly Core's text.
pub fn core_double(x: f64) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    number(&format_g16(x))
}

/// `x` as C's `%.16g` would print it; `x` must be finite.
fn format_g16(x: f64) -> String {
    // Rust's `{:.15e}` rounds correctly to 16 significant digits (ties to even on the exact
    // binary value, as glibc's printf in the default rounding mode), and its exponent is the one
    // after rounding, which is what `%g` chooses its style by.
    let scientific = format!("{:.*e}", (DOUBLE_SIGNIFICANT_DIGITS - 1) as usize, x);
    let (mantissa, exponent) = match scientific.split_once('e') {
        Some(parts) => parts,
        None => return scientific,
    };
    let exponent: i32 = match exponent.parse() {
        Ok(e) => e,
        Err(_) => return scientific,
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    // The 16 significant digits, without the decimal point.
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();

    if !(MIN_FIXED_EXPONENT..DOUBLE_SIGNIFICANT_DIGITS).contains(&exponent) {
        // Style e: d.ddd...e±XX, trailing zeros of the fraction removed.
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let fraction = rest.trim_end_matches('0');
        let point = if fraction.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{point}{fraction}e{exp_sign}{:0width$}",
            exponent.unsigned_abs(),
            width = MIN_EXPONENT_DIGITS
        )
    } else if exponent >= 0 {
        // Style f with the point after exponent + 1 digits; exponent < 16 = digits.len().
        let split = exponent.unsigned_abs() as usize + 1;
        let (int_part, rest) = digits.split_at(split.min(digits.len()));
        let fraction = rest.trim_end_matches('0');
        let point = if fraction.is_empty() { "" } else { "." };
        format!("{sign}{int_part}{point}{fraction}")
    } else {
        // Style f for -4 <= exponent <= -1: 0.000ddd, trailing zeros removed.
        let zeros = exponent.unsigned_abs() as usize - 1;
        let fraction = digits.trim_end_matches('0');
        format!("{sign}0.{}{fraction}", "0".repeat(zeros))
    }
}

/// A JSON number holding `text` verbatim (serde_json's `arbitrary_precision` keeps the text it
/// parsed). `text` is always a valid JSON number here; should it not be, the answer is `null`
/// rather than a panic.
fn number(text: &str) -> Value {
    serde_json::from_str::<Number>(text)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The difficulty of compact bits, as a multiple of the difficulty-1 target `0x1d00ffff`.
///
/// Mirrors `GetDifficulty` (rpc/blockchain.cpp) step by step, so the double is the same to the
/// last bit: `0xffff / (bits & 0x00ffffff)`, multiplied by 256 while the size byte is below 29
/// and divided by 256 while it is above. As in Core the mantissa is not masked for the sign bit,
/// and a zero mantissa divides by zero (infinity, which [`core_double`] writes as `null`);
/// validated headers carry neither.
pub fn difficulty(bits: CompactTarget) -> f64 {
    let n_bits = bits.to_consensus();
    let mut shift = (n_bits >> 24) & 0xff;
    let mut diff = DIFFICULTY_ONE_MANTISSA / f64::from(n_bits & 0x00ff_ffff);
    while shift < DIFFICULTY_ONE_SHIFT {
        diff *= 256.0;
        shift += 1;
    }
    while shift > DIFFICULTY_ONE_SHIFT {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

/// Compact bits as eight lowercase hex digits: `strprintf("%08x", nBits)` in Core's
/// `blockheaderToJSON` (rpc/blockchain.cpp).
pub fn bits_hex(bits: CompactTarget) -> String {
    format!("{:08x}", bits.to_consensus())
}

/// A header version as eight lowercase hex digits of its 32-bit pattern:
/// `strprintf("%08x", nVersion)` in Core's `blockheaderToJSON` (rpc/blockchain.cpp), where a
/// negative version prints its two's complement (`-1` is `ffffffff`).
pub fn version_hex(version: i32) -> String {
    // Rust's `LowerHex` of a signed integer is its two's complement too.
    format!("{version:08x}")
}

/// Chain work as 64 lowercase hex digits, most significant first: `nChainWork.GetHex()` in
/// Core's `blockheaderToJSON` (rpc/blockchain.cpp; `arith_uint256::GetHex`).
pub fn work_hex(work: Work) -> String {
    work.to_be_bytes().to_lower_hex_string()
}

/// The target that compact bits stand for, as Core's `DeriveTarget` (pow.cpp) decodes it:
/// `arith_uint256::SetCompact` (arith_uint256.cpp), refused (`None`) when it is negative, zero,
/// overflows 256 bits or exceeds `pow_limit`.
pub fn derive_target(bits: CompactTarget, pow_limit: Target) -> Option<Target> {
    let n_compact = bits.to_consensus();
    // SetCompact: size byte, 23-bit mantissa, sign bit 0x00800000.
    let size = n_compact >> 24;
    let mut word = n_compact & 0x007f_ffff;
    let negative = word != 0 && (n_compact & 0x0080_0000) != 0;
    let overflow =
        word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    if negative || overflow {
        return None;
    }
    let mut bytes = [0u8; 32];
    // The number is word << 8 * (size - 3), or word >> 8 * (3 - size) for a size of 3 or less;
    // written big-endian, the word's least significant byte sits `size - 3` bytes from the end.
    let low_byte_offset = if size <= 3 {
        word >>= 8 * (3 - size);
        0
    } else {
        size - 3
    };
    let offset = low_byte_offset as usize;
    for (i, byte) in word.to_le_bytes().into_iter().enumerate() {
        // Byte i of the word has significance offset + i. Past the top of 256 bits only zero
        // bytes remain, since the overflow test passed.
        if let Some(index) = 31usize.checked_sub(offset + i) {
            bytes[index] = byte;
        }
    }
    let target = Target::from_be_bytes(bytes);
    if target == Target::ZERO || target > pow_limit {
        return None;
    }
    Some(target)
}

/// The target of compact bits as 64 lowercase hex digits, most significant first: Core's
/// `GetTarget(..).GetHex()` (rpc/util.cpp, the `target` field of `getblockheader`), which is
/// [`derive_target`] written as `uint256::GetHex`.
///
/// Core asserts (`CHECK_NONFATAL`) that the bits of a block in its index derive a target, and
/// fails the call with an internal bug error otherwise. Our stored headers passed the same check
/// when they were accepted, so that case does not arise; should it, this returns 64 zeros (the
/// target nothing can meet but the zero hash) rather than a made-up value, and the caller can
/// tell with [`derive_target`].
pub fn target_hex(bits: CompactTarget, pow_limit: Target) -> String {
    derive_target(bits, pow_limit)
        .unwrap_or(Target::ZERO)
        .to_be_bytes()
        .to_lower_hex_string()
}

/// An amount in satoshis as a JSON number of bitcoins with exactly eight decimals: Core's
/// `ValueFromAmount` (core_write.cpp), `strprintf("%s%d.%08d", sign, quotient, remainder)` of
/// the amount over `COIN`. So 1000 sat is `0.00001000`, 50 BTC is `50.00000000`, and -1 sat is
/// `-0.00000001`.
pub fn amount_btc(sats: i64) -> Value {
    let sign = if sats < 0 { "-" } else { "" };
    let magnitude = sats.unsigned_abs();
    number(&format!(
        "{sign}{}.{:08}",
        magnitude / COIN,
        magnitude % COIN
    ))
}

/// A block hash as Core's `uint256::GetHex`: 64 lowercase hex digits of the hash read as a
/// little-endian number, most significant first (the bytes reversed, as every block explorer
/// shows them). `BlockHash`'s `Display` already is that form.
pub fn hash_hex(hash: &BlockHash) -> String {
    hash.to_string()
}

#[cfg(test)]
mod tests;
