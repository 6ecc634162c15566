//! JSON-RPC inputs that Core refuses, each answered with Core's HTTP status, code and message:
//! malformed JSON and non-object bodies (-32700), wrong parameter types (-3 with Core's "Wrong
//! type passed" text), wrong argument counts (-1 with the method's help), unknown methods
//! (HTTP 404, -32601), unknown hashes (-5), malformed hashes (-8 with ParseHashV's messages),
//! bad heights (-8 "Block height out of range" or -1 "JSON integer out of range"), JSON-RPC 2.0
//! errors inside HTTP 200, a notification's 204, a mixed batch and an empty one, and GET on `/`
//! (405, before any login and without its delay).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::http::{Conn, Response, Rpc};
use crate::support::load::REGTEST_GENESIS;

/// Asserts `reply` is `status` with exactly `body` and Core's line end.
fn expect_body(reply: &Response, status: u16, body: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.text()),
        (status, format!("{body}\n")),
        "{what}"
    );
}

/// Asserts a JSON-RPC 1.0 error reply: `status`, a null result, `code` and `message`.
pub fn expect_error(reply: &Response, status: u16, code: i64, message: &str, what: &str) {
    let value = reply.json();
    assert_eq!(reply.status, status, "{what}: {value}");
    assert!(value["result"].is_null(), "{what}: {value}");
    assert_eq!(value["error"]["code"], json!(code), "{what}: {value}");
    assert_eq!(value["error"]["message"], json!(message), "{what}: {value}");
}

/// Core's type error for one argument.
fn wrong_type(position: usize, name: &str, got: &str, expected: &str) -> String {
    format!(
        "    \"Position {position} ({name})\": \"JSON value of type {got} is not of expected type {expected}\""
    )
}

