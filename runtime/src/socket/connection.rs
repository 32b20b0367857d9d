//! One WebSocket connection, served by one task, in two halves:
//!
//! - the **reader** owns the connection's socket value and joined channels:
//!   it reads the client's frames and runs the callbacks, one at a time and
//!   each contained (a panic ends this connection, or one Phoenix channel,
//!   never the server);
//! - the **writer** owns the sending half: replies, pushes and broadcasts
//!   arrive through one bounded queue and are written in batches (one
//!   `writev` per burst), with the pings, the idle timeout and the closing
//!   frame.
//!
//! While a callback runs (and awaits), the task goes on writing
//! (`handle_while_writing`): a callback never delays what other connections
//! receive, nor the broadcasts and pings of its own. Every way a connection
//! ends (client close, error, idle timeout, slow consumer, oversized
//! message, panic, server shutdown, disconnect by id) runs the same cleanup:
//! each channel's `leave`, the socket's `on_disconnect`, every subscription
//! released. The in-process test client (`crate::testing`) runs the same
//! reader on a task of its own and reads the queue itself.

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
fn socket_type<S>() -> &'static str {
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
    pubsub::cork::Corked::new(
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
enum ClientFrames {
    /// A client over the network.
    WebSocket(FrameReader),
    /// The in-process test client (`crate::testing`).
    InProcess(mpsc::UnboundedReceiver<Incoming>),
}

impl ClientFrames {
    fn poll_next(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<Incoming, ReadError>>> {
        match self {
            ClientFrames::WebSocket(reader) => reader.poll_next(cx),
            ClientFrames::InProcess(frames) => frames.poll_recv(cx).map(|frame| frame.map(Ok)),
        }
    }
}

/// Serves an accepted connection in process (`crate::testing`): the same
/// reader and writer, in one task, as a WebSocket client's, reading the
/// client's messages from `frames` and writing maze JSON frames to `sink`.
pub(crate) fn serve_in_process<S: Socket<St>, St: Clone + Send + Sync + 'static>(
    socket: S,
    connect: Connect<St>,
    endpoint: Endpoint<S, St>,
    frames: mpsc::UnboundedReceiver<Incoming>,
    sink: impl tokio::io::AsyncWrite + Send + Unpin + 'static,
) -> JoinHandle<()> {
    let (hub, limits, tracked) = (endpoint.hub.clone(), endpoint.limits.clone(), endpoint.shutdown.track());
    let serializer = Protocol::Maze;
    let (reader, outgoing) = Reader::new(socket, connect, endpoint, serializer);
    let writer =
        Writer::new(FrameWriter::to(sink), serializer, outgoing, limits, socket_type::<S>(), tracked);
    let opened = Opened { reader, frames: ClientFrames::InProcess(frames), writer };
    tokio::spawn(pubsub::cork::Corked::new(hub, opened.serve()))
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

/// A connection's writing half, and what decides when the connection ends.
struct Writer {
    sink: FrameWriter,
    serializer: Protocol,
    outgoing: mailbox::Receiver<Outgoing>,
    /// How many joined topics the client asked to recover (a join that
    /// asks holds the topic first, see [`Outgoing::Hold`]): broadcast
    /// frames carry their position while there is one. Others have no use for it.
    recovering: u16,
    /// Topics whose broadcasts wait for a replay (see [`Outgoing::Hold`]).
    /// (A list, not a map: there are as many as joins being replayed, few,
    /// and every connection's task holds this field.)
    holding: Vec<(String, Vec<Arc<Broadcast>>)>,
    /// What the queue held when the writer last took it.
    batch: VecDeque<Outgoing>,
    /// The frames of `batch`, in order, until they are written.
    frames: Vec<Written>,
    limits: Arc<Limits>,
    /// The socket's type, for telemetry.
    socket_type: &'static str,
    /// Counts the connection as open until the writer is dropped; tells it
    /// when the server shuts down.
    tracked: crate::shutdown::Tracked,
}

/// What woke a connection's task.
enum Next {
    Duty(Duty),
    Incoming(Option<Result<Incoming, ReadError>>),
}

/// How a connection ends.
enum Ending {
    /// The client's side: it closed, its frames broke the protocol, or a
    /// callback crashed.
    ReaderDone(Closing),
    /// The writer decides: too slow, idle, shutting down, disconnected.
    Stop(Closing),
    /// As `Stop`, but a write was cut short (the client does not read): a
    /// close frame cannot follow a partial frame, so the connection is dropped.
    Abort(Closing),
}

/// What a writer has to do (see [`Writer::poll_duty`]).
enum Duty {
    Queued(Drained),
    Tick,
    ShuttingDown,
}

/// The writer's timer (see [`Writer::timer`]).
struct Timer {
    tick: tokio::time::Interval,
    pinged: Instant,
}

/// A frame to write: a broadcast's, shared by every subscriber (written
/// from the broadcast itself, not copied), or one of this connection's.
enum Written {
    Broadcast(Arc<Broadcast>),
    /// Broadcasts as they were offered, all of them.
    Broadcasts(Arc<[Arc<Broadcast>]>),
    Own(Frame),
}

impl Written {
    fn count(&self) -> usize {
        match self {
            Written::Broadcasts(broadcasts) => broadcasts.len(),
            Written::Broadcast(_) | Written::Own(_) => 1,
        }
    }

    /// What is written, frame by frame.
    fn bytes(&self, serializer: Protocol, positions: bool) -> impl Iterator<Item = &[u8]> {
        let (own, broadcasts): (Option<&[u8]>, &[Arc<Broadcast>]) = match self {
            Written::Own(frame) => (Some(frame.as_bytes()), &[]),
            Written::Broadcast(broadcast) => (None, std::slice::from_ref(broadcast)),
            Written::Broadcasts(broadcasts) => (None, broadcasts),
        };
        own.into_iter().chain(
            broadcasts.iter().map(move |broadcast| serializer.broadcast(broadcast, positions).as_bytes()),
        )
    }
}

impl Writer {
    fn new(
        sink: FrameWriter,
        serializer: Protocol,
        outgoing: mailbox::Receiver<Outgoing>,
        limits: Arc<Limits>,
        socket_type: &'static str,
        tracked: crate::shutdown::Tracked,
    ) -> Writer {
        Writer {
            sink,
            serializer,
            outgoing,
            recovering: 0,
            holding: Vec::new(),
            batch: VecDeque::new(),
            frames: Vec::new(),
            limits,
            socket_type,
            tracked,
        }
    }

    /// One timer for the pings and for closing a client silent for
    /// `idle_timeout` (what it sends, pongs included, counts).
    fn timer(&self) -> Timer {
        let (ping_every, idle_timeout) = (self.limits.ping_interval, self.limits.idle_timeout);
        let every = ping_every.min(idle_timeout / 4).max(std::time::Duration::from_millis(10));
        Timer { tick: interval_at(Instant::now() + every, every), pinged: Instant::now() }
    }

    /// Ready with something to do: the timer, the server shutting down,
    /// what is queued for the client (in that order: a tick is due at most
    /// once per period, while a busy queue would always be ready). Only
    /// waits (see [`Writer::perform`]).
    fn poll_duty(&mut self, cx: &mut std::task::Context<'_>, timer: &mut Timer) -> Poll<Duty> {
        if timer.tick.poll_tick(cx).is_ready() {
            return Poll::Ready(Duty::Tick);
        }
        if self.tracked.poll_signalled(cx).is_ready() {
            return Poll::Ready(Duty::ShuttingDown);
        }
        self.outgoing.poll_drain(cx, &mut self.batch).map(Duty::Queued)
    }

    /// Does `duty`; `Some` when the connection must end. Not to be
    /// cancelled: it may be writing.
    async fn perform(&mut self, duty: Duty, timer: &mut Timer) -> Option<Ending> {
        match duty {
            Duty::Queued(Drained::Items) => self.write_within_limits().await,
            Duty::Queued(Drained::Overflowed) => Some(Ending::Stop(TOO_SLOW)),
            // Every sender is gone: the connection is ending anyway.
            Duty::Queued(Drained::Ended) => Some(Ending::ReaderDone(None)),
            Duty::Tick => {
                if self.outgoing.client_silent_for() >= self.limits.idle_timeout {
                    return Some(Ending::Stop(Some((close::NORMAL, "idle timeout"))));
                }
                if timer.pinged.elapsed() >= self.limits.ping_interval {
                    timer.pinged = Instant::now();
                    if self.ping().await.is_err() {
                        return Some(Ending::Stop(None));
                    }
                }
                None
            }
            Duty::ShuttingDown => Some(Ending::Stop(Some((close::GOING_AWAY, "server shutting down")))),
        }
    }

    /// [`Writer::write_batch`], for a client that may have stopped reading:
    /// when its queue fills up meanwhile, a slow client gets the rest of this
    /// write and a close frame, one that stopped reading is dropped; so is
    /// one whose write has not ended after `idle_timeout`.
    async fn write_within_limits(&mut self) -> Option<Ending> {
        let stall_limit = self.limits.idle_timeout;
        let overflow = self.outgoing.overflow_watch();
        let mut write = std::pin::pin!(self.write_batch());
        // Most writes end at once (the socket has room): no timer then.
        if let Some(ending) = (&mut write).now_or_never() {
            return ending;
        }
        tokio::select! {
            ending = &mut write => ending,
            _ = overflow.overflowed() => match tokio::time::timeout(FINISH_WRITE, &mut write).await {
                Ok(_) => Some(Ending::Stop(TOO_SLOW)),
                Err(_) => Some(Ending::Abort(TOO_SLOW)),
            },
            _ = tokio::time::sleep(stall_limit) => Some(Ending::Abort(TOO_SLOW)),
        }
    }

    /// A WebSocket ping every client answers by itself, plus Amber's text
    /// "ping". Also frees the batch buffers a connection that went quiet
    /// still holds: idle connections cost as little as they can.
    async fn ping(&mut self) -> std::io::Result<()> {
        self.batch = VecDeque::new();
        self.frames = Vec::new();
        self.outgoing.release_memory();
        let ping = Frame::ping();
        let amber = (self.serializer == Protocol::Maze).then(|| Frame::text("ping"));
        self.sink.write([Some(&ping), amber.as_ref()].into_iter().flatten().map(Frame::as_bytes)).await
    }

    /// Sends the close frame (unless a write was cut short): the server's
    /// reason, or (the client closed) the echo RFC 6455 asks for,
    /// best-effort (the client may be gone). The caller closes the stream.
    async fn close(&mut self, closing: Closing, write_it: bool) {
        if write_it {
            let (code, reason) = closing.unwrap_or((close::NORMAL, ""));
            let _ = self.sink.write([Frame::close(code, reason).as_bytes()]).await;
        }
        telemetry::disconnected(self.socket_type, closing);
    }

    /// Writes everything the queue held, in one go: a burst of broadcasts
    /// becomes one system call.
    async fn write_batch(&mut self) -> Option<Ending> {
        let mut ending = None;
        while let Some(item) = self.batch.pop_front() {
            if let Outgoing::AfterBroadcasts(after) = item {
                let (broadcasts, reply) = *after;
                for broadcast in &broadcasts {
                    let _ = tokio::time::timeout(REPLY_WAIT, broadcast.delivered.acquire()).await;
                }
                // Delivered: what they are for this client is queued by now,
                // in this batch or still in the queue. All of it goes first.
                self.outgoing.take_queued(&mut self.batch);
                self.batch.push_back(Outgoing::Frame(Box::new(reply)));
                continue;
            }
            if let Some(stop) = self.frame(item) {
                ending = Some(stop);
                self.batch.clear();
            }
        }
        let taken = self.frames.iter().map(Written::count).sum();
        telemetry::messages_out(taken);
        let (serializer, positions) = (self.serializer, self.recovering > 0);
        let frames = self.frames.iter().flat_map(|written| written.bytes(serializer, positions));
        let result = self.sink.write(frames).await;
        if taken < BURST {
            // Freed: a connection that goes quiet after a few messages holds
            // no buffer. (The queue's turn comes at the next batch, which
            // swaps this empty one in.)
            self.batch = VecDeque::new();
            self.frames = Vec::new();
        } else {
            // Kept for the burst that may follow; freed at the next ping
            // if none does (see `ping`).
            self.frames.clear();
        }
        match result {
            Err(_) => Some(Ending::Stop(None)),
            Ok(()) => ending,
        }
    }

    /// Adds what `item` becomes on the wire to `self.frames`; `Some` when the
    /// connection must end after what came before it.
    fn frame(&mut self, item: Outgoing) -> Option<Ending> {
        match item {
            Outgoing::Broadcast(broadcast) if broadcast.topic.starts_with('\u{1}') => {
                if broadcast.subject == DISCONNECT {
                    return Some(Ending::Stop(Some((close::NORMAL, "disconnected by the server"))));
                }
            }
            Outgoing::Broadcast(broadcast) => {
                match self.holding.iter_mut().find(|(topic, _)| *topic == broadcast.topic) {
                    // What waits for a replay counts against the queue's
                    // bound too: a client whose recovery is that slow
                    // reconnects and recovers from where it was.
                    Some((_, held)) if held.len() >= self.limits.outbound_queue => {
                        return Some(Ending::Stop(TOO_SLOW));
                    }
                    Some((_, held)) => held.push(broadcast),
                    None => self.frames.push(Written::Broadcast(broadcast)),
                }
            }
            // One topic's: written as they are, unless the topic is held (or the runtime's own).
            Outgoing::Broadcasts(broadcasts) => {
                let topic = &broadcasts[0].topic;
                if topic.starts_with('\u{1}') || self.holding.iter().any(|(held, _)| held == topic) {
                    for broadcast in broadcasts.iter() {
                        if let Some(stop) = self.frame(Outgoing::Broadcast(broadcast.clone())) {
                            return Some(stop);
                        }
                    }
                } else {
                    self.frames.push(Written::Broadcasts(broadcasts));
                }
            }
            Outgoing::Frame(frame) => {
                if let Some(text) = self.serializer.encode(&frame) {
                    self.frames.push(Written::Own(Frame::text(&text)));
                }
            }
            Outgoing::Hold(topic) => {
                self.recovering += 1;
                self.holding.retain(|(held, _)| *held != topic);
                self.holding.push((topic, Vec::new()));
            }
            Outgoing::Replay(replay) => {
                let (topic, recovery) = *replay;
                self.replay(topic, recovery);
            }
            Outgoing::LeftRecovering => self.recovering = self.recovering.saturating_sub(1),
            Outgoing::Pong(pong) => self.frames.push(Written::Own(*pong)),
            // `write_batch` waits for the broadcasts first; the reply is a frame like any other.
            Outgoing::AfterBroadcasts(after) => return self.frame(Outgoing::Frame(Box::new(after.1))),
        }
        None
    }

    /// What the client missed, its position (`maze_recovery`), then the
    /// broadcasts held meanwhile: each once, in order. After a recovery, a
    /// held broadcast the replay already sent is not sent again.
    fn replay(&mut self, topic: String, recovery: Recovery) {
        let replayed_up_to = recovery.position.clone().filter(|_| recovery.recovered == Some(true));
        let status =
            Outbound::Message { topic: topic.clone(), subject: RECOVERY.into(), payload: recovery.payload() };
        self.frames.extend(recovery.missed.into_iter().map(Written::Broadcast));
        self.frames.extend(self.serializer.encode(&status).map(|text| Written::Own(Frame::text(&text))));
        let held = match self.holding.iter().position(|(held, _)| *held == topic) {
            Some(at) => self.holding.swap_remove(at).1,
            None => Vec::new(),
        };
        for broadcast in held {
            let sent = match (broadcast.position(), &replayed_up_to) {
                (Some(position), Some(up_to)) => {
                    position.epoch == up_to.epoch && position.offset <= up_to.offset
                }
                _ => false,
            };
            if !sent {
                self.frames.push(Written::Broadcast(broadcast));
            }
        }
    }
}

struct Joined<S, St> {
    channel: Box<dyn DynChannel<S, St>>,
    join_ref: Option<Value>,
    channel_type: &'static str,
    /// Alive while the channel is joined: [`super::Client`] handles hold a weak reference.
    token: Arc<()>,
    /// Joined asking for recovery: the writer counts it (see [`Outgoing::Hold`]).
    recovering: bool,
}

/// A connection's joined channels, by topic. Few per connection (at most
/// `max_channels`): a list searched in order, sized to what it holds, costs
/// an idle connection less than a map.
struct JoinedTopics<S, St>(Vec<(String, Joined<S, St>)>);

impl<S, St> Default for JoinedTopics<S, St> {
    fn default() -> Self {
        JoinedTopics(Vec::new())
    }
}

impl<S, St> JoinedTopics<S, St> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get_mut(&mut self, topic: &str) -> Option<&mut Joined<S, St>> {
        self.0.iter_mut().find(|(joined, _)| joined == topic).map(|(_, joined)| joined)
    }

    fn remove(&mut self, topic: &str) -> Option<Joined<S, St>> {
        let at = self.0.iter().position(|(joined, _)| joined == topic)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Adds a channel; its topic must not be joined already.
    fn insert(&mut self, topic: String, joined: Joined<S, St>) {
        self.0.reserve_exact(1);
        self.0.push((topic, joined));
    }
}

struct Reader<S, St> {
    conn: Conn<S, St>,
    /// Joined topics and their channels. Apart from the rest, so that
    /// awaiting with `&Conn` borrowed never needs the channels to be `Sync`.
    joined: JoinedTopics<S, St>,
    /// Broadcasts its callbacks made that are not delivered yet (see `message`).
    in_flight: VecDeque<Arc<Broadcast>>,
    /// The client sent its close frame (or its stream ended): no need to wait for it.
    client_closed: bool,
}

/// The connection as its callbacks see it.
struct Conn<S, St> {
    socket: S,
    connect: Connect<St>,
    endpoint: Endpoint<S, St>,
    serializer: Protocol,
    /// This connection's queue to the writer, and its id in the pub/sub.
    link: Subscriber,
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Reader<S, St> {
    /// The reader of an accepted connection, and the queue its writer reads.
    fn new(
        socket: S,
        connect: Connect<St>,
        endpoint: Endpoint<S, St>,
        serializer: Protocol,
    ) -> (Reader<S, St>, mailbox::Receiver<Outgoing>) {
        let (queue, outgoing) = mailbox::bounded(endpoint.limits.outbound_queue);
        let link = Subscriber::connection(pubsub::next_id(), queue);
        let reader = Reader {
            conn: Conn { socket, connect, endpoint, serializer, link },
            joined: JoinedTopics::default(),
            in_flight: VecDeque::new(),
            client_closed: false,
        };
        (reader, outgoing)
    }

    /// Subscribes the socket's identity topic, if it has an id (see
    /// [`crate::socket::disconnect`]); returns it, for [`Reader::end`].
    fn begin(&mut self) -> Option<String> {
        let identity = self.conn.socket.id().map(|id| identity_topic(&id));
        if let Some(topic) = &identity {
            self.conn.hub().pubsub().subscribe(topic, self.conn.link.clone());
        }
        identity
    }

    /// What the client sent next, when it has sent something. It waits for
    /// room for what it will bring back first: a client that sends faster
    /// than it reads is slowed down (its socket is not read), not dropped
    /// for overflowing its own queue.
    fn poll_next_incoming(
        &mut self,
        cx: &mut std::task::Context<'_>,
        frames: &mut ClientFrames,
    ) -> Poll<Option<Result<Incoming, ReadError>>> {
        ready!(self.conn.link.poll_wait_for_room(cx));
        let incoming = ready!(frames.poll_next(cx));
        if let Some(Ok(_)) = incoming {
            // The writer times out a silent client.
            self.conn.link.heard_from_client();
        }
        Poll::Ready(incoming)
    }

    /// Handles what the client sent; `Some` (with the close frame to send)
    /// when the connection ends.
    async fn on_incoming(&mut self, incoming: Option<Result<Incoming, ReadError>>) -> Option<Closing> {
        let handled = match incoming {
            None => {
                self.client_closed = true;
                return Some(None);
            }
            // The echo RFC 6455 asks for: the client's own code.
            Some(Ok(Incoming::Close(code))) => {
                self.client_closed = true;
                return Some(code.map(|code| (code, "")));
            }
            Some(Err(error)) => return Some(read_error(error)),
            Some(Ok(Incoming::Text(text))) => self.handle(&text).await,
            Some(Ok(Incoming::Binary(_))) => {
                self.conn.reply_error("binary frames are not supported").await;
                Ok(())
            }
            Some(Ok(Incoming::Ping(payload))) => {
                self.conn.link.send(Outgoing::Pong(Box::new(Frame::pong(&payload)))).await;
                Ok(())
            }
            Some(Ok(Incoming::Pong)) => Ok(()),
        };
        handled.err().map(|Panicked| Some(CRASHED))
    }

    /// The cleanup every ending runs: each channel's `leave`, the socket's
    /// `on_disconnect`, the identity topic released.
    async fn end(&mut self, closing: Closing, identity: Option<String>) -> Closing {
        self.leave_all().await;
        let disconnected =
            run_callback("on_disconnect", socket_type::<S>(), self.conn.socket.on_disconnect()).await;
        if let Some(topic) = &identity {
            self.conn.hub().pubsub().unsubscribe(topic, self.conn.link.id);
        }
        match disconnected {
            Ok(()) => closing,
            Err(Panicked) => closing.map(|_| CRASHED),
        }
    }

    /// Handles one text frame; `Err` when a callback panicked and the
    /// connection must close.
    async fn handle(&mut self, text: &str) -> Result<(), Panicked> {
        // Amber's client answers the server's keep-alive; nothing to do.
        if self.conn.serializer == Protocol::Maze && (text == "pong" || text == "ping") {
            return Ok(());
        }
        telemetry::message_in();
        let mut inbound = match self.conn.serializer.decode(text) {
            Ok(inbound) => inbound,
            Err(error) => {
                self.conn.send(Outbound::decode_error(error)).await;
                return Ok(());
            }
        };
        match std::mem::replace(&mut inbound.kind, InboundKind::Heartbeat) {
            InboundKind::Join { payload, recover } => self.join(&inbound, payload, recover).await,
            InboundKind::Message { subject, payload } => {
                self.message(&inbound, Message { subject, payload }).await
            }
            InboundKind::Leave => self.leave(&inbound).await,
            InboundKind::Heartbeat => {
                self.conn.send(Outbound::ok(&inbound)).await;
                Ok(())
            }
        }
    }

    async fn join(
        &mut self,
        inbound: &Inbound,
        payload: Value,
        recover: Option<Option<crate::history::Position>>,
    ) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        // Topics with control characters are the runtime's own (see `identity_topic`).
        let route = match self.conn.endpoint.channels.find(topic) {
            Some(route) if !topic.chars().any(char::is_control) => route,
            _ => {
                self.conn.send(Outbound::error(inbound, "unmatched topic")).await;
                return Ok(());
            }
        };
        let mut channel = route.open();
        // A second join of a topic replaces the first: the old channel leaves and is closed.
        if let Some(old) = self.conn.unjoin(&mut self.joined, topic).await {
            let join_ref = old.join_ref.clone();
            let left = self.conn.close_channel(topic, old).await;
            self.conn.send(Outbound::Close { join_ref, topic: topic.to_string() }).await;
            left?;
        } else if self.joined.len() >= self.conn.endpoint.limits.max_channels {
            telemetry::limit_hit("max_channels");
            self.conn.send(Outbound::error(inbound, "too many channels on this connection")).await;
            return Ok(());
        }
        let token = Arc::new(());
        let mut ctx = Context {
            topic,
            socket: &self.conn.socket,
            connect: &self.conn.connect,
            hub: self.conn.hub(),
            link: &self.conn.link,
            joined: &token,
            held: Some(Vec::new()),
            wants_presence_state: false,
            sent: Default::default(),
            reply: None,
        };
        let channel_type = route.channel_type();
        let joined = run_callback("join", channel_type, channel.join(&mut ctx, payload)).await;
        let held = ctx.held.take().unwrap_or_default();
        let wants_presence_state = ctx.wants_presence_state;
        match joined {
            Ok(Ok(response)) => {
                telemetry::joined(channel_type);
                // The reply first, then what join pushed, then the topic's broadcasts.
                if self.conn.wants_reply(inbound) {
                    self.conn.send(Outbound::ok_with(inbound, response)).await;
                }
                for frame in held {
                    self.conn.send(frame).await;
                }
                let history = recover.filter(|_| self.conn.hub().pubsub().policy().keeps(topic));
                let recovering = history.is_some();
                if recovering {
                    self.conn.link.send(Outgoing::Hold(topic.to_string())).await;
                }
                self.conn.hub().pubsub().subscribe(topic, self.conn.link.clone());
                if let Some(from) = history {
                    let recovery = self.conn.hub().pubsub().recover(topic, from).await;
                    self.conn.link.send(Outgoing::Replay(Box::new((topic.to_string(), recovery)))).await;
                }
                if wants_presence_state {
                    self.conn.hub().presence().send_state(topic, self.conn.link.clone());
                }
                self.joined.insert(
                    topic.to_string(),
                    Joined { channel, join_ref: inbound.join_ref.clone(), channel_type, token, recovering },
                );
                Ok(())
            }
            Ok(Err(reason)) => {
                telemetry::join_refused(channel_type, &reason);
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                self.conn.send(Outbound::error(inbound, &reason)).await;
                Ok(())
            }
            Err(Panicked) if self.conn.serializer == Protocol::PhoenixV2 => {
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                self.conn.send(Outbound::error(inbound, "join crashed")).await;
                Ok(())
            }
            Err(Panicked) => {
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                Err(Panicked)
            }
        }
    }

    async fn message(&mut self, inbound: &Inbound, message: Message) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.joined.get_mut(topic) else {
            self.conn.send(Outbound::error(inbound, "not joined")).await;
            return Ok(());
        };
        let mut ctx = Context {
            topic,
            socket: &self.conn.socket,
            connect: &self.conn.connect,
            hub: self.conn.hub(),
            link: &self.conn.link,
            joined: &joined.token,
            held: None,
            wants_presence_state: false,
            sent: Default::default(),
            reply: None,
        };
        match run_callback("message", joined.channel_type, joined.channel.message(&mut ctx, message)).await {
            Ok(()) => {
                // The reply follows what the callback broadcast. With Redis
                // history that is a round trip: the writer waits for it, and
                // the reader goes on, with at most IN_FLIGHT broadcasts not
                // yet delivered (room is left in the queue for them).
                let sent = std::mem::take(&mut *ctx.sent.lock().unwrap_or_else(|e| e.into_inner()));
                self.in_flight.retain(|broadcast| broadcast.delivered.available_permits() == 0);
                self.in_flight.extend(sent.iter().filter(|b| b.delivered.available_permits() == 0).cloned());
                while self.in_flight.len() > IN_FLIGHT {
                    if let Some(oldest) = self.in_flight.pop_front() {
                        let _ = tokio::time::timeout(REPLY_WAIT, oldest.delivered.acquire()).await;
                    }
                }
                if self.conn.wants_reply(inbound) {
                    // Held broadcasts leave first (`pubsub::cork`): in memory, that delivers them.
                    pubsub::cork::flush();
                    let reply = match ctx.reply.take() {
                        None => Outbound::ok(inbound),
                        Some((true, response)) => Outbound::ok_with(inbound, response),
                        Some((false, response)) => Outbound::error_with(inbound, response),
                    };
                    if sent.iter().all(|broadcast| broadcast.delivered.available_permits() > 0) {
                        self.conn.send(reply).await;
                    } else {
                        self.conn.link.send(Outgoing::AfterBroadcasts(Box::new((sent, reply)))).await;
                    }
                }
                Ok(())
            }
            Err(Panicked) => {
                let crashed = self.conn.unjoin(&mut self.joined, topic).await.map(|joined| joined.join_ref);
                self.conn.hub().pubsub().unsubscribe(topic, self.conn.link.id);
                self.conn.hub().presence_tracker().release(self.conn.link.id, topic);
                self.conn.crashed(topic, crashed.flatten()).await
            }
        }
    }

    async fn leave(&mut self, inbound: &Inbound) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.conn.unjoin(&mut self.joined, topic).await else {
            self.conn.send(Outbound::error(inbound, "not joined")).await;
            return Ok(());
        };
        let join_ref = joined.join_ref.clone();
        match self.conn.close_channel(topic, joined).await {
            Ok(()) => {
                if self.conn.wants_reply(inbound) {
                    self.conn.send(Outbound::ok(inbound)).await;
                }
                Ok(())
            }
            Err(Panicked) => self.conn.crashed(topic, join_ref).await,
        }
    }

    /// Runs every channel's `leave` when the connection ends, however it
    /// ends; a panic in one does not keep the others from leaving. (The
    /// writer is not told: it is ending too.)
    async fn leave_all(&mut self) {
        for (topic, joined) in std::mem::take(&mut self.joined.0) {
            let _ = self.conn.close_channel(&topic, joined).await;
        }
    }
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Conn<S, St> {
    /// The app's hub.
    fn hub(&self) -> &crate::Hub {
        &self.endpoint.hub
    }

    /// Takes `topic` off `joined`, telling the writer when it was
    /// recovering (see [`Outgoing::Hold`]); the caller closes the channel.
    async fn unjoin(&self, joined: &mut JoinedTopics<S, St>, topic: &str) -> Option<Joined<S, St>> {
        let left = joined.remove(topic)?;
        if left.recovering {
            self.link.send(Outgoing::LeftRecovering).await;
        }
        Some(left)
    }

    /// Queues a frame for the writer, waiting for room.
    async fn send(&self, frame: Outbound) {
        self.link.send(Outgoing::Frame(Box::new(frame))).await;
    }

    /// An error reply to a frame that names no topic or ref.
    async fn reply_error(&self, reason: &str) {
        let error = DecodeError { reference: None, topic: String::new(), reason: reason.to_string() };
        self.send(Outbound::decode_error(error)).await;
    }

    /// Phoenix clients always get a reply; maze clients when they sent a ref.
    fn wants_reply(&self, inbound: &Inbound) -> bool {
        self.serializer == Protocol::PhoenixV2 || inbound.reference.is_some()
    }

    /// After a panic in a joined channel's callback (the channel is already
    /// gone): Phoenix clients are told the channel crashed and rejoin; for
    /// maze JSON clients the connection closes.
    async fn crashed(&self, topic: &str, join_ref: Option<Value>) -> Result<(), Panicked> {
        match self.serializer {
            Protocol::PhoenixV2 => {
                self.send(Outbound::Crashed { join_ref, topic: topic.to_string() }).await;
                Ok(())
            }
            Protocol::Maze => Err(Panicked),
        }
    }

    /// Unsubscribes and untracks its presences, then runs the channel's `leave`.
    async fn close_channel(&self, topic: &str, mut joined: Joined<S, St>) -> Result<(), Panicked> {
        self.hub().pubsub().unsubscribe(topic, self.link.id);
        self.hub().presence_tracker().release(self.link.id, topic);
        let mut ctx = Context {
            topic,
            socket: &self.socket,
            connect: &self.connect,
            hub: self.hub(),
            link: &self.link,
            joined: &joined.token,
            held: None,
            wants_presence_state: false,
            sent: Default::default(),
            reply: None,
        };
        telemetry::left(joined.channel_type);
        run_callback("leave", joined.channel_type, joined.channel.leave(&mut ctx)).await
    }
}

#[cfg(test)]
mod tests {
    //! Property tests: whatever a client sends, the connection answers and
    //! keeps working; it never panics.

    use super::*;
    use crate::Config;
    use crate::socket::{Channels, Connect};
    use proptest::prelude::*;
    use std::sync::atomic::Ordering;

    #[derive(Default)]
    struct Echo;
    impl Channel<TestSocket> for Echo {
        async fn message(&mut self, ctx: &mut Context<'_, TestSocket>, message: Message) {
            ctx.push(&message.subject, message.payload);
        }
    }
    use crate::socket::Channel;

    #[derive(Default)]
    struct TestSocket;
    impl Socket for TestSocket {
        fn channels(channels: &mut Channels<Self>) {
            channels.add::<Echo>("room:*");
        }
    }

    /// A reader whose frames for the client can be read back, encoded.
    struct Harness {
        reader: Reader<TestSocket, ()>,
        outgoing: mailbox::Receiver<Outgoing>,
        runtime: tokio::runtime::Runtime,
    }

    impl Harness {
        fn new(serializer: Protocol) -> Harness {
            let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
            let (queue, outgoing) = mailbox::bounded(64);
            let endpoint = Endpoint::new(&config, crate::Hub::in_memory()).expect("valid patterns");
            let connect = Connect {
                session: Default::default(),
                cookies: Default::default(),
                params: Default::default(),
                state: (),
            };
            let link = Subscriber::new(pubsub::next_id(), queue);
            let conn = Conn { socket: TestSocket, connect, endpoint, serializer, link };
            let reader = Reader {
                conn,
                joined: JoinedTopics::default(),
                in_flight: VecDeque::new(),
                client_closed: false,
            };
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            Harness { reader, outgoing, runtime }
        }

        /// Handles `text` and returns what the client receives, as JSON.
        fn handle(&mut self, text: &str) -> Vec<Value> {
            let handled = self.runtime.block_on(self.reader.handle(text));
            assert!(handled.is_ok());
            self.sent()
        }

        fn sent(&mut self) -> Vec<Value> {
            let mut sent = Vec::new();
            while let Some(item) = self.outgoing.try_recv() {
                let text = match item {
                    Outgoing::Frame(frame) => self.reader.conn.serializer.encode(&frame),
                    Outgoing::Broadcast(broadcast) => Some(
                        self.reader.conn.serializer.broadcast(&broadcast, true).text_payload().to_string(),
                    ),
                    Outgoing::AfterBroadcasts(after) => self.reader.conn.serializer.encode(&after.1),
                    Outgoing::Hold(_)
                    | Outgoing::LeftRecovering
                    | Outgoing::Replay(_)
                    | Outgoing::Pong(_) => None,
                    Outgoing::Broadcasts(_) => {
                        unreachable!("this queue's subscriber takes broadcasts one by one")
                    }
                };
                if let Some(text) = text {
                    sent.push(serde_json::from_str(&text).expect("frames are JSON"));
                }
            }
            sent
        }

        fn leave_all(&mut self) {
            self.runtime.block_on(self.reader.leave_all());
            self.sent();
        }
    }

    /// Frames a fuzzer would send: random text, random JSON, and near-valid frames.
    fn frame() -> impl Strategy<Value = String> {
        let json_leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_:*0-9]{0,12}".prop_map(Value::from),
        ];
        let json = json_leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map("event|topic|subject|payload|ref|[a-z]{1,4}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        });
        prop_oneof![
            ".{0,64}",
            json.prop_map(|value| value.to_string()),
            ("join|message|leave|shout", "[a-z_:0-9]{0,10}", proptest::option::of("[a-z]{0,6}")).prop_map(
                |(event, topic, subject)| {
                    serde_json::json!({"event": event, "topic": topic, "subject": subject}).to_string()
                }
            ),
            ("phx_join|phx_leave|heartbeat|phx_reply|new", "phoenix|room:[0-9]|x")
                .prop_map(|(event, topic)| serde_json::json!([null, "1", topic, event, {}]).to_string()),
        ]
    }

    proptest! {
        #[test]
        fn decoders_never_panic(text in frame()) {
            let _ = Protocol::Maze.decode(&text);
            let _ = Protocol::PhoenixV2.decode(&text);
        }

        #[test]
        fn every_malformed_frame_gets_an_error_reply(text in frame()) {
            for serializer in [Protocol::Maze, Protocol::PhoenixV2] {
                if serializer.decode(&text).is_err() && text != "ping" && text != "pong" {
                    let replies = Harness::new(serializer).handle(&text);
                    prop_assert_eq!(replies.len(), 1, "{:?}", text);
                    let status = match serializer {
                        Protocol::Maze => replies[0]["payload"]["status"].clone(),
                        Protocol::PhoenixV2 => replies[0][4]["status"].clone(),
                    };
                    prop_assert_eq!(status, "error");
                }
            }
        }

        #[test]
        fn garbage_never_wedges_a_connection(garbage in prop::collection::vec(frame(), 0..12)) {
            let mut maze = Harness::new(Protocol::Maze);
            let mut phoenix = Harness::new(Protocol::PhoenixV2);
            for text in &garbage {
                maze.handle(text);
                phoenix.handle(text);
            }
            maze.leave_all();
            phoenix.leave_all();
            let join = maze.handle(r#"{"event":"join","topic":"room:ok","ref":"z"}"#);
            prop_assert_eq!(&join[0]["payload"]["status"], "ok");
            let join = phoenix.handle(r#"["z","z","room:ok","phx_join",{}]"#);
            prop_assert_eq!(&join[0][4]["status"], "ok");
            let echo = maze.handle(r#"{"event":"message","topic":"room:ok","subject":"s","payload":1}"#);
            prop_assert_eq!(&echo[0]["payload"], 1);
            maze.leave_all();
            phoenix.leave_all();
        }
    }

    /// A sink that queues one more frame for its connection each time it is
    /// written to: the connection always has something to write. Notes
    /// when a write holds `awaited`. Each write first waits a turn, as a
    /// socket does now and then (twice: the writer polls a write once before
    /// it sets its timers): the connection's task yields, and the test can
    /// time out.
    struct Flooding {
        link: Subscriber,
        awaited: &'static str,
        seen: Arc<std::sync::atomic::AtomicBool>,
        polls: u8,
    }

    impl tokio::io::AsyncWrite for Flooding {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            bytes: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.polls = (self.polls + 1) % 3;
            if self.polls != 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if String::from_utf8_lossy(bytes).contains(self.awaited) {
                self.seen.store(true, Ordering::Release);
            }
            self.link.offer(Outgoing::Pong(Box::new(Frame::pong(b""))));
            Poll::Ready(Ok(bytes.len()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn what_a_recovering_writer_holds_counts_against_the_queue_bound() {
        let config = Config::parse("[app]\nname = \"t\"\n[websockets]\noutbound_queue = 4\n").unwrap();
        let endpoint: Endpoint<TestSocket, ()> = Endpoint::new(&config, crate::Hub::in_memory()).unwrap();
        let (_queue, outgoing) = mailbox::bounded(4);
        let tracked = endpoint.hub.shutdown().track();
        let mut writer = Writer::new(
            FrameWriter::to(tokio::io::sink()),
            Protocol::Maze,
            outgoing,
            endpoint.limits.clone(),
            "T",
            tracked,
        );
        assert!(writer.frame(Outgoing::Hold("room:1".into())).is_none());
        let broadcast = || Outgoing::Broadcast(Arc::new(Broadcast::new("room:1", "said", Value::Null)));
        for _ in 0..4 {
            assert!(writer.frame(broadcast()).is_none(), "held while the replay is fetched");
        }
        assert!(
            matches!(writer.frame(broadcast()), Some(Ending::Stop(TOO_SLOW))),
            "one more than the queue holds: too slow"
        );
    }

    // Two workers: a connection that never stops writing would hold one for good.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_always_writing_still_reads_its_client() {
        let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
        let endpoint = Endpoint::new(&config, crate::Hub::in_memory()).expect("valid patterns");
        let shutdown = endpoint.hub.shutdown().clone();
        let connect = Connect {
            session: Default::default(),
            cookies: Default::default(),
            params: Default::default(),
            state: (),
        };
        let limits = endpoint.limits.clone();
        let (reader, outgoing) = Reader::new(TestSocket, connect, endpoint, Protocol::Maze);
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sink = Flooding {
            link: reader.conn.link.clone(),
            awaited: "not joined",
            seen: answered.clone(),
            polls: 0,
        };
        let writer = Writer::new(
            FrameWriter::to(sink),
            Protocol::Maze,
            outgoing,
            limits,
            "TestSocket",
            shutdown.track(),
        );
        let (client, frames) = mpsc::unbounded_channel();
        let message =
            r#"{"event": "message", "topic": "room:1", "subject": "hi", "payload": {}, "ref": "r1"}"#;
        client.send(Incoming::Text(message.into())).unwrap();
        // Something to write first, so that the flood starts before the client is read.
        reader.conn.link.offer(Outgoing::Pong(Box::new(Frame::pong(b""))));
        let serving =
            tokio::spawn(Opened { reader, frames: ClientFrames::InProcess(frames), writer }.serve());
        let read = async {
            while !answered.load(Ordering::Acquire) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the client's message is read and answered while the writer is busy");
        drop(client);
        tokio::time::timeout(std::time::Duration::from_secs(10), serving)
            .await
            .expect("the connection ends with its client")
            .unwrap();
    }
}
