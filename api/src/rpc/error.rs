//! JSON-RPC errors: the codes and messages of Bitcoin Core's `rpc/protocol.h`, and the HTTP
//! status each one is answered with outside JSON-RPC 2.0 (Core's `JSONErrorReply`).

use serde_json::{json, Value};

/// Core's `RPC_INVALID_REQUEST`: the request object is malformed (HTTP 400).
pub const RPC_INVALID_REQUEST: i64 = -32600;
/// Core's `RPC_METHOD_NOT_FOUND` (HTTP 404).
pub const RPC_METHOD_NOT_FOUND: i64 = -32601;
/// Core's `RPC_INVALID_PARAMS` (unused by Core's own methods, kept for completeness).
pub const RPC_INVALID_PARAMS: i64 = -32602;
/// Core's `RPC_INTERNAL_ERROR`.
pub const RPC_INTERNAL_ERROR: i64 = -32603;
/// Core's `RPC_PARSE_ERROR`: the body is not JSON.
pub const RPC_PARSE_ERROR: i64 = -32700;
/// Core's `RPC_MISC_ERROR`: a method failed (including a wrong argument count, whose message
/// is the method's help text).
pub const RPC_MISC_ERROR: i64 = -1;
/// Core's `RPC_TYPE_ERROR`: an argument of the wrong JSON type.
pub const RPC_TYPE_ERROR: i64 = -3;
/// Core's `RPC_INVALID_ADDRESS_OR_KEY`: an unknown block hash.
pub const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
/// Core's `RPC_INVALID_PARAMETER`.
pub const RPC_INVALID_PARAMETER: i64 = -8;
/// Core's `RPC_DATABASE_ERROR`: the store failed.
pub const RPC_DATABASE_ERROR: i64 = -20;
/// Core's `RPC_CLIENT_NODE_ALREADY_ADDED`.
pub const RPC_CLIENT_NODE_ALREADY_ADDED: i64 = -23;
/// Core's `RPC_CLIENT_NODE_NOT_ADDED`.
pub const RPC_CLIENT_NODE_NOT_ADDED: i64 = -24;
/// Core's `RPC_CLIENT_NODE_NOT_CONNECTED`.
pub const RPC_CLIENT_NODE_NOT_CONNECTED: i64 = -29;
/// Core's `RPC_CLIENT_INVALID_IP_OR_SUBNET`.
pub const RPC_CLIENT_INVALID_IP_OR_SUBNET: i64 = -30;

/// A JSON-RPC error object: Core's `JSONRPCError(code, message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// One of the codes above.
    pub code: i64,
    /// The message, as Core words it where Core has the same error.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// `RPC_INVALID_PARAMETER` with `message`.
    pub fn invalid_parameter(message: impl Into<String>) -> RpcError {
        RpcError::new(RPC_INVALID_PARAMETER, message)
    }

    /// `RPC_MISC_ERROR` with `message`.
    pub fn misc(message: impl Into<String>) -> RpcError {
        RpcError::new(RPC_MISC_ERROR, message)
    }

    /// The error object as JSON: `{"code": .., "message": ..}`.
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }

    /// The HTTP status of a JSON-RPC 1.x reply carrying this error (Core's `JSONErrorReply`):
    /// 400 for an invalid request, 404 for an unknown method, 500 for everything else.
    pub fn http_status(&self) -> u16 {
        match self.code {
            RPC_INVALID_REQUEST => 400,
            RPC_METHOD_NOT_FOUND => 404,
            _ => 500,
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}
