//! One WebSocket connection, as two tasks:
//!
//! - the **reader** owns the connection's socket value and joined channels:
//!   it reads the client's frames and runs the callbacks, one at a time and
//!   each contained (a panic ends this connection, or one Phoenix channel,
//!   never the server);
//! - the **writer** owns the sending half: replies, pushes and broadcasts
//!   arrive through one bounded queue and are written in batches (one flush
//!   per burst), with the pings and the closing frame.
//!
//! A callback that awaits therefore never delays what other connections
//! receive, nor the broadcasts and pings of its own. Every way a connection
//! ends (client close, error, idle timeout, slow consumer, oversized
//! message, panic, server shutdown, disconnect by id) runs the same cleanup:
//! each channel's `leave`, the socket's `on_disconnect`, every subscription
//! released.

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval_at};

use super::serializer::{DecodeError, Inbound, InboundKind, Outbound, Serializer};
use super::topics::DynChannel;
use super::{Connect, Context, DISCONNECT, Endpoint, Limits, Message, Socket, identity_topic};
use crate::history::Recovery;
use crate::pubsub::{self, Broadcast, Outgoing, Subscriber};
use crate::telemetry;

/// Close codes (RFC 6455 and the registry).
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The close frame to send as a connection ends; `None` sends none (the
/// client closed, or cannot be written to).
pub(crate) type Closing = Option<(u16, &'static str)>;

const CRASHED: (u16, &str) = (close::INTERNAL_ERROR, "internal error");

/// The subject of the message that tells a client asking for history where
/// the topic stands, and whether what it missed was recovered.
pub(crate) const RECOVERY: &str = "maze_recovery";

/// Frames the writer sends in one batch at most before flushing.
const WRITE_BATCH: usize = 64;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

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
    telemetry::short(std::any::type_name::<S>())
}

pub(crate) async fn run<S: Socket>(
    ws: WebSocket,
    connect: Connect,
    endpoint: Endpoint<S>,
    serializer: Serializer,
) {
    let _tracked = endpoint.shutdown.track();
    let shutdown = endpoint.shutdown.signalled();
    let (mut sink, stream) = ws.split();
    let socket = match accept::<S>(&connect).await {
        Ok(socket) => socket,
        Err((code, reason)) => {
            let _ = sink.send(close_frame(code, reason)).await;
            return;
        }
    };
    let limits = endpoint.limits.clone();
    let started = start(socket, connect, endpoint, serializer, stream);
    let writer = Writer { sink, serializer, outgoing: started.outgoing, holding: HashMap::new() };
    let closing = writer.run(&limits, started.overflow, started.reader, started.stop, shutdown).await;
    telemetry::disconnected(socket_type::<S>(), closing);
}

/// A new connection's socket value, as `on_connect` left it; or, when it
/// refused (or panicked), the close frame to send.
pub(crate) async fn accept<S: Socket>(connect: &Connect) -> Result<S, (u16, &'static str)> {
    let mut socket = S::default();
    let owner = socket_type::<S>();
    match run_callback("on_connect", owner, socket.on_connect(connect)).await {
        Ok(true) => {
            telemetry::connect_accepted(owner);
            Ok(socket)
        }
        Ok(false) => {
            telemetry::connect_refused(owner, "on_connect");
            Err((close::POLICY, "refused by on_connect"))
        }
        Err(Panicked) => {
            telemetry::connect_refused(owner, "panic");
            Err(CRASHED)
        }
    }
}

/// An accepted connection whose reader runs: what its writer (or the
/// in-process test client, `crate::testing`) works with.
pub(crate) struct Started {
    /// Replies, pushes and broadcasts for the client, in order.
    pub(crate) outgoing: mpsc::Receiver<Outgoing>,
    /// Rung when `outgoing` is full: the client is too slow.
    pub(crate) overflow: Arc<Notify>,
    /// The reader: it ends with the close frame to send.
    pub(crate) reader: JoinHandle<Closing>,
    /// Tells the reader to stop (then it runs its cleanup).
    pub(crate) stop: oneshot::Sender<()>,
}

/// Spawns the reader of an accepted connection, reading client frames from `stream`.
pub(crate) fn start<S, St>(
    socket: S,
    connect: Connect,
    endpoint: Endpoint<S>,
    serializer: Serializer,
    stream: St,
) -> Started
where
    S: Socket,
    St: Stream<Item = Result<WsMessage, axum::Error>> + Unpin + Send + 'static,
{
    let (queue, outgoing) = mpsc::channel(endpoint.limits.outbound_queue);
    let overflow = Arc::new(Notify::new());
    let link = Subscriber::new(next_id(), queue, overflow.clone());
    let (stop, stopped) = oneshot::channel();
    let reader =
        Reader { conn: Conn { socket, connect, endpoint, serializer, link }, joined: HashMap::new() };
    let reader = tokio::spawn(reader.run(stream, stopped));
    Started { outgoing, overflow, reader, stop }
}

/// A connection id, unique within this process.
pub(crate) fn next_id() -> u64 {
    NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed)
}

