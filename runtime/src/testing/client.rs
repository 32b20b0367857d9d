//! [`connect`] and [`TestClient`]: a socket's connection driven in-process.

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::DEFAULT_TIMEOUT;
use crate::protocol::Protocol;
use crate::pubsub::{Broadcast, Outgoing, Subscriber, mailbox};
use crate::session::{Cookies, Session};
use crate::socket::connection;
use crate::socket::{Connect, Endpoint, Params, Socket};
use crate::websocket::{Incoming, ServerFrame, parse_server_frame};
use crate::{Config, Hub};

/// Starts connecting to socket `S` as a client would; `.await` it, after
/// setting the session, cookies, params or state the connection sees.
///
/// ```
/// # use maze::prelude::*;
/// # #[derive(Default)] struct ChatSocket;
/// # impl Socket for ChatSocket {
/// #     fn channels(_: &mut Channels<Self>) {}
/// #     async fn on_connect(&mut self, conn: &Connect) -> bool { conn.params().get("token") == Some("t0k3n") }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use maze::testing;
///
/// let client = testing::connect::<ChatSocket>().param("token", "t0k3n").await;
/// assert!(client.is_ok());
/// let refused = testing::connect::<ChatSocket>().await.unwrap_err();
/// assert_eq!(refused.code, 1008);
/// # }
/// ```
pub fn connect<S>() -> ConnectTest<S> {
    ConnectTest {
        session: Session::default(),
        cookies: Vec::new(),
        params: HashMap::new(),
        state: (),
        timeout: DEFAULT_TIMEOUT,
        hub: None,
        socket: PhantomData,
    }
}

thread_local! {
    static TEST_HUB: Hub = Hub::in_memory();
}

/// The hub test clients connect through when no hub is current (see
/// [`crate::hub`]) and none was given ([`ConnectTest::hub`]): one per
/// thread, so the clients of one `#[tokio::test]` meet, and other tests'
/// (each on a thread of its own) do not. Broadcast through it to reach them.
///
/// ```
/// # use maze::prelude::*;
/// # #[derive(Default)] struct ChatSocket;
/// # impl Socket for ChatSocket { fn channels(c: &mut Channels<Self>) { c.add::<Room>("room:*"); } }
/// # #[derive(Default)] struct Room;
/// # impl<S: Socket> Channel<S> for Room {}
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut client = maze::testing::connect::<ChatSocket>().await.unwrap();
/// client.join("room:1", json!({})).await.unwrap();
/// maze::testing::hub().broadcast("room:1", "news", json!({"n": 1}));
/// assert_eq!(client.assert_push("room:1", "news").await, json!({"n": 1}));
/// # }
/// ```
pub fn hub() -> Hub {
    Hub::try_current().unwrap_or_else(|| TEST_HUB.with(Hub::clone))
}

/// A connection about to be made: what its upgrade request carries, and
/// the app's state (`()` until [`ConnectTest::state`] gives one).
pub struct ConnectTest<S, St = ()> {
    session: Session,
    cookies: Vec<String>,
    params: HashMap<String, String>,
    state: St,
    timeout: Duration,
    hub: Option<Hub>,
    socket: PhantomData<fn() -> S>,
}

impl<S, St> ConnectTest<S, St> {
    /// A session value, as a controller would have stored it.
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # async fn run() {
    /// let signed_in = maze::testing::connect::<ChatSocket>().session("user_id", 42).await;
    /// # }
    /// ```
    pub fn session(self, key: &str, value: impl Into<Value>) -> Self {
        self.session.insert(key, value);
        self
    }

