//! Phoenix's long-poll transport, for clients whose WebSocket cannot open
//! (a proxy or load balancer that drops upgrades): served at
//! `<socket path>/longpoll`, as the official `phoenix` client's `LongPoll`
//! (1.7, 1.8) speaks it, and as maze.js falls back to it.
//!
//! A session is a connection like a WebSocket's, served in process
//! ([`connection::serve_in_process`]): the same `on_connect`, reader,
//! writer, limits and cleanup; only the carriage differs.
//!
//! - `GET` without a session token runs `on_connect` and answers
//!   `{"status": 410, "token": ...}`; refused: `{"status": 403, "reason"}`.
//! - `GET` with the token (`?token=` or the `X-Phoenix-LongPoll-Token`
//!   header) answers what the connection wrote since the last poll,
//!   `{"status": 200, "messages": [...]}` (each a text frame, as a
//!   WebSocket client would have received it), waiting up to the window for
//!   something to come (then `{"status": 204}`).
//! - `POST` with the token carries the client's messages, one per line
//!   (`application/x-ndjson`; a line that is not JSON is base64, binary),
//!   answered `{"status": 200}` once the connection has them.
//! - `DELETE` with the token ends the session (maze.js's `disconnect()`).
//!
//! Every request counts as hearing from the client; a session no request has
//! touched for `longpoll_timeout` seconds ends as a silent WebSocket does.
//! An unknown or ended session answers `{"status": 410}` (with `close`, the
//! server's close code and reason, when the server ended it), and the
//! client starts a new session and rejoins.
//!
//! Several instances need no sticky sessions: a request that reaches an
//! instance which does not hold its session is forwarded over the pub/sub
//! adapter to the session's own topic, which only its holder subscribes to
//! ([`Relay`]), and answered on the asking instance's topic.

use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::connection::{self, ClientFrames};
use super::{Connect, Endpoint, Limits, Params, Socket, origin_allowed, requested_version};
use crate::protocol::Protocol;
use crate::pubsub::{Broadcast, Outgoing, Subscriber, mailbox};
use crate::websocket::{Incoming, ServerFrame, parse_server_frame};
use crate::{Config, Cookies, Hub, Session as CookieSession};

/// Messages one POST may carry (the Phoenix client sends at most 100).
const BATCH: usize = 100;

/// The longest a poll is held open; shorter when the session timeout is
/// short (a poll must come back before the session is deemed silent).
const WINDOW: Duration = Duration::from_secs(10);

/// How long a forwarded request waits for the instance holding its session
/// to take it; then the session is deemed gone. Generous: a session made a
/// moment ago is subscribed on the broker only once its instance's adapter
/// has got to it, which a busy instance or broker delays.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a forwarded request is sent again while not taken (a session
/// made a moment ago may not be subscribed on the broker yet).
const RELAY_RETRY: Duration = Duration::from_millis(250);

/// Session tokens start so: another `token` param (the app's own) is not one.
const TOKEN_PREFIX: &str = "lp_";

/// The header newer Phoenix clients send the session token in.
const TOKEN_HEADER: &str = "x-phoenix-longpoll-token";

/// Internal topics (control characters: no client can join them): a
/// session's, which its holder listens on, and an instance's, where the
/// answers to what it forwarded come back.
const SESSION_TOPIC: &str = "\u{1}longpoll:";
const ANSWER_TOPIC: &str = "\u{1}longpoll-answer:";

/// The long-poll sessions of one socket endpoint held by this instance.
pub(crate) struct LongPoll {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// The endpoint's limits, with `longpoll_timeout` as the idle timeout.
    limits: Arc<Limits>,
    /// How long a poll waits for something to answer.
    window: Duration,
    /// How long an ended session still answers (what is left, then its
    /// close reason): the session timeout, within which a live client polls.
    kept: Duration,
    hub: Hub,
    /// Forwarding between instances, started on first use.
    relay: OnceLock<Arc<Relay>>,
}

/// One client's session: the connection's way in and way out.
struct Session {
    id: String,
    /// To the connection's reader; `None` once the client is gone (DELETE)
    /// or the connection ended.
    to_connection: Mutex<Option<mpsc::Sender<Incoming>>>,
    outbox: Mutex<Outbox>,
    /// Wakes the polls waiting when the outbox gains messages or ends.
    arrived: Notify,
    /// Forwarded requests already taken (asking instance's topic and id),
    /// with their answer once there is one: one sent again is not handled
    /// twice, but answered again.
    taken: Mutex<VecDeque<(Forwarded, Option<Value>)>>,
}