fn close_frame(code: u16, reason: &str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// Why reading failed, as a close frame. tungstenite reports an oversized
/// message as a capacity error.
fn read_error(error: axum::Error) -> Closing {
    match error.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Some((close::TOO_BIG, "message too big")),
        Some(
            tungstenite::Error::ConnectionClosed
            | tungstenite::Error::AlreadyClosed
            | tungstenite::Error::Io(_),
        ) => None,
        _ => Some((close::PROTOCOL_ERROR, "protocol error")),
    }
}

struct Writer {
    sink: SplitSink<WebSocket, WsMessage>,
    serializer: Serializer,
    outgoing: mpsc::Receiver<Outgoing>,
    /// Topics whose broadcasts wait for a replay (see [`Outgoing::Hold`]).
    holding: HashMap<String, Vec<Arc<Broadcast>>>,
}

/// How the writer's loop ended.
enum Ending {
    /// The reader finished (the client closed, or a callback crashed).
    ReaderDone(Closing),
    /// The writer decides: the reader must stop.
    Stop(Closing),
}

/// What one queued item becomes on the wire.
enum Written {
    Frame(WsMessage),
    Frames(Vec<WsMessage>),
    Nothing,
    /// [`super::disconnect`] named this connection.
    Disconnect,
}

impl Writer {
    async fn run(
        mut self,
        limits: &Limits,
        overflow: Arc<Notify>,
        mut reader: JoinHandle<Closing>,
        stop: oneshot::Sender<()>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Closing {
        let mut ping = interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
        let ending = loop {
            tokio::select! {
                finished = &mut reader => break Ending::ReaderDone(finished.unwrap_or(Some(CRASHED))),
                Some(first) = self.outgoing.recv() => {
                    if let Some(ending) = Box::pin(self.write_batch(first)).await {
                        break ending;
                    }
                }
                _ = ping.tick() => {
                    // A WebSocket ping every client answers by itself, plus Amber's text "ping".
                    let mut frames = vec![WsMessage::Ping(Default::default())];
                    if self.serializer == Serializer::Maze {
                        frames.push(WsMessage::Text("ping".into()));
                    }
                    if self.sink.send_all(&mut futures_util::stream::iter(frames.into_iter().map(Ok))).await.is_err() {
                        break Ending::Stop(None);
                    }
                }
                _ = overflow.notified() => break Ending::Stop(Some((close::TRY_AGAIN_LATER, "too slow: outbound queue full"))),
                _ = shutdown.changed() => break Ending::Stop(Some((close::GOING_AWAY, "server shutting down"))),
            }
        };
        let closing = match ending {
            Ending::ReaderDone(closing) => closing,
            Ending::Stop(closing) => {
                let _ = stop.send(());
                // The reader's pending sends fail at once; it runs its cleanup and ends.
                self.outgoing.close();
                let _ = reader.await;
                closing
            }
        };
        if let Some((code, reason)) = closing {
            let _ = self.sink.send(close_frame(code, reason)).await;
        }
        closing
    }

    /// Writes `first` and what else is queued, then flushes once: a burst
    /// of broadcasts becomes one write.
    async fn write_batch(&mut self, first: Outgoing) -> Option<Ending> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(item) = next {
            match self.frame(item) {
                Written::Frame(frame) => {
                    if self.sink.feed(frame).await.is_err() {
                        return Some(Ending::Stop(None));
                    }
                }
                Written::Frames(frames) => {
                    for frame in frames {
                        if self.sink.feed(frame).await.is_err() {
                            return Some(Ending::Stop(None));
                        }
                    }
                }
                Written::Nothing => {}
                Written::Disconnect => {
                    let _ = self.sink.flush().await;
                    return Some(Ending::Stop(Some((close::NORMAL, "disconnected by the server"))));
                }
            }
            written += 1;
            next = if written < WRITE_BATCH { self.outgoing.try_recv().ok() } else { None };
        }
        telemetry::messages_out(written);
        self.sink.flush().await.err().map(|_| Ending::Stop(None))
    }

