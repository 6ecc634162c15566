//! Tests of [`super`].

use super::*;
use bitcoin::hashes::Hash;
use std::io::Write;
use std::process::{Command, Stdio};

/// mainnet and testnet's proof-of-work limit (`consensus.powLimit`, kernel/chainparams.cpp).
const MAINNET_POW_LIMIT: Target = Target::MAX_ATTAINABLE_MAINNET;
/// regtest's proof-of-work limit, `7fffff0000...` (kernel/chainparams.cpp).
const REGTEST_POW_LIMIT: Target = Target::MAX_ATTAINABLE_REGTEST;

fn text(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value serializes")
}

fn bits(n: u32) -> CompactTarget {
    CompactTarget::from_consensus(n)
}

#[test]
fn core_double_matches_known_core_outputs() {
    // Regtest's bits 0x207fffff: `getblockheader` on a regtest node says this.
    assert_eq!(
        text(&core_double(difficulty(bits(0x207f_ffff)))),
        "4.656542373906925e-10"
    );
    // Mainnet genesis, bits 0x1d00ffff: difficulty 1.
    assert_eq!(text(&core_double(difficulty(bits(0x1d00_ffff)))), "1");
    // 16 significant digits fit exactly: %.16g keeps the half.
    assert_eq!(
        text(&core_double(110_451_907_374_649.5)),
        "110451907374649.5"
    );
    // 0.1 is 0.1000000000000000055..., 16 digits round it back to 0.1.
    assert_eq!(text(&core_double(0.1)), "0.1");
    // Exponent 16 is the first exponent form; -5 is below the -4 of the fixed form.
    assert_eq!(text(&core_double(1e16)), "1e+16");
    assert_eq!(text(&core_double(1e15)), "1000000000000000");
    assert_eq!(text(&core_double(1e-5)), "1e-05");
    assert_eq!(text(&core_double(1e-4)), "0.0001");
    assert_eq!(text(&core_double(0.000123)), "0.000123");
    assert_eq!(text(&core_double(1e20)), "1e+20");
    assert_eq!(text(&core_double(1.5e-300)), "1.5e-300");
    assert_eq!(text(&core_double(1e300)), "1e+300");
    assert_eq!(text(&core_double(0.0)), "0");
    assert_eq!(text(&core_double(-0.0)), "-0");
    assert_eq!(text(&core_double(-2.5)), "-2.5");
    assert_eq!(text(&core_double(123_456.0)), "123456");
    // 1/3 has more digits than 16: rounded, not cut.
    assert_eq!(text(&core_double(2.0 / 3.0)), "0.6666666666666666");
    assert_eq!(text(&core_double(1.0 / 3.0)), "0.3333333333333333");
    // Exponent 15 is still the fixed form: all 16 digits before the point.
    assert_eq!(
        text(&core_double(9_007_199_254_740_994.0)),
        "9007199254740994"
    );
    // The double nearest 1e23 is 99999999999999991611392: 16 digits keep it below 1e23.
    assert_eq!(text(&core_double(1e23)), "9.999999999999999e+22");
}

#[test]
fn core_double_rounds_ties_to_even_as_printf() {
    // 1e15 + 0.5 and 1e15 + 1.5 are exact doubles with 17 significant digits ending in 5.
    assert_eq!(
        text(&core_double(1_000_000_000_000_000.5)),
        "1000000000000000"
    );
    assert_eq!(
        text(&core_double(1_000_000_000_000_001.5)),
        "1000000000000002"
    );
}

#[test]
fn core_double_of_non_finite_is_null() {
    assert_eq!(core_double(f64::NAN), Value::Null);
    assert_eq!(core_double(f64::INFINITY), Value::Null);
    assert_eq!(core_double(f64::NEG_INFINITY), Value::Null);
    assert_eq!(core_double(difficulty(bits(0x1d00_0000))), Value::Null);
}

