//! Core's REST interface (`src/rest.cpp`) for what a header node holds: `/rest/headers/`,
//! `/rest/blockhashbyheight/` and `/rest/chaininfo`, answered byte for byte as Core answers
//! them, errors included. Core's other REST paths need block data, a mempool or indexes, and
//! get what Core's HTTP server gives a path it has no handler for: 404 with an empty body.
//!
//! Routing follows Core's `http_request_cb`: a request whose method Core does not know (it
//! knows GET, POST, HEAD and PUT) is refused with 405 before its path is looked at; the
//! handlers themselves answer every known method alike. The handler is the first of Core's
//! `uri_prefixes` that begins the raw request target (query included, not percent-decoded);
//! the rest of the target goes to the handler.
//!
//! For HEAD, Core's libevent sends the status and headers without the body; this module
//! returns the whole response and leaves that to the HTTP server.

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::hex::DisplayHex;
use bitcoin::BlockHash;
use serde_json::{json, Value};

use crate::chain_json::header_json;
use crate::chain_view::{ChainError, ChainView};
use crate::http::{HttpRequest, HttpResponse};

/// Most headers one `/rest/headers/` request may ask for (Core's `MAX_REST_HEADERS_RESULTS`).
pub const MAX_REST_HEADERS_RESULTS: usize = 2000;

/// Headers sent when `/rest/headers/<hash>` has no `count` parameter (Core's `value_or("5")`
/// in `rest_headers`).
pub const DEFAULT_REST_HEADERS_COUNT: &[u8] = b"5";

/// The methods Core's `HTTPRequest::GetRequestMethod` knows; any other is `UNKNOWN`, which
/// `http_request_cb` answers with 405 (`HTTP_BAD_METHOD`) and an empty body.
const KNOWN_METHODS: [&str; 4] = ["GET", "POST", "HEAD", "PUT"];

/// The prefixes of the handlers served here (Core's `uri_prefixes`, which registers them with
/// `exactMatch` false).
const HEADERS_PREFIX: &str = "/rest/headers/";
/// See [`HEADERS_PREFIX`].
const BLOCKHASH_BY_HEIGHT_PREFIX: &str = "/rest/blockhashbyheight/";
/// See [`HEADERS_PREFIX`]; Core registers it without a trailing slash, so
/// `/rest/chaininfoanything.json` is chain info too.
const CHAININFO_PREFIX: &str = "/rest/chaininfo";

/// Core's `rf_names` suffixes, `AvailableDataFormatsString` joined.
const AVAILABLE_FORMATS: &str = "output format not found (available: .bin, .hex, .json)";
/// `rest_chaininfo`'s own list.
const AVAILABLE_FORMATS_JSON: &str = "output format not found (available: json)";

/// The answer formats of Core's `RESTResponseFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Undefined,
    Binary,
    Hex,
    Json,
}

/// Answers one REST request. `chain_info` gives `getblockchaininfo`'s object, built only when
/// `/rest/chaininfo.json` asks for it.
pub fn handle(
    view: &ChainView,
    request: &HttpRequest,
    chain_info: impl FnOnce() -> Result<Value, ChainError>,
) -> HttpResponse {
    if !KNOWN_METHODS.contains(&request.method.as_str()) {
        return HttpResponse::new(405, Vec::new());
    }
    let uri = request.target.as_str();
    let result = if let Some(part) = uri.strip_prefix(HEADERS_PREFIX) {
        rest_headers(view, uri, part)
    } else if let Some(part) = uri.strip_prefix(CHAININFO_PREFIX) {
        rest_chaininfo(part, chain_info)
    } else if let Some(part) = uri.strip_prefix(BLOCKHASH_BY_HEIGHT_PREFIX) {
        rest_blockhash_by_height(view, part)
    } else {
        return HttpResponse::new(404, Vec::new());
    };
    result.unwrap_or_else(|error| {
        // Core has no answer of its own here (its chain state lives in memory); a store that
        // cannot be read is our internal error.
        tracing::warn!(%error, "REST: store read failed");
        rest_error(500, error.to_string().as_bytes())
    })
}

/// Core's `RESTERR`: the status, `text/plain`, the message and CRLF.
fn rest_error(status: u16, message: &[u8]) -> HttpResponse {
    let mut body = message.to_vec();
    body.extend_from_slice(b"\r\n");
    HttpResponse::with_type(status, "text/plain", body)
}

