//! The RPC server's parsing of hostile clients: a byte stream cut into reads of a
//! fuzz-chosen size goes through the HTTP request parser (heads, declared and chunked bodies,
//! pipelining, every limit), each body through the JSON-RPC envelope and every method's
//! argument checks and readers, and a fuzz-chosen double through Core's `%.16g` formatting.
//! Nothing may panic, every limit must hold, and a formatted double must read back as itself.

#![no_main]

use headway_api::format::core_double;
use headway_api::http::fuzzing::parse_stream;
use headway_api::rpc::args::Args;
use headway_api::rpc::envelope::parse_call;
use headway_api::rpc::methods::METHODS;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The head limit the server runs with (Core's `MAX_HEADERS_SIZE`).
const MAX_HEADER_BYTES: usize = 8192;
/// A smaller body limit than the server's 1 MiB keeps inputs short; the rule is the same.
const MAX_BODY_BYTES: usize = 64 * 1024;

fn check_calls(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let calls: Vec<Value> = match value {
        Value::Array(calls) => calls,
        other => vec![other],
    };
    for call in calls {
        let Ok(call) = parse_call(&call) else {
            continue;
        };
        for method in METHODS {
            let Ok(args) = Args::check(&call.params, method.args, || method.help()) else {
                continue;
            };
            for i in 0..method.args.len() {
                let _ = args.int(i);
                let _ = args.hash(i, "hash");
                let _ = args.str(i);
                let _ = args.bool(i);
            }
        }
    }
}

fn check_double(bytes: [u8; 8]) {
    let x = f64::from_le_bytes(bytes);
    let value = core_double(x);
    if !x.is_finite() {
        assert!(value.is_null(), "{x} must be null");
        return;
    }
    let text = value.to_string();
    let back: f64 = text.parse().expect("Core's text is a number");
    if back.is_infinite() {
        // 16 digits round the largest doubles up past f64::MAX, in Core's text as in ours.
        assert!(x.abs() > 1.797_693_134_862_315e308, "{x} written as {text}");
        return;
    }
    let tolerance = x.abs() * 1e-15;
    assert!((back - x).abs() <= tolerance, "{x} written as {text}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if rest.len() >= 8 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&rest[..8]);
        check_double(bytes);
    }
    let chunk = usize::from(first % 64) + 1;
    let parsed = parse_stream(rest, chunk, MAX_HEADER_BYTES, MAX_BODY_BYTES);
    for (_, _, body) in &parsed.requests {
        assert!(body.len() <= MAX_BODY_BYTES);
        check_calls(body);
    }
});