    fn frame(&mut self, item: Outgoing) -> Written {
        match item {
            Outgoing::Broadcast(broadcast) if broadcast.topic.starts_with('\u{1}') => {
                if broadcast.subject == DISCONNECT { Written::Disconnect } else { Written::Nothing }
            }
            Outgoing::Broadcast(broadcast) => match self.holding.get_mut(&broadcast.topic) {
                Some(held) => {
                    held.push(broadcast);
                    Written::Nothing
                }
                None => Written::Frame(self.broadcast_frame(&broadcast)),
            },
            Outgoing::Frame(frame) => match self.serializer.encode(&frame) {
                Some(text) => Written::Frame(WsMessage::Text(text.into())),
                None => Written::Nothing,
            },
            Outgoing::Hold(topic) => {
                self.holding.insert(topic, Vec::new());
                Written::Nothing
            }
            Outgoing::Replay(replay) => {
                let (topic, recovery) = *replay;
                Written::Frames(self.replay(topic, recovery))
            }
        }
    }

    fn broadcast_frame(&self, broadcast: &Broadcast) -> WsMessage {
        WsMessage::Text(self.serializer.broadcast(broadcast))
    }

    /// What the client missed, its position (`maze_recovery`), then the
    /// broadcasts held meanwhile: each once, in order. After a recovery, a
    /// held broadcast the replay already sent is not sent again.
    fn replay(&mut self, topic: String, recovery: Recovery) -> Vec<WsMessage> {
        let mut frames: Vec<WsMessage> = recovery.missed.iter().map(|b| self.broadcast_frame(b)).collect();
        let status =
            Outbound::Message { topic: topic.clone(), subject: RECOVERY.into(), payload: recovery.payload() };
        frames.extend(self.serializer.encode(&status).map(|text| WsMessage::Text(text.into())));
        let replayed_up_to = recovery.position.filter(|_| recovery.recovered == Some(true));
        for broadcast in self.holding.remove(&topic).unwrap_or_default() {
            let sent = match (broadcast.position(), &replayed_up_to) {
                (Some(position), Some(up_to)) => {
                    position.epoch == up_to.epoch && position.offset <= up_to.offset
                }
                _ => false,
            };
            if !sent {
                frames.push(self.broadcast_frame(&broadcast));
            }
        }
        frames
    }
}

struct Joined<S> {
    channel: Box<dyn DynChannel<S>>,
    join_ref: Option<Value>,
    channel_type: &'static str,
    /// Alive while the channel is joined: [`super::Client`] handles hold a weak reference.
    token: Arc<()>,
}

struct Reader<S> {
    conn: Conn<S>,
    /// Joined topics and their channels. Apart from the rest, so that
    /// awaiting with `&Conn` borrowed never needs the channels to be `Sync`.
    joined: HashMap<String, Joined<S>>,
}

/// The connection as its callbacks see it.
struct Conn<S> {
    socket: S,
    connect: Connect,
    endpoint: Endpoint<S>,
    serializer: Serializer,
    /// This connection's queue to the writer, and its id in the pub/sub.
    link: Subscriber,
}

