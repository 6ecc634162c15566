//! What Core would answer, from bcoin's answers: Core's `%.16g` for doubles, bcoin's
//! `getblockheader` object translated to Core's (each way bcoin departs from Core asserted on
//! the way), and the comparison of headway's header objects with Core's, key order included.

use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{CompactTarget, Target};
use serde_json::{json, Map, Value};

use crate::support::bcoin::Bcoin;

/// Core's `%.16g` of the regtest difficulty (every regtest header has bits 0x207fffff).
pub const REGTEST_DIFFICULTY: &str = "4.656542373906925e-10";
/// bcoin's text for the same number (JavaScript's shortest round trip, 17 digits).
pub const BCOIN_REGTEST_DIFFICULTY: &str = "4.6565423739069247e-10";
/// Core's `getblockheader` keys in Core's order (plus `previousblockhash` but for genesis,
/// `nextblockhash` but at the tip and off the best chain).
const CORE_HEADER_KEYS: [&str; 14] = [
    "hash",
    "confirmations",
    "height",
    "version",
    "versionHex",
    "merkleroot",
    "time",
    "mediantime",
    "nonce",
    "bits",
    "target",
    "difficulty",
    "chainwork",
    "nTx",
];

/// C's `printf("%.16g", x)`, as Core writes doubles, for finite `x`.
pub fn core_g16(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let sci = format!("{x:.15e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("an exponent");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..16).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exponent.abs())
    } else {
        let decimals = usize::try_from(15 - exponent).unwrap_or(0);
        trim(&format!("{x:.decimals$}"))
    }
}

/// A header's text as JSON number text (arbitrary precision keeps it as written).
pub fn number_text(value: &Value) -> String {
    value.to_string()
}

/// The Core answer bcoin's `getblockheader` object stands for, given the header's raw hex
/// (bcoin's non-verbose answer). Asserts each way bcoin departs from Core on the way.
pub fn core_header_from_bcoin(bcoin: &Value, raw_hex: &str) -> Value {
    let what = &bcoin["hash"];
    let bits = bcoin["bits"]
        .as_u64()
        .unwrap_or_else(|| panic!("bcoin's bits is no longer a number: {bcoin}"));
    let bits = u32::try_from(bits).expect("bits fit 32 bits");
    for absent in ["nonce", "target", "nTx"] {
        assert!(
            bcoin.get(absent).is_none(),
            "bcoin now gives {absent} for {what}: {bcoin}"
        );
    }
    for null_when_none in ["previousblockhash", "nextblockhash"] {
        assert!(
            bcoin.get(null_when_none).is_some(),
            "bcoin no longer gives {null_when_none} (null when none) for {what}: {bcoin}"
        );
    }
    assert_eq!(
        number_text(&bcoin["difficulty"]),
        BCOIN_REGTEST_DIFFICULTY,
        "bcoin's difficulty text for {what}"
    );
    let raw = Vec::<u8>::from_hex(raw_hex).expect("bcoin's raw header is hex");
    assert_eq!(raw.len(), 80, "bcoin's raw header {raw_hex}");
    let nonce = u32::from_le_bytes(raw[76..80].try_into().expect("4 bytes"));
    let target = Target::from_compact(CompactTarget::from_consensus(bits));

    let mut core = Map::new();
    for key in [
        "hash",
        "confirmations",
        "height",
        "version",
        "versionHex",
        "merkleroot",
        "time",
        "mediantime",
    ] {
        core.insert(key.into(), bcoin[key].clone());
    }
    core.insert("nonce".into(), json!(nonce));
    core.insert("bits".into(), json!(format!("{bits:08x}")));
    core.insert(
        "target".into(),
        json!(target.to_be_bytes().to_lower_hex_string()),
    );
    core.insert("difficulty".into(), bcoin["difficulty"].clone());
    core.insert("chainwork".into(), bcoin["chainwork"].clone());
    core.insert("nTx".into(), json!(0));
    for link in ["previousblockhash", "nextblockhash"] {
        if !bcoin[link].is_null() {
            core.insert(link.into(), bcoin[link].clone());
        }
    }
    Value::Object(core)
}

/// `headway` is Core's `getblockheader` answer `core`: the same keys in Core's order, the same
/// values, `difficulty` as Core's `%.16g` of the same number.
pub fn assert_header(headway: &Value, core: &Value, what: &str) {
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("{what}: not an object: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(headway), keys(core), "{what}: keys or their order");
    let mut expected_keys: Vec<String> = CORE_HEADER_KEYS.iter().map(|k| k.to_string()).collect();
    for link in ["previousblockhash", "nextblockhash"] {
        if core.get(link).is_some() {
            expected_keys.push(link.into());
        }
    }
    assert_eq!(keys(headway), expected_keys, "{what}: Core's key order");
    for key in keys(core) {
        if key == "difficulty" {
            let bcoin = core[&key].as_f64().expect("a number");
            assert_eq!(
                number_text(&headway[&key]),
                core_g16(bcoin),
                "{what}: difficulty as Core prints bcoin's"
            );
            assert_eq!(number_text(&headway[&key]), REGTEST_DIFFICULTY, "{what}");
        } else {
            assert_eq!(headway[&key], core[&key], "{what}: field {key}");
        }
    }
}

/// `x` is the double that `text` (Core's `%.16g`) stands for, give or take the last places:
/// 16 digits do not always round-trip, and serde_json's default float parser (which the
/// client's typed results go through) is not correctly rounded either.
pub fn assert_near(x: f64, text: &str, what: &str) {
    let expected: f64 = text.parse().expect("a double");
    assert!(
        (x - expected).abs() <= 4.0 * f64::EPSILON * expected.abs(),
        "{what}: {x:e}, expected {text}"
    );
}

/// A block's header as bcoin reports it: verbose object and raw hex.
pub struct Snapshot {
    pub json: Value,
    pub raw: String,
}

pub fn snapshot(bcoin: &Bcoin, hash: &str) -> Snapshot {
    Snapshot {
        json: bcoin.rpc("getblockheader", json!([hash, true])),
        raw: bcoin
            .rpc("getblockheader", json!([hash, false]))
            .as_str()
            .expect("raw header hex")
            .to_string(),
    }
}