/// Core's `ParseDataFormat`: the query (from the last `?`) is cut off; a known suffix after
/// the last `.` (including the empty one) is the format and is cut off too; anything else is
/// [`Format::Undefined`] and the parameter keeps its suffix.
fn parse_data_format(part: &str) -> (&str, Format) {
    let param = part.rfind('?').map_or(part, |q| &part[..q]);
    let Some(dot) = param.rfind('.') else {
        return (param, Format::Undefined);
    };
    let format = match &param[dot + 1..] {
        "" => Format::Undefined,
        "bin" => Format::Binary,
        "hex" => Format::Hex,
        "json" => Format::Json,
        _ => return (param, Format::Undefined),
    };
    (&param[..dot], format)
}

/// Core's `ToIntegral`: the whole text is `-?[0-9]+` (the minus only for signed types) and
/// fits the type.
fn to_integral<T: std::str::FromStr>(text: &[u8], signed: bool) -> Option<T> {
    let digits = match text.split_first() {
        Some((b'-', rest)) if signed => rest,
        _ => text,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Core's `uint256::FromHex`: exactly 64 hex digits of either case, most significant first.
fn parse_hash(text: &str) -> Option<BlockHash> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    text.parse().ok()
}

fn rest_headers(view: &ChainView, uri: &str, part: &str) -> Result<HttpResponse, ChainError> {
    let (param, format) = parse_data_format(part);
    // Core's `SplitString(param, '/')`: every piece, empty ones included.
    let path: Vec<&str> = param.split('/').collect();
    let (raw_count, hash_text): (Vec<u8>, &str) = match path.as_slice() {
        // The deprecated form /rest/headers/<count>/<hash>.
        [count, hash] => (count.as_bytes().to_vec(), hash),
        [hash] => match query_parameter(uri, "count") {
            Ok(count) => (
                count.unwrap_or_else(|| DEFAULT_REST_HEADERS_COUNT.to_vec()),
                hash,
            ),
            Err(message) => return Ok(rest_error(400, message.as_bytes())),
        },
        _ => {
            return Ok(rest_error(
                400,
                b"Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>",
            ))
        }
    };
    let count = match to_integral::<usize>(&raw_count, false) {
        Some(count) if (1..=MAX_REST_HEADERS_RESULTS).contains(&count) => count,
        _ => {
            let mut message = format!(
                "Header count is invalid or out of acceptable range (1-{MAX_REST_HEADERS_RESULTS}): "
            )
            .into_bytes();
            message.extend_from_slice(&raw_count);
            return Ok(rest_error(400, &message));
        }
    };
    let Some(hash) = parse_hash(hash_text) else {
        return Ok(rest_error(
            400,
            format!("Invalid hash: {hash_text}").as_bytes(),
        ));
    };
    match format {
        Format::Binary | Format::Hex => {
            let headers = view.read(|r| r.best_raw_headers_from(&hash, count))?;
            let bytes: Vec<u8> = headers.iter().flat_map(serialize).collect();
            if format == Format::Binary {
                Ok(HttpResponse::with_type(
                    200,
                    "application/octet-stream",
                    bytes,
                ))
            } else {
                let text = format!("{}\n", bytes.to_lower_hex_string());
                Ok(HttpResponse::with_type(200, "text/plain", text))
            }
        }
        Format::Json => {
            let params = view.network().params();
            let infos = view.read(|r| r.best_headers_from(&hash, count))?;
            let array: Vec<Value> = infos.iter().map(|i| header_json(i, &params)).collect();
            Ok(json_response(&Value::Array(array)))
        }
        Format::Undefined => Ok(rest_error(404, AVAILABLE_FORMATS.as_bytes())),
    }
}

fn rest_blockhash_by_height(view: &ChainView, part: &str) -> Result<HttpResponse, ChainError> {
    let (height_text, format) = parse_data_format(part);
    let height = match to_integral::<i32>(height_text.as_bytes(), true) {
        Some(height) if height >= 0 => height.unsigned_abs(),
        _ => {
            let message = format!("Invalid height: {}", sanitize_uri(height_text));
            return Ok(rest_error(400, message.as_bytes()));
        }
    };
    let Some(hash) = view.read(|r| r.hash_at(height))? else {
        return Ok(rest_error(404, b"Block height out of range"));
    };
    Ok(match format {
        Format::Binary => HttpResponse::with_type(
            200,
            "application/octet-stream",
            hash.to_byte_array().to_vec(),
        ),
        Format::Hex => HttpResponse::with_type(200, "text/plain", format!("{hash}\n")),
        Format::Json => json_response(&json!({ "blockhash": hash.to_string() })),
        Format::Undefined => rest_error(404, AVAILABLE_FORMATS.as_bytes()),
    })
}

fn rest_chaininfo(
    part: &str,
    chain_info: impl FnOnce() -> Result<Value, ChainError>,
) -> Result<HttpResponse, ChainError> {
    match parse_data_format(part).1 {
        Format::Json => Ok(json_response(&chain_info()?)),
        _ => Ok(rest_error(404, AVAILABLE_FORMATS_JSON.as_bytes())),
    }
}

/// `value.write() + "\n"` as `application/json`: UniValue writes compactly, as serde_json does.
fn json_response(value: &Value) -> HttpResponse {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    HttpResponse::with_type(200, "application/json", body)
}

/// Core's `SanitizeString(text, SAFE_CHARS_URI)`: only letters, digits and
/// `!*'();:@&=+$,/?#[]-_.~%` are kept.
fn sanitize_uri(text: &str) -> String {
    const SAFE_CHARS_URI: &str = "!*'();:@&=+$,/?#[]-_.~%";
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || SAFE_CHARS_URI.contains(*c))
        .collect()
}

