//! Judging a request head before hyper sees it, and following the body
//! that comes after it so the next head on a kept-alive connection is
//! judged too.
//!
//! hyper answers a head it cannot take (too large, URI too long, bad
//! request line) with an empty body; reading it here first lets the edge
//! answer those with a problem body instead. The checks mirror hyper's own
//! (same parser, same framing rules), so a head accepted here is one hyper
//! accepts.

use axum::http::{Method, StatusCode, Uri};

/// How large a head may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// Longest request line (method, target, version), in bytes.
    pub(crate) max_request_line: usize,
    /// Largest header section after the request line, in bytes.
    pub(crate) max_header_bytes: usize,
    /// Most header fields.
    pub(crate) max_headers: usize,
}

impl HeadLimits {
    /// The most bytes a head may hold, empty lines before it included.
    pub(crate) fn max_head_bytes(&self) -> usize {
        self.max_request_line + self.max_header_bytes + 4
    }
}

/// Why a head is refused; each becomes a problem answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Malformed(&'static str),
    UriTooLong(usize),
    HeadersTooLarge(usize),
    TooManyHeaders(usize),
    /// The head did not arrive within the header-read timeout.
    Timeout,
}

impl Refusal {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) | Self::TooManyHeaders(_) => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub(crate) fn detail(&self) -> String {
        match self {
            Self::Malformed(what) => format!("malformed request: {what}"),
            Self::UriTooLong(max) => format!("the request line is longer than {max} bytes"),
            Self::HeadersTooLarge(max) => format!("the request headers exceed {max} bytes"),
            Self::TooManyHeaders(max) => format!("the request has more than {max} header fields"),
            Self::Timeout => "the request head did not arrive in time".to_owned(),
        }
    }
}

/// How the body after a head is delimited (RFC 9112 §6.3, as hyper reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

/// A head that may go on to hyper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Bytes of the head, empty lines before it included.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    /// CONNECT or an upgrade: whatever follows is not HTTP/1 we can read,
    /// so the connection ends after this request.
    pub(crate) last: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// More bytes are needed.
    Partial,
    Complete(Head),
    Refused(Refusal),
}

/// Reads one head as its bytes arrive, scanning each byte once (a client
/// sending one byte at a time costs no re-parsing).
#[derive(Debug)]
pub(crate) struct HeadReader {
    limits: HeadLimits,
    /// Where the request line starts, once a byte other than CR/LF came.
    start: Option<usize>,
    /// Where the request line's LF is, once it came.
    line_end: Option<usize>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
}

impl HeadReader {
    pub(crate) fn new(limits: HeadLimits) -> Self {
        Self {
            limits,
            start: None,
            line_end: None,
            scanned: 0,
        }
    }

    /// Judges `buf`, which holds everything received of this head so far
    /// (and possibly what follows it).
    pub(crate) fn check(&mut self, buf: &[u8]) -> Verdict {
        let limits = self.limits;
        let from = self.scanned.min(buf.len());
        self.scanned = buf.len();
        let start = match self.start {
            Some(start) => start,
            None => match buf[from..].iter().position(|b| !matches!(b, b'\r' | b'\n')) {
                Some(i) => *self.start.insert(from + i),
                // Empty lines before a request are allowed, but not forever.
                None if buf.len() > limits.max_head_bytes() => {
                    return Verdict::Refused(Refusal::Malformed("no request line"))
                }
                None => return Verdict::Partial,
            },
        };
        let text = &buf[start..];
        let line_end = match self.line_end {
            Some(end) => end,
            None => {
                let scan_from = from.saturating_sub(start);
                match text[scan_from..].iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        let end = scan_from + i;
                        if end > limits.max_request_line {
                            return Verdict::Refused(self.line_refusal(text));
                        }
                        if let Err(refusal) = parse(&text[..=end], limits.max_headers) {
                            return Verdict::Refused(refusal);
                        }
                        *self.line_end.insert(end)
                    }
                    None if text.len() > limits.max_request_line => {
                        return Verdict::Refused(self.line_refusal(text))
                    }
                    None => return Verdict::Partial,
                }
            }
        };
        // The head ends at the first empty line after the request line.
        let scan_from = from.saturating_sub(start + 2).max(line_end);
        let found = text[scan_from..]
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| scan_from + i + 2)
            .into_iter()
            .chain(
                text[scan_from..]
                    .windows(3)
                    .position(|w| w == b"\n\r\n")
                    .map(|i| scan_from + i + 3),
            )
            .min();
        let header_bytes = found.unwrap_or(text.len()) - line_end - 1;
        if header_bytes > limits.max_header_bytes {
            return Verdict::Refused(Refusal::HeadersTooLarge(limits.max_header_bytes));
        }
        let Some(end) = found else {
            return Verdict::Partial;
        };
        match parse(&text[..end], limits.max_headers) {
            Ok(Some(mut head)) => {
                head.len += start;
                Verdict::Complete(head)
            }
            Ok(None) => Verdict::Partial,
            Err(refusal) => Verdict::Refused(refusal),
        }
    }

    /// An over-long first line: 414 when it starts like a request, 400
    /// when it is not one at all.
    fn line_refusal(&self, text: &[u8]) -> Refusal {
        match parse(text, self.limits.max_headers) {
            Err(refusal) => refusal,
            Ok(_) => Refusal::UriTooLong(self.limits.max_request_line),
        }
    }
}