    /// A cookie of the upgrade request.
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # async fn run() {
    /// let dark = maze::testing::connect::<ChatSocket>().cookie("theme", "dark").await;
    /// # }
    /// ```
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.push(cookie::Cookie::new(name.to_string(), value.to_string()).encoded().to_string());
        self
    }

    /// A connect param (`new Socket(path, { params })` in maze.js).
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # async fn run() {
    /// let with_token = maze::testing::connect::<ChatSocket>().param("token", "abc").await;
    /// # }
    /// ```
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.to_string(), value.to_string());
        self
    }

    /// The app's state, as `App::with_state` gives it: a socket of an app
    /// with state (`Socket<AppState>`) connects only once it has one.
    ///
    /// ```
    /// # use maze::prelude::*;
    /// #[derive(Clone)]
    /// struct AppState {
    ///     motd: &'static str,
    /// }
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket<AppState> for ChatSocket { fn channels(_: &mut Channels<Self, AppState>) {} }
    /// # async fn run() {
    /// let client = maze::testing::connect::<ChatSocket>().state(AppState { motd: "hi" }).await;
    /// # }
    /// ```
    pub fn state<T>(self, state: T) -> ConnectTest<S, T> {
        let ConnectTest { session, cookies, params, state: _, timeout, hub, socket } = self;
        ConnectTest { session, cookies, params, state, timeout, hub, socket }
    }

    /// How long the client's assertions wait (default 100 ms).
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # async fn run() {
    /// let patient = maze::testing::connect::<ChatSocket>().timeout(std::time::Duration::from_secs(2)).await;
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects through `hub` (an app's, as `App::with_hub` was given)
    /// rather than [`hub()`].
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # async fn run() {
    /// let hub = maze::Hub::in_memory();
    /// let client = maze::testing::connect::<ChatSocket>().hub(hub.clone()).await;
    /// # }
    /// ```
    pub fn hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> ConnectTest<S, St> {
    async fn open(self) -> Result<TestClient, Refused> {
        let config = Config::parse("[app]\nname = \"test\"\n").expect("a valid default");
        let hub = self.hub.clone().unwrap_or_else(hub);
        let endpoint = Endpoint::<S, St>::new(&config, hub.clone())
            .unwrap_or_else(|error| panic!("{} cannot be served: {error}", std::any::type_name::<S>()));
        let mut headers = axum::http::HeaderMap::new();
        if !self.cookies.is_empty() {
            let header = self.cookies.join("; ").parse().expect("encoded cookies are a valid header");
            headers.insert(axum::http::header::COOKIE, header);
        }
        let connect = Connect::new(
            self.session.snapshot(),
            Cookies::parse(&headers),
            Params::from_map(self.params),
            self.state,
        );
        let socket =
            connection::accept::<S, St>(&connect).await.map_err(|(code, reason)| Refused { code, reason })?;
        let (frames, inbound) = mpsc::unbounded_channel::<Incoming>();
        let (server_side, client_side) = tokio::io::duplex(64 * 1024);
        let limits = endpoint.limits().clone();
        let frames_in = connection::ClientFrames::InProcess(inbound);
        let connection = connection::serve_in_process(
            socket,
            connect,
            endpoint,
            Protocol::Maze,
            limits,
            frames_in,
            server_side,
        );
        let (observer_queue, observed) = mailbox::bounded(1024);
        Ok(TestClient {
            hub,
            frames: Some(frames),
            from_server: read_server_frames(client_side),
            connection: Some(connection),
            closed: None,
            observer: Subscriber::new(crate::pubsub::next_id(), observer_queue),
            observed,
            observed_topics: Vec::new(),
            received: VecDeque::new(),
            positions: HashMap::new(),
            broadcasts: VecDeque::new(),
            next_ref: 0,
            timeout: self.timeout,
        })
    }
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> IntoFuture for ConnectTest<S, St> {
    type Output = Result<TestClient, Refused>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.open())
    }
}

/// `on_connect` refused the connection (code 1008), or panicked (1011).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The close code the client would receive.
    pub code: u16,
    /// The close reason: what `on_connect` gave [`Connect::refuse`](crate::socket::Connect::refuse),
    /// or `refused by on_connect`.
    pub reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection refused ({} {})", self.code, self.reason)
    }
}

impl std::error::Error for Refused {}

/// A message the client received on a topic: a push to it, or a broadcast.
#[derive(Debug)]
struct Received {
    topic: String,
    subject: String,
    payload: Value,
}