/// Core's `GetQueryParameterFromUri` on libevent: the URI must parse (`evhttp_uri_parse`,
/// else the error text Core returns), then the query is split as `evhttp_parse_query_str`
/// does (any piece without `=` or with an empty key voids the whole query; a trailing `&` is
/// ignored) and the first value of `key` is percent- and plus-decoded
/// (`evhttp_decode_uri_internal`; a decoded NUL ends the value, as it ends the C string).
fn query_parameter(uri: &str, key: &str) -> Result<Option<Vec<u8>>, &'static str> {
    let query = uri_query(uri.as_bytes())
        .ok_or("URI parsing failed, it likely contained RFC 3986 invalid characters")?;
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    // libevent's loop (`strsep` on '&' while text remains) stops at a trailing '&' but reads
    // an empty piece anywhere else, and that piece has no '='.
    let query = query.strip_suffix(b"&").unwrap_or(query);
    let mut found = None;
    for argument in query.split(|b| *b == b'&') {
        let Some(eq) = argument.iter().position(|b| *b == b'=') else {
            return Ok(None);
        };
        let (name, value) = (&argument[..eq], &argument[eq + 1..]);
        if name.is_empty() {
            return Ok(None);
        }
        if found.is_none() && name == key.as_bytes() {
            found = Some(decode_query_value(value));
        }
    }
    Ok(found)
}

/// The query of an origin-form URI as libevent's `evhttp_uri_parse` (conformant mode) finds
/// it: `None` if the URI is invalid, `Some(None)` if it has no `?`. Path, query and fragment
/// may hold only RFC 3986's unreserved and sub-delimiter characters, `:`, `@`, `/` and `%XX`
/// escapes, plus `?` after the path (`end_of_path`).
fn uri_query(uri: &[u8]) -> Option<Option<&[u8]>> {
    fn end_of_part(bytes: &[u8], from: usize, allow_question: bool) -> usize {
        let mut i = from;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c) {
                i += 1;
            } else if c == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            {
                i += 3;
            } else if c == b'?' && allow_question {
                i += 1;
            } else {
                break;
            }
        }
        i
    }
    // Handlers see only targets that begin with "/rest/", so libevent finds no scheme and no
    // authority, and its "no colon in the first segment" rule holds.
    let mut at = end_of_part(uri, 0, false);
    let mut query = None;
    if uri.get(at) == Some(&b'?') {
        let start = at + 1;
        at = end_of_part(uri, start, true);
        query = Some(&uri[start..at]);
    }
    if uri.get(at) == Some(&b'#') {
        at = end_of_part(uri, at + 1, true);
    }
    (at == uri.len()).then_some(query)
}

/// libevent's `evhttp_decode_uri_internal` with `decode_plus`: `+` is a space, `%XX` the byte
/// XX, anything else itself; the value ends at a decoded NUL.
fn decode_query_value(value: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let mut byte = value[i];
        if byte == b'+' {
            byte = b' ';
        } else if byte == b'%' && i + 2 < value.len() {
            if let (Some(high), Some(low)) = (hex(value[i + 1]), hex(value[i + 2])) {
                byte = (high * 16 + low) as u8;
                i += 2;
            }
        }
        if byte == 0 {
            break;
        }
        out.push(byte);
        i += 1;
    }
    out
}
