//! Bitcoin Core's JSON-RPC over HTTP (`httprpc.cpp`'s `HTTPReq_JSONRPC`): POST only, one
//! request or a batch, JSON-RPC 1.0 errors as HTTP errors and 2.0 errors inside HTTP 200,
//! notifications answered with 204. Authentication happens before this (see
//! [`crate::server`]); the methods are in [`methods`] and the modules it names.

pub mod args;
pub mod blockchain;
pub mod control;
pub mod envelope;
pub mod error;
pub mod methods;
pub mod network;
pub mod wait;

use std::sync::Arc;

use headway_core::Params;
use serde_json::Value;
use tracing::debug;

use crate::chain_view::{ChainError, ChainView};
use crate::http::{HttpRequest, HttpResponse};
use crate::node_link::NodeState;
use args::Args;
use envelope::{parse_call, reply, JsonRpcVersion, RpcCall};
use error::{RpcError, RPC_DATABASE_ERROR, RPC_METHOD_NOT_FOUND, RPC_PARSE_ERROR};

/// What every method may use.
pub struct RpcContext {
    /// The stored chain.
    pub chain: Arc<ChainView>,
    /// The running node.
    pub node: Arc<NodeState>,
    /// The network's parameters (with the minimum chain work the node runs with).
    pub params: Params,
    /// Our user agent, as sent in version messages.
    pub user_agent: String,
    /// The services our version messages announce (`getnetworkinfo`'s `localservices`).
    pub local_services: headway_core::bitcoin::p2p::ServiceFlags,
    /// The SOCKS5 proxy outbound connections go through, if any (`getnetworkinfo`'s
    /// per-network `proxy`).
    pub proxy: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for RpcContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcContext")
            .field("network", &self.params.network)
            .finish()
    }
}

impl From<ChainError> for RpcError {
    fn from(error: ChainError) -> RpcError {
        RpcError::new(RPC_DATABASE_ERROR, error.to_string())
    }
}

impl RpcContext {
    /// Runs one parsed call: finds the method, checks its arguments, runs it.
    pub fn execute(&self, call: &RpcCall) -> Result<Value, RpcError> {
        let Some(method) = methods::find(&call.method) else {
            return Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found"));
        };
        let args = Args::check(&call.params, method.args, || method.help())?;
        (method.run)(self, &args)
    }

    /// Answers one authenticated HTTP request to the JSON-RPC endpoint.
    pub fn handle_http(&self, request: &HttpRequest) -> HttpResponse {
        if request.method != "POST" {
            return HttpResponse::new(405, "JSONRPC server handles only POST requests");
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(_) => {
                let error = RpcError::new(RPC_PARSE_ERROR, "Parse error");
                return error_reply(error, Some(Value::Null), JsonRpcVersion::V1Legacy);
            }
        };
        match body {
            Value::Object(_) => self.single(&body),
            Value::Array(calls) => self.batch(&calls),
            _ => error_reply(
                RpcError::new(RPC_PARSE_ERROR, "Top-level object parse error"),
                Some(Value::Null),
                JsonRpcVersion::V1Legacy,
            ),
        }
    }

    fn single(&self, body: &Value) -> HttpResponse {
        let call = match parse_call(body) {
            Ok(call) => call,
            Err((error, head)) => return error_reply(error, head.id, head.version),
        };
        debug!(method = %call.method, "rpc call");
        let result = self.execute(&call);
        if call.is_notification() {
            // Core executes notifications but sends nothing back.
            return HttpResponse::new(204, Vec::new());
        }
        match (result, call.version) {
            // 1.0: a failed call is an HTTP error as well.
            (Err(error), JsonRpcVersion::V1Legacy) => error_reply(error, call.id, call.version),
            (result, version) => json_response(200, &reply(result, call.id, version)),
        }
    }

    /// Core's batch rule: every entry answered inside one HTTP 200, notifications left out,
    /// and 204 when only notifications were sent (an empty batch gets `[]`).
    fn batch(&self, calls: &[Value]) -> HttpResponse {
        let mut replies = Vec::new();
        for value in calls {
            match parse_call(value) {
                Ok(call) => {
                    debug!(method = %call.method, "rpc call in batch");
                    let result = self.execute(&call);
                    if !call.is_notification() {
                        replies.push(reply(result, call.id, call.version));
                    }
                }
                Err((error, head)) => {
                    if head.id.is_some() {
                        replies.push(reply(Err(error), head.id, head.version));
                    }
                }
            }
        }
        if replies.is_empty() && !calls.is_empty() {
            return HttpResponse::new(204, Vec::new());
        }
        json_response(200, &Value::Array(replies))
    }
}

/// Core's `JSONErrorReply`: the error object in a reply, with the status its code maps to.
fn error_reply(error: RpcError, id: Option<Value>, version: JsonRpcVersion) -> HttpResponse {
    let status = error.http_status();
    json_response(status, &reply(Err(error), id, version))
}

/// A JSON body, written as Core writes it (`write() + "\n"`).
pub fn json_response(status: u16, value: &Value) -> HttpResponse {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    HttpResponse::with_type(status, "application/json", body)
}