/// A forwarded request: the asking instance's topic for answers, and its number there.
type Forwarded = (String, u64);

/// What the connection wrote, until a poll takes it.
#[derive(Default)]
struct Outbox {
    messages: VecDeque<String>,
    /// The connection ended; with the close frame it wrote, if any.
    ended: Option<Option<(u16, String)>>,
    /// The connection's writer, waiting for a poll to make room.
    writer: Option<Waker>,
}

/// What a poll found.
enum Polled {
    Messages(Vec<String>),
    Nothing,
    Ended(Option<(u16, String)>),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LongPoll {
    pub(crate) fn new(config: &Config, limits: &Limits, hub: Hub) -> Arc<LongPoll> {
        let timeout = Duration::from_secs(config.websockets.longpoll_timeout.max(1));
        let limits = Arc::new(Limits { idle_timeout: timeout, ..limits.clone() });
        Arc::new(LongPoll {
            sessions: Mutex::default(),
            limits,
            window: WINDOW.min(timeout / 2),
            kept: timeout,
            hub,
            relay: OnceLock::new(),
        })
    }

    fn local(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    fn relay(self: &Arc<LongPoll>) -> &Arc<Relay> {
        self.relay.get_or_init(|| Relay::start(self))
    }

    /// Whether another instance may hold a session (the adapter is a broker).
    fn spans_instances(&self) -> bool {
        self.hub.pubsub().connected().is_some()
    }

    /// Runs `on_connect`, and when it accepts, starts the session's connection.
    async fn open<S: Socket<St>, St: Clone + Send + Sync + 'static>(
        self: &Arc<LongPoll>,
        endpoint: Endpoint<S, St>,
        connect: Connect<St>,
        serializer: Protocol,
    ) -> Value {
        let socket = match connection::accept::<S, St>(&connect).await {
            Ok(socket) => socket,
            Err((code, reason)) => return json!({"status": 403, "close": [code, reason], "reason": reason}),
        };
        let id = new_token();
        let (to_connection, frames) = mpsc::channel(BATCH);
        let session = Arc::new(Session {
            id: id.clone(),
            to_connection: Mutex::new(Some(to_connection)),
            outbox: Mutex::default(),
            arrived: Notify::new(),
            taken: Mutex::default(),
        });
        lock(&self.sessions).insert(id.clone(), session.clone());
        if self.spans_instances() {
            let relay = self.relay();
            self.hub.pubsub().subscribe(&session_topic(&id), relay.subscriber.clone());
        }
        let sink = SessionSink {
            session,
            bytes: Vec::new(),
            capacity: self.limits.outbound_queue,
            longpoll: Arc::downgrade(self),
        };
        let limits = self.limits.clone();
        connection::serve_in_process(
            socket,
            connect,
            endpoint,
            serializer,
            limits,
            ClientFrames::LongPoll(frames),
            sink,
        );
        json!({"status": 410, "token": id, "messages": []})
    }

    /// The session ended: no request finds it any more.
    fn forget(&self, id: &str) {
        if lock(&self.sessions).remove(id).is_some()
            && let Some(relay) = self.relay.get()
        {
            self.hub.pubsub().unsubscribe(&session_topic(id), relay.subscriber.id);
        }
    }

    /// Answers `request` for session `id`, here or where the session is.
    async fn serve(self: &Arc<LongPoll>, id: &str, request: Request) -> Value {
        if let Some(session) = self.local(id) {
            return self.answer(&session, request).await;
        }
        if !self.spans_instances() {
            return gone(None);
        }
        self.relay().forward(id, request, self.window).await.unwrap_or_else(|| gone(None))
    }

    /// Answers `request` for a session this instance holds.
    async fn answer(&self, session: &Session, request: Request) -> Value {
        match request {
            Request::Poll => match session.poll(self.window).await {
                Polled::Messages(messages) => {
                    json!({"status": 200, "token": session.id, "messages": messages})
                }
                Polled::Nothing => json!({"status": 204, "token": session.id, "messages": []}),
                Polled::Ended(close) => gone(close),
            },
            Request::Post(lines) => {
                if lines.iter().any(|line| line.len() > self.limits.max_message_size) {
                    // As a WebSocket's oversized message does, it ends the session.
                    session.leave();
                    return json!({"status": 413, "close": [1009, "message too big"]});
                }
                if session.post(lines).await { json!({"status": 200}) } else { gone(None) }
            }
            Request::Leave => {
                session.leave();
                json!({"status": 200})
            }
        }
    }
}

/// A session's request, as the client made it (and as it is forwarded).
enum Request {
    Poll,
    /// The client's messages, one per line.
    Post(Vec<String>),
    /// The client is done (DELETE).
    Leave,
}

impl Request {
    fn to_json(&self) -> Value {
        match self {
            Request::Poll => json!({"kind": "poll"}),
            Request::Post(lines) => json!({"kind": "post", "lines": lines}),
            Request::Leave => json!({"kind": "leave"}),
        }
    }

