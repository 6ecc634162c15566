//! Method arguments as Bitcoin Core's `RPCHelpMan` checks them: named parameters mapped to
//! positions (`transformNamedArguments`), the argument count (a wrong one answers with the
//! method's help, code -1), and each argument's JSON type (`RPCArg::MatchesType`, code -3).
//! Values are then read with Core's conversions ([`Args::int`], [`Args::hash`], ...).

use bitcoin::BlockHash;
use serde_json::{Map, Value};

use super::error::{RpcError, RPC_INVALID_PARAMETER, RPC_MISC_ERROR, RPC_TYPE_ERROR};

/// The JSON type an argument must have (Core's `RPCArg::Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// A number.
    Num,
    /// A string.
    Str,
    /// A hex string.
    StrHex,
    /// true or false.
    Bool,
}

impl ArgType {
    /// UniValue's name of the type it expects (`uvTypeName`).
    fn json_name(self) -> &'static str {
        match self {
            ArgType::Num => "number",
            ArgType::Str | ArgType::StrHex => "string",
            ArgType::Bool => "bool",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            ArgType::Num => value.is_number(),
            ArgType::Str | ArgType::StrHex => value.is_string(),
            ArgType::Bool => value.is_boolean(),
        }
    }
}

/// One argument of a method.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// Its name (for named parameters and messages).
    pub name: &'static str,
    /// Its JSON type.
    pub kind: ArgType,
    /// Whether a call must give it.
    pub required: bool,
    /// What it means and its default, for `help`.
    pub help: &'static str,
}

/// UniValue's name of a value's type (`uvTypeName`).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
    }
}

/// A call's arguments, checked against its method's specs.
#[derive(Debug, Clone)]
pub struct Args {
    values: Vec<Value>,
}

impl Args {
    /// Checks `params` (an array or an object of named parameters) against `specs`. `usage`
    /// gives the method's help text, the message of a wrong argument count as in Core (built
    /// only then).
    pub fn check(
        params: &Value,
        specs: &[ArgSpec],
        usage: impl FnOnce() -> String,
    ) -> Result<Args, RpcError> {
        let values = match params {
            Value::Array(values) => values.clone(),
            Value::Object(named) => positional(named, specs)?,
            _ => Vec::new(),
        };
        let required = specs.iter().filter(|s| s.required).count();
        if values.len() > specs.len() || values.len() < required {
            return Err(RpcError::new(RPC_MISC_ERROR, usage()));
        }
        let mut mismatches = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let value = values.get(i).unwrap_or(&Value::Null);
            if value.is_null() && !spec.required {
                continue;
            }
            if !spec.kind.matches(value) {
                mismatches.push(format!(
                    "    \"Position {} ({})\": \"JSON value of type {} is not of expected type {}\"",
                    i + 1,
                    spec.name,
                    type_name(value),
                    spec.kind.json_name()
                ));
            }
        }
        if !mismatches.is_empty() {
            // Core writes the mismatches as a UniValue object indented by 4.
            return Err(RpcError::new(
                RPC_TYPE_ERROR,
                format!("Wrong type passed:\n{{\n{}\n}}", mismatches.join(",\n")),
            ));
        }
        Ok(Args { values })
    }

    /// Argument `i`, `None` when absent or null.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    /// Argument `i` as a 32-bit integer, as UniValue's `getInt<int>` reads it: a number with
    /// a fraction or out of range is "JSON integer out of range" (code -1).
    pub fn int(&self, i: usize) -> Result<Option<i64>, RpcError> {
        let Some(value) = self.get(i) else {
            return Ok(None);
        };
        let out_of_range = || RpcError::misc("JSON integer out of range");
        let n = value
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(out_of_range)?;
        Ok(Some(n))
    }

    /// Argument `i` as a 64-bit integer, as UniValue's `getInt<int64_t>` reads it (node ids).
    pub fn int64(&self, i: usize) -> Result<Option<i64>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| RpcError::misc("JSON integer out of range")),
        }
    }

    /// Argument `i` as a bool.
    pub fn bool(&self, i: usize) -> Option<bool> {
        self.get(i).and_then(Value::as_bool)
    }

    /// Argument `i` as a string.
    pub fn str(&self, i: usize) -> Option<&str> {
        self.get(i).and_then(Value::as_str)
    }

    /// Argument `i` as a block hash, as Core's `ParseHashV(value, name)` reads it.
    pub fn hash(&self, i: usize, name: &str) -> Result<Option<BlockHash>, RpcError> {
        match self.str(i) {
            Some(text) => parse_hash(text, name).map(Some),
            None => Ok(None),
        }
    }
}