/// Parses a head with hyper's parser and framing rules: `Ok(None)` while
/// incomplete.
fn parse(bytes: &[u8], max_headers: usize) -> Result<Option<Head>, Refusal> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooManyHeaders(max_headers)),
        Err(httparse::Error::Token) if req.method.is_none() => {
            return Err(Refusal::Malformed("invalid method"))
        }
        Err(httparse::Error::Token) => return Err(Refusal::Malformed("invalid request target")),
        Err(httparse::Error::Version) => {
            return Err(Refusal::Malformed("only HTTP/1.0 and HTTP/1.1 are served"))
        }
        Err(httparse::Error::HeaderName) => return Err(Refusal::Malformed("invalid header name")),
        Err(httparse::Error::HeaderValue) => {
            return Err(Refusal::Malformed("invalid header value"))
        }
        Err(_) => return Err(Refusal::Malformed("invalid request line or header")),
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Ok(None);
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| Refusal::Malformed("invalid method"))?;
    Uri::try_from(path).map_err(|_| Refusal::Malformed("invalid request target"))?;
    let http11 = version == 1;
    let mut last = method == Method::CONNECT;
    let mut length: Option<u64> = None;
    let mut chunked: Option<bool> = None;
    for header in req.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding in an HTTP/1.0 request",
                ));
            }
            let last_coding = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.rsplit(',').next());
            chunked = Some(last_coding.is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")));
        } else if header.name.eq_ignore_ascii_case("content-length") {
            if chunked.is_some() {
                continue;
            }
            let value = digits(header.value).ok_or(Refusal::Malformed("invalid Content-Length"))?;
            if length.is_some_and(|previous| previous != value) {
                return Err(Refusal::Malformed("conflicting Content-Length headers"));
            }
            length = Some(value);
        } else if header.name.eq_ignore_ascii_case("upgrade") && http11 {
            last = true;
        }
    }
    let framing = match (chunked, length) {
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => {
            return Err(Refusal::Malformed(
                "Transfer-Encoding must end with chunked",
            ))
        }
        (None, Some(0) | None) => Framing::Empty,
        (None, Some(n)) if n >= u64::MAX - 1 => {
            return Err(Refusal::Malformed("invalid Content-Length"))
        }
        (None, Some(n)) => Framing::Length(n),
    };
    Ok(Some(Head { len, framing, last }))
}

/// A decimal `Content-Length` (no sign, no spaces), as hyper reads it.
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// Follows a body as its bytes pass, to find where it ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyTracker {
    Length(u64),
    Chunked(Chunked),
    /// Past the body.
    Done,
    /// The body is not well-formed; hyper will refuse it and close the
    /// connection, so nothing after it is judged.
    Lost,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// In a chunk-size line (size, extensions), with its length so far.
    Size {
        value: u64,
        digits: usize,
        in_ext: bool,
        line: usize,
    },
    Data(u64),
    /// After a chunk's data: CR LF.
    DataEnd {
        seen: usize,
    },
    /// After the last chunk: trailer lines until an empty one.
    Trailer {
        line: usize,
    },
}

