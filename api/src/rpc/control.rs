//! The control methods `help`, `stop` and `uptime`, as Core's `rpc/server.cpp`.

use std::collections::BTreeMap;

use headway_core::Request;
use serde_json::Value;

use super::args::Args;
use super::error::RpcError;
use super::methods::{find, METHODS};
use super::RpcContext;

/// Core's `help`: with no argument, the synopsis of every listed method under its category
/// (`== Blockchain ==`), categories in name order; with one, that method's full help, or
/// "help: unknown command: X".
pub fn help(_: &RpcContext, args: &Args) -> Result<Value, RpcError> {
    if let Some(name) = args.str(0) {
        return Ok(Value::String(match find(name) {
            Some(method) => method.help(),
            None => format!("help: unknown command: {name}"),
        }));
    }
    let mut by_category: BTreeMap<&str, Vec<&super::methods::Method>> = BTreeMap::new();
    for method in METHODS.iter().filter(|m| m.category != "hidden") {
        by_category.entry(method.category).or_default().push(method);
    }
    let mut text = String::new();
    for (category, mut methods) in by_category {
        methods.sort_by_key(|m| m.name);
        if !text.is_empty() {
            text.push('\n');
        }
        let mut title = category.to_string();
        if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        text.push_str(&format!("== {title} ==\n"));
        for method in methods {
            text.push_str(&method.synopsis());
            text.push('\n');
        }
    }
    text.pop();
    Ok(Value::String(text))
}

/// Core's `stop`: asks the node to shut down and answers before it does.
pub fn stop(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    ctx.node.request(Request::Shutdown);
    Ok(Value::String("headway stopping".into()))
}

/// Core's `uptime`: whole seconds since the node started.
pub fn uptime(ctx: &RpcContext, _: &Args) -> Result<Value, RpcError> {
    Ok(Value::from(ctx.node.uptime().as_secs()))
}
