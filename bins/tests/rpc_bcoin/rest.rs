//! REST against the store (headway-mio, `--rest`, a chain longer than one answer holds): 2000
//! headers from genesis in `.bin` are the bytes `export` reads from the store of the running
//! node (the deprecated `/<count>/<hash>` form too), `.hex` their hex and a newline, `.json`
//! objects whose hashes are bcoin's and which are Core's `getblockheader` objects;
//! `blockhashbyheight` is bcoin's `getblockhash` in each format, and 404 past the tip;
//! `chaininfo.json` is the RPC's `getblockchaininfo` but for the clock-dependent progress.

use bitcoin::hex::DisplayHex;
use serde_json::json;

use crate::core_answers::{assert_header, core_header_from_bcoin, snapshot};
use crate::pair::{Login, Pair, EXIT_WAIT};
use crate::support::headway::{inspect, HEADWAY_MIO};
use crate::support::http::get;
use crate::support::load::REGTEST_GENESIS;

/// Blocks for the REST test: more than one `/rest/headers/` answer holds.
const REST_CHAIN_LEN: u64 = 2500;
/// Core's `MAX_REST_HEADERS_RESULTS`.
const REST_COUNT: u64 = 2000;

pub fn serves_the_store() {
    let mut pair = Pair::start(HEADWAY_MIO, REST_CHAIN_LEN, Login::UserPassword);
    let addr = pair.addr;

    let last = (REST_COUNT - 1).to_string();
    let export = inspect(
        HEADWAY_MIO,
        &[
            "export",
            "--datadir",
            pair.datadir(),
            "--network",
            "regtest",
            "--to",
            &last,
        ],
    );
    assert!(
        export.status.success(),
        "export: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert_eq!(export.stdout.len() as u64, REST_COUNT * 80);

    let bin = get(
        addr,
        &format!("/rest/headers/{REGTEST_GENESIS}.bin?count={REST_COUNT}"),
    );
    assert_eq!(bin.status, 200, "{}", bin.text());
    assert_eq!(bin.header("Content-Type"), Some("application/octet-stream"));
    assert!(
        bin.body == export.stdout,
        "REST .bin is not what export read"
    );
    let deprecated = get(
        addr,
        &format!("/rest/headers/{REST_COUNT}/{REGTEST_GENESIS}.bin"),
    );
    assert!(deprecated.body == export.stdout, "the /<count>/<hash> form");

    let hex = get(
        addr,
        &format!("/rest/headers/{REGTEST_GENESIS}.hex?count={REST_COUNT}"),
    );
    assert_eq!(hex.status, 200);
    assert_eq!(hex.header("Content-Type"), Some("text/plain"));
    assert_eq!(
        hex.text(),
        format!("{}\n", export.stdout.to_lower_hex_string())
    );

    let json = get(
        addr,
        &format!("/rest/headers/{REGTEST_GENESIS}.json?count={REST_COUNT}"),
    );
    assert_eq!(json.status, 200);
    assert_eq!(json.header("Content-Type"), Some("application/json"));
    let headers = json.json();
    let headers = headers.as_array().expect("an array");
    assert_eq!(headers.len() as u64, REST_COUNT);
    for (height, header) in headers.iter().enumerate() {
        let height = height as u64;
        assert_eq!(header["height"], json!(height));
        assert_eq!(
            header["hash"],
            json!(pair.bcoin_hash(height)),
            "REST .json hash at {height}"
        );
    }
    // Whole objects as bcoin (translated to Core) and the RPC give them.
    for height in [0, 1000, REST_COUNT - 1] {
        let hash = pair.bcoin_hash(height);
        let theirs = snapshot(&pair.bcoin, &hash);
        let what = format!("REST header {height}");
        assert_header(
            &headers[height as usize],
            &core_header_from_bcoin(&theirs.json, &theirs.raw),
            &what,
        );
        assert_eq!(
            headers[height as usize],
            pair.hw("getblockheader", json!([hash])),
            "{what} vs getblockheader"
        );
    }

    let tip_height = pair.bcoin.height();
    for height in [0, 1, 1000, tip_height] {
        let hash = pair.bcoin_hash(height);
        let hex = get(addr, &format!("/rest/blockhashbyheight/{height}.hex"));
        assert_eq!(hex.status, 200, "{}", hex.text());
        assert_eq!(hex.text(), format!("{hash}\n"));
        let json = get(addr, &format!("/rest/blockhashbyheight/{height}.json"));
        assert_eq!(json.json(), json!({ "blockhash": hash }));
        let bin = get(addr, &format!("/rest/blockhashbyheight/{height}.bin"));
        let mut reversed = bin.body.clone();
        reversed.reverse();
        assert_eq!(reversed.to_lower_hex_string(), hash, "internal byte order");
    }
    let beyond = get(
        addr,
        &format!("/rest/blockhashbyheight/{}.hex", tip_height + 1),
    );
    assert_eq!(beyond.status, 404);
    assert_eq!(beyond.text(), "Block height out of range\r\n");

    let rest_info = get(addr, "/rest/chaininfo.json");
    assert_eq!(rest_info.status, 200);
    let mut rest_info = rest_info.json();
    let mut rpc_info = pair.hw("getblockchaininfo", json!([]));
    for info in [&mut rest_info, &mut rpc_info] {
        let progress = info
            .as_object_mut()
            .expect("an object")
            .remove("verificationprogress")
            .expect("verificationprogress");
        assert!(progress.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p)));
    }
    assert_eq!(rest_info, rpc_info, "chaininfo.json vs getblockchaininfo");
    assert_eq!(rest_info["blocks"], json!(tip_height));

    assert_eq!(pair.node.terminate(EXIT_WAIT).code(), Some(0));
}
