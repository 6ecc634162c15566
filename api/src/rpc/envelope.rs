//! The JSON-RPC envelope as Bitcoin Core reads and writes it (`rpc/request.cpp`,
//! `httprpc.cpp`): request objects of JSON-RPC 1.0 and 2.0, notifications, batches, and the
//! reply objects of each version. What a method does is elsewhere ([`super::methods`]).

use serde_json::{Map, Value};

use super::error::{RpcError, RPC_INVALID_REQUEST};

/// Which JSON-RPC a request speaks (Core's `JSONRPCVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonRpcVersion {
    /// No `jsonrpc` field, or `"1.0"`: errors become HTTP errors, replies carry both
    /// `result` and `error`.
    V1Legacy,
    /// `"jsonrpc": "2.0"`: errors are answered with HTTP 200, replies carry one of the two,
    /// and a request without `id` is a notification that gets no reply.
    V2,
}

/// One parsed request (Core's `JSONRPCRequest::parse`).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcCall {
    /// The request id; `None` only for a 2.0 notification (a 1.0 request without one has id
    /// null, as in Core).
    pub id: Option<Value>,
    /// The method name.
    pub method: String,
    /// Positional (array) or named (object) parameters; absent or null is an empty array.
    pub params: Value,
    /// The protocol version.
    pub version: JsonRpcVersion,
}

impl RpcCall {
    /// Whether no reply is wanted (a 2.0 request without `id`).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// What is known of a request that failed to parse: enough to address the error reply.
#[derive(Debug, Clone, PartialEq)]
pub struct CallHead {
    /// The id, as far as it could be read.
    pub id: Option<Value>,
    /// The version, as far as it could be read.
    pub version: JsonRpcVersion,
}

/// Parses one request object, as Core's `JSONRPCRequest::parse` checks it, in its order.
pub fn parse_call(value: &Value) -> Result<RpcCall, (RpcError, CallHead)> {
    let mut head = CallHead {
        id: Some(Value::Null),
        version: JsonRpcVersion::V1Legacy,
    };
    let fail = |message: &str, head: &CallHead| {
        Err((RpcError::new(RPC_INVALID_REQUEST, message), head.clone()))
    };
    let Some(object) = value.as_object() else {
        return fail("Invalid Request object", &head);
    };
    match object.get("jsonrpc") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == "1.0" => {}
        Some(Value::String(v)) if v == "2.0" => head.version = JsonRpcVersion::V2,
        Some(Value::String(_)) => return fail("JSON-RPC version not supported", &head),
        Some(_) => return fail("jsonrpc field must be a string", &head),
    }
    // A 2.0 request without an id is a notification; in 1.0 the id is null then.
    head.id = match (object.get("id"), head.version) {
        (Some(id), _) => Some(id.clone()),
        (None, JsonRpcVersion::V2) => None,
        (None, JsonRpcVersion::V1Legacy) => Some(Value::Null),
    };
    let method = match object.get("method") {
        None | Some(Value::Null) => return fail("Missing method", &head),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return fail("Method must be a string", &head),
    };
    let params = match object.get("params") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(p @ (Value::Array(_) | Value::Object(_))) => p.clone(),
        Some(_) => return fail("Params must be an array or object", &head),
    };
    Ok(RpcCall {
        id: head.id,
        method,
        params,
        version: head.version,
    })
}

/// A reply object (Core's `JSONRPCReplyObj`): 2.0 adds `"jsonrpc": "2.0"` and carries only
/// one of `result` and `error`; 1.0 carries both, one of them null. The id is left out only
/// when there is none (a notification's error in a batch is never sent at all).
pub fn reply(result: Result<Value, RpcError>, id: Option<Value>, version: JsonRpcVersion) -> Value {
    let mut object = Map::new();
    if version == JsonRpcVersion::V2 {
        object.insert("jsonrpc".into(), Value::String("2.0".into()));
    }
    match result {
        Ok(result) => {
            object.insert("result".into(), result);
            if version == JsonRpcVersion::V1Legacy {
                object.insert("error".into(), Value::Null);
            }
        }
        Err(error) => {
            if version == JsonRpcVersion::V1Legacy {
                object.insert("result".into(), Value::Null);
            }
            object.insert("error".into(), error.to_json());
        }
    }
    if let Some(id) = id {
        object.insert("id".into(), id);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_ids_and_params_are_read_as_core_reads_them() {
        let v1 = parse_call(&json!({"method": "getblockcount", "id": 3})).unwrap();
        assert_eq!(v1.version, JsonRpcVersion::V1Legacy);
        assert_eq!((v1.id, v1.params), (Some(json!(3)), json!([])));
        let old = parse_call(&json!({"jsonrpc": "1.0", "method": "x"})).unwrap();
        assert_eq!(
            old.id,
            Some(Value::Null),
            "a 1.0 request without id has id null"
        );
        let note = parse_call(&json!({"jsonrpc": "2.0", "method": "x"})).unwrap();
        assert!(note.is_notification());
        let named = parse_call(&json!({"method": "x", "params": {"a": 1}})).unwrap();
        assert_eq!(named.params, json!({"a": 1}));
    }

    #[test]
    fn malformed_requests_get_cores_messages() {
        let cases = [
            (json!([1]), "Invalid Request object"),
            (
                json!({"jsonrpc": "3.0", "method": "x"}),
                "JSON-RPC version not supported",
            ),
            (
                json!({"jsonrpc": 2, "method": "x"}),
                "jsonrpc field must be a string",
            ),
            (json!({"id": 1}), "Missing method"),
            (json!({"method": 5}), "Method must be a string"),
            (
                json!({"method": "x", "params": 5}),
                "Params must be an array or object",
            ),
        ];
        for (request, message) in cases {
            let (error, _) = parse_call(&request).unwrap_err();
            assert_eq!(error.code, RPC_INVALID_REQUEST);
            assert_eq!(error.message, message, "{request}");
        }
        let (_, head) = parse_call(&json!({"jsonrpc": "2.0", "id": 9, "method": 1})).unwrap_err();
        assert_eq!(
            (head.id, head.version),
            (Some(json!(9)), JsonRpcVersion::V2)
        );
    }

    #[test]
    fn replies_differ_by_version() {
        let ok = reply(Ok(json!(5)), Some(json!(1)), JsonRpcVersion::V1Legacy);
        assert_eq!(ok.to_string(), r#"{"result":5,"error":null,"id":1}"#);
        let err = reply(
            Err(RpcError::misc("boom")),
            Some(json!("a")),
            JsonRpcVersion::V2,
        );
        assert_eq!(
            err.to_string(),
            r#"{"jsonrpc":"2.0","error":{"code":-1,"message":"boom"},"id":"a"}"#
        );
    }
}