/// Longest chunk-size line or trailer line we follow.
const MAX_CHUNK_LINE: usize = 4096;

impl BodyTracker {
    pub(crate) fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => Self::Done,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Chunked(Chunked::Size {
                value: 0,
                digits: 0,
                in_ext: false,
                line: 0,
            }),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// Follows `bytes`; returns how many of them belong to the body.
    pub(crate) fn advance(&mut self, bytes: &[u8]) -> usize {
        let mut used = 0;
        while used < bytes.len() {
            match self {
                Self::Done => return used,
                Self::Lost => return bytes.len(),
                Self::Length(left) => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - used);
                    used += take;
                    *left -= take as u64;
                    if *left == 0 {
                        *self = Self::Done;
                    }
                }
                Self::Chunked(state) => {
                    if let Chunked::Data(left) = state {
                        let take = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(bytes.len() - used);
                        used += take;
                        *left -= take as u64;
                        if *left == 0 {
                            *state = Chunked::DataEnd { seen: 0 };
                        }
                        continue;
                    }
                    let byte = bytes[used];
                    used += 1;
                    match chunk_byte(state, byte) {
                        Step::Continue => {}
                        Step::Done => *self = Self::Done,
                        Step::Lost => *self = Self::Lost,
                    }
                }
            }
        }
        used
    }
}

enum Step {
    Continue,
    Done,
    Lost,
}

