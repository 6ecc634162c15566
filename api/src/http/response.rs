//! Responses on the wire: the status line with its reason phrase, the handler's header fields
//! (minus the ones the server owns), `Content-Length` and `Connection`, then the body.

use tracing::debug;

use super::message::HttpResponse;

/// The interim response sent to a client that asked `Expect: 100-continue`, before its body is
/// read (RFC 9110 section 15.2.1).
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The reason phrase for `status` (RFC 9110 section 15); for a code not listed, a phrase for
/// its class.
pub fn reason_phrase(status: u16) -> &'static str {
    known_reason(status).unwrap_or(match status {
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        _ => "Server Error",
    })
}

/// The phrases RFC 9110 gives the codes we (or our handlers) send.
fn known_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

/// A plain-text response the server composes itself (errors, 503).
pub(crate) fn plain(status: u16, text: &str) -> HttpResponse {
    HttpResponse::with_type(status, "text/plain", text)
}

/// Whether the handler asked for the connection to close after this response (a `Connection:
/// close` field).
pub(crate) fn asks_close(response: &HttpResponse) -> bool {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("close"))
}

/// How the connection carries the response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    /// The connection closes after this response: say `Connection: close`.
    pub close: bool,
    /// The request was HTTP/1.0 and stays open: say `Connection: keep-alive`, which an
    /// HTTP/1.0 client needs to hear.
    pub http10_keep_alive: bool,
    /// The request was `HEAD`: the length is sent, the body is not.
    pub head_only: bool,
}

/// Appends `response` to `out`, ready to write.
pub(crate) fn encode(response: &HttpResponse, delivery: Delivery, out: &mut Vec<u8>) {
    let status = if (100..=999).contains(&response.status) {
        response.status
    } else {
        debug!(
            status = response.status,
            "handler gave an invalid status; sending 500"
        );
        500
    };
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    for (name, value) in &response.headers {
        if is_server_owned(name) {
            continue;
        }
        // A line break in a field would let whatever follows it (perhaps echoed from a
        // request) be read as more fields or a second response.
        if !is_token(name) || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            debug!(field = %name, "dropping a response header field that is not well formed");
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // 1xx, 204 and 304 carry no body and no length (RFC 9110 sections 8.6 and 15).
    let bodiless = status < 200 || status == 204 || status == 304;
    if !bodiless {
        out.extend_from_slice(format!("Content-Length: {}\r\n", response.body.len()).as_bytes());
    }
    if delivery.close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if delivery.http10_keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless && !delivery.head_only {
        out.extend_from_slice(&response.body);
    }
}

/// Fields whose value only the server knows: the framing and the connection's fate.
fn is_server_owned(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|owned| name.eq_ignore_ascii_case(owned))
}

/// An RFC 9110 token: what a field name may be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(response: &HttpResponse, delivery: Delivery) -> String {
        let mut out = Vec::new();
        encode(response, delivery, &mut out);
        String::from_utf8(out).unwrap()
    }

    const KEEP: Delivery = Delivery {
        close: false,
        http10_keep_alive: false,
        head_only: false,
    };

    #[test]
    fn encodes_status_fields_length_and_connection() {
        let r =
            HttpResponse::with_type(200, "application/json", "{}").header("Content-Length", "9");
        assert_eq!(
            text(&r, KEEP),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
        let closing = Delivery {
            close: true,
            ..KEEP
        };
        assert_eq!(
            text(&HttpResponse::new(404, ""), closing),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let head = Delivery {
            head_only: true,
            http10_keep_alive: true,
            ..KEEP
        };
        assert_eq!(
            text(&HttpResponse::new(200, "abc"), head),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            text(&HttpResponse::new(204, "x"), KEEP),
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
    }

    #[test]
    fn refuses_what_would_split_the_response() {
        let r = HttpResponse::new(7, "")
            .header("X-A", "a\r\nX-B: b")
            .header("Bad Name", "v");
        assert_eq!(
            text(&r, KEEP),
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(asks_close(
            &HttpResponse::new(200, "").header("connection", "Close")
        ));
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(499), "Client Error");
    }
}
