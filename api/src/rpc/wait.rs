//! The long-poll methods `waitfornewblock`, `waitforblock` and `waitforblockheight`, as Core's
//! `rpc/blockchain.cpp`: each waits on the durably stored tip (see
//! [`crate::node_link::NodeState`]) and returns `{hash, height}` of the tip when its condition
//! holds, when its timeout (milliseconds, 0 for none) passes, or when the node stops.

use std::time::Duration;

use serde_json::{json, Value};

use super::args::Args;
use super::error::RpcError;
use super::RpcContext;
use crate::format::hash_hex;
use crate::node_link::BlockRef;

/// The timeout argument at `i`: Core's "Negative timeout" (-1) below zero; 0 or absent
/// waits without limit.
fn timeout(args: &Args, i: usize) -> Result<Option<Duration>, RpcError> {
    match args.int(i)?.unwrap_or(0) {
        t if t < 0 => Err(RpcError::misc("Negative timeout")),
        0 => Ok(None),
        t => Ok(Some(Duration::from_millis(t.unsigned_abs()))),
    }
}

fn block_json(tip: BlockRef) -> Value {
    json!({ "hash": hash_hex(&tip.hash), "height": tip.height })
}

/// Core's `waitfornewblock`: until the tip differs from `current_tip` (default: the tip now).
pub fn waitfornewblock(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let timeout = timeout(args, 0)?;
    let from = match args.hash(1, "current_tip")? {
        Some(hash) => hash,
        None => ctx.node.tip().hash,
    };
    Ok(block_json(
        ctx.node.wait_for_tip(timeout, |t| t.hash != from),
    ))
}

/// Core's `waitforblock`: until the tip is `blockhash`.
pub fn waitforblock(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let Some(want) = args.hash(0, "blockhash")? else {
        return Err(RpcError::misc("blockhash is required"));
    };
    let timeout = timeout(args, 1)?;
    Ok(block_json(
        ctx.node.wait_for_tip(timeout, |t| t.hash == want),
    ))
}

/// Core's `waitforblockheight`: until the tip is at `height` or above.
pub fn waitforblockheight(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let height = args.int(0)?.unwrap_or(0);
    let timeout = timeout(args, 1)?;
    Ok(block_json(
        ctx.node
            .wait_for_tip(timeout, |t| i64::from(t.height) >= height),
    ))
}