#[test]
fn core_double_inside_an_object_prints_core_text() {
    let mut object = serde_json::Map::new();
    object.insert(
        "difficulty".into(),
        core_double(difficulty(bits(0x207f_ffff))),
    );
    object.insert("big".into(), core_double(1e20));
    assert_eq!(
        text(&Value::Object(object)),
        r#"{"difficulty":4.656542373906925e-10,"big":1e+20}"#
    );
}

/// Values whose `%.16g` text the C library's own printf gives, through `awk` (mawk and gawk
/// read each field with `strtod` and hand `%.16g` to the C library's `printf`). The crate
/// forbids `unsafe`, so `libc::snprintf` is not callable from here; a process is.
const CROSS_CHECKED: &[f64] = &[
    4.656542373906925e-10,
    1.0,
    110_451_907_374_649.5,
    0.1,
    0.2,
    0.3,
    1e16,
    1e15,
    1e-5,
    1e-4,
    1e20,
    1.5e-300,
    123_456_789.123_456_79,
    2.0 / 3.0,
    1_000_000_000_000_000.5,
    1_000_000_000_000_001.5,
    9_999_999_999_999_999.0,
    9_007_199_254_740_993.0,
    -2.5,
    0.0,
    5e-324,
    f64::MAX,
    1e23,
    9.999_999_999_999_999e-5,
    16_307.420_938_523_983,
    110_451_907_374_649.58,
    -1.0 / 3.0,
];

/// Bits whose difficulty is cross-checked too: regtest, mainnet genesis, mainnet blocks
/// 100,000 and 800,000, and a few others of every size class.
const CROSS_CHECKED_BITS: &[u32] = &[
    0x207f_ffff,
    0x1d00_ffff,
    0x1b04_864c,
    0x1761_22cd,
    0x1705_3894,
    0x1a01_aa3d,
    0x1c7f_ffff,
    0x0100_0001,
    0x2300_0001,
];

/// How many pseudo-random doubles the C library checks as well.
const RANDOM_CROSS_CHECKS: usize = 4000;

/// `count` finite doubles from a fixed xorshift64 sequence: half any bit pattern (every
/// magnitude, subnormals too), half difficulties of random compact bits.
fn scattered_doubles(count: usize) -> impl Iterator<Item = f64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Some(state)
    })
    .enumerate()
    .map(|(i, r)| {
        if i % 2 == 0 {
            f64::from_bits(r)
        } else {
            // Sizes 3 to 34 and a nonzero mantissa, as headers carry.
            let size = 3 + (r >> 32) % 32;
            let mantissa = (r as u32 & 0x7f_ffff).max(1);
            difficulty(bits(((size as u32) << 24) | mantissa))
        }
    })
    .filter(|x| x.is_finite())
    .take(count)
}

#[test]
fn core_double_agrees_with_the_c_library() {
    // 17 significant digits give back the same double through strtod.
    let values: Vec<f64> = CROSS_CHECKED
        .iter()
        .copied()
        .chain(CROSS_CHECKED_BITS.iter().map(|&n| difficulty(bits(n))))
        .chain(scattered_doubles(RANDOM_CROSS_CHECKS))
        .collect();
    let input: String = values.iter().map(|x| format!("{x:.16e}\n")).collect();
    let mut child = Command::new("awk")
        .arg(r#"{ printf "%.16g\n", $1 }"#)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("awk runs (it is part of every POSIX system)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("awk reads its input");
    let output = child.wait_with_output().expect("awk finishes");
    assert!(output.status.success(), "awk failed: {output:?}");
    let printed = String::from_utf8(output.stdout).expect("awk prints ASCII");
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed.len(), values.len());
    for (x, c_text) in values.iter().zip(printed) {
        assert_eq!(text(&core_double(*x)), c_text, "{x:e}");
    }
}