pub fn rpc_inputs(rpc: &Rpc) {
    // Not JSON at all, or cut short.
    for body in ["", "not json", r#"{"method":"getblockcount""#, "[1,", "{]"] {
        expect_body(
            &rpc.post(body),
            500,
            r#"{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}"#,
            &format!("body {body:?}"),
        );
    }
    // JSON, but neither an object nor a batch.
    for body in ["5", "\"getblockcount\"", "null", "true"] {
        expect_body(
            &rpc.post(body),
            500,
            r#"{"result":null,"error":{"code":-32700,"message":"Top-level object parse error"},"id":null}"#,
            &format!("body {body}"),
        );
    }

    // Wrong types: Core's RPCHelpMan lists every mismatch, indented as UniValue writes it.
    expect_error(
        &rpc.call("getblockhash", json!(["x"])),
        500,
        -3,
        &format!(
            "Wrong type passed:\n{{\n{}\n}}",
            wrong_type(1, "height", "string", "number")
        ),
        "getblockhash \"x\"",
    );
    expect_error(
        &rpc.call("getblockheader", json!([1, "yes"])),
        500,
        -3,
        &format!(
            "Wrong type passed:\n{{\n{},\n{}\n}}",
            wrong_type(1, "blockhash", "number", "string"),
            wrong_type(2, "verbose", "string", "bool")
        ),
        "getblockheader 1 \"yes\"",
    );

    // Wrong argument counts: the message is the method's help, as `help <method>` gives it.
    for (method, params) in [
        ("getblockhash", json!([])),
        ("getblockhash", json!([1, 2])),
        ("getblockcount", json!([1])),
        ("getblockheader", json!([])),
    ] {
        let help = rpc.result("help", json!([method]));
        let help = help.as_str().expect("help text");
        assert!(help.starts_with(method), "help {method}: {help}");
        expect_error(
            &rpc.call(method, params.clone()),
            500,
            -1,
            help,
            &format!("{method} {params}"),
        );
    }

    expect_body(
        &rpc.call("nosuchmethod", json!([])),
        404,
        r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#,
        "unknown method",
    );
    expect_error(
        &rpc.call("getblockheader", json!(["00".repeat(32)])),
        500,
        -5,
        "Block not found",
        "unknown hash",
    );
    let not_hex = "g".repeat(64);
    for (text, message) in [
        (
            "abc".to_string(),
            "hash must be of length 64 (not 3, for 'abc')".to_string(),
        ),
        (
            "0".repeat(65),
            format!(
                "hash must be of length 64 (not 65, for '{}')",
                "0".repeat(65)
            ),
        ),
        (
            not_hex.clone(),
            format!("hash must be hexadecimal string (not '{not_hex}')"),
        ),
    ] {
        expect_error(
            &rpc.call("getblockheader", json!([text])),
            500,
            -8,
            &message,
            &format!("hash {text}"),
        );
    }

    // Heights: -1 and past the tip are out of the chain; what is not a 32-bit integer is out
    // of UniValue's range. Bodies are written out so that the numbers are sent as given.
    for (height, code, message) in [
        ("-1", -8, "Block height out of range"),
        ("2147483647", -8, "Block height out of range"),
        ("2147483648", -1, "JSON integer out of range"),
        ("-2147483649", -1, "JSON integer out of range"),
        ("1e300", -1, "JSON integer out of range"),
        ("1.5", -1, "JSON integer out of range"),
    ] {
        let body = format!(r#"{{"method":"getblockhash","params":[{height}],"id":1}}"#);
        expect_error(
            &rpc.post(&body),
            500,
            code,
            message,
            &format!("height {height}"),
        );
    }

    // JSON-RPC 2.0: errors travel inside HTTP 200; a notification gets 204 and no body.
    expect_body(
        &rpc.post(r#"{"jsonrpc":"2.0","method":"getblockhash","params":[-1],"id":7}"#),
        200,
        r#"{"jsonrpc":"2.0","error":{"code":-8,"message":"Block height out of range"},"id":7}"#,
        "2.0 error",
    );
    expect_body(
        &rpc.post(r#"{"jsonrpc":"2.0","method":"nosuchmethod","id":"x"}"#),
        200,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"x"}"#,
        "2.0 unknown method",
    );
    expect_body(
        &rpc.post(r#"{"jsonrpc":"2.0","method":"getblockhash","params":[0],"id":8}"#),
        200,
        &format!(r#"{{"jsonrpc":"2.0","result":"{REGTEST_GENESIS}","id":8}}"#),
        "2.0 result",
    );
    for body in [
        r#"{"jsonrpc":"2.0","method":"getblockcount"}"#,
        r#"{"jsonrpc":"2.0","method":"nosuchmethod"}"#,
    ] {
        let reply = rpc.post(body);
        assert_eq!(
            (reply.status, reply.body.len()),
            (204, 0),
            "notification {body}"
        );
    }

    // A batch: a non-object first (no id to echo yet), a 2.0 success, a 2.0 error, a
    // notification (left out) and a 1.0 error, answered together in one HTTP 200.
    let batch = format!(
        "[5,{},{},{},{}]",
        r#"{"jsonrpc":"2.0","method":"getblockhash","params":[0],"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"nosuchmethod","id":2}"#,
        r#"{"jsonrpc":"2.0","method":"getblockcount"}"#,
        r#"{"method":"getblockhash","params":[-1],"id":3}"#,
    );
    let expected = format!(
        "[{},{},{},{}]",
        r#"{"result":null,"error":{"code":-32600,"message":"Invalid Request object"},"id":null}"#,
        format_args!(r#"{{"jsonrpc":"2.0","result":"{REGTEST_GENESIS}","id":1}}"#),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}"#,
        r#"{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":3}"#,
    );
    expect_body(&rpc.post(&batch), 200, &expected, "mixed batch");
    expect_body(&rpc.post("[]"), 200, "[]", "empty batch");

    // JSON-RPC is POST only.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    conn.send(
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\n\r\n",
            rpc.auth
        )
        .as_bytes(),
    )
    .expect("send");
    let reply = conn.read_response().expect("GET / answered");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (405, "JSONRPC server handles only POST requests"),
        "GET /"
    );
    // Core checks the method before the login: no login, no delay, still 405.
    let started = Instant::now();
    let mut conn = Conn::open(rpc.addr).expect("connect");
    conn.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let reply = conn
        .read_response()
        .expect("GET / without a login answered");
    assert_eq!(reply.status, 405, "GET / without a login");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "no login delay"
    );
}