/// Core's `ParseHashV`: 64 hex digits, else "<name> must be of length 64 (not N, for 'X')"
/// or "<name> must be hexadecimal string (not 'X')" (code -8).
pub fn parse_hash(text: &str, name: &str) -> Result<BlockHash, RpcError> {
    if let Ok(hash) = text.parse::<BlockHash>() {
        if text.len() == 64 {
            return Ok(hash);
        }
    }
    if text.len() != 64 {
        return Err(RpcError::new(
            RPC_INVALID_PARAMETER,
            format!(
                "{name} must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        ));
    }
    Err(RpcError::new(
        RPC_INVALID_PARAMETER,
        format!("{name} must be hexadecimal string (not '{text}')"),
    ))
}

/// Core's `transformNamedArguments`: each named parameter goes to its position; an unknown
/// or repeated name is refused (code -8); trailing absent ones are dropped.
fn positional(named: &Map<String, Value>, specs: &[ArgSpec]) -> Result<Vec<Value>, RpcError> {
    for name in named.keys() {
        if !specs.iter().any(|s| s.name == name) {
            return Err(RpcError::invalid_parameter(format!(
                "Unknown named parameter {name}"
            )));
        }
    }
    let mut values: Vec<Value> = specs
        .iter()
        .map(|s| named.get(s.name).cloned().unwrap_or(Value::Null))
        .collect();
    while values.last().is_some_and(Value::is_null) {
        values.pop();
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPECS: &[ArgSpec] = &[
        ArgSpec {
            name: "blockhash",
            kind: ArgType::StrHex,
            required: true,
            help: "",
        },
        ArgSpec {
            name: "verbose",
            kind: ArgType::Bool,
            required: false,
            help: "",
        },
    ];

    #[test]
    fn counts_types_and_names_are_checked_as_core_checks_them() {
        let hash = "00".repeat(32);
        assert!(Args::check(&json!([hash]), SPECS, || "usage".into()).is_ok());
        assert!(Args::check(&json!([hash, null]), SPECS, || "usage".into()).is_ok());
        let too_many = Args::check(&json!([hash, true, 1]), SPECS, || "usage".into()).unwrap_err();
        assert_eq!((too_many.code, too_many.message.as_str()), (-1, "usage"));
        let none = Args::check(&json!([]), SPECS, || "usage".into()).unwrap_err();
        assert_eq!(none.code, -1);
        let wrong = Args::check(&json!([1, "x"]), SPECS, || "usage".into()).unwrap_err();
        assert_eq!(wrong.code, -3);
        assert_eq!(
            wrong.message,
            "Wrong type passed:\n{\n    \"Position 1 (blockhash)\": \"JSON value of type number is not of expected type string\",\n    \"Position 2 (verbose)\": \"JSON value of type string is not of expected type bool\"\n}"
        );
        let named = Args::check(&json!({"verbose": false, "blockhash": hash}), SPECS, || {
            "u".into()
        })
        .unwrap();
        assert_eq!(named.bool(1), Some(false));
        let unknown =
            Args::check(&json!({"blockhash": hash, "x": 1}), SPECS, || "u".into()).unwrap_err();
        assert_eq!(
            (unknown.code, unknown.message.as_str()),
            (-8, "Unknown named parameter x")
        );
        let missing = Args::check(&json!({"verbose": true}), SPECS, || "u".into()).unwrap_err();
        assert_eq!(
            missing.code, -3,
            "a required argument given as null is a type error"
        );
    }

    #[test]
    fn hashes_and_integers_are_read_as_core_reads_them() {
        let short = parse_hash("abc", "hash").unwrap_err();
        assert_eq!(
            short.message,
            "hash must be of length 64 (not 3, for 'abc')"
        );
        let bad = parse_hash(&"zz".repeat(32), "hash").unwrap_err();
        assert_eq!(bad.code, -8);
        assert!(bad
            .message
            .starts_with("hash must be hexadecimal string (not 'zzzz"));
        let args = Args {
            values: vec![json!(5), json!(1.5), json!(1u64 << 40), json!(-3)],
        };
        assert_eq!(args.int(0).unwrap(), Some(5));
        assert_eq!(
            args.int(1).unwrap_err().message,
            "JSON integer out of range"
        );
        assert_eq!(args.int(2).unwrap_err().code, -1);
        assert_eq!(args.int(3).unwrap(), Some(-3));
        assert_eq!(args.int(9).unwrap(), None);
    }
}