/// Reads what the connection writes to `stream` (WebSocket frames, as a
/// client reads them) on a task of its own, so that the connection is
/// never held up by a test that does not assert: what it wrote waits here.
fn read_server_frames(mut stream: tokio::io::DuplexStream) -> mpsc::UnboundedReceiver<ServerFrame> {
    use tokio::io::AsyncReadExt;
    let (frames, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        loop {
            while let Some((frame, used)) = parse_server_frame(&bytes) {
                bytes.drain(..used);
                if let Some(frame) = frame
                    && frames.send(frame).is_err()
                {
                    return;
                }
            }
            let mut chunk = [0; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => bytes.extend_from_slice(&chunk[..read]),
            }
        }
    });
    received
}

/// One connected client. Dropping it disconnects it.
pub struct TestClient {
    /// The hub it connected through.
    hub: Hub,
    /// Frames to the connection; dropping it is the client going away.
    frames: Option<mpsc::UnboundedSender<Incoming>>,
    /// What the connection's writer wrote, as the client reads it.
    from_server: mpsc::UnboundedReceiver<ServerFrame>,
    /// The connection's task (its reader and writer).
    connection: Option<JoinHandle<()>>,
    /// How the connection ended, once it has: the close frame's code and
    /// reason (`None` inside: closed without one).
    closed: Option<Option<(u16, String)>>,
    /// Subscribed to each topic the client joined, so that broadcasts to
    /// others (`broadcast_from`) can be asserted too.
    observer: Subscriber,
    observed: mailbox::Receiver<Outgoing>,
    observed_topics: Vec<String>,
    /// Received but not yet asserted.
    received: VecDeque<Received>,
    /// Where the client is in each topic's history, as maze.js keeps it:
    /// the epoch of the topic's `maze_recovery`, the offset of the last
    /// broadcast received there.
    positions: HashMap<String, Value>,
    broadcasts: VecDeque<Arc<Broadcast>>,
    next_ref: u64,
    timeout: Duration,
}

impl TestClient {
    /// How long assertions wait from now on.
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.set_timeout(std::time::Duration::from_secs(1));
    /// # }
    /// ```
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Joins `topic` with `payload`: `Ok(response)` when the channel
    /// accepted, `Err(reason)` when it refused (or no channel handles the
    /// topic: `"unmatched topic"`). Broadcasts on the topic are observed from
    /// now on, for [`TestClient::assert_broadcast`].
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// assert_eq!(client.join("nowhere:1", json!({})).await, Err("unmatched topic".into()));
    /// # }
    /// ```
    pub async fn join(&mut self, topic: &str, payload: Value) -> Result<Value, String> {
        self.join_with(json!({"event": "join", "topic": topic, "payload": payload})).await
    }

    /// Sends the join `frame`, observing its topic's broadcasts meanwhile.
    async fn join_with(&mut self, frame: Value) -> Result<Value, String> {
        let topic = frame["topic"].as_str().unwrap_or_default().to_string();
        if !self.observed_topics.contains(&topic) {
            self.hub.pubsub().subscribe(&topic, self.observer.clone());
            self.observed_topics.push(topic.clone());
        }
        let reply = self.request(frame).await;
        if reply.is_err() {
            self.stop_observing(&topic);
        }
        reply
    }

