//! The WebSocket protocol (RFC 6455), server side, as maze uses it: the
//! upgrade handshake, reading the client's frames, and framing what the
//! server sends.
//!
//! maze frames its own messages instead of going through a general-purpose
//! WebSocket library because of what fan-out needs: server frames are not
//! masked, so a broadcast's frame (header and payload) is the same bytes for
//! every subscriber. It is built once ([`Frame`]) and each connection writes
//! those bytes, many frames per system call, without copying them into a
//! per-connection buffer. An idle connection holds no read or write buffer.
//!
//! Not supported, as before: extensions (permessage-deflate is not
//! negotiated, so clients do not compress) and subprotocols.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::OptionFuture;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// Bytes asked of the kernel per read: a buffer this size exists only while
/// a connection has unread bytes (most messages are much smaller).
const READ_CHUNK: usize = 4096;

/// At most this many frames per `writev` (Linux's IOV_MAX is 1024).
const MAX_SLICES: usize = 512;

/// Frame opcodes (RFC 6455 §5.2).
mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

// ---------------------------------------------------------------------------
// The handshake

/// A WebSocket upgrade request (HTTP/1.1), as an extractor: it is rejected
/// the way axum's `WebSocketUpgrade` rejects one.
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let reject = |status: StatusCode, reason: &'static str| (status, reason).into_response();
        if parts.method != Method::GET {
            return Err(reject(StatusCode::METHOD_NOT_ALLOWED, "Request method must be `GET`"));
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(reject(StatusCode::BAD_REQUEST, "Connection header did not include 'upgrade'"));
        }
        if !header_is(&parts.headers, header::UPGRADE, "websocket") {
            return Err(reject(StatusCode::BAD_REQUEST, "`Upgrade` header did not include 'websocket'"));
        }
        if !header_is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Version` header did not include '13'",
            ));
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err(reject(StatusCode::BAD_REQUEST, "`Sec-WebSocket-Key` header missing"));
        };
        let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return Err(reject(
                StatusCode::UPGRADE_REQUIRED,
                "WebSocket request couldn't be upgraded since no upgrade state was present",
            ));
        };
        Ok(Upgrade { key, on_upgrade })
    }
}

impl Upgrade {
    /// The `101 Switching Protocols` response; once it is sent, `serve`
    /// runs with the connection.
    pub(crate) fn on_upgrade<F, Fut>(self, serve: F) -> Response
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let upgraded = self.on_upgrade.map(|upgraded| match upgraded {
            Ok(upgraded) => Some(serve(Connection::new(upgraded))),
            Err(error) => {
                tracing::debug!(target: "maze", %error, "WebSocket upgrade failed");
                None
            }
        });
        // Combinators, not an async block: the task holds either the upgrade
        // or the connection, never both.
        tokio::spawn(upgraded.then(OptionFuture::from).map(drop));
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
            .header(header::UPGRADE, HeaderValue::from_static("websocket"))
            .header(header::SEC_WEBSOCKET_ACCEPT, accept_key(self.key.as_bytes()))
            .body(Body::empty())
            .expect("a valid response")
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
fn accept_key(key: &[u8]) -> HeaderValue {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::try_from(accept).expect("base64 is a valid header value")
}

fn header_is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers.get(name).is_some_and(|header| header.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

fn header_has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|header| {
        header.to_str().is_ok_and(|value| value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

// ---------------------------------------------------------------------------
// The connection

/// An upgraded connection, split into the reading and the writing half.
pub(crate) struct Connection {
    pub(crate) reader: FrameReader,
    pub(crate) writer: FrameWriter,
}

impl Connection {
    fn new(upgraded: hyper::upgrade::Upgraded) -> Connection {
        // Served by axum over TCP (maze's own server): the socket itself, so
        // that reading can wait for readiness without holding a buffer.
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let (read, write) = parts.io.into_inner().into_split();
                Connection {
                    reader: FrameReader::new(Source::Tcp(read), parts.read_buf.to_vec()),
                    writer: FrameWriter { sink: Box::new(write) },
                }
            }
            Err(upgraded) => {
                let (read, write) = tokio::io::split(TokioIo::new(upgraded));
                Connection {
                    reader: FrameReader::new(Source::Other(Box::new(read)), Vec::new()),
                    writer: FrameWriter { sink: Box::new(write) },
                }
            }
        }
    }
}

enum Source {
    Tcp(OwnedReadHalf),
    Other(Box<dyn AsyncRead + Send + Unpin>),
}

/// What a client sent: one message (fragments reassembled) or control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// The client closes the connection, with a status code or none.
    Close(Option<u16>),
}

/// Why the client's frames cannot be read on; each is a close code.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// A message over the size limit (1009).
    TooBig,
    /// Frames that break RFC 6455 (1002).
    Protocol(&'static str),
    /// A text message that is not UTF-8 (1007).
    NotUtf8,
    /// The connection is gone: nothing can be sent.
    Io,
}

/// Reads a client's frames.
pub(crate) struct FrameReader {
    source: Source,
    /// Bytes read and not yet parsed, from `start`; no allocation when empty.
    buffer: Vec<u8>,
    start: usize,
    /// A fragmented message being reassembled: its opcode and data so far.
    /// (Boxed: rare, and every connection's task holds this field.)
    partial: Option<Box<(u8, Vec<u8>)>>,
    max_message: usize,
}

impl FrameReader {
    fn new(source: Source, already_read: Vec<u8>) -> FrameReader {
        FrameReader { source, buffer: already_read, start: 0, partial: None, max_message: usize::MAX }
    }

    /// Messages over `bytes` end the connection (close code 1009).
    pub(crate) fn max_message_size(mut self, bytes: usize) -> FrameReader {
        self.max_message = bytes;
        self
    }

    /// Ready with the next message; `None` once the client is gone.
    /// Nothing is lost between polls: what was read stays in the buffer.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, ReadError>>> {
        loop {
            match self.parse() {
                Ok(Some(incoming)) => return Poll::Ready(Some(Ok(incoming))),
                Ok(None) => {}
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
            match std::task::ready!(self.poll_fill(cx)) {
                Ok(0) => return Poll::Ready(None),
                Ok(_) => {}
                Err(_) => return Poll::Ready(Some(Err(ReadError::Io))),
            }
        }
    }

    /// Reads more bytes into the buffer; 0 at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        match &mut self.source {
            Source::Tcp(read) => loop {
                // Wait first, allocate after: an idle connection holds no buffer.
                std::task::ready!(read.as_ref().poll_read_ready(cx))?;
                self.buffer.reserve(READ_CHUNK);
                let room = self.buffer.capacity() - self.buffer.len();
                let mut got = 0;
                // A read that leaves room in the buffer emptied the socket:
                // its readiness is cleared now (as a `WouldBlock` would), so
                // the next read waits for the next bytes instead of trying,
                // failing with EAGAIN, then waiting: one system call in two
                // when clients send now and then. (Bytes that arrive
                // meanwhile set it again: tokio clears only what it saw.)
                let buffer = &mut self.buffer;
                let result = read.as_ref().try_io(tokio::io::Interest::READABLE, || {
                    got = read.try_read_buf(buffer)?;
                    match got > 0 && got < room {
                        true => Err(io::ErrorKind::WouldBlock.into()),
                        false => Ok(got),
                    }
                });
                match result {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock && got > 0 => {
                        return Poll::Ready(Ok(got));
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        // The readiness was stale: free the buffer again before waiting.
                        if self.buffer.is_empty() {
                            self.buffer = Vec::new();
                        }
                    }
                    result => return Poll::Ready(result),
                }
            },
            Source::Other(read) => {
                let filled = self.buffer.len();
                self.buffer.resize(filled + READ_CHUNK, 0);
                let mut space = ReadBuf::new(&mut self.buffer[filled..]);
                let result = Pin::new(read).poll_read(cx, &mut space);
                let read = space.filled().len();
                self.buffer.truncate(filled + read);
                result.map_ok(|()| read)
            }
        }
    }

    /// One message or control frame from the buffer, if a whole one is there.
    fn parse(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            let Some(frame) = self.frame_at_start()? else { return Ok(None) };
            let end = self.start + frame.header + frame.length;
            let payload = &mut self.buffer[self.start + frame.header..end];
            unmask(payload, frame.mask);
            let incoming = match frame.opcode {
                opcode::TEXT | opcode::BINARY if frame.fin => Some(complete(frame.opcode, payload.to_vec())?),
                opcode::TEXT | opcode::BINARY => {
                    self.partial = Some(Box::new((frame.opcode, payload.to_vec())));
                    None
                }
                opcode::CONTINUATION => {
                    let data = &mut self.partial.as_mut().expect("checked by frame_at_start").1;
                    data.extend_from_slice(payload);
                    if frame.fin {
                        let (opcode, data) = *self.partial.take().expect("checked above");
                        Some(complete(opcode, data)?)
                    } else {
                        None
                    }
                }
                opcode::PING => Some(Incoming::Ping(payload.to_vec())),
                opcode::PONG => Some(Incoming::Pong),
                _ => Some(Incoming::Close(close_code(payload)?)),
            };
            self.start = end;
            if self.start == self.buffer.len() {
                // All parsed: give the memory back rather than keep it while idle.
                self.buffer = Vec::new();
                self.start = 0;
            }
            if incoming.is_some() {
                return Ok(incoming);
            }
        }
    }

    /// The header of the frame at `start`, once the whole frame is buffered.
    /// Checks what can be checked from the header alone, so that an
    /// oversized message is refused before its bytes are read.
    fn frame_at_start(&self) -> Result<Option<FrameHeader>, ReadError> {
        let bytes = &self.buffer[self.start..];
        let Some(header) = FrameHeader::parse(bytes)? else { return Ok(None) };
        let so_far = match (&self.partial, header.opcode) {
            (None, opcode::CONTINUATION) => return Err(ReadError::Protocol("continuation of nothing")),
            (Some(_), opcode::TEXT | opcode::BINARY) => {
                return Err(ReadError::Protocol("new message inside a fragmented one"));
            }
            (Some(partial), opcode::CONTINUATION) => partial.1.len(),
            _ => 0,
        };
        if header.opcode < opcode::CLOSE && so_far.saturating_add(header.length) > self.max_message {
            return Err(ReadError::TooBig);
        }
        let whole = header.header.checked_add(header.length).ok_or(ReadError::TooBig)?;
        Ok((bytes.len() >= whole).then_some(header))
    }
}

fn complete(opcode: u8, data: Vec<u8>) -> Result<Incoming, ReadError> {
    if opcode == opcode::BINARY {
        return Ok(Incoming::Binary(data));
    }
    String::from_utf8(data).map(Incoming::Text).map_err(|_| ReadError::NotUtf8)
}

/// A close frame's status code (RFC 6455 §5.5.1, §7.4): none, or one a
/// client may send, followed by a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, ReadError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(ReadError::Protocol("a close frame's payload starts with a two-byte code")),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    // 1004-1006 and 1015 are reserved (never sent), 1012-1014 and up to
    // 2999 are the IANA registry's, 3000-4999 the applications'.
    if !matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999) {
        return Err(ReadError::Protocol("invalid close code"));
    }
    std::str::from_utf8(reason).map_err(|_| ReadError::NotUtf8)?;
    Ok(Some(code))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// A client frame's header (RFC 6455 §5.2).
#[derive(Debug)]
struct FrameHeader {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of header before the payload.
    header: usize,
    length: usize,
}

impl FrameHeader {
    /// `None` until the whole header is there.
    fn parse(bytes: &[u8]) -> Result<Option<FrameHeader>, ReadError> {
        let [first, second, ..] = *bytes else { return Ok(None) };
        let (fin, opcode) = (first & 0x80 != 0, first & 0x0F);
        if first & 0x70 != 0 {
            return Err(ReadError::Protocol("reserved bits set (no extension was negotiated)"));
        }
        if !matches!(
            opcode,
            opcode::CONTINUATION
                | opcode::TEXT
                | opcode::BINARY
                | opcode::CLOSE
                | opcode::PING
                | opcode::PONG
        ) {
            return Err(ReadError::Protocol("unknown opcode"));
        }
        if second & 0x80 == 0 {
            return Err(ReadError::Protocol("client frames must be masked"));
        }
        let (length, at) = match second & 0x7F {
            126 => match bytes.get(2..4) {
                Some(b) => (u16::from_be_bytes([b[0], b[1]]) as u64, 4),
                None => return Ok(None),
            },
            127 => match bytes.get(2..10) {
                Some(b) if b[0] & 0x80 != 0 => {
                    return Err(ReadError::Protocol("a 64-bit length's most significant bit must be 0"));
                }
                Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
                None => return Ok(None),
            },
            short => (short as u64, 2),
        };
        if opcode >= opcode::CLOSE && (!fin || length > 125) {
            return Err(ReadError::Protocol("control frames are short and not fragmented"));
        }
        let Some(mask) = bytes.get(at..at + 4) else { return Ok(None) };
        Ok(Some(FrameHeader {
            fin,
            opcode,
            mask: mask.try_into().expect("4 bytes"),
            header: at + 4,
            // Beyond usize, it is over any limit anyway.
            length: usize::try_from(length).unwrap_or(usize::MAX),
        }))
    }
}

// ---------------------------------------------------------------------------
// Framing and writing

/// One server frame, header and payload, ready to be written to any client.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    bytes: Box<[u8]>,
}

impl Frame {
    /// A text frame.
    pub(crate) fn text(text: &str) -> Frame {
        Frame::new(opcode::TEXT, text.as_bytes())
    }

    /// A binary frame.
    pub(crate) fn binary(data: &[u8]) -> Frame {
        Frame::new(opcode::BINARY, data)
    }

    /// A close frame without a status code (the answer to one).
    pub(crate) fn close_empty() -> Frame {
        Frame::new(opcode::CLOSE, &[])
    }

    /// A ping (payload-less).
    pub(crate) fn ping() -> Frame {
        Frame::new(opcode::PING, &[])
    }

    /// A pong answering a ping's payload.
    pub(crate) fn pong(payload: &[u8]) -> Frame {
        Frame::new(opcode::PONG, payload)
    }

    /// A close frame with its status code and reason (at most 123 bytes).
    pub(crate) fn close(code: u16, reason: &str) -> Frame {
        let mut payload = code.to_be_bytes().to_vec();
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        Frame::new(opcode::CLOSE, &payload)
    }

    fn new(opcode: u8, payload: &[u8]) -> Frame {
        let mut bytes = Vec::with_capacity(payload.len() + 10);
        bytes.push(0x80 | opcode);
        match payload.len() {
            short @ 0..=125 => bytes.push(short as u8),
            medium @ 126..=0xFFFF => {
                bytes.push(126);
                bytes.extend_from_slice(&(medium as u16).to_be_bytes());
            }
            long => {
                bytes.push(127);
                bytes.extend_from_slice(&(long as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(payload);
        Frame { bytes: bytes.into_boxed_slice() }
    }

    /// Header and payload, as written.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The payload of a text frame.
    #[cfg(test)]
    pub(crate) fn text_payload(&self) -> &str {
        let header = match self.bytes[1] {
            0..=125 => 2,
            126 => 4,
            _ => 10,
        };
        std::str::from_utf8(&self.bytes[header..]).expect("text frames are built from text")
    }
}

/// Writes frames to a client.
pub(crate) struct FrameWriter {
    sink: Box<dyn AsyncWrite + Send + Unpin>,
}

impl FrameWriter {
    /// A writer to `sink`: the in-process test client's, and tests of what
    /// is written and when.
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))] // maze::testing's
    pub(crate) fn to(sink: impl AsyncWrite + Send + Unpin + 'static) -> FrameWriter {
        FrameWriter { sink: Box::new(sink) }
    }

    /// Writes `frames` in order, many per system call.
    pub(crate) async fn write<'a>(&mut self, frames: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'a>> = frames.into_iter().map(IoSlice::new).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let window = rest.len().min(MAX_SLICES);
            let written = self.sink.write_vectored(&rest[..window]).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, written);
        }
        Ok(())
    }

    /// Ends the sending direction (TCP FIN) once everything is written.
    pub(crate) async fn shutdown(&mut self) {
        let _ = Pin::new(&mut self.sink).shutdown().await;
    }
}

/// A frame the server wrote, as a client reads it.
#[derive(Debug)]
pub(crate) enum ServerFrame {
    Text(String),
    /// The close frame: its code and reason (`None`: it had none).
    Close(Option<(u16, String)>),
}

/// The first whole server frame in `bytes` (server frames are unmasked and,
/// from maze, never fragmented), and how many bytes it took; `None` inside
/// for frames a client does not show (pings, Amber's text keep-alive). For
/// the clients that read what a connection writes in process: the test
/// client, and long-poll sessions.
pub(crate) fn parse_server_frame(bytes: &[u8]) -> Option<(Option<ServerFrame>, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let (length, header) = match second & 0x7F {
        126 => (u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize, 10),
        short => (short as usize, 2),
    };
    let payload = bytes.get(header..header + length)?;
    let frame = match first & 0x0F {
        opcode::TEXT => Some(String::from_utf8_lossy(payload).into_owned())
            .filter(|text| text != "ping")
            .map(ServerFrame::Text),
        opcode::CLOSE => Some(ServerFrame::Close(payload.get(..2).map(|code| {
            (u16::from_be_bytes([code[0], code[1]]), String::from_utf8_lossy(&payload[2..]).into_owned())
        }))),
        _ => None,
    };
    Some((frame, header + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a browser sends it: masked.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n @ 0..=125 => bytes.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                bytes.push(0x80 | 127);
                bytes.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&mask);
        bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        bytes
    }

    /// Everything `bytes` holds, parsed, with the first error last.
    fn parse_all(bytes: Vec<u8>, max: usize) -> Vec<Result<Incoming, ReadError>> {
        let mut reader =
            FrameReader::new(Source::Other(Box::new(tokio::io::empty())), bytes).max_message_size(max);
        let mut parsed = Vec::new();
        loop {
            match reader.parse() {
                Ok(Some(incoming)) => parsed.push(Ok(incoming)),
                Ok(None) => return parsed,
                Err(error) => {
                    parsed.push(Err(error));
                    return parsed;
                }
            }
        }
    }

    #[test]
    fn text_frames_of_every_length_class_are_unmasked() {
        for length in [0, 5, 125, 126, 65_535, 65_536] {
            let text = "x".repeat(length);
            let parsed = parse_all(client_frame(true, opcode::TEXT, text.as_bytes()), usize::MAX);
            assert_eq!(parsed, vec![Ok(Incoming::Text(text))], "length {length}");
        }
    }

    #[test]
    fn a_frame_arriving_in_pieces_is_parsed_once_whole() {
        let frame = client_frame(true, opcode::TEXT, b"hello");
        for cut in 0..frame.len() {
            assert_eq!(parse_all(frame[..cut].to_vec(), 100), vec![], "cut at {cut}");
        }
        let mut reader = FrameReader::new(Source::Other(Box::new(tokio::io::empty())), frame[..3].to_vec());
        assert_eq!(reader.parse(), Ok(None));
        reader.buffer.extend_from_slice(&frame[3..]);
        assert_eq!(reader.parse(), Ok(Some(Incoming::Text("hello".into()))));
        assert_eq!(reader.buffer.capacity(), 0, "nothing held once all is parsed");
    }

    #[test]
    fn fragments_are_reassembled_around_control_frames() {
        let mut bytes = client_frame(false, opcode::TEXT, b"hel");
        bytes.extend(client_frame(true, opcode::PING, b"p"));
        bytes.extend(client_frame(false, opcode::CONTINUATION, "lo ".as_bytes()));
        bytes.extend(client_frame(true, opcode::CONTINUATION, "wörld".as_bytes()));
        assert_eq!(
            parse_all(bytes, 100),
            vec![Ok(Incoming::Ping(b"p".to_vec())), Ok(Incoming::Text("hello wörld".into()))]
        );
    }

    #[test]
    fn oversized_messages_are_refused_from_the_header() {
        // Only the header arrived: the size alone ends it.
        let header = client_frame(true, opcode::TEXT, &[b'a'; 200])[..8].to_vec();
        assert_eq!(parse_all(header, 100), vec![Err(ReadError::TooBig)]);
        // Fragments count together.
        let mut bytes = client_frame(false, opcode::TEXT, &[b'a'; 60]);
        bytes.extend(client_frame(true, opcode::CONTINUATION, &[b'a'; 60]));
        assert_eq!(parse_all(bytes, 100), vec![Err(ReadError::TooBig)]);
        assert_eq!(parse_all(client_frame(true, opcode::TEXT, &[b'a'; 100]), 100).len(), 1);
    }

    #[test]
    fn protocol_violations_are_errors() {
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        assert!(matches!(parse_all(unmasked, 100)[..], [Err(ReadError::Protocol(_))]));
        let mut reserved = client_frame(true, opcode::TEXT, b"hi");
        reserved[0] |= 0x40;
        assert!(matches!(parse_all(reserved, 100)[..], [Err(ReadError::Protocol(_))]));
        let unknown = client_frame(true, 0x3, b"hi");
        assert!(matches!(parse_all(unknown, 100)[..], [Err(ReadError::Protocol(_))]));
        let fragmented_ping = client_frame(false, opcode::PING, b"");
        assert!(matches!(parse_all(fragmented_ping, 100)[..], [Err(ReadError::Protocol(_))]));
        let orphan = client_frame(true, opcode::CONTINUATION, b"hi");
        assert!(matches!(parse_all(orphan, 100)[..], [Err(ReadError::Protocol(_))]));
        let mut interleaved = client_frame(false, opcode::TEXT, b"a");
        interleaved.extend(client_frame(true, opcode::TEXT, b"b"));
        assert!(matches!(parse_all(interleaved, 100)[..], [Err(ReadError::Protocol(_))]));
        let not_utf8 = client_frame(true, opcode::TEXT, &[0xFF, 0xFE]);
        assert_eq!(parse_all(not_utf8, 100), vec![Err(ReadError::NotUtf8)]);
    }

    #[test]
    fn close_binary_and_pong_are_reported() {
        let mut bytes = client_frame(true, opcode::BINARY, &[1, 2]);
        bytes.extend(client_frame(true, opcode::PONG, b""));
        bytes.extend(client_frame(true, opcode::CLOSE, &1000u16.to_be_bytes()));
        assert_eq!(
            parse_all(bytes, 100),
            vec![Ok(Incoming::Binary(vec![1, 2])), Ok(Incoming::Pong), Ok(Incoming::Close(Some(1000)))]
        );
    }

    #[test]
    fn close_frames_are_checked_as_rfc_6455_says() {
        let close = |payload: &[u8]| parse_all(client_frame(true, opcode::CLOSE, payload), 100);
        let with = |code: u16, reason: &[u8]| [&code.to_be_bytes()[..], reason].concat();
        assert_eq!(close(b""), vec![Ok(Incoming::Close(None))]);
        assert_eq!(close(&with(3000, b"bye")), vec![Ok(Incoming::Close(Some(3000)))]);
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
            assert_eq!(close(&with(code, b"")), vec![Ok(Incoming::Close(Some(code)))], "{code}");
        }
        assert!(matches!(close(&[0x03])[..], [Err(ReadError::Protocol(_))]), "a one-byte payload");
        for code in [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(matches!(close(&with(code, b""))[..], [Err(ReadError::Protocol(_))]), "{code}");
        }
        assert_eq!(
            close(&with(1000, &[0xCE, 0xBA, 0xE1])),
            vec![Err(ReadError::NotUtf8)],
            "a reason cut mid-character"
        );
    }

    #[test]
    fn a_64_bit_length_with_its_top_bit_set_is_refused() {
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        assert!(matches!(parse_all(frame, usize::MAX)[..], [Err(ReadError::Protocol(_))]));
        // The largest length allowed: over the limit, refused from the header;
        // with none, the reader waits for the rest, holding only what came.
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        assert_eq!(parse_all(frame.clone(), 100), vec![Err(ReadError::TooBig)]);
        assert_eq!(parse_all(frame, usize::MAX), vec![]);
    }

    proptest::proptest! {
        /// Whatever bytes a client sends, however they are cut into reads,
        /// the reader answers with messages or an error: it never panics,
        /// and it buffers no more than what arrived.
        #[test]
        fn any_bytes_in_any_pieces_are_read_without_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            cuts in proptest::collection::vec(0usize..512, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut reader = FrameReader::new(Source::Other(Box::new(tokio::io::empty())), Vec::new()).max_message_size(256);
            let mut from = 0;
            'pieces: for to in cuts.into_iter().chain([bytes.len()]) {
                reader.buffer.extend_from_slice(&bytes[from..to]);
                from = to;
                proptest::prop_assert!(reader.buffer.len() <= bytes.len());
                loop {
                    match reader.parse() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => break 'pieces,
                    }
                }
            }
        }
    }

    #[test]
    fn server_frames_carry_their_length_and_are_not_masked() {
        assert_eq!(Frame::text("hi").as_bytes(), &[0x81, 2, b'h', b'i']);
        let medium = Frame::text(&"m".repeat(300));
        assert_eq!(&medium.as_bytes()[..4], &[0x81, 126, 1, 44]);
        assert_eq!(medium.text_payload().len(), 300);
        let long = Frame::text(&"l".repeat(70_000));
        assert_eq!(&long.as_bytes()[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(long.text_payload().len(), 70_000);
        assert_eq!(Frame::close(1000, "bye").as_bytes(), &[0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
        assert_eq!(Frame::close(1000, &"é".repeat(100)).as_bytes()[1], 2 + 122, "cut at a char boundary");
        assert_eq!(Frame::ping().as_bytes(), &[0x89, 0]);
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