#[test]
fn difficulty_follows_get_difficulty() {
    assert_eq!(difficulty(bits(0x1d00_ffff)), 1.0);
    // 0xffff / 0x7fffff, divided by 256 three times (exact in binary); 17 digits are needed
    // to name this double, Core prints 16 of them.
    assert_eq!(
        difficulty(bits(0x207f_ffff)),
        f64::from(0xffff) / f64::from(0x7f_ffff) / 16_777_216.0
    );
    assert_eq!(difficulty(bits(0x207f_ffff)), 4.656_542_373_906_924_7e-10);
    // Block 100,000 of mainnet (bits 0x1b04864c): getblockheader says 14484.1623612254.
    assert_eq!(
        text(&core_double(difficulty(bits(0x1b04_864c)))),
        "14484.1623612254"
    );
    // Mainnet block 800,000 (bits 0x17053894): 53911173001054.59 in getblockheader.
    assert_eq!(
        text(&core_double(difficulty(bits(0x1705_3894)))),
        "53911173001054.59"
    );
    // A size below 29 multiplies by 256.
    assert_eq!(difficulty(bits(0x1c00_ffff)), 256.0);
    // The sign bit is part of Core's mantissa here.
    assert_eq!(
        difficulty(bits(0x1d80_0000)),
        f64::from(0xffff) / f64::from(0x80_0000)
    );
}

#[test]
fn bits_and_version_are_eight_hex_digits() {
    assert_eq!(bits_hex(bits(0x1d00_ffff)), "1d00ffff");
    assert_eq!(bits_hex(bits(0x207f_ffff)), "207fffff");
    assert_eq!(bits_hex(bits(0x0000_0001)), "00000001");
    assert_eq!(version_hex(1), "00000001");
    assert_eq!(version_hex(0x2000_0000), "20000000");
    assert_eq!(version_hex(0x3fff_e004), "3fffe004");
    assert_eq!(version_hex(-1), "ffffffff");
    assert_eq!(version_hex(i32::MIN), "80000000");
}

#[test]
fn work_is_64_hex_digits_big_endian() {
    // Genesis's own work, 2^256 / (target + 1) for 0x1d00ffff: 0x100010001.
    let genesis_work = Target::from_compact(bits(0x1d00_ffff)).to_work();
    assert_eq!(
        work_hex(genesis_work),
        "0000000000000000000000000000000000000000000000000000000100010001"
    );
    // Regtest genesis: chainwork 2 in getblockheader.
    let regtest_work = Target::from_compact(bits(0x207f_ffff)).to_work();
    assert_eq!(
        work_hex(regtest_work),
        "0000000000000000000000000000000000000000000000000000000000000002"
    );
}

#[test]
fn target_derives_as_set_compact() {
    assert_eq!(
        target_hex(bits(0x1d00_ffff), MAINNET_POW_LIMIT),
        "00000000ffff0000000000000000000000000000000000000000000000000000"
    );
    assert_eq!(
        target_hex(bits(0x207f_ffff), REGTEST_POW_LIMIT),
        "7fffff0000000000000000000000000000000000000000000000000000000000"
    );
    // Mainnet block 800,000.
    assert_eq!(
        target_hex(bits(0x1705_3894), MAINNET_POW_LIMIT),
        "0000000000000000000538940000000000000000000000000000000000000000"
    );
    // Sizes of three and less shift the mantissa right.
    assert_eq!(
        derive_target(bits(0x0312_3456), MAINNET_POW_LIMIT),
        Some(Target::from_be_bytes(be(0x12_3456)))
    );
    assert_eq!(
        derive_target(bits(0x0212_3456), MAINNET_POW_LIMIT),
        Some(Target::from_be_bytes(be(0x1234)))
    );
    assert_eq!(
        derive_target(bits(0x0112_3456), MAINNET_POW_LIMIT),
        Some(Target::from_be_bytes(be(0x12)))
    );
    // Agrees with rust-bitcoin's own decoding wherever Core accepts the bits.
    for n in [
        0x1d00_ffffu32,
        0x1b04_864c,
        0x1705_3894,
        0x1c7f_ffff,
        0x0400_0001,
    ] {
        assert_eq!(
            derive_target(bits(n), MAINNET_POW_LIMIT),
            Some(Target::from_compact(bits(n))),
            "{n:08x}"
        );
    }
}

