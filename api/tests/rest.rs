//! Core's REST answers, byte for byte, from `rest::handle` on a real LMDB store: a mined
//! regtest chain of 3050 headers that replaced, in a reorg at 2800, the old chain's heights
//! 2801..=3000 (now side headers).

use std::sync::Arc;

use headway_api::chain_json::{blockchain_info_json, header_json};
use headway_api::chain_view::ChainView;
use headway_api::http::{HttpRequest, HttpResponse};
use headway_api::rest;
use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::consensus::serialize;
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{BlockHash, Work};
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};
use serde_json::Value;

const FORMATS: &str = "output format not found (available: .bin, .hex, .json)\r\n";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<HeaderStore>,
    view: ChainView,
    /// The best chain, index = height (tip 3050).
    best: Vec<Header>,
    /// The old chain's headers 2801..=3000, side headers since the reorg.
    old: Vec<Header>,
}

use headway_regtest::work_of;

fn fixture() -> Fixture {
    let chain = headway_regtest::chain(3000, 1);
    let branch = headway_regtest::mine(&chain[2800], 250, 2); // 2801..=3050
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        durability: Durability::NoSync,
        ..StoreOptions::default()
    };
    let store = Arc::new(HeaderStore::open_with(dir.path(), Network::Regtest, &options).unwrap());
    let mut changes: Vec<PersistChain> = (1..chain.len())
        .step_by(2000)
        .map(|start| {
            let end = (start + 2000).min(chain.len());
            PersistChain {
                fork_height: (start - 1) as u32,
                rejoined: vec![],
                connected: chain[start..end].to_vec(),
                side: vec![],
                tip_work: work_of(&chain[..end]),
            }
        })
        .collect();
    store.apply(&changes).unwrap();
    changes = vec![PersistChain {
        fork_height: 2800,
        rejoined: vec![],
        connected: branch.clone(),
        side: vec![],
        tip_work: work_of(&chain[..=2800]) + work_of(&branch),
    }];
    store.apply(&changes).unwrap();
    let best: Vec<Header> = chain[..=2800].iter().chain(&branch).copied().collect();
    Fixture {
        _dir: dir,
        view: ChainView::new(store.clone()),
        store,
        best,
        old: chain[2801..].to_vec(),
    }
}

fn request(method: &str, target: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        target: target.into(),
        headers: vec![],
        body: vec![],
        peer: "127.0.0.1:40000".parse().unwrap(),
    }
}

impl Fixture {
    fn call(&self, method: &str, target: &str) -> HttpResponse {
        rest::handle(&self.view, &request(method, target), || {
            self.view
                .read(|r| blockchain_info_json(&self.view, r, 0, Work::from_be_bytes([0; 32])))
        })
    }

    fn get(&self, target: &str) -> HttpResponse {
        self.call("GET", target)
    }

    fn hash(&self, height: usize) -> String {
        self.best[height].block_hash().to_string()
    }

    /// The best chain's headers `from..=to` as `headway-mio export` writes them: read back
    /// from the store, 80 bytes each.
    fn export(&self, from: u32, to: u32) -> Vec<u8> {
        let mut out = Vec::new();
        self.store
            .for_each_best(from, to, |_, header| {
                out.extend_from_slice(&serialize(header));
                Ok(())
            })
            .unwrap();
        out
    }
}

fn content_type(response: &HttpResponse) -> Option<&str> {
    response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.as_str())
}

