//! The chain methods: `getblockheader`, `getblockhash`, `getbestblockhash`, `getblockcount`,
//! `getblockchaininfo`, `getchaintips`, `getdifficulty`, each as Core's `rpc/blockchain.cpp`
//! answers it, read from one store snapshot per call.

use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::consensus::serialize;
use bitcoin::hex::DisplayHex;
use serde_json::Value;

use super::args::Args;
use super::error::{RpcError, RPC_INVALID_ADDRESS_OR_KEY};
use super::RpcContext;
use crate::chain_json::{blockchain_info_json, chain_tips_json, header_json};
use crate::format::{core_double, difficulty, hash_hex};

/// Seconds since the Unix epoch by the system clock (0 if the clock is before 1970).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Core's `getbestblockhash`.
pub fn getbestblockhash(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let tip = ctx.chain.read(|r| r.tip())?;
    Ok(Value::String(hash_hex(&tip.hash)))
}

/// Core's `getblockcount`.
pub fn getblockcount(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let tip = ctx.chain.read(|r| r.tip())?;
    Ok(Value::from(tip.height))
}

/// Core's `getblockhash`: "Block height out of range" (-8) below 0 or above the tip.
pub fn getblockhash(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let height = args.int(0)?.unwrap_or(-1);
    let out_of_range = || RpcError::invalid_parameter("Block height out of range");
    let height = u32::try_from(height).map_err(|_| out_of_range())?;
    let hash = ctx
        .chain
        .read(|r| r.hash_at(height))?
        .ok_or_else(out_of_range)?;
    Ok(Value::String(hash_hex(&hash)))
}

/// Core's `getblockheader`: the JSON object (verbose, the default) or the 80 bytes in hex;
/// "Block not found" (-5) for a hash the store does not hold.
pub fn getblockheader(ctx: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    let hash = args
        .hash(0, "hash")?
        .ok_or_else(|| RpcError::misc("blockhash is required"))?;
    let verbose = args.bool(1).unwrap_or(true);
    let info = ctx
        .chain
        .read(|r| r.header_info(&hash))?
        .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Block not found"))?;
    if verbose {
        Ok(header_json(&info, &ctx.params))
    } else {
        Ok(Value::String(serialize(&info.header).to_lower_hex_string()))
    }
}

/// Core's `getblockchaininfo`.
pub fn getblockchaininfo(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let info = ctx
        .chain
        .read(|r| blockchain_info_json(&ctx.chain, r, now_secs(), ctx.params.minimum_chain_work))?;
    Ok(info)
}

/// Core's `getchaintips`.
pub fn getchaintips(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let tips = ctx.chain.read(|r| r.tips())?;
    Ok(chain_tips_json(&tips))
}

/// Core's `getdifficulty`: the tip's difficulty.
pub fn getdifficulty(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    let bits = ctx.chain.read(|r| {
        let tip = r.tip()?;
        Ok(r.header_info_at(tip.height)?.map(|i| i.header.bits))
    })?;
    let bits = bits.ok_or_else(|| RpcError::misc("the store holds no header at its tip"))?;
    Ok(core_double(difficulty(bits)))
}