    /// Joins `topic` as maze.js does, asking for what the client missed
    /// since `from` (a position [`TestClient::position`] gave, on this client
    /// or another); `None` for a first join. The channel's reply, then the
    /// missed broadcasts, then a `maze_recovery` message (`{"recovered",
    /// "epoch", "offset"}`) reach the client, before any later broadcast.
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(c: &mut Channels<Self>) { c.add::<Room>("room:*"); } }
    /// # #[derive(Default)] struct Room;
    /// # impl<S: Socket> Channel<S> for Room {}
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut ada = maze::testing::connect::<ChatSocket>().await.unwrap();
    /// ada.join_recovering("room:1", json!({}), None).await.unwrap();
    /// ada.assert_push("room:1", "maze_recovery").await;
    /// let seen = ada.position("room:1");
    /// maze::testing::hub().broadcast("room:1", "news", json!({"n": 1})); // ada is away meanwhile
    ///
    /// let mut back = maze::testing::connect::<ChatSocket>().await.unwrap();
    /// back.join_recovering("room:1", json!({}), seen).await.unwrap();
    /// assert_eq!(back.assert_push("room:1", "news").await, json!({"n": 1}));
    /// assert_eq!(back.assert_push("room:1", "maze_recovery").await["recovered"], true);
    /// # }
    /// ```
    pub async fn join_recovering(
        &mut self,
        topic: &str,
        payload: Value,
        from: Option<Value>,
    ) -> Result<Value, String> {
        let recover = from.unwrap_or_else(|| json!({}));
        self.join_with(json!({"event": "join", "topic": topic, "payload": payload, "recover": recover})).await
    }

    /// Where this client is in `topic`'s history, as maze.js remembers it
    /// to recover from after a reconnect: `{"epoch", "offset"}` once it
    /// joined asking for recovery ([`TestClient::join_recovering`]), as of the
    /// messages it has received (asserted or not).
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// let seen = client.position("room:1");
    /// # }
    /// ```
    pub fn position(&mut self, topic: &str) -> Option<Value> {
        let _ = self.closed(); // takes in what has arrived
        self.positions.get(topic).cloned()
    }

    /// Pushes `subject` with `payload` to the channel of `topic` and returns
    /// its reply: `Ok` with the response, or `Err(reason)` (`"not joined"`).
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.push("chat_room:1", "message_new", json!({"message": "hi"})).await.unwrap();
    /// # }
    /// ```
    pub async fn push(&mut self, topic: &str, subject: &str, payload: Value) -> Result<Value, String> {
        self.request(json!({"event": "message", "topic": topic, "subject": subject, "payload": payload}))
            .await
    }

    /// Leaves `topic`; its channel's `leave` has run when this returns.
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.leave("chat_room:1").await.unwrap();
    /// # }
    /// ```
    pub async fn leave(&mut self, topic: &str) -> Result<Value, String> {
        let reply = self.request(json!({"event": "leave", "topic": topic})).await;
        self.stop_observing(topic);
        reply
    }

    /// Waits for a message on `topic` with `subject` to reach this client
    /// (a push to it, or a broadcast it receives) and returns its payload.
    /// Messages that do not match stay for later assertions. A message is
    /// asserted once: a broadcast taken here is taken from what
    /// [`TestClient::assert_broadcast`] and [`TestClient::refute_broadcast`]
    /// see too (they see every broadcast on the topic, to anyone, until an
    /// assertion takes it).
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// let message = client.assert_push("chat_room:1", "message_new").await;
    /// assert_eq!(message["message"], "hi");
    /// # }
    /// ```
    pub async fn assert_push(&mut self, topic: &str, subject: &str) -> Value {
        match self.wait_received(topic, subject).await {
            Some(payload) => {
                self.take_observed(topic, subject, &payload);
                payload
            }
            None => panic!(
                "no {subject:?} on {topic:?} reached the client within {:?}; it received: {:?}",
                self.timeout, self.received
            ),
        }
    }

    /// Fails if a message on `topic` with `subject` reached this client:
    /// anything the connection sent it before this call, including what the
    /// callbacks of its earlier messages sent. Decided by a marker, not a
    /// wait: the connection's answer to a request made now comes after all
    /// of that. (What arrives later from elsewhere, a spawned task's push,
    /// is not covered: assert it once it must have come.)
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.refute_push("chat_room:1", "message_new").await;
    /// # }
    /// ```
    pub async fn refute_push(&mut self, topic: &str, subject: &str) {
        self.settle().await;
        let matches = |received: &Received| received.topic == topic && received.subject == subject;
        if let Some(at) = self.received.iter().position(matches) {
            panic!("the client received {subject:?} on {topic:?}: {}", self.received[at].payload);
        }
    }

    /// Waits for a broadcast of `subject` on `topic`, a topic this client
    /// joined, whoever it was for (this client, or everyone but it), and
    /// returns its payload.
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// let typing = client.assert_broadcast("chat_room:1", "typing").await;
    /// # }
    /// ```
    pub async fn assert_broadcast(&mut self, topic: &str, subject: &str) -> Value {
        self.expect_observed(topic);
        match self.wait_broadcast(topic, subject).await {
            Some(payload) => payload,
            None => panic!("no {subject:?} was broadcast on {topic:?} within {:?}", self.timeout),
        }
    }

    /// Fails if `subject` was broadcast on `topic`: anything broadcast there
    /// before this call (the callbacks of this client's earlier messages
    /// included), decided by a marker as [`TestClient::refute_push`] is.
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.refute_broadcast("chat_room:1", "message_new").await;
    /// # }
    /// ```
    pub async fn refute_broadcast(&mut self, topic: &str, subject: &str) {
        self.expect_observed(topic);
        self.settle().await;
        while let Some(Some(item)) = futures_util::FutureExt::now_or_never(self.observed.recv()) {
            if let Outgoing::Broadcast(broadcast) = item {
                self.broadcasts.push_back(broadcast);
            }
        }
        let matches = |broadcast: &Arc<Broadcast>| broadcast.topic == topic && broadcast.subject == subject;
        if let Some(broadcast) = self.broadcasts.iter().find(|broadcast| matches(broadcast)) {
            panic!("{subject:?} was broadcast on {topic:?}: {}", broadcast.payload);
        }
    }

    /// Takes the broadcast of `subject` with `payload` on `topic` out of the
    /// observed ones, if it is there (it was, if what the client received
    /// was a broadcast rather than a push).
    fn take_observed(&mut self, topic: &str, subject: &str, payload: &Value) {
        while let Some(Some(item)) = futures_util::FutureExt::now_or_never(self.observed.recv()) {
            if let Outgoing::Broadcast(broadcast) = item {
                self.broadcasts.push_back(broadcast);
            }
        }
        let same = |b: &Arc<Broadcast>| b.topic == topic && b.subject == subject && b.payload == *payload;
        if let Some(at) = self.broadcasts.iter().position(same) {
            self.broadcasts.remove(at);
        }
    }

    /// Returns once everything the connection had sent this client when
    /// called has arrived (or the connection has closed): it asks to leave
    /// a topic no client can join, and the answer ("not joined") comes after
    /// all of it.
    async fn settle(&mut self) {
        if self.closed().is_some() {
            return;
        }
        self.next_ref += 1;
        let reference = format!("marker-{}", self.next_ref);
        let marker = json!({"event": "leave", "topic": "\u{1}marker", "ref": reference});
        if self.frames.as_ref().is_none_or(|frames| frames.send(Incoming::Text(marker.to_string())).is_err())
        {
            return;
        }
        let deadline = Instant::now() + self.timeout.max(Duration::from_secs(5));
        while let Some(frame) = self.next_frame(deadline).await {
            if let ServerFrame::Text(text) = &frame
                && serde_json::from_str::<Value>(text).is_ok_and(|reply| reply["ref"] == reference.as_str())
            {
                return;
            }
            self.keep(frame);
        }
    }

    /// Disconnects, as a client closing its tab: every channel's `leave`
    /// and the socket's `on_disconnect` have run when this returns.
    ///
    /// ```
    /// # async fn run(client: maze::testing::TestClient) {
    /// client.disconnect().await;
    /// # }
    /// ```
    pub async fn disconnect(mut self) {
        self.frames = None;
        if let Some(connection) = self.connection.take() {
            let _ = connection.await;
        }
    }

    /// How the server closed the connection, if it has: the close code and
    /// reason (`None` inside: closed without a frame). What the connection
    /// wrote before it closed stays for the assertions.
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// assert_eq!(client.closed(), None, "still connected");
    /// # }
    /// ```
    pub fn closed(&mut self) -> Option<Option<(u16, String)>> {
        while self.closed.is_none() {
            match self.from_server.try_recv() {
                Ok(frame) => self.keep(frame),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.closed = Some(None),
            }
        }
        self.closed.clone()
    }

    /// Sends a request with a fresh ref and waits for its reply.
    async fn request(&mut self, mut frame: Value) -> Result<Value, String> {
        self.next_ref += 1;
        let reference = self.next_ref.to_string();
        frame["ref"] = json!(reference);
        let what = format!("{} {}", frame["event"], frame["topic"]);
        let sent =
            self.frames.as_ref().is_some_and(|frames| frames.send(Incoming::Text(frame.to_string())).is_ok());
        if !sent {
            panic!("cannot send {what}: the connection is closed ({:?})", self.closed());
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.next_frame(deadline).await {
                Some(ServerFrame::Text(text)) => {
                    let frame: Value = serde_json::from_str(&text).unwrap_or_default();
                    if frame["event"] == "reply" && frame["ref"].as_str() == Some(reference.as_str()) {
                        let response = frame["payload"]["response"].clone();
                        return if frame["payload"]["status"] == "ok" {
                            Ok(response)
                        } else {
                            Err(response["reason"]
                                .as_str()
                                .map_or_else(|| response.to_string(), str::to_string))
                        };
                    }
                    self.keep(ServerFrame::Text(text));
                }
                Some(other) => self.keep(other),
                None => {
                    let timeout = self.timeout;
                    let closed =
                        self.closed().map(|closing| format!(": the connection closed ({closing:?})"));
                    panic!("no reply to {what} within {timeout:?}{}", closed.unwrap_or_default())
                }
            }
        }
    }

    /// The next frame the connection wrote, or `None` at `deadline` or once
    /// it has closed.
    async fn next_frame(&mut self, deadline: Instant) -> Option<ServerFrame> {
        if self.closed.is_some() {
            return None;
        }
        tokio::select! {
            frame = self.from_server.recv() => {
                if frame.is_none() {
                    self.closed = Some(None);
                }
                frame
            }
            _ = tokio::time::sleep_until(deadline) => None,
        }
    }

    /// Keeps what arrived while waiting for something else: a message for
    /// the assertions; a close frame ends the connection. (Keep-alive pings
    /// and replies no request waits for are dropped.)
    fn keep(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Text(text) => {
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { return };
                if frame["event"] != "message" {
                    return;
                }
                let topic = frame["topic"].as_str().unwrap_or_default().to_string();
                if frame["subject"] == crate::socket::connection::RECOVERY {
                    let status = &frame["payload"];
                    self.positions
                        .insert(topic.clone(), json!({"epoch": status["epoch"], "offset": status["offset"]}));
                } else if let Some(offset) = frame.get("offset")
                    && let Some(position) = self.positions.get_mut(&topic)
                {
                    position["offset"] = offset.clone();
                }
                self.received.push_back(Received {
                    topic,
                    subject: frame["subject"].as_str().unwrap_or_default().to_string(),
                    payload: frame["payload"].clone(),
                });
            }
            ServerFrame::Close(closing) => self.closed = Some(closing),
        }
    }

    async fn wait_received(&mut self, topic: &str, subject: &str) -> Option<Value> {
        let matches = |received: &Received| received.topic == topic && received.subject == subject;
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(at) = self.received.iter().position(matches) {
                return self.received.remove(at).map(|received| received.payload);
            }
            let frame = self.next_frame(deadline).await?;
            self.keep(frame);
        }
    }

    async fn wait_broadcast(&mut self, topic: &str, subject: &str) -> Option<Value> {
        let matches = |broadcast: &Arc<Broadcast>| broadcast.topic == topic && broadcast.subject == subject;
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(at) = self.broadcasts.iter().position(matches) {
                return self.broadcasts.remove(at).map(|broadcast| broadcast.payload.clone());
            }
            tokio::select! {
                Some(item) = self.observed.recv() => {
                    if let Outgoing::Broadcast(broadcast) = item {
                        self.broadcasts.push_back(broadcast);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    fn expect_observed(&self, topic: &str) {
        assert!(
            self.observed_topics.iter().any(|observed| observed == topic),
            "broadcasts on {topic:?} are observed once the client has joined it: join it first"
        );
    }

    fn stop_observing(&mut self, topic: &str) {
        if let Some(at) = self.observed_topics.iter().position(|observed| observed == topic) {
            self.observed_topics.remove(at);
            self.hub.pubsub().unsubscribe(topic, self.observer.id);
        }
    }
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("joined", &self.observed_topics)
            .field("closed", &self.closed)
            .field("unasserted", &self.received)
            .finish_non_exhaustive()
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        for topic in std::mem::take(&mut self.observed_topics) {
            self.hub.pubsub().unsubscribe(&topic, self.observer.id);
        }
    }
}
