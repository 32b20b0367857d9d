//! One WebSocket connection, served by one task, in two halves:
//!
//! - the **reader** (`reader.rs`, `dispatch.rs`) owns the connection's
//!   socket value and joined channels: it reads the client's frames and
//!   runs the callbacks, one at a time and each contained (a panic ends
//!   this connection, or one Phoenix channel, never the server);
//! - the **writer** (`writer.rs`) owns the sending half: replies, pushes and
//!   broadcasts arrive through one bounded queue and are written in batches
//!   (one `writev` per burst), with the pings, the idle timeout and the
//!   closing frame.
//!
//! This file accepts a connection (`on_connect`) and runs the task that
//! polls both halves. While a callback runs (and awaits), the task goes on
//! writing (`handle_while_writing`): a callback never delays what other
//! connections receive, nor the broadcasts and pings of its own. Every way
//! a connection ends (client close, error, idle timeout, slow consumer,
//! oversized message, panic, server shutdown, disconnect by id) runs the
//! same cleanup: each channel's `leave`, the socket's `on_disconnect`,
//! every subscription released. The in-process test client
//! (`crate::testing`) runs the same two halves over an in-memory stream.

use futures_util::FutureExt;
use futures_util::future::OptionFuture;
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Poll, ready};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval_at};

mod corked;
mod dispatch;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

use reader::*;
use writer::*;

use super::topics::DynChannel;
use super::{Connect, Context, Endpoint, Limits, Message, Socket};
use crate::history::Recovery;
use crate::hub::{DISCONNECT, identity_topic};
use crate::protocol::{DecodeError, Inbound, InboundKind, Outbound, Protocol};
use crate::pubsub::mailbox::{self, Drained};
use crate::pubsub::{self, Broadcast, Outgoing, Subscriber};
use crate::telemetry;
use crate::websocket::{self, Frame, FrameReader, FrameWriter, Incoming, ReadError};

/// A batch of at least this many items is a burst: the writer keeps its
/// buffers for the next one rather than allocate them again.
const BURST: usize = 32;

/// Close codes (RFC 6455 and the registry).
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The close frame to send as a connection ends; `None` sends none (the
/// client closed, or cannot be written to).
pub(crate) type Closing = Option<(u16, &'static str)>;

const CRASHED: (u16, &str) = (close::INTERNAL_ERROR, "internal error");

/// How long a reply waits for its callback's broadcasts to be delivered
/// (Redis unreachable: then they are delivered locally anyway).
const REPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Broadcasts a connection's callbacks made that may wait for delivery at
/// once, before its reader waits too.
const IN_FLIGHT: usize = 64;

/// How long a write in progress may go on once the client is known to be
/// too slow (its queue is full), so that it ends with a whole frame.
const FINISH_WRITE: std::time::Duration = std::time::Duration::from_secs(1);

const TOO_SLOW: Closing = Some((close::TRY_AGAIN_LATER, "too slow: outbound queue full"));

/// How long a connection the server closes waits for the client's close
/// frame before it closes the TCP connection.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The subject of the message that tells a client asking for history where
/// the topic stands, and whether what it missed was recovered.
pub(crate) const RECOVERY: &str = "maze_recovery";

/// A user callback panicked (the panic hook has logged it).
#[derive(Debug)]
pub(crate) struct Panicked;

/// Runs a user callback, turning a panic into [`Panicked`].
async fn contained<F: Future>(callback: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(callback).catch_unwind().await.map_err(|_| Panicked)
}

/// [`contained`], timed and reported: `callback` (`join`...) of `owner` (a
/// channel or socket type).
async fn run_callback<F: Future>(
    callback: &'static str,
    owner: &'static str,
    future: F,
) -> Result<F::Output, Panicked> {
    let started = std::time::Instant::now();
    let result = contained(future).await;
    telemetry::callback(callback, owner, started.elapsed());
    if result.is_err() {
        telemetry::panic_contained(callback, owner);
    }
    result
}

/// The socket type `S`, as telemetry labels it.
pub(crate) fn socket_type<S>() -> &'static str {
    crate::type_names::in_crate(std::any::type_name::<S>())
}

pub(crate) fn run<S: Socket<St>, St: Clone + Send + Sync + 'static>(
    connection: websocket::Connection,
    connect: Connect<St>,
    endpoint: Endpoint<S, St>,
    serializer: Protocol,
) -> impl Future<Output = ()> + Send {
    // Boxed: `on_connect` and what opening needs are gone from the task once
    // the connection runs, which is most of its life.
    // (A combinator, not an async block: that would hold the connection twice.)
    // Corked: what its callbacks broadcast is delivered when the task waits.
    corked::Corked::new(
        endpoint.hub.clone(),
        Box::pin(open(connection, connect, endpoint, serializer))
            .then(|opened| OptionFuture::from(opened.map(Opened::serve)))
            .map(drop),
    )
}

