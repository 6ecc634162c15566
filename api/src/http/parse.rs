//! Request framing, without sockets: the head (request line and header fields, through
//! `httparse`) and what it says about the body (none, `Content-Length`, or chunked), and a
//! decoder for chunked bodies fed byte slices as they arrive. Every check against the server's
//! limits happens here, so each hostile case is a unit test away from a socket; the connection
//! only moves bytes and follows the verdicts.

use super::limits::{MAX_CHUNK_LINE, MAX_HEADER_FIELDS};

/// The limits parsing enforces (from the server's configuration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The most bytes of a request head.
    pub max_header_bytes: usize,
    /// The most bytes of a (decoded) request body.
    pub max_body_bytes: usize,
}

/// A request refused: answered with `status` and `reason` as body, then the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub status: u16,
    pub reason: &'static str,
}

const fn reject(status: u16, reason: &'static str) -> Reject {
    Reject { status, reason }
}

const HEAD_TOO_LARGE: Reject = reject(431, "request header fields too large");
const BODY_TOO_LARGE: Reject = reject(413, "request body too large");
const CHUNK_LINE_TOO_LONG: Reject = reject(400, "chunk line too long");

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes follow the head (never zero, never over the body limit).
    Length(usize),
    /// A chunked body follows.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub method: String,
    pub target: String,
    /// Names in lower case, values trimmed, as [`super::HttpRequest::headers`].
    pub headers: Vec<(String, String)>,
    /// `true` for HTTP/1.1, `false` for HTTP/1.0.
    pub http11: bool,
    /// Whether the client lets the connection stay open after the response.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
    pub framing: Framing,
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is incomplete (and within
/// the limit), `Ok(Some((head, length)))` once it is, `Err` when the request must be refused.
pub(crate) fn parse_head(buf: &[u8], limits: Limits) -> Result<Option<(Head, usize)>, Reject> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    let length = match request.parse(buf) {
        // Everything buffered is head so far: past the limit it can only get worse.
        Ok(httparse::Status::Partial) if buf.len() > limits.max_header_bytes => {
            return Err(HEAD_TOO_LARGE)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(n)) if n > limits.max_header_bytes => {
            return Err(HEAD_TOO_LARGE)
        }
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Err(HEAD_TOO_LARGE),
        Err(httparse::Error::Version) => return Err(reject(400, "unsupported HTTP version")),
        Err(_) => return Err(reject(400, "malformed request")),
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(reject(400, "malformed request"));
    };
    let http11 = version == 1;
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value);
            (h.name.to_ascii_lowercase(), value.trim().to_string())
        })
        .collect();

    let framing = framing(&headers)?;
    // RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has doubtful framing, so
    // the connection closes after it.
    let faulty_framing = !http11 && framing == Framing::Chunked;
    let keep_alive = !faulty_framing && keep_alive(&headers, http11);
    // HTTP/1.0 clients cannot expect 100 Continue (RFC 9110 section 10.1.1).
    let expect_continue = http11
        && framing != Framing::Empty
        && field_values(&headers, "expect").any(|v| v.eq_ignore_ascii_case("100-continue"));
    let head = Head {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        http11,
        keep_alive,
        expect_continue,
        framing,
    };
    check_body_length(head.framing, limits)?;
    Ok(Some((head, length)))
}

/// The comma-separated items of every field named `name` (lower case), trimmed, empty ones
/// skipped.
fn field_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// Keep-alive is HTTP/1.1's default and HTTP/1.0's exception (RFC 9112 section 9.3).
fn keep_alive(headers: &[(String, String)], http11: bool) -> bool {
    let mut close = false;
    let mut keep = false;
    for option in field_values(headers, "connection") {
        close |= option.eq_ignore_ascii_case("close");
        keep |= option.eq_ignore_ascii_case("keep-alive");
    }
    !close && (http11 || keep)
}