    fn from_json(value: &Value) -> Option<Request> {
        match value["kind"].as_str()? {
            "poll" => Some(Request::Poll),
            "post" => {
                let lines =
                    value["lines"].as_array()?.iter().filter_map(|line| line.as_str().map(String::from));
                Some(Request::Post(lines.collect()))
            }
            "leave" => Some(Request::Leave),
            _ => None,
        }
    }
}

/// The answer for a session that is not (or no longer) there.
fn gone(close: Option<(u16, String)>) -> Value {
    match close {
        Some((code, reason)) => json!({"status": 410, "close": [code, reason]}),
        None => json!({"status": 410}),
    }
}

impl Session {
    /// Tells the connection the client is there (its idle timer restarts).
    fn touch(&self) {
        if let Some(to_connection) = lock(&self.to_connection).as_ref() {
            // Full: the client's own messages are waiting, which count too.
            let _ = to_connection.try_send(Incoming::Pong);
        }
    }

    /// What the connection wrote since the last poll, waiting up to `window`
    /// for something.
    async fn poll(&self, window: Duration) -> Polled {
        self.touch();
        let deadline = Instant::now() + window;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut outbox = lock(&self.outbox);
                if !outbox.messages.is_empty() {
                    let messages = outbox.messages.drain(..).collect();
                    if let Some(writer) = outbox.writer.take() {
                        writer.wake();
                    }
                    return Polled::Messages(messages);
                }
                if let Some(close) = &outbox.ended {
                    return Polled::Ended(close.clone());
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Polled::Nothing;
            }
        }
    }

    /// Hands the client's messages to the connection, in order, waiting
    /// while its reader is behind; false when the session has ended.
    async fn post(&self, lines: Vec<String>) -> bool {
        self.touch();
        let Some(to_connection) = lock(&self.to_connection).clone() else { return false };
        for line in lines {
            let incoming = if line.starts_with(['{', '[']) {
                Incoming::Text(line)
            } else {
                match base64::engine::general_purpose::STANDARD.decode(line.trim()) {
                    Ok(bytes) => Incoming::Binary(bytes),
                    Err(_) => Incoming::Text(line),
                }
            };
            if to_connection.send(incoming).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The client is gone: its connection ends, as a closed WebSocket's does.
    fn leave(&self) {
        lock(&self.to_connection).take();
    }
}

/// Where a session's connection writes: the WebSocket frames it would send
/// a client, kept as messages until a poll takes them. Holding
/// `outbound_queue` messages, it takes no more until a poll comes: the
/// writer waits, the connection's queue fills, and a client that stopped
/// polling is a slow consumer as on a WebSocket.
struct SessionSink {
    session: Arc<Session>,
    /// The start of a frame not yet whole.
    bytes: Vec<u8>,
    capacity: usize,
    longpoll: Weak<LongPoll>,
}

impl tokio::io::AsyncWrite for SessionSink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let mut outbox = lock(&this.session.outbox);
        if outbox.messages.len() >= this.capacity {
            outbox.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut written = 0;
        for buf in bufs {
            this.bytes.extend_from_slice(buf);
            written += buf.len();
        }
        let mut used = 0;
        while let Some((frame, length)) = parse_server_frame(&this.bytes[used..]) {
            used += length;
            match frame {
                Some(ServerFrame::Text(text)) => outbox.messages.push_back(text),
                Some(ServerFrame::Close(close)) => {
                    outbox.ended = Some(close);
                    // The connection need not wait for the client's close frame.
                    this.session.leave();
                }
                None => {}
            }
        }
        this.bytes.drain(..used);
        drop(outbox);
        this.session.arrived.notify_waiters();
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The connection has ended: polls answer what is left, then 410 with
    /// the close frame's code and reason, for `longpoll_timeout` more; then
    /// the session is forgotten (410 without them).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        let session = &self.session;
        lock(&session.outbox).ended.get_or_insert(None);
        session.leave();
        session.arrived.notify_waiters();
        if let Some(longpoll) = self.longpoll.upgrade() {
            let id = session.id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(longpoll.kept).await;
                longpoll.forget(&id);
            });
        }
        Poll::Ready(Ok(()))
    }
}

