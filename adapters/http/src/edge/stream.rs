//! The socket as hyper sees it: request heads are held back until they are
//! complete and acceptable, bodies pass through while being followed to
//! find where the next head starts.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::connection::ConnShared;
use super::head::{BodyTracker, HeadLimits, HeadReader, Refusal, Verdict};

/// Most bytes read from the socket at once.
const READ_CHUNK: usize = 8 * 1024;

enum Reading {
    Head {
        reader: HeadReader,
        started: bool,
    },
    Body {
        tracker: BodyTracker,
        last: bool,
    },
    /// Nothing more goes to hyper: a head was refused, or the last
    /// request's body has passed.
    Stopped,
}

/// A TCP stream that lets hyper see only heads the edge accepted.
pub(crate) struct GuardedStream {
    io: TcpStream,
    conn: Arc<ConnShared>,
    limits: HeadLimits,
    /// Received bytes hyper has not taken yet.
    buf: BytesMut,
    /// How many bytes at the front of `buf` hyper may take.
    ready: usize,
    reading: Reading,
    eof: bool,
}

impl GuardedStream {
    pub(crate) fn new(io: TcpStream, conn: Arc<ConnShared>, limits: HeadLimits) -> Self {
        Self {
            io,
            conn,
            limits,
            buf: BytesMut::new(),
            ready: 0,
            reading: Reading::Head {
                reader: HeadReader::new(limits),
                started: false,
            },
            eof: false,
        }
    }

    pub(crate) fn into_inner(self) -> TcpStream {
        self.io
    }

    /// Whether the client was still owed part of a request body (hyper
    /// answered without reading it all): it may still be sending.
    pub(crate) fn mid_body(&self) -> bool {
        matches!(&self.reading, Reading::Body { tracker, .. } if !tracker.is_done())
    }

    /// Reads at most `max` more bytes into `buf`; `Ok(0)` is the end of
    /// the stream. `buf` grows only by what arrived, so a stalled client
    /// holds no more memory than it sent.
    fn read_more(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let mut scratch = [0u8; READ_CHUNK];
        let mut read_buf = ReadBuf::new(&mut scratch[..max.min(READ_CHUNK)]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut read_buf))?;
        let filled = read_buf.filled();
        self.buf.extend_from_slice(filled);
        Poll::Ready(Ok(filled.len()))
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            let max = match &mut this.reading {
                Reading::Stopped => return Poll::Pending,
                Reading::Head { reader, started } => {
                    if !this.buf.is_empty() {
                        if !*started {
                            *started = true;
                            this.conn.head_started();
                        }
                        match reader.check(&this.buf) {
                            Verdict::Complete(head) => {
                                this.ready = head.len;
                                this.reading = Reading::Body {
                                    tracker: BodyTracker::new(head.framing),
                                    last: head.last,
                                };
                                this.conn.head_accepted();
                                continue;
                            }
                            Verdict::Refused(refusal) => {
                                this.reading = Reading::Stopped;
                                this.conn.refuse(refusal);
                                return Poll::Pending;
                            }
                            Verdict::Partial => {}
                        }
                    }
                    if this.eof {
                        // The client gave up; hyper sees the end.
                        return Poll::Ready(Ok(()));
                    }
                    let room = (this.limits.max_head_bytes() + 1).saturating_sub(this.buf.len());
                    if room == 0 {
                        let refusal = Refusal::HeadersTooLarge(this.limits.max_header_bytes);
                        this.reading = Reading::Stopped;
                        this.conn.refuse(refusal);
                        return Poll::Pending;
                    }
                    room.min(READ_CHUNK)
                }
                Reading::Body { tracker, last } => {
                    if tracker.is_done() {
                        if *last {
                            this.reading = Reading::Stopped;
                            this.conn.last_request();
                        } else {
                            this.reading = Reading::Head {
                                reader: HeadReader::new(this.limits),
                                started: false,
                            };
                            this.conn.body_finished();
                        }
                        continue;
                    }
                    if !this.buf.is_empty() {
                        this.ready = tracker.advance(&this.buf);
                        continue;
                    }
                    if this.eof {
                        return Poll::Ready(Ok(()));
                    }
                    READ_CHUNK
                }
            };
            if ready!(this.read_more(cx, max))? == 0 {
                this.eof = true;
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