/// The body's framing (RFC 9112 section 6.3), refusing what could be read two ways.
fn framing(headers: &[(String, String)]) -> Result<Framing, Reject> {
    let has_length = headers.iter().any(|(n, _)| n == "content-length");
    let codings: Vec<&str> = field_values(headers, "transfer-encoding").collect();
    let has_codings = headers.iter().any(|(n, _)| n == "transfer-encoding");
    if has_codings {
        // Both headers is how requests are smuggled past proxies: refuse rather than choose.
        if has_length {
            return Err(reject(400, "both Transfer-Encoding and Content-Length"));
        }
        if codings.iter().any(|c| !c.eq_ignore_ascii_case("chunked")) {
            return Err(reject(501, "unsupported transfer coding"));
        }
        if codings.len() != 1 {
            return Err(reject(400, "malformed Transfer-Encoding"));
        }
        return Ok(Framing::Chunked);
    }
    if !has_length {
        return Ok(Framing::Empty);
    }
    // Repeated values are allowed only when they agree (RFC 9112 section 6.3, item 5).
    let mut length: Option<u64> = None;
    for item in field_values(headers, "content-length") {
        if !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(reject(400, "malformed Content-Length"));
        }
        // All digits, so the only failure is overflow: too large for any limit.
        let value = item.parse::<u64>().unwrap_or(u64::MAX);
        if length.is_some_and(|l| l != value) {
            return Err(reject(400, "conflicting Content-Length"));
        }
        length = Some(value);
    }
    match length {
        None => Err(reject(400, "malformed Content-Length")),
        Some(0) => Ok(Framing::Empty),
        // Saturate on 32-bit targets: the body limit refuses it next.
        Some(n) => Ok(Framing::Length(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

fn check_body_length(framing: Framing, limits: Limits) -> Result<(), Reject> {
    match framing {
        Framing::Length(n) if n > limits.max_body_bytes => Err(BODY_TOO_LARGE),
        _ => Ok(()),
    }
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Waiting for a chunk-size line.
    Size,
    /// This many bytes of chunk data still to come.
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk, ended by an empty line.
    Trailer,
    /// The body is complete.
    Done,
}

/// Removes the chunked transfer coding incrementally: fed what has arrived, it consumes what it
/// can and keeps only the decoded body, so the raw bytes waiting in the connection's buffer never
/// exceed one incomplete line.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
    body: Vec<u8>,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            body: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Decodes from the start of `input`; returns how many bytes it consumed. The caller drops
    /// those and feeds the rest again with more input.
    pub(crate) fn feed(&mut self, input: &[u8], limits: Limits) -> Result<usize, Reject> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                ChunkState::Done => return Ok(pos),
                ChunkState::Size => {
                    let Some(line) = line(rest, MAX_CHUNK_LINE, CHUNK_LINE_TOO_LONG)? else {
                        return Ok(pos);
                    };
                    let size = chunk_size(&rest[..line - 2])?;
                    if size > limits.max_body_bytes.saturating_sub(self.body.len()) {
                        return Err(BODY_TOO_LARGE);
                    }
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                    pos += line;
                }
                ChunkState::Data(remaining) => {
                    let take = remaining.min(rest.len());
                    if take == 0 {
                        return Ok(pos);
                    }
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    self.state = match remaining - take {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(reject(400, "malformed chunked body"));
                    }
                    pos += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    // Trailer fields are read past and dropped: nothing we serve uses them.
                    let budget = limits.max_header_bytes.saturating_sub(self.trailer_bytes);
                    let Some(line) = line(rest, budget, HEAD_TOO_LARGE)? else {
                        return Ok(pos);
                    };
                    self.trailer_bytes += line;
                    pos += line;
                    if line == 2 {
                        self.state = ChunkState::Done;
                    }
                }
            }
        }
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// The decoded body.
    pub(crate) fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// The length of the CRLF-terminated line at the start of `input`, CRLF included; `None` while
/// no line end has arrived. Longer than `max` (line end included) is `too_long`, and a bare LF
/// is malformed: chunked framing read leniently is another way to smuggle requests.
fn line(input: &[u8], max: usize, too_long: Reject) -> Result<Option<usize>, Reject> {
    let window = &input[..input.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) if i == 0 || window[i - 1] != b'\r' => Err(reject(400, "malformed chunked body")),
        Some(i) => Ok(Some(i + 1)),
        None if input.len() >= max => Err(too_long),
        None => Ok(None),
    }
}

