//! REST's refusals: with `--rest`, Core's statuses and messages for a bad hash, counts 0, 2001,
//! negative and huge, no or an unknown extension, negative, huge and fractional heights, paths
//! with no handler and unknown methods, with what is right still served in between; without
//! `--rest`, 404 for every REST path.

use serde_json::json;

use crate::support::http::{Conn, Response, Rpc};
use crate::support::load::REGTEST_GENESIS;

/// Asserts a REST error: `status`, `text/plain`, `message` and CRLF.
fn expect_rest(reply: &Response, status: u16, message: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.text()),
        (status, format!("{message}\r\n")),
        "{what}"
    );
    assert_eq!(reply.header("content-type"), Some("text/plain"), "{what}");
}

/// With `--rest`: Core's refusals, and what is right still served between them.
pub fn rest_errors(rpc: &Rpc) {
    let genesis = REGTEST_GENESIS;
    let range = "Header count is invalid or out of acceptable range (1-2000)";
    let formats = "output format not found (available: .bin, .hex, .json)";
    let cases: Vec<(String, u16, String)> = vec![
        (
            "/rest/headers/nothex.json".into(),
            400,
            "Invalid hash: nothex".into(),
        ),
        (
            format!("/rest/headers/{}.json", "0".repeat(63)),
            400,
            format!("Invalid hash: {}", "0".repeat(63)),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=0"),
            400,
            format!("{range}: 0"),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=2001"),
            400,
            format!("{range}: 2001"),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=-1"),
            400,
            format!("{range}: -1"),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=99999999999999999999"),
            400,
            format!("{range}: 99999999999999999999"),
        ),
        (format!("/rest/headers/{genesis}"), 404, formats.into()),
        // An unknown extension stays part of the hash (Core's ParseDataFormat).
        (
            format!("/rest/headers/{genesis}.xml"),
            400,
            format!("Invalid hash: {genesis}.xml"),
        ),
        (
            "/rest/chaininfo.xml".into(),
            404,
            "output format not found (available: json)".into(),
        ),
        (
            "/rest/blockhashbyheight/-1.json".into(),
            400,
            "Invalid height: -1".into(),
        ),
        (
            "/rest/blockhashbyheight/99999999999.json".into(),
            400,
            "Invalid height: 99999999999".into(),
        ),
        (
            "/rest/blockhashbyheight/2147483647.json".into(),
            404,
            "Block height out of range".into(),
        ),
        (
            "/rest/blockhashbyheight/1.5.json".into(),
            400,
            "Invalid height: 1.5".into(),
        ),
        ("/rest/blockhashbyheight/0".into(), 404, formats.into()),
    ];
    for (target, status, message) in &cases {
        expect_rest(&rpc.get(target), *status, message, target);
    }
    // What is right is still served between the errors.
    let reply = rpc.get("/rest/blockhashbyheight/0.json");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({ "blockhash": genesis }));
    // Paths Core has no handler for here, and methods it does not know.
    let reply = rpc.get(&format!("/rest/block/{genesis}.json"));
    assert_eq!((reply.status, reply.body.len()), (404, 0), "/rest/block/");
    let reply = Conn::open(rpc.addr)
        .and_then(|mut c| {
            c.send(b"DELETE /rest/chaininfo.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
            c.read_response()
        })
        .expect("DELETE answered");
    assert_eq!(reply.status, 405, "DELETE on REST");
}

/// Without `--rest`, Core registers no REST handler: every REST path is unknown.
pub fn all_unknown_without_rest(rpc: &Rpc) {
    for target in [
        "/rest/chaininfo.json".to_string(),
        format!("/rest/headers/{REGTEST_GENESIS}.json"),
        "/rest/blockhashbyheight/0.json".to_string(),
    ] {
        let reply = rpc.get(&target);
        assert_eq!((reply.status, reply.body.len()), (404, 0), "{target}");
    }
}