impl<S: Socket> Reader<S> {
    async fn run<St>(mut self, mut stream: St, mut stop: oneshot::Receiver<()>) -> Closing
    where
        St: Stream<Item = Result<WsMessage, axum::Error>> + Unpin,
    {
        let identity = self.conn.socket.id().map(|id| identity_topic(&id));
        if let Some(topic) = &identity {
            pubsub::global().subscribe(topic, self.conn.link.clone());
        }
        let idle_timeout = self.conn.endpoint.limits.idle_timeout;
        let closing = loop {
            let incoming = tokio::select! {
                // The writer decided how the connection ends.
                _ = &mut stop => break None,
                incoming = tokio::time::timeout(idle_timeout, stream.next()) => incoming,
            };
            let handled = match incoming {
                Err(_elapsed) => break Some((close::NORMAL, "idle timeout")),
                Ok(None | Some(Ok(WsMessage::Close(_)))) => break None,
                Ok(Some(Err(error))) => break read_error(error),
                // Boxed: an idle connection's task holds no room for a callback's state.
                Ok(Some(Ok(WsMessage::Text(text)))) => Box::pin(self.handle(text.as_str())).await,
                Ok(Some(Ok(WsMessage::Binary(_)))) => {
                    self.conn.reply_error("binary frames are not supported").await;
                    Ok(())
                }
                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => Ok(()),
            };
            if handled.is_err() {
                break Some(CRASHED);
            }
        };
        self.leave_all().await;
        let disconnected =
            run_callback("on_disconnect", socket_type::<S>(), self.conn.socket.on_disconnect()).await;
        if let Some(topic) = &identity {
            pubsub::global().unsubscribe(topic, self.conn.link.id);
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
        if self.conn.serializer == Serializer::Maze && (text == "pong" || text == "ping") {
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
        if let Some(old) = self.joined.remove(topic) {
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
            link: &self.conn.link,
            joined: &token,
            held: Some(Vec::new()),
            wants_presence_state: false,
            sent: Default::default(),
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
                let history = recover.filter(|_| crate::history::policy().keeps(topic));
                if history.is_some() {
                    self.conn.link.send(Outgoing::Hold(topic.to_string())).await;
                }
                pubsub::global().subscribe(topic, self.conn.link.clone());
                if let Some(from) = history {
                    let recovery = pubsub::global().recover(topic, from).await;
                    self.conn.link.send(Outgoing::Replay(Box::new((topic.to_string(), recovery)))).await;
                }
                if wants_presence_state {
                    crate::presence::send_state(topic, self.conn.link.clone());
                }
                self.joined.insert(
                    topic.to_string(),
                    Joined { channel, join_ref: inbound.join_ref.clone(), channel_type, token },
                );
                Ok(())
            }
            Ok(Err(reason)) => {
                telemetry::join_refused(channel_type);
                crate::presence::release(self.conn.link.id, topic);
                self.conn.send(Outbound::error(inbound, &reason)).await;
                Ok(())
            }
            Err(Panicked) if self.conn.serializer == Serializer::PhoenixV2 => {
                crate::presence::release(self.conn.link.id, topic);
                self.conn.send(Outbound::error(inbound, "join crashed")).await;
                Ok(())
            }
            Err(Panicked) => {
                crate::presence::release(self.conn.link.id, topic);
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
            link: &self.conn.link,
            joined: &joined.token,
            held: None,
            wants_presence_state: false,
            sent: Default::default(),
        };
        match run_callback("message", joined.channel_type, joined.channel.message(&mut ctx, message)).await {
            Ok(()) => {
                // The reply follows what the callback broadcast (a round trip with Redis history).
                let sent = std::mem::take(&mut *ctx.sent.lock().unwrap_or_else(|e| e.into_inner()));
                for broadcast in sent {
                    let delivered = broadcast.delivered.acquire();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), delivered).await;
                }
                if self.conn.wants_reply(inbound) {
                    self.conn.send(Outbound::ok(inbound)).await;
                }
                Ok(())
            }
            Err(Panicked) => {
                let crashed = self.joined.remove(topic).map(|joined| joined.join_ref);
                pubsub::global().unsubscribe(topic, self.conn.link.id);
                crate::presence::release(self.conn.link.id, topic);
                self.conn.crashed(topic, crashed.flatten()).await
            }
        }
    }