/// The size in a chunk-size line (without its CRLF): hex digits, then optional extensions after
/// `;`, which are ignored.
fn chunk_size(line: &[u8]) -> Result<usize, Reject> {
    let digits = match line.iter().position(|&b| b == b';') {
        Some(i) => &line[..i],
        None => line,
    };
    // Whitespace before the extensions is allowed (RFC 9112's BWS), nowhere else.
    let digits = digits.trim_ascii_end();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(reject(400, "malformed chunk size"));
    }
    let mut size: usize = 0;
    for &digit in digits {
        let value = (digit as char).to_digit(16).unwrap_or(0) as usize;
        // Overflow is a size over any limit.
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(value))
            .ok_or(BODY_TOO_LARGE)?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header_bytes: 200,
        max_body_bytes: 100,
    };

    fn head(text: &str) -> Result<Option<(Head, usize)>, Reject> {
        parse_head(text.as_bytes(), LIMITS)
    }

    fn status(text: &str) -> u16 {
        match head(text) {
            Err(r) => r.status,
            Ok(_) => 0,
        }
    }

    #[test]
    fn heads_and_their_framing() {
        let text = "POST /a?b HTTP/1.1\r\nContent-Length: 3\r\nX-A:  v \r\n\r\nabc";
        let (h, n) = head(text).unwrap().unwrap();
        assert_eq!(&text[n..], "abc");
        assert_eq!((h.method.as_str(), h.target.as_str()), ("POST", "/a?b"));
        assert_eq!(h.headers[1], ("x-a".to_string(), "v".to_string()));
        assert_eq!(h.framing, Framing::Length(3));
        assert!(h.http11 && h.keep_alive && !h.expect_continue);
        assert_eq!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
        let (h, _) = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive && h.framing == Framing::Empty);
        let (h, _) = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let (h, _) = head("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let (h, _) = head("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let (h, _) = head("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.expect_continue);
        let (h, _) = head("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn refusals() {
        assert_eq!(status("GARBAGE\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), 413);
        assert_eq!(
            status("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            400
        );
        let both = "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(status(both), 400);
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(200));
        assert_eq!(status(&long), 431);
        let partial = format!("GET /{}", "a".repeat(200));
        assert_eq!(status(&partial), 431);
        let many: String = (0..MAX_HEADER_FIELDS + 1).map(|_| "a:\r\n").collect();
        let big = Limits {
            max_header_bytes: 10_000,
            ..LIMITS
        };
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_head(many.as_bytes(), big).unwrap_err().status, 431);
    }

    fn decode(pieces: &[&[u8]]) -> Result<Option<Vec<u8>>, Reject> {
        let mut decoder = ChunkedDecoder::new();
        let mut buffered = Vec::new();
        for piece in pieces {
            buffered.extend_from_slice(piece);
            let used = decoder.feed(&buffered, LIMITS)?;
            buffered.drain(..used);
        }
        Ok(decoder.is_done().then(|| decoder.into_body()))
    }

    #[test]
    fn chunked_bodies() {
        let whole = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(decode(&[whole]).unwrap().unwrap(), b"hello world");
        // Byte by byte gives the same.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(decode(&bytes).unwrap().unwrap(), b"hello world");
        assert_eq!(decode(&[b"5\r\nhel"]).unwrap(), None);
        assert_eq!(
            decode(&[b"A\r\n0123456789\r\n0\r\n\r\n"])
                .unwrap()
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn chunked_refusals() {
        let code = |input: &[u8]| decode(&[input]).unwrap_err().status;
        assert_eq!(code(b"65\r\n"), 413);
        // Two chunks of 60 bytes: the second passes the limit of 100.
        let sixty = [b"3c\r\n".as_slice(), &[b'x'; 60], b"\r\n3c\r\n"].concat();
        assert_eq!(code(&sixty), 413);
        assert_eq!(code(b"fffffffffffffffffffff\r\n"), 413);
        assert_eq!(code(b"zz\r\n"), 400);
        assert_eq!(code(b"5\nhello"), 400);
        assert_eq!(code(b"5\r\nhelloXX"), 400);
        assert_eq!(code(&[b'1'; MAX_CHUNK_LINE]), 400);
        let trailer = [b"0\r\n".as_slice(), &[b'a'; 300]].concat();
        assert_eq!(code(&trailer), 431);
    }
}