/// An accepted connection: its reader (callbacks, channels) and its writer,
/// served by one task.
struct Opened<S, St> {
    reader: Reader<S, St>,
    frames: ClientFrames,
    writer: Writer,
}

/// Runs `on_connect`; when it accepts, returns the connection to serve;
/// when not, sends the close frame.
async fn open<S: Socket<St>, St: Clone + Send + Sync + 'static>(
    connection: websocket::Connection,
    connect: Connect<St>,
    endpoint: Endpoint<S, St>,
    serializer: Protocol,
) -> Option<Opened<S, St>> {
    let tracked = endpoint.shutdown.track();
    let websocket::Connection { reader, writer: mut sink } = connection;
    let socket = match accept::<S, St>(&connect).await {
        Ok(socket) => socket,
        Err((code, reason)) => {
            let _ = sink.write([Frame::close(code, &reason).as_bytes()]).await;
            sink.shutdown().await;
            return None;
        }
    };
    let limits = endpoint.limits.clone();
    let frames = ClientFrames::WebSocket(reader.max_message_size(limits.max_message_size));
    let (reader, outgoing) = Reader::new(socket, connect, endpoint, serializer);
    let writer = Writer::new(sink, serializer, outgoing, limits, socket_type::<S>(), tracked);
    Some(Opened { reader, frames, writer })
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Opened<S, St> {
    /// The connection's life: the client's messages are handled one at a
    /// time, and while a callback runs (it may await) what is queued for the
    /// client is still written, pings sent and limits enforced. One task per
    /// connection, whose state while idle is this loop's.
    #[allow(clippy::manual_async_fn)] // An `async fn` is what this avoids (see below).
    fn serve(mut self) -> impl Future<Output = ()> + Send {
        // The parts are used in place, in the block that owns them: an
        // `async fn` taking them by value would keep a second copy of them
        // in the task for as long as the connection lives.
        async move { self.serve_in_place().await }
    }

    async fn serve_in_place(&mut self) {
        let Opened { reader, frames, writer } = self;
        let identity = reader.begin();
        let mut timer = writer.timer();
        // Whose turn it is to be polled first when both are ready: a client
        // is read even while there is always something to write, and the
        // reverse.
        let mut reader_first = false;
        let ending = loop {
            // Polled, not a `select!` of futures: waiting, an idle
            // connection's task holds nothing but the connection.
            reader_first = !reader_first;
            let next = std::future::poll_fn(|cx| {
                if reader_first {
                    let incoming = reader.poll_next_incoming(cx, frames).map(Next::Incoming);
                    if incoming.is_ready() {
                        return incoming;
                    }
                    writer.poll_duty(cx, &mut timer).map(Next::Duty)
                } else {
                    let duty = writer.poll_duty(cx, &mut timer).map(Next::Duty);
                    if duty.is_ready() {
                        return duty;
                    }
                    reader.poll_next_incoming(cx, frames).map(Next::Incoming)
                }
            });
            let ended = match next.await {
                // Boxed: no room for a callback's state in an idle connection's task.
                Next::Incoming(incoming) => {
                    Box::pin(handle_while_writing(reader, writer, &mut timer, incoming)).await
                }
                // Boxed, as above: no room for a write in progress either.
                Next::Duty(duty) => Box::pin(writer.perform(duty, &mut timer)).await,
            };
            if let Some(ending) = ended {
                break ending;
            }
        };
        let (closing, write_it) = match ending {
            Ending::ReaderDone(closing) => (closing, true),
            Ending::Stop(closing) | Ending::Abort(closing) => {
                // Sends of the cleanup below fail at once.
                writer.outgoing.close();
                (closing, matches!(ending, Ending::Stop(_)))
            }
        };
        let closing = Box::pin(reader.end(closing, identity)).await;
        Box::pin(writer.close(closing, write_it)).await;
        if write_it && !reader.client_closed {
            // The closing handshake: the client answers with its close
            // frame, then the TCP connection closes (RFC 6455 §7.1.1).
            let answered = std::future::poll_fn(|cx| {
                loop {
                    match std::task::ready!(frames.poll_next(cx)) {
                        Some(Ok(Incoming::Close(_))) | Some(Err(_)) | None => return Poll::Ready(()),
                        Some(Ok(_)) => {}
                    }
                }
            });
            // Boxed: no room for a timer in an idle connection's task.
            let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, answered)).await;
        }
        Box::pin(writer.sink.shutdown()).await;
    }
}