#[track_caller]
fn assert_answer(response: &HttpResponse, status: u16, kind: &str, body: &[u8]) {
    assert_eq!(
        response.status,
        status,
        "body {:?}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(content_type(response), Some(kind));
    assert!(
        response.body == body,
        "body {:?}, expected {:?}",
        String::from_utf8_lossy(&response.body),
        String::from_utf8_lossy(body)
    );
}

#[track_caller]
fn assert_rest_error(response: &HttpResponse, status: u16, message: &str) {
    assert_answer(
        response,
        status,
        "text/plain",
        format!("{message}\r\n").as_bytes(),
    );
}

#[test]
fn headers_bin_and_hex_are_the_stored_headers() {
    let f = fixture();
    let genesis = f.hash(0);
    // The default count is 5.
    let bin = f.get(&format!("/rest/headers/{genesis}.bin"));
    assert_answer(&bin, 200, "application/octet-stream", &f.export(0, 4));
    let hex = f.get(&format!("/rest/headers/{genesis}.hex"));
    let text = format!("{}\n", hex_of(&f.export(0, 4)));
    assert_answer(&hex, 200, "text/plain", text.as_bytes());

    // 2000, Core's limit, across the fork into the new branch.
    let from = f.hash(1000);
    let bin = f.get(&format!("/rest/headers/{from}.bin?count=2000"));
    assert_eq!(bin.body.len(), 2000 * 80);
    assert_answer(&bin, 200, "application/octet-stream", &f.export(1000, 2999));
    // Near the tip: only what there is.
    let near = f.hash(3040);
    let bin = f.get(&format!("/rest/headers/{near}.bin?count=100"));
    assert_answer(&bin, 200, "application/octet-stream", &f.export(3040, 3050));
    // The deprecated form /rest/headers/<count>/<hash>.
    let bin = f.get(&format!("/rest/headers/7/{from}.bin"));
    assert_answer(&bin, 200, "application/octet-stream", &f.export(1000, 1006));
    let hex = f.get(&format!("/rest/headers/2000/{from}.hex"));
    let text = format!("{}\n", hex_of(&f.export(1000, 2999)));
    assert_answer(&hex, 200, "text/plain", text.as_bytes());
    // Upper-case hex digits are a hash too (Core's IsHex).
    let upper = from.to_uppercase();
    let bin = f.get(&format!("/rest/headers/{upper}.bin?count=2"));
    assert_answer(&bin, 200, "application/octet-stream", &f.export(1000, 1001));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn headers_json_is_an_array_of_cores_header_objects() {
    let f = fixture();
    let from = f.hash(3045);
    let response = f.get(&format!("/rest/headers/{from}.json?count=10"));
    assert_eq!(response.status, 200);
    assert_eq!(content_type(&response), Some("application/json"));
    let params = Network::Regtest.params();
    let infos = f
        .view
        .read(|r| {
            (3045..=3050)
                .map(|h| r.header_info_at(h).map(|i| i.unwrap()))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    let expected: Vec<Value> = infos.iter().map(|i| header_json(i, &params)).collect();
    let text = format!("{}\n", serde_json::to_string(&expected).unwrap());
    assert_eq!(String::from_utf8(response.body.clone()).unwrap(), text);

    let parsed: Value = serde_json::from_slice(&response.body).unwrap();
    let objects = parsed.as_array().unwrap();
    assert_eq!(objects.len(), 6);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let order = [
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
        "previousblockhash",
        "nextblockhash",
    ];
    assert_eq!(keys(&objects[0]), order);
    assert_eq!(keys(&objects[5]), order[..15]);
    assert_eq!(objects[0]["hash"], f.hash(3045));
    assert_eq!(objects[0]["confirmations"], 6);
    assert_eq!(objects[0]["height"], 3045);
    assert_eq!(objects[0]["nextblockhash"], f.hash(3046));
    assert_eq!(objects[5]["confirmations"], 1);
    // The chain work of the new branch, summed from the checkpoints: (height + 1) * 2.
    assert_eq!(objects[5]["chainwork"], format!("{:064x}", 3051 * 2));
    assert!(text.contains(r#""difficulty":4.656542373906925e-10,"#));
}

#[test]
fn header_counts_follow_cores_range_and_parsing() {
    let f = fixture();
    let from = f.hash(10);
    let bad = "Header count is invalid or out of acceptable range (1-2000): ";
    for (query, raw) in [
        ("?count=2001", "2001"),
        ("?count=0", "0"),
        ("?count=-1", "-1"),
        // '+' is a space in a query value, '%2B' a plus sign.
        ("?count=+5", " 5"),
        ("?count=%2B5", "+5"),
        ("?count=abc", "abc"),
        ("?count=", ""),
        ("?count=1+1", "1 1"),
        ("?count=99999999999999999999999", "99999999999999999999999"),
    ] {
        let response = f.get(&format!("/rest/headers/{from}.bin{query}"));
        assert_rest_error(&response, 400, &format!("{bad}{raw}"));
    }
    let response = f.get(&format!("/rest/headers/2001/{from}.json"));
    assert_rest_error(&response, 400, &format!("{bad}2001"));
    let response = f.get(&format!("/rest/headers//{from}.json"));
    assert_rest_error(&response, 400, bad);

    // The first `count` wins, other parameters are ignored, escapes are decoded, leading
    // zeros are digits, the fragment is not the query.
    for (query, count) in [
        ("?count=3&x=1", 3),
        ("?x=1&count=3", 3),
        ("?count=3&count=9", 3),
        ("?count=%33", 3),
        ("?count=003", 3),
        ("?count=3#count=9", 3),
        // libevent drops the whole query when one piece lacks '=' or a key: the default 5.
        ("?count", 5),
        ("?flag&count=3", 5),
        ("?=1&count=3", 5),
        ("?count=3&&x=1", 5),
        ("?&count=3", 5),
        ("?count=3&", 3),
        ("?", 5),
    ] {
        let response = f.get(&format!("/rest/headers/{from}.bin{query}"));
        assert_answer(
            &response,
            200,
            "application/octet-stream",
            &f.export(10, 9 + count),
        );
    }
    // Characters RFC 3986 does not allow fail libevent's URI parser, and Core says so.
    for query in [
        "?count=3%",
        "?count=3%zz",
        "?count=\"3\"",
        "?count=3 ",
        "?count=[3]",
    ] {
        let response = f.get(&format!("/rest/headers/{from}.bin{query}"));
        assert_rest_error(
            &response,
            400,
            "URI parsing failed, it likely contained RFC 3986 invalid characters",
        );
    }
}

#[test]
fn unknown_and_side_chain_hashes_give_empty_lists() {
    let f = fixture();
    let side = f.old[100].block_hash(); // old height 2901, off the best chain since the reorg
    let unknown = BlockHash::from_byte_array([0x5a; 32]);
    for hash in [side, unknown] {
        let bin = f.get(&format!("/rest/headers/{hash}.bin"));
        assert_answer(&bin, 200, "application/octet-stream", b"");
        let hex = f.get(&format!("/rest/headers/{hash}.hex?count=2000"));
        assert_answer(&hex, 200, "text/plain", b"\n");
        let json = f.get(&format!("/rest/headers/3/{hash}.json"));
        assert_answer(&json, 200, "application/json", b"[]\n");
    }
    // The fork point is on both chains: its run continues on the new branch.
    let fork = f.hash(2800);
    let bin = f.get(&format!("/rest/headers/{fork}.bin?count=3"));
    assert_answer(&bin, 200, "application/octet-stream", &f.export(2800, 2802));
    assert_ne!(f.best[2801], f.old[0]);
}

#[test]
fn header_paths_hashes_and_formats_fail_as_cores_do() {
    let f = fixture();
    let hash = f.hash(5);
    assert_rest_error(&f.get("/rest/headers/xyz.json"), 400, "Invalid hash: xyz");
    let short = &hash[1..];
    assert_rest_error(
        &f.get(&format!("/rest/headers/{short}.bin")),
        400,
        &format!("Invalid hash: {short}"),
    );
    // An unknown suffix stays part of the hash (Core's ParseDataFormat), so the hash is bad.
    assert_rest_error(
        &f.get(&format!("/rest/headers/{hash}.xml")),
        400,
        &format!("Invalid hash: {hash}.xml"),
    );
    // No suffix, or an empty one: a valid hash, no format.
    assert_answer(
        &f.get(&format!("/rest/headers/{hash}")),
        404,
        "text/plain",
        FORMATS.as_bytes(),
    );
    assert_answer(
        &f.get(&format!("/rest/headers/{hash}.")),
        404,
        "text/plain",
        FORMATS.as_bytes(),
    );
    // The format is looked for before the query only: here the count is "4.json".
    assert_rest_error(
        &f.get(&format!("/rest/headers/{hash}?count=4.json")),
        400,
        "Header count is invalid or out of acceptable range (1-2000): 4.json",
    );
    let uri_format = "Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>";
    assert_rest_error(
        &f.get(&format!("/rest/headers/1/2/{hash}.json")),
        400,
        uri_format,
    );
    assert_rest_error(
        &f.get(&format!("/rest/headers/{hash}/.json")),
        400,
        &format!("Header count is invalid or out of acceptable range (1-2000): {hash}"),
    );
}

#[test]
fn blockhashbyheight_answers_and_errors() {
    let f = fixture();
    let hash = f.best[2900].block_hash();
    let bin = f.get("/rest/blockhashbyheight/2900.bin");
    assert_answer(&bin, 200, "application/octet-stream", &hash.to_byte_array());
    let hex = f.get("/rest/blockhashbyheight/2900.hex");
    assert_answer(&hex, 200, "text/plain", format!("{hash}\n").as_bytes());
    let json = f.get("/rest/blockhashbyheight/2900.json");
    let body = format!("{{\"blockhash\":\"{hash}\"}}\n");
    assert_answer(&json, 200, "application/json", body.as_bytes());
    // The old chain's header at 2900 is not the answer any more.
    assert_ne!(hash, f.old[99].block_hash());
    let genesis = f.get("/rest/blockhashbyheight/-0.hex");
    assert_answer(
        &genesis,
        200,
        "text/plain",
        format!("{}\n", f.hash(0)).as_bytes(),
    );
    let tip = f.get("/rest/blockhashbyheight/3050.hex?x=1");
    assert_answer(
        &tip,
        200,
        "text/plain",
        format!("{}\n", f.hash(3050)).as_bytes(),
    );

    assert_rest_error(
        &f.get("/rest/blockhashbyheight/3051.json"),
        404,
        "Block height out of range",
    );
    assert_rest_error(
        &f.get("/rest/blockhashbyheight/2147483647.bin"),
        404,
        "Block height out of range",
    );
    for (path, shown) in [
        ("-1.json", "-1"),
        ("+1.hex", "+1"),
        ("abc.bin", "abc"),
        ("2147483648.json", "2147483648"),
        ("1 2.json", "12"),
        ("1<b>\"2\".json", "1b2"),
        (".json", ""),
        // An unknown suffix stays part of the height.
        ("12.xml", "12.xml"),
    ] {
        let response = f.get(&format!("/rest/blockhashbyheight/{path}"));
        assert_rest_error(&response, 400, &format!("Invalid height: {shown}"));
    }
    assert_answer(
        &f.get("/rest/blockhashbyheight/12"),
        404,
        "text/plain",
        FORMATS.as_bytes(),
    );
}

#[test]
fn chaininfo_is_getblockchaininfo_as_json() {
    let f = fixture();
    let expected = f
        .view
        .read(|r| blockchain_info_json(&f.view, r, 0, Work::from_be_bytes([0; 32])))
        .unwrap();
    let text = format!("{}\n", serde_json::to_string(&expected).unwrap());
    assert_answer(
        &f.get("/rest/chaininfo.json"),
        200,
        "application/json",
        text.as_bytes(),
    );
    // Core registers the prefix "/rest/chaininfo": what follows it is not checked.
    assert_answer(
        &f.get("/rest/chaininfoXYZ.json"),
        200,
        "application/json",
        text.as_bytes(),
    );
    assert_answer(
        &f.get("/rest/chaininfo.json?a=b"),
        200,
        "application/json",
        text.as_bytes(),
    );
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["blocks"], 3050);
    assert_eq!(parsed["bestblockhash"], f.hash(3050));
    for other in [
        "/rest/chaininfo",
        "/rest/chaininfo.bin",
        "/rest/chaininfo.hex",
        "/rest/chaininfo.txt",
    ] {
        assert_rest_error(
            &f.get(other),
            404,
            "output format not found (available: json)",
        );
    }
    // Built only when asked for.
    let response = rest::handle(&f.view, &request("GET", "/rest/chaininfo.bin"), || {
        panic!("chain info built for a non-JSON request")
    });
    assert_eq!(response.status, 404);
}

#[test]
fn other_paths_are_not_found_and_unknown_methods_refused() {
    let f = fixture();
    let hash = f.hash(1);
    for path in [
        "/rest",
        "/rest/",
        "/rest/tx/00.json",
        &format!("/rest/block/{hash}.json"),
        &format!("/rest/block/notxdetails/{hash}.json"),
        "/rest/mempool/info.json",
        "/rest/getutxos/checkmempool.json",
        "/rest/deploymentinfo.json",
        "/rest/Headers/abc.json",
        "/rest/headers",
        "/",
    ] {
        let response = f.get(path);
        assert_eq!((response.status, response.body.len()), (404, 0), "{path}");
        assert_eq!(content_type(&response), None, "{path}");
    }
    // Core's handlers run for every method it knows, alike.
    let target = format!("/rest/headers/{hash}.bin?count=3");
    let get = f.get(&target);
    for method in ["POST", "PUT", "HEAD"] {
        assert_eq!(f.call(method, &target), get, "{method}");
    }
    for method in ["DELETE", "OPTIONS", "PATCH", "get", "TRACE"] {
        let response = f.call(method, &target);
        assert_eq!((response.status, response.body.len()), (405, 0), "{method}");
    }
}