/// Forwards requests for sessions held by other instances, and answers
/// those forwarded here, over the pub/sub adapter. A request goes to the
/// session's topic with the asking instance's topic and an id; the holder
/// says it took it at once, then answers when it has (a poll may wait).
struct Relay {
    /// Where answers to this instance's requests come.
    answers: String,
    subscriber: Subscriber,
    waiting: Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>,
    next_id: AtomicU64,
    hub: Hub,
}

impl Relay {
    fn start(longpoll: &Arc<LongPoll>) -> Arc<Relay> {
        let hub = longpoll.hub.clone();
        let (queue, mut received) = mailbox::bounded(4096);
        let subscriber = Subscriber::new(crate::pubsub::next_id(), queue);
        let answers = format!("{ANSWER_TOPIC}{}", new_token());
        hub.pubsub().subscribe(&answers, subscriber.clone());
        let relay = Arc::new(Relay {
            answers,
            subscriber,
            waiting: Mutex::default(),
            next_id: AtomicU64::new(1),
            hub,
        });
        let (weak_relay, weak_longpoll) = (Arc::downgrade(&relay), Arc::downgrade(longpoll));
        tokio::spawn(async move {
            while let Some(item) = received.recv().await {
                let (Some(relay), Some(longpoll)) = (weak_relay.upgrade(), weak_longpoll.upgrade()) else {
                    return;
                };
                let Outgoing::Broadcast(broadcast) = item else { continue };
                if broadcast.topic == relay.answers {
                    relay.answered(&broadcast.payload);
                } else if let Some(id) = broadcast.topic.strip_prefix(SESSION_TOPIC)
                    && let Some(session) = longpoll.local(id)
                {
                    tokio::spawn(async move { relay.take(&longpoll, &session, &broadcast.payload).await });
                }
            }
        });
        relay
    }

    /// Sends `request` to the instance holding session `id`; its answer, or
    /// `None` when no instance takes it.
    async fn forward(&self, id: &str, request: Request, window: Duration) -> Option<Value> {
        let number = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, mut answers) = mpsc::unbounded_channel();
        lock(&self.waiting).insert(number, answer);
        let _done = Waiting { relay: self, number };
        let mut message = request.to_json();
        message["id"] = json!(number);
        message["answer"] = json!(self.answers);
        let topic = session_topic(id);
        let deadline = Instant::now() + RELAY_TIMEOUT;
        let first = loop {
            self.hub.pubsub().publish(Broadcast::new(&topic, "request", message.clone()));
            let retry = (Instant::now() + RELAY_RETRY).min(deadline);
            match tokio::time::timeout_at(retry, answers.recv()).await {
                Ok(answer) => break answer?,
                Err(_) if Instant::now() >= deadline => return None,
                Err(_) => {}
            }
        };
        if first["taken"] != json!(true) {
            return Some(first);
        }
        tokio::time::timeout(window + RELAY_TIMEOUT, answers.recv()).await.ok().flatten()
    }

    fn answered(&self, answer: &Value) {
        let Some(number) = answer["id"].as_u64() else { return };
        if let Some(waiting) = lock(&self.waiting).get(&number) {
            let _ = waiting.send(answer["answer"].clone());
        }
    }

    /// Handles a request forwarded to a session held here.
    async fn take(&self, longpoll: &LongPoll, session: &Session, message: &Value) {
        let (Some(answers), Some(number), Some(request)) =
            (message["answer"].as_str(), message["id"].as_u64(), Request::from_json(message))
        else {
            return;
        };
        let reply = |answer: Value| {
            let payload = json!({"id": number, "answer": answer});
            self.hub.pubsub().publish(Broadcast::new(answers, "answer", payload));
        };
        let key = (answers.to_string(), number);
        {
            // Sent again: the asking instance has not heard from here (its
            // topic for answers may not have been subscribed on the broker
            // when the first answers went). Answered again, handled once.
            let mut taken = lock(&session.taken);
            if let Some((_, answered)) = taken.iter().find(|(taken, _)| *taken == key) {
                reply(answered.clone().unwrap_or_else(|| json!({"taken": true})));
                return;
            }
            // A client's requests come one at a time (a poll, a POST): the
            // last few are all that can come again.
            if taken.len() == 16 {
                taken.pop_front();
            }
            taken.push_back((key.clone(), None));
        }
        reply(json!({"taken": true}));
        let answer = longpoll.answer(session, request).await;
        if let Some((_, answered)) = lock(&session.taken).iter_mut().find(|(taken, _)| *taken == key) {
            *answered = Some(answer.clone());
        }
        reply(answer);
    }
}