    async fn leave(&mut self, inbound: &Inbound) -> Result<(), Panicked> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.joined.remove(topic) else {
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
    /// ends; a panic in one does not keep the others from leaving.
    async fn leave_all(&mut self) {
        for (topic, joined) in std::mem::take(&mut self.joined) {
            let _ = self.conn.close_channel(&topic, joined).await;
        }
    }
}

impl<S: Socket> Conn<S> {
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
        self.serializer == Serializer::PhoenixV2 || inbound.reference.is_some()
    }

    /// After a panic in a joined channel's callback (the channel is already
    /// gone): Phoenix clients are told the channel crashed and rejoin; for
    /// maze JSON clients the connection closes.
    async fn crashed(&self, topic: &str, join_ref: Option<Value>) -> Result<(), Panicked> {
        match self.serializer {
            Serializer::PhoenixV2 => {
                self.send(Outbound::Crashed { join_ref, topic: topic.to_string() }).await;
                Ok(())
            }
            Serializer::Maze => Err(Panicked),
        }
    }

    /// Unsubscribes and untracks its presences, then runs the channel's `leave`.
    async fn close_channel(&self, topic: &str, mut joined: Joined<S>) -> Result<(), Panicked> {
        pubsub::global().unsubscribe(topic, self.link.id);
        crate::presence::release(self.link.id, topic);
        let mut ctx = Context {
            topic,
            socket: &self.socket,
            connect: &self.connect,
            link: &self.link,
            joined: &joined.token,
            held: None,
            wants_presence_state: false,
            sent: Default::default(),
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
        reader: Reader<TestSocket>,
        outgoing: mpsc::Receiver<Outgoing>,
        runtime: tokio::runtime::Runtime,
    }

    impl Harness {
        fn new(serializer: Serializer) -> Harness {
            let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
            let (queue, outgoing) = mpsc::channel(64);
            let endpoint = Endpoint::new(&config, crate::shutdown::Shutdown::new(), Arc::new(()))
                .expect("valid patterns");
            let connect = Connect {
                session: Default::default(),
                cookies: Default::default(),
                params: Default::default(),
                state: Arc::new(()),
            };
            let link =
                Subscriber::new(NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed), queue, Arc::default());
            let conn = Conn { socket: TestSocket, connect, endpoint, serializer, link };
            let reader = Reader { conn, joined: HashMap::new() };
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
            while let Ok(item) = self.outgoing.try_recv() {
                let text = match item {
                    Outgoing::Frame(frame) => self.reader.conn.serializer.encode(&frame),
                    Outgoing::Broadcast(broadcast) => {
                        Some(self.reader.conn.serializer.broadcast(&broadcast).as_str().to_string())
                    }
                    Outgoing::Hold(_) | Outgoing::Replay(_) => None,
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
            let _ = Serializer::Maze.decode(&text);
            let _ = Serializer::PhoenixV2.decode(&text);
        }

        #[test]
        fn every_malformed_frame_gets_an_error_reply(text in frame()) {
            for serializer in [Serializer::Maze, Serializer::PhoenixV2] {
                if serializer.decode(&text).is_err() && text != "ping" && text != "pong" {
                    let replies = Harness::new(serializer).handle(&text);
                    prop_assert_eq!(replies.len(), 1, "{:?}", text);
                    let status = match serializer {
                        Serializer::Maze => replies[0]["payload"]["status"].clone(),
                        Serializer::PhoenixV2 => replies[0][4]["status"].clone(),
                    };
                    prop_assert_eq!(status, "error");
                }
            }
        }

        #[test]
        fn garbage_never_wedges_a_connection(garbage in prop::collection::vec(frame(), 0..12)) {
            let mut maze = Harness::new(Serializer::Maze);
            let mut phoenix = Harness::new(Serializer::PhoenixV2);
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
}