fn be(n: u32) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[28..].copy_from_slice(&n.to_be_bytes());
    bytes
}

#[test]
fn target_refuses_what_derive_target_refuses() {
    let zeros = "0".repeat(64);
    // Negative: the sign bit with a nonzero mantissa.
    assert_eq!(derive_target(bits(0x1d80_ffff), MAINNET_POW_LIMIT), None);
    assert_eq!(target_hex(bits(0x1d80_ffff), MAINNET_POW_LIMIT), zeros);
    // Zero, also the sign bit alone and a mantissa shifted away entirely.
    assert_eq!(derive_target(bits(0x1d00_0000), MAINNET_POW_LIMIT), None);
    assert_eq!(derive_target(bits(0x1d80_0000), MAINNET_POW_LIMIT), None);
    assert_eq!(derive_target(bits(0x0100_00ff), MAINNET_POW_LIMIT), None);
    // Overflow past 256 bits, at each of SetCompact's three limits.
    let unlimited = Target::from_be_bytes([0xff; 32]);
    assert_eq!(derive_target(bits(0x2300_0001), unlimited), None);
    assert_eq!(derive_target(bits(0x2200_0100), unlimited), None);
    assert_eq!(derive_target(bits(0x2101_0000), unlimited), None);
    // Just inside those limits: the top byte of 256 bits.
    let mut top = [0u8; 32];
    top[0] = 0x01;
    assert_eq!(
        derive_target(bits(0x2200_0001), unlimited),
        Some(Target::from_be_bytes(top))
    );
    assert_eq!(
        derive_target(bits(0x2100_0100), unlimited),
        Some(Target::from_be_bytes(top))
    );
    assert_eq!(
        derive_target(bits(0x2001_0000), unlimited),
        Some(Target::from_be_bytes(top))
    );
    // Above the proof-of-work limit: regtest's bits on mainnet.
    assert_eq!(derive_target(bits(0x207f_ffff), MAINNET_POW_LIMIT), None);
    assert_eq!(target_hex(bits(0x207f_ffff), MAINNET_POW_LIMIT), zeros);
    // At the limit exactly is accepted.
    assert_eq!(
        derive_target(bits(0x1d00_ffff), MAINNET_POW_LIMIT),
        Some(MAINNET_POW_LIMIT)
    );
}

#[test]
fn amounts_have_eight_decimals() {
    assert_eq!(text(&amount_btc(1000)), "0.00001000");
    assert_eq!(text(&amount_btc(0)), "0.00000000");
    assert_eq!(text(&amount_btc(1)), "0.00000001");
    assert_eq!(text(&amount_btc(-1)), "-0.00000001");
    assert_eq!(text(&amount_btc(5_000_000_000)), "50.00000000");
    assert_eq!(text(&amount_btc(-123_456_789)), "-1.23456789");
    assert_eq!(
        text(&amount_btc(2_100_000_000_000_000)),
        "21000000.00000000"
    );
    assert_eq!(text(&amount_btc(i64::MAX)), "92233720368.54775807");
    assert_eq!(text(&amount_btc(i64::MIN)), "-92233720368.54775808");
}

#[test]
fn hash_is_reversed_hex() {
    let genesis: BlockHash = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        .parse()
        .expect("a block hash");
    assert_eq!(
        hash_hex(&genesis),
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    );
    // The internal byte order is the reverse of the text.
    assert_eq!(genesis.to_byte_array()[31], 0x00);
    assert_eq!(genesis.to_byte_array()[0], 0x6f);
}