/// Forgets a forwarded request's answers when its wait ends (or is dropped:
/// the client went away).
struct Waiting<'a> {
    relay: &'a Relay,
    number: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.relay.waiting).remove(&self.number);
    }
}

fn session_topic(id: &str) -> String {
    format!("{SESSION_TOPIC}{id}")
}

/// A new session token: 128 random bits.
fn new_token() -> String {
    let key = cookie::Key::generate();
    let random: String = key.master().iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    format!("{TOKEN_PREFIX}{random}")
}

/// The session token a request carries: the header, or the last `token`
/// query param that is one.
fn session_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(token) = headers.get(TOKEN_HEADER).and_then(|value| value.to_str().ok()) {
        return Some(token.to_string());
    }
    let query = uri.query()?;
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("token="))
        .rfind(|token| token.starts_with(TOKEN_PREFIX))
        .map(String::from)
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Endpoint<S, St> {
    /// The long-poll handler at `<path>/longpoll` (see the module's doc).
    pub(crate) fn into_longpoll_router(self, config: &Config) -> MethodRouter<St> {
        let longpoll = LongPoll::new(config, &self.limits, self.hub.clone());
        axum::routing::any(
            move |axum::extract::State(state): axum::extract::State<St>,
                  method: Method,
                  headers: HeaderMap,
                  uri: Uri,
                  session: CookieSession,
                  cookies: Cookies,
                  body: Bytes| async move {
                let cors = cors_origin(&headers);
                if !origin_allowed(&headers, &self.limits.allowed_origins) {
                    crate::telemetry::connect_refused(super::connection::socket_type::<S>(), "origin");
                    return respond(
                        json!({"status": 403, "reason": "this page's origin may not open the socket"}),
                        None,
                    );
                }
                let answer = match (method, session_token(&headers, &uri)) {
                    (Method::OPTIONS, _) => return preflight(&headers, cors),
                    (Method::GET, None) => {
                        let serializer = match requested_version(&uri) {
                            None => Protocol::Maze,
                            Some("2.0.0") => Protocol::PhoenixV2,
                            Some(other) => {
                                crate::telemetry::connect_refused(
                                    super::connection::socket_type::<S>(),
                                    "version",
                                );
                                return super::unsupported_version(other);
                            }
                        };
                        let connect = Connect {
                            session: session.snapshot(),
                            cookies,
                            params: Params::from_uri(&uri),
                            state,
                        };
                        longpoll.open(self, connect, serializer).await
                    }
                    (Method::GET, Some(token)) => longpoll.serve(&token, Request::Poll).await,
                    (Method::POST, Some(token)) => {
                        let ndjson =
                            headers.get(CONTENT_TYPE).is_some_and(|kind| kind == "application/x-ndjson");
                        let body = String::from_utf8_lossy(&body);
                        let lines: Vec<String> = if ndjson {
                            body.split('\n')
                                .map(|line| line.trim_end_matches('\r'))
                                .filter(|line| !line.is_empty())
                                .take(BATCH)
                                .map(String::from)
                                .collect()
                        } else {
                            vec![body.into_owned()]
                        };
                        longpoll.serve(&token, Request::Post(lines)).await
                    }
                    (Method::DELETE, Some(token)) => longpoll.serve(&token, Request::Leave).await,
                    (Method::POST | Method::DELETE, None) => gone(None),
                    _ => return StatusCode::BAD_REQUEST.into_response(),
                };
                respond(answer, cors)
            },
        )
    }
}

/// The page's origin, echoed to cross-origin pages the origin check let through.
fn cors_origin(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(ORIGIN).cloned()
}

/// The answer: always HTTP 200, the status inside (as Phoenix's clients read it).
fn respond(answer: Value, cors: Option<HeaderValue>) -> Response {
    let mut response = axum::Json(answer).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(origin) = cors {
        response.headers_mut().insert("access-control-allow-origin", origin);
    }
    response
}

