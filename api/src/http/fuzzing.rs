//! The request parser driven without a socket, for the `rpc` fuzz target: the same head and
//! chunked-body code the connection runs, fed bytes in pieces as they might arrive, with the
//! invariants a hostile client must not break checked as it goes.

use super::parse::{parse_head, ChunkedDecoder, Framing, Limits};

/// What [`parse_stream`] made of the bytes: the complete requests (method, target, body), and
/// the status of the refusal that ended the stream, if one did.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Complete requests, in order.
    pub requests: Vec<(String, String, Vec<u8>)>,
    /// The status a refused request was answered with; parsing stops there.
    pub refused: Option<u16>,
}

/// Parses `stream` as pipelined requests arriving in reads of `chunk` bytes, under
/// `max_header_bytes` and `max_body_bytes`. Panics only if the parser breaks its own promises
/// (a body over the limit, a refusal with a status outside 4xx/5xx, a buffer that grows past
/// one head and one incomplete chunk line): that is what the fuzzer looks for.
pub fn parse_stream(
    stream: &[u8],
    chunk: usize,
    max_header_bytes: usize,
    max_body_bytes: usize,
) -> Parsed {
    let limits = Limits {
        max_header_bytes,
        max_body_bytes,
    };
    let chunk = chunk.max(1);
    let mut parsed = Parsed::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let refuse = |parsed: &mut Parsed, status: u16| {
        assert!((400..600).contains(&status), "refused with {status}");
        parsed.refused = Some(status);
    };
    'requests: loop {
        // The head.
        let (head, len) = loop {
            match parse_head(&buf, limits) {
                Ok(Some(found)) => break found,
                Ok(None) => {
                    assert!(buf.len() <= max_header_bytes, "head buffer past its limit");
                    if fed >= stream.len() {
                        return parsed;
                    }
                    let end = (fed + chunk).min(stream.len());
                    buf.extend_from_slice(&stream[fed..end]);
                    fed = end;
                }
                Err(reject) => {
                    refuse(&mut parsed, reject.status);
                    return parsed;
                }
            }
        };
        buf.drain(..len);
        // The body.
        let body = match head.framing {
            Framing::Empty => Vec::new(),
            Framing::Length(n) => {
                assert!(
                    n <= max_body_bytes,
                    "a declared body over the limit was accepted"
                );
                while buf.len() < n {
                    if fed >= stream.len() {
                        return parsed;
                    }
                    let end = (fed + chunk).min(stream.len());
                    buf.extend_from_slice(&stream[fed..end]);
                    fed = end;
                }
                buf.drain(..n).collect()
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::new();
                loop {
                    match decoder.feed(&buf, limits) {
                        Ok(used) => {
                            buf.drain(..used);
                        }
                        Err(reject) => {
                            refuse(&mut parsed, reject.status);
                            return parsed;
                        }
                    }
                    if decoder.is_done() {
                        break;
                    }
                    // What stays buffered is at most one incomplete line or chunk-end.
                    assert!(
                        buf.len() <= max_header_bytes.max(super::limits::MAX_CHUNK_LINE) + chunk,
                        "chunk buffer grows: {}",
                        buf.len()
                    );
                    if fed >= stream.len() {
                        return parsed;
                    }
                    let end = (fed + chunk).min(stream.len());
                    buf.extend_from_slice(&stream[fed..end]);
                    fed = end;
                }
                let body = decoder.into_body();
                assert!(
                    body.len() <= max_body_bytes,
                    "a chunked body over the limit"
                );
                body
            }
        };
        parsed.requests.push((head.method, head.target, body));
        if !head.keep_alive {
            break 'requests;
        }
    }
    parsed
}
