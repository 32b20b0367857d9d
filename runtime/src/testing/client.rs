//! [`connect`] and [`TestClient`]: a socket's connection driven in-process.

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::DEFAULT_TIMEOUT;
use crate::pubsub::{Broadcast, Outgoing, Subscriber, mailbox};
use crate::session::{Cookies, Session};
use crate::socket::connection::{self, ClientFrames, Closing};
use crate::socket::serializer::{Outbound, Serializer};
use crate::socket::websocket::Incoming;
use crate::socket::{Connect, DISCONNECT, Endpoint, Params, Socket};
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
        let started =
            connection::start(socket, connect, endpoint, Serializer::Maze, ClientFrames::InProcess(inbound));
        let (observer_queue, observed) = mailbox::bounded(1024);
        Ok(TestClient {
            hub,
            frames: Some(frames),
            outgoing: started.outgoing,
            reader: Some(started.reader),
            stop: Some(started.stop),
            closed: None,
            observer: Subscriber::new(connection::next_id(), observer_queue),
            observed,
            observed_topics: Vec::new(),
            received: VecDeque::new(),
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

/// One connected client. Dropping it disconnects it.
pub struct TestClient {
    /// The hub it connected through.
    hub: Hub,
    /// Frames to the connection; dropping it is the client going away.
    frames: Option<mpsc::UnboundedSender<Incoming>>,
    /// What the connection sends the client.
    outgoing: mailbox::Receiver<Outgoing>,
    reader: Option<JoinHandle<Closing>>,
    stop: Option<oneshot::Sender<()>>,
    /// How the connection ended, once it has.
    closed: Option<Closing>,
    /// Subscribed to each topic the client joined, so that broadcasts to
    /// others (`broadcast_from`) can be asserted too.
    observer: Subscriber,
    observed: mailbox::Receiver<Outgoing>,
    observed_topics: Vec<String>,
    /// Received but not yet asserted.
    received: VecDeque<Received>,
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
        if !self.observed_topics.iter().any(|observed| observed == topic) {
            self.hub.pubsub().subscribe(topic, self.observer.clone());
            self.observed_topics.push(topic.to_string());
        }
        let reply = self.request(json!({"event": "join", "topic": topic, "payload": payload})).await;
        if reply.is_err() {
            self.stop_observing(topic);
        }
        reply
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
    /// Messages that do not match stay for later assertions.
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
            Some(payload) => payload,
            None => panic!(
                "no {subject:?} on {topic:?} reached the client within {:?}; it received: {:?}",
                self.timeout, self.received
            ),
        }
    }

    /// Waits the timeout and fails if a message on `topic` with `subject`
    /// reaches this client.
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.refute_push("chat_room:1", "message_new").await;
    /// # }
    /// ```
    pub async fn refute_push(&mut self, topic: &str, subject: &str) {
        if let Some(payload) = self.wait_received(topic, subject).await {
            panic!("the client received {subject:?} on {topic:?}: {payload}");
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

    /// Waits the timeout and fails if `subject` is broadcast on `topic`.
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// client.refute_broadcast("chat_room:1", "message_new").await;
    /// # }
    /// ```
    pub async fn refute_broadcast(&mut self, topic: &str, subject: &str) {
        self.expect_observed(topic);
        if let Some(payload) = self.wait_broadcast(topic, subject).await {
            panic!("{subject:?} was broadcast on {topic:?}: {payload}");
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
        if let Some(reader) = self.reader.take() {
            let _ = reader.await;
        }
    }

    /// How the server closed the connection, if it has: the close code and
    /// reason (`None` inside: closed without a frame).
    ///
    /// ```
    /// # async fn run(mut client: maze::testing::TestClient) {
    /// assert_eq!(client.closed(), None, "still connected");
    /// # }
    /// ```
    pub fn closed(&mut self) -> Option<Option<(u16, &'static str)>> {
        if self.closed.is_none() && self.reader.as_ref().is_some_and(JoinHandle::is_finished) {
            // Finished: polling it once more cannot block.
            let reader = self.reader.take().expect("checked above");
            self.closed = Some(futures_util::FutureExt::now_or_never(reader).and_then(Result::ok).flatten());
        }
        self.closed
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
            match self.next_outgoing(deadline).await {
                Some(Outgoing::Frame(frame)) => match *frame {
                    Outbound::Reply { reference: Some(got), ok, response, .. }
                        if got.as_str() == Some(reference.as_str()) =>
                    {
                        return if ok {
                            Ok(response)
                        } else {
                            Err(response["reason"]
                                .as_str()
                                .map_or_else(|| response.to_string(), str::to_string))
                        };
                    }
                    other => self.keep(Outgoing::Frame(Box::new(other))),
                },
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

    /// The next thing the connection sends, or `None` at `deadline` or once
    /// it has closed.
    async fn next_outgoing(&mut self, deadline: Instant) -> Option<Outgoing> {
        let reader_done = async {
            match self.reader.as_mut() {
                Some(reader) => reader.await.ok().flatten(),
                None => std::future::pending().await,
            }
        };
        let item = tokio::select! {
            biased;
            item = self.outgoing.recv() => item,
            closing = reader_done => {
                self.reader = None;
                self.closed = Some(closing);
                // What it sent before closing is still queued.
                self.outgoing.try_recv()
            }
            _ = tokio::time::sleep_until(deadline) => None,
        };
        match item {
            // A reply that follows its callback's broadcasts, as the
            // connection's writer sends it: once they are delivered, after
            // what they queued.
            Some(Outgoing::AfterBroadcasts(after)) => {
                let (broadcasts, reply) = *after;
                for broadcast in &broadcasts {
                    let _ = tokio::time::timeout_at(deadline, broadcast.delivered.acquire()).await;
                }
                while let Some(item) = self.outgoing.try_recv() {
                    self.keep(item);
                }
                Some(Outgoing::Frame(Box::new(reply)))
            }
            item => item,
        }
    }

    /// Keeps what arrived while waiting for something else.
    fn keep(&mut self, item: Outgoing) {
        match item {
            Outgoing::Broadcast(broadcast) if broadcast.topic.starts_with('\u{1}') => {
                if broadcast.subject == DISCONNECT {
                    // `maze::disconnect` named this connection: it closes.
                    if let Some(stop) = self.stop.take() {
                        let _ = stop.send(());
                    }
                    self.closed = Some(Some((1000, "disconnected by the server")));
                }
            }
            Outgoing::Broadcast(broadcast) => self.received.push_back(Received {
                topic: broadcast.topic.clone(),
                subject: broadcast.subject.clone(),
                payload: broadcast.payload.clone(),
            }),
            Outgoing::Broadcasts(broadcasts) => {
                for broadcast in broadcasts.iter() {
                    self.keep(Outgoing::Broadcast(broadcast.clone()));
                }
            }
            Outgoing::Frame(frame) => {
                if let Outbound::Message { topic, subject, payload } = *frame {
                    self.received.push_back(Received { topic, subject, payload })
                }
            }
            Outgoing::Hold(_)
            | Outgoing::LeftRecovering
            | Outgoing::Replay(_)
            | Outgoing::Pong(_)
            | Outgoing::AfterBroadcasts(_) => {}
        }
    }

    async fn wait_received(&mut self, topic: &str, subject: &str) -> Option<Value> {
        let matches = |received: &Received| received.topic == topic && received.subject == subject;
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(at) = self.received.iter().position(matches) {
                return self.received.remove(at).map(|received| received.payload);
            }
            let item = self.next_outgoing(deadline).await?;
            self.keep(item);
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