/// A CORS preflight from an allowed origin (the POST's content type and the
/// token header are not "simple").
fn preflight(headers: &HeaderMap, cors: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    if let Some(origin) = cors {
        out.insert("access-control-allow-origin", origin);
    }
    if let Some(asked) = headers.get("access-control-request-headers") {
        out.insert("access-control-allow-headers", asked.clone());
    }
    out.insert("access-control-allow-methods", HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
    out.insert("access-control-max-age", HeaderValue::from_static("3600"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_the_last_token_param_that_is_one() {
        let none = HeaderMap::new();
        let uri: Uri = "/chat/longpoll?token=users-own&vsn=2.0.0&token=lp_abc".parse().unwrap();
        assert_eq!(session_token(&none, &uri).as_deref(), Some("lp_abc"));
        let uri: Uri = "/chat/longpoll?token=users-own&vsn=2.0.0".parse().unwrap();
        assert_eq!(session_token(&none, &uri), None, "the app's own token param is not a session");
        let mut header = HeaderMap::new();
        header.insert(TOKEN_HEADER, "lp_def".parse().unwrap());
        assert_eq!(session_token(&header, &uri).as_deref(), Some("lp_def"));
    }

    fn session() -> Arc<Session> {
        Arc::new(Session {
            id: new_token(),
            to_connection: Mutex::new(None),
            outbox: Mutex::default(),
            arrived: Notify::new(),
            taken: Mutex::default(),
        })
    }

    #[tokio::test]
    async fn the_sink_holds_outbound_queue_frames_until_a_poll_takes_them() {
        use crate::websocket::Frame;
        use tokio::io::AsyncWrite;
        let session = session();
        let mut sink =
            SessionSink { session: session.clone(), bytes: Vec::new(), capacity: 2, longpoll: Weak::new() };
        let mut write = |frame: Frame| {
            let mut sink = Pin::new(&mut sink);
            let waker = futures_util::task::noop_waker();
            sink.as_mut().poll_write(&mut std::task::Context::from_waker(&waker), frame.as_bytes())
        };
        assert!(write(Frame::text("one")).is_ready());
        assert!(write(Frame::text("two")).is_ready());
        assert!(write(Frame::text("three")).is_pending(), "full: the writer waits");
        let Polled::Messages(messages) = session.poll(Duration::from_secs(1)).await else {
            panic!("messages")
        };
        assert_eq!(messages, ["one", "two"]);
        assert!(write(Frame::text("three")).is_ready(), "a poll made room");
    }

    #[tokio::test]
    async fn a_poll_answers_what_comes_within_its_window_or_nothing() {
        let session = session();
        assert!(matches!(session.poll(Duration::from_millis(50)).await, Polled::Nothing));
        let writer = session.clone();
        let poll = tokio::spawn(async move { session.poll(Duration::from_secs(60)).await });
        lock(&writer.outbox).messages.push_back("late".into());
        writer.arrived.notify_waiters();
        let Polled::Messages(messages) = poll.await.unwrap() else { panic!("messages") };
        assert_eq!(messages, ["late"]);
    }

    #[tokio::test]
    async fn a_forwarded_request_sent_again_is_answered_again_and_handled_once() {
        let hub = Hub::in_memory();
        let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
        let limits = Limits {
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_message_size: 1024,
            outbound_queue: 16,
            max_channels: 10,
            allowed_origins: Vec::new(),
        };
        let longpoll = LongPoll::new(&config, &limits, hub.clone());
        let relay = longpoll.relay().clone();
        let session = session();
        let (to_connection, mut frames) = mpsc::channel(16);
        *lock(&session.to_connection) = Some(to_connection);
        // Where the asking instance hears the answers.
        let (queue, mut answers) = mailbox::bounded(16);
        hub.pubsub().subscribe("asker", Subscriber::new(crate::pubsub::next_id(), queue));

        let request = json!({"kind": "post", "lines": ["{\"n\":1}"], "id": 7, "answer": "asker"});
        relay.take(&longpoll, &session, &request).await;
        relay.take(&longpoll, &session, &request).await;
        let mut heard = Vec::new();
        while let Some(Outgoing::Broadcast(answer)) = answers.try_recv() {
            heard.push(answer.payload.clone());
        }
        let answer = |answer: Value| json!({"id": 7, "answer": answer});
        assert_eq!(
            heard,
            [answer(json!({"taken": true})), answer(json!({"status": 200})), answer(json!({"status": 200}))]
        );
        let mut posted = Vec::new();
        while let Ok(frame) = frames.try_recv() {
            posted.push(frame);
        }
        assert_eq!(posted, [Incoming::Pong, Incoming::Text("{\"n\":1}".into())], "handled once");
    }

    #[test]
    fn session_tokens_are_new_each_time() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 32, "{a}");
    }
}