/// Handles one thing the client sent while going on writing; `Some` when the
/// connection ends. Once the writer has decided that it ends, the callback
/// still runs to its end (its sends fail at once), then the writer's reason
/// stands.
async fn handle_while_writing<S: Socket<St>, St: Clone + Send + Sync + 'static>(
    reader: &mut Reader<S, St>,
    writer: &mut Writer,
    timer: &mut Timer,
    incoming: Option<Result<Incoming, ReadError>>,
) -> Option<Ending> {
    let handling = reader.on_incoming(incoming);
    tokio::pin!(handling);
    let mut decided = None;
    loop {
        tokio::select! {
            finished = &mut handling => {
                return decided.or(finished.map(Ending::ReaderDone));
            }
            duty = std::future::poll_fn(|cx| writer.poll_duty(cx, timer)), if decided.is_none() => {
                // While it is written, the callback waits (in the same task).
                if let Some(ending) = writer.perform(duty, timer).await {
                    writer.outgoing.close();
                    decided = Some(ending);
                }
            }
        }
    }
}

/// A new connection's socket value, as `on_connect` left it; or, when it
/// refused (or panicked), the close code and reason to send.
pub(crate) async fn accept<S: Socket<St>, St: Clone + Send + Sync + 'static>(
    connect: &Connect<St>,
) -> Result<S, (u16, String)> {
    let mut socket = S::default();
    let owner = socket_type::<S>();
    let connecting = run_callback("on_connect", owner, socket.on_connect(connect));
    let (connected, refusal) = super::REFUSAL
        .scope(Default::default(), async {
            let connected = connecting.await;
            (connected, super::REFUSAL.with(|refusal| refusal.take()))
        })
        .await;
    match connected {
        Ok(true) => {
            telemetry::connect_accepted(owner);
            Ok(socket)
        }
        Ok(false) => {
            let reason = refusal.unwrap_or_else(|| "refused by on_connect".into());
            telemetry::connect_refused_by_socket(owner, &reason);
            Err((close::POLICY, reason))
        }
        Err(Panicked) => {
            telemetry::connect_refused(owner, "panic");
            Err((CRASHED.0, CRASHED.1.into()))
        }
    }
}

/// Where a connection's reader gets the client's messages.
pub(crate) enum ClientFrames {
    /// A client over the network.
    WebSocket(FrameReader),
    /// The in-process test client (`crate::testing`).
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))] // maze::testing's
    InProcess(mpsc::UnboundedReceiver<Incoming>),
    /// A long-poll session (`super::longpoll`): what its POSTs carried, and
    /// a `Pong` per poll (polls are its heartbeats). Bounded: a POST waits
    /// while the reader is behind.
    LongPoll(mpsc::Receiver<Incoming>),
}

impl ClientFrames {
    fn poll_next(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<Incoming, ReadError>>> {
        match self {
            ClientFrames::WebSocket(reader) => reader.poll_next(cx),
            ClientFrames::InProcess(frames) => frames.poll_recv(cx).map(|frame| frame.map(Ok)),
            ClientFrames::LongPoll(frames) => frames.poll_recv(cx).map(|frame| frame.map(Ok)),
        }
    }
}

/// Serves an accepted connection in process: the same reader and writer,
/// in one task, as a WebSocket client's, reading the client's messages from
/// `frames` and writing WebSocket frames to `sink`, for the in-process test
/// client (`crate::testing`, maze JSON) and long-poll sessions. `limits`
/// are the endpoint's, or a long-poll session's (its own idle timeout).
pub(crate) fn serve_in_process<S: Socket<St>, St: Clone + Send + Sync + 'static>(
    socket: S,
    connect: Connect<St>,
    endpoint: Endpoint<S, St>,
    serializer: Protocol,
    limits: Arc<Limits>,
    frames: ClientFrames,
    sink: impl tokio::io::AsyncWrite + Send + Unpin + 'static,
) -> JoinHandle<()> {
    let (hub, tracked) = (endpoint.hub.clone(), endpoint.shutdown.track());
    let (reader, outgoing) = Reader::new(socket, connect, endpoint, serializer);
    let writer =
        Writer::new(FrameWriter::to(sink), serializer, outgoing, limits, socket_type::<S>(), tracked);
    let opened = Opened { reader, frames, writer };
    tokio::spawn(corked::Corked::new(hub, opened.serve()))
}

/// Why reading failed, as the close frame to send.
fn read_error(error: ReadError) -> Closing {
    match error {
        ReadError::TooBig => Some((close::TOO_BIG, "message too big")),
        ReadError::Protocol(reason) => Some((close::PROTOCOL_ERROR, reason)),
        ReadError::NotUtf8 => Some((close::INVALID_PAYLOAD, "text messages must be UTF-8")),
        ReadError::Io => None,
    }
}