/// One byte of chunk framing outside chunk data.
fn chunk_byte(state: &mut Chunked, byte: u8) -> Step {
    match state {
        Chunked::Size {
            value,
            digits,
            in_ext,
            line,
        } => {
            *line += 1;
            if *line > MAX_CHUNK_LINE {
                return Step::Lost;
            }
            match byte {
                b'\n' if *digits == 0 => Step::Lost,
                b'\n' if *value == 0 => {
                    *state = Chunked::Trailer { line: 0 };
                    Step::Continue
                }
                b'\n' => {
                    *state = Chunked::Data(*value);
                    Step::Continue
                }
                _ if *in_ext => Step::Continue,
                b';' | b' ' | b'\t' | b'\r' => {
                    *in_ext = true;
                    Step::Continue
                }
                _ => match char::from(byte).to_digit(16) {
                    Some(d) if *digits < 16 => {
                        *value = (*value << 4) | u64::from(d);
                        *digits += 1;
                        Step::Continue
                    }
                    _ => Step::Lost,
                },
            }
        }
        Chunked::DataEnd { seen } => match (byte, *seen) {
            (b'\r', 0) => {
                *seen = 1;
                Step::Continue
            }
            (b'\n', _) => {
                *state = Chunked::Size {
                    value: 0,
                    digits: 0,
                    in_ext: false,
                    line: 0,
                };
                Step::Continue
            }
            _ => Step::Lost,
        },
        Chunked::Trailer { line } => match byte {
            b'\n' if *line == 0 => Step::Done,
            b'\n' => {
                *line = 0;
                Step::Continue
            }
            b'\r' if *line == 0 => Step::Continue,
            _ => {
                *line += 1;
                if *line > MAX_CHUNK_LINE {
                    Step::Lost
                } else {
                    Step::Continue
                }
            }
        },
        Chunked::Data(_) => Step::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_request_line: 64,
        max_header_bytes: 128,
        max_headers: 4,
    };

    /// Feeds `bytes` one at a time, as the slowest client would.
    fn bytewise(bytes: &[u8]) -> Verdict {
        let mut reader = HeadReader::new(LIMITS);
        for end in 1..bytes.len() {
            match reader.check(&bytes[..end]) {
                Verdict::Partial => {}
                other => return other,
            }
        }
        reader.check(bytes)
    }

    fn whole(bytes: &[u8]) -> Verdict {
        HeadReader::new(LIMITS).check(bytes)
    }

    fn complete(len: usize, framing: Framing) -> Verdict {
        Verdict::Complete(Head {
            len,
            framing,
            last: false,
        })
    }

    #[test]
    fn a_whole_head_is_complete_with_its_length_and_framing() {
        let head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let len = head.len() - 5;
        assert_eq!(whole(head), complete(len, Framing::Length(5)));
        assert_eq!(bytewise(head), complete(len, Framing::Length(5)));
        let bare = b"GET / HTTP/1.0\n\n";
        assert_eq!(whole(bare), complete(bare.len(), Framing::Empty));
    }

    #[test]
    fn empty_lines_before_the_request_line_are_skipped_and_counted() {
        let head = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(bytewise(head), complete(head.len(), Framing::Empty));
    }

    #[test]
    fn chunked_wins_over_content_length_and_must_come_last() {
        let head =
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(whole(head), complete(head.len(), Framing::Chunked));
        let not_last = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        assert!(matches!(
            whole(not_last),
            Verdict::Refused(Refusal::Malformed(_))
        ));
        let old = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            whole(old),
            Verdict::Refused(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn bad_or_conflicting_content_lengths_are_malformed() {
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        ] {
            assert!(
                matches!(whole(head), Verdict::Refused(Refusal::Malformed(_))),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let same = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(whole(same), complete(same.len(), Framing::Length(5)));
    }

    #[test]
    fn a_bad_request_line_is_refused_as_soon_as_the_line_ends() {
        for line in [
            &b"G\x7fT / HTTP/1.1\r\n"[..],
            b"GET / HTTP/9.9\r\n",
            b"GET HTTP/1.1\r\n",
            b"GET /\xff HTTP/1.1\r\n",
        ] {
            assert!(
                matches!(bytewise(line), Verdict::Refused(Refusal::Malformed(_))),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_long_request_line_is_414_before_it_ends_unless_it_is_not_a_request() {
        let long = format!("GET /{} HTTP/1.1", "a".repeat(80));
        assert_eq!(
            bytewise(long.as_bytes()),
            Verdict::Refused(Refusal::UriTooLong(64))
        );
        let junk = "\u{1}".repeat(80);
        assert!(matches!(
            bytewise(junk.as_bytes()),
            Verdict::Refused(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn too_many_or_too_large_headers_are_431_before_the_head_ends() {
        let many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
        assert_eq!(
            bytewise(many.as_bytes()),
            Verdict::Refused(Refusal::TooManyHeaders(4))
        );
        let large = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(200));
        assert_eq!(
            bytewise(large.as_bytes()),
            Verdict::Refused(Refusal::HeadersTooLarge(128))
        );
    }

    #[test]
    fn connect_and_upgrades_are_the_last_request() {
        let upgrade = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        assert!(matches!(
            whole(upgrade),
            Verdict::Complete(Head { last: true, .. })
        ));
        let connect = b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
        assert!(matches!(
            whole(connect),
            Verdict::Complete(Head { last: true, .. })
        ));
    }

    #[test]
    fn a_length_body_ends_after_its_bytes() {
        let mut body = BodyTracker::new(Framing::Length(5));
        assert_eq!(body.advance(b"abc"), 3);
        assert_eq!(body.advance(b"deGET"), 2);
        assert!(body.is_done());
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
        let body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
        let mut whole_body = BodyTracker::new(Framing::Chunked);
        assert_eq!(
            whole_body.advance(&[&body[..], b"GET /"].concat()),
            body.len()
        );
        assert!(whole_body.is_done());
        let mut bytewise = BodyTracker::new(Framing::Chunked);
        for (i, byte) in body.iter().enumerate() {
            assert!(!bytewise.is_done(), "done early at byte {i}");
            assert_eq!(bytewise.advance(&[*byte]), 1);
        }
        assert!(bytewise.is_done());
    }

    #[test]
    fn a_malformed_chunked_body_is_followed_no_further() {
        let mut body = BodyTracker::new(Framing::Chunked);
        assert_eq!(body.advance(b"zz\r\nGET / HTTP/1.1\r\n\r\n"), 22);
        assert_eq!(body, BodyTracker::Lost);
        assert!(!body.is_done());
    }
}
