//! [`Channel`]: what handles one joined topic, and the [`Context`] and
//! [`Client`] its callbacks work with.

use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};

use super::{Connect, Params, Socket};
use crate::protocol::Outbound;
use crate::pubsub::{Broadcast, Outgoing, Subscriber};
use crate::{Cookies, Hub, SessionSnapshot};

/// A message a client pushed to a channel: `channel.push("message_new",
/// {body: "hi"})` in maze.js arrives with subject `message_new`.
///
/// ```
/// use maze::prelude::*;
/// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
/// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
/// # #[derive(Default)] struct RoomChannel;
/// impl Channel<ChatSocket> for RoomChannel {
///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
///         match message.subject.as_str() {
///             "typing" => ctx.broadcast_from("typing", message.payload),
///             _ => ctx.rebroadcast(message),
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// What the message is (`message_new`).
    pub subject: String,
    /// Its data.
    pub payload: Value,
}

/// Handles one joined topic on one connection of the socket `S`: a new value
/// is created at each join and dropped after its leave.
///
/// Callbacks are `async fn`s and may await (a database, another service);
/// while one runs, the connection's other frames wait, and every other
/// connection goes on. A panic in a callback is contained: see the
/// [module documentation](crate::socket#failures).
///
/// `S` is the socket the channel is attached to, so [`Context::socket`] is
/// typed. A channel that several sockets share implements `Channel<S>` for
/// every `S: Socket` (or for each of them). `St` is the app's state
/// (`App::with_state`; `()` by default), typed in [`Context::state`]: a
/// channel of an app with state implements `Channel<ChatSocket, AppState>`.
///
/// ```
/// use maze::prelude::*;
///
/// #[derive(Default)]
/// pub struct ChatSocket {
///     user_id: Option<i64>,
/// }
///
/// impl Socket for ChatSocket {
///     fn channels(channels: &mut Channels<Self>) {
///         channels.add::<ChatRoomChannel>("chat_room:*");
///     }
///
///     async fn on_connect(&mut self, conn: &Connect) -> bool {
///         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
///         true
///     }
/// }
///
/// #[derive(Default)]
/// pub struct ChatRoomChannel;
///
/// impl Channel<ChatSocket> for ChatRoomChannel {
///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
///         match ctx.socket().user_id {
///             Some(user_id) => Ok(json!({"welcome": user_id})),
///             None => Err("sign in first".into()),
///         }
///     }
///
///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
///         let user_id = ctx.socket().user_id;
///         ctx.broadcast(&message.subject, json!({"from": user_id, "body": message.payload}));
///     }
/// }
/// ```
pub trait Channel<S: Socket<St>, St = ()>: Send + 'static {
    /// A client asks to join `ctx.topic()` with `payload`. `Ok(response)`
    /// accepts, and `response` is the join reply's data (`Value::Null` for
    /// none); `Err(reason)` refuses, and the reason reaches the client.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         if ctx.socket().user_id.is_none() {
    ///             return Err("sign in to chat".into());
    ///         }
    ///         Ok(json!({"topic": ctx.topic()}))
    ///     }
    /// }
    /// ```
    fn join(
        &mut self,
        ctx: &mut Context<'_, S, St>,
        payload: Value,
    ) -> impl Future<Output = Result<Value, String>> + Send {
        let _ = (ctx, payload);
        async { Ok(Value::Null) }
    }

    /// The client pushed `message` to this topic. The client's push is
    /// answered after what this callback sent: with an empty ok reply,
    /// unless it called [`Context::reply`] (ok, with a response) or
    /// [`Context::reply_error`] (the client's `push(...).receive("error",
    /// ...)` fires).
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
    ///         ctx.broadcast(&message.subject, json!({"from": ctx.socket().user_id, "body": message.payload}));
    ///     }
    /// }
    /// ```
    fn message(&mut self, ctx: &mut Context<'_, S, St>, message: Message) -> impl Future<Output = ()> + Send {
        let _ = (ctx, message);
        async {}
    }

    /// The client left the topic, or its connection ended.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn leave(&mut self, ctx: &mut Context<'_, ChatSocket>) {
    ///         ctx.broadcast_from("user_left", json!({"user_id": ctx.socket().user_id}));
    ///     }
    /// }
    /// ```
    fn leave(&mut self, ctx: &mut Context<'_, S, St>) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }
}

/// What a channel callback knows and can do: its topic, its connection's
/// socket value, session, cookies and connect params, the app's state;
/// answer its own client, broadcast to the topic.
///
/// ```
/// use maze::prelude::*;
/// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
/// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
/// # #[derive(Default)] struct RoomChannel;
/// impl Channel<ChatSocket> for RoomChannel {
///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
///         ctx.push("welcome", json!({"topic": ctx.topic()})); // sent after the join's reply
///         ctx.broadcast_from("user_joined", json!({"user_id": ctx.socket().user_id}));
///         Ok(Value::Null)
///     }
/// }
/// ```
pub struct Context<'a, S, St = ()> {
    pub(crate) topic: &'a str,
    pub(crate) socket: &'a S,
    pub(crate) connect: &'a Connect<St>,
    /// The app's hub.
    pub(crate) hub: &'a Hub,
    pub(crate) link: &'a Subscriber,
    /// Proof that the channel is joined, for [`Client`] handles.
    pub(crate) joined: &'a Arc<()>,
    /// Pushes made during `join`: sent after the join's reply.
    pub(crate) held: Option<Vec<Outbound>>,
    /// `track` was called during `join`: the client is sent `presence_state`
    /// once the join's reply has gone.
    pub(crate) wants_presence_state: bool,
    /// What the callback broadcast, for its reply to follow.
    pub(crate) sent: std::sync::Mutex<Vec<Arc<Broadcast>>>,
    /// How `message` answers the client's push: ok (true) or error, with a
    /// response. None: an empty ok.
    pub(crate) reply: Option<(bool, Value)>,
}

impl<S, St> Context<'_, S, St> {
    /// The topic this channel handles, e.g. `chat_room:123`.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         let room = ctx.topic().trim_start_matches("chat_room:");
    ///         Ok(json!({"room": room}))
    ///     }
    /// }
    /// ```
    pub fn topic(&self) -> &str {
        self.topic
    }

    /// The connection's socket value, as `on_connect` left it.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         ctx.socket().user_id.map(|id| json!({"user_id": id})).ok_or_else(|| "sign in first".into())
    ///     }
    /// }
    /// ```
    pub fn socket(&self) -> &S {
        self.socket
    }

    /// The connection's session, as of the upgrade request (read-only).
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         let admin = ctx.session().get("admin") == Some(&Value::Bool(true));
    ///         Ok(json!({"admin": admin}))
    ///     }
    /// }
    /// ```
    pub fn session(&self) -> &SessionSnapshot {
        self.connect.session()
    }

    /// The cookies sent with the upgrade request.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         Ok(json!({"theme": ctx.cookies().get("theme").unwrap_or("light")}))
    ///     }
    /// }
    /// ```
    pub fn cookies(&self) -> &Cookies {
        self.connect.cookies()
    }

    /// The params the client connected with (see [`Connect::params`]).
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         Ok(json!({"client_version": ctx.params().get("version")}))
    ///     }
    /// }
    /// ```
    pub fn params(&self) -> &Params {
        self.connect.params()
    }

    /// The app's state (`App::with_state`): its type is the channel's
    /// `St`, checked when the app is compiled.
    ///
    /// ```
    /// use maze::prelude::*;
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// pub struct AppState {
    ///     log: Arc<Mutex<Vec<String>>>,
    /// }
    /// # #[derive(Default)] pub struct ChatSocket;
    /// # impl Socket<AppState> for ChatSocket { fn channels(_: &mut Channels<Self, AppState>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket, AppState> for RoomChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket, AppState>, message: Message) {
    ///         ctx.state().log.lock().unwrap().push(message.payload.to_string());
    ///         ctx.rebroadcast(message);
    ///     }
    /// }
    /// ```
    pub fn state(&self) -> &St {
        self.connect.state()
    }

    /// The app's hub: broadcast to any topic, list presences, hand it to a
    /// task.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct AuditChannel;
    /// impl<S: Socket> Channel<S> for AuditChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, S>, message: Message) {
    ///         ctx.hub().broadcast("audit", &message.subject, json!({"topic": ctx.topic()}));
    ///     }
    /// }
    /// ```
    pub fn hub(&self) -> &Hub {
        self.hub
    }

    /// Answers the client's push with `response` (ok): maze.js's and the
    /// Phoenix client's `push(...).receive("ok", response => ...)`, after
    /// what the callback broadcast. In `message` only (a join answers with
    /// what it returns); the last call stands.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct CounterChannel { count: u64 }
    /// impl<S: Socket> Channel<S> for CounterChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, S>, _message: Message) {
    ///         self.count += 1;
    ///         ctx.reply(json!({"count": self.count}));
    ///     }
    /// }
    /// ```
    pub fn reply(&mut self, response: Value) {
        self.reply = Some((true, response));
    }

    /// Answers the client's push with an error: maze.js's and the Phoenix
    /// client's `push(...).receive("error", response => ...)` fire with
    /// `response`, `{"reason": ...}` by convention (as a refused join's).
    /// In `message` only; the last call stands.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct AuctionChannel { highest: u64 }
    /// impl<S: Socket> Channel<S> for AuctionChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, S>, message: Message) {
    ///         let bid = message.payload["amount"].as_u64().unwrap_or(0);
    ///         if bid <= self.highest {
    ///             return ctx.reply_error(json!({"reason": "bid too low", "highest": self.highest}));
    ///         }
    ///         self.highest = bid;
    ///         ctx.broadcast("new_bid", json!({"amount": bid}));
    ///     }
    /// }
    /// ```
    pub fn reply_error(&mut self, response: Value) {
        self.reply = Some((false, response));
    }

    /// Sends `subject` to this client only. During `join`, it is sent right
    /// after the join's reply.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
    ///         if message.payload["body"].as_str().is_none_or(str::is_empty) {
    ///             ctx.push("error", json!({"reason": "empty message"}));
    ///         }
    ///     }
    /// }
    /// ```
    pub fn push(&mut self, subject: &str, payload: Value) {
        let frame =
            Outbound::Message { topic: self.topic.to_string(), subject: subject.to_string(), payload };
        match &mut self.held {
            Some(held) => held.push(frame),
            None => {
                self.link.offer_own(Outgoing::Frame(Box::new(frame)));
            }
        }
    }

    /// Sends `subject` to every subscriber of this topic, this client
    /// included, on every app instance.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
    ///         ctx.broadcast("message_new", json!({"from": ctx.socket().user_id, "body": message.payload}));
    ///     }
    /// }
    /// ```
    pub fn broadcast(&self, subject: &str, payload: Value) {
        self.publish(Broadcast::new(self.topic, subject, payload));
    }

    /// Publishes, remembering the broadcast: the reply to the client's push
    /// waits until this instance's subscribers have it.
    fn publish(&self, broadcast: Broadcast) {
        let broadcast = Arc::new(broadcast);
        self.hub.pubsub().publish_shared(broadcast.clone());
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push(broadcast);
    }

    /// Sends `subject` to every subscriber of this topic but this client.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
    ///         ctx.broadcast_from("typing", json!({"user_id": ctx.socket().user_id, "typing": message.payload}));
    ///     }
    /// }
    /// ```
    pub fn broadcast_from(&self, subject: &str, payload: Value) {
        self.publish(Broadcast::new(self.topic, subject, payload).excluding(self.link.id));
    }

    /// Sends a client's message on to every subscriber of this topic,
    /// with its subject and payload unchanged.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
    ///         ctx.rebroadcast(message);
    ///     }
    /// }
    /// ```
    pub fn rebroadcast(&self, message: Message) {
        self.broadcast(&message.subject, message.payload);
    }

    /// Tracks this client's presence on the topic under `key` (a user, so
    /// that two tabs are one key with two metas) with `meta` (an object:
    /// a name, a status); true when `key` had no presence on the topic yet,
    /// on any instance: the user's first tab. The client is sent
    /// `presence_state` (after the join's reply, when tracking in `join`),
    /// then `presence_diff`s; leaving or disconnecting untracks. See
    /// [`crate::presence`].
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, payload: Value) -> Result<Value, String> {
    ///         let Some(user_id) = ctx.socket().user_id else { return Err("sign in".into()) };
    ///         ctx.track(&format!("user:{user_id}"), json!({"status": payload["status"]}));
    ///         Ok(Value::Null)
    ///     }
    /// }
    /// ```
    pub fn track(&mut self, key: &str, meta: Value) -> bool {
        let first = self.hub.presence().track(self.link.id, self.topic, key, meta);
        if self.held.is_some() {
            self.wants_presence_state = true;
        } else {
            self.hub.presence().send_state(self.topic, self.link.clone());
        }
        first
    }

    /// Stops tracking this client under `key` on the topic; true when `key`
    /// has no presence left there (the user's last tab).
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct AwayChannel;
    /// impl<S: Socket> Channel<S> for AwayChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, S>, message: Message) {
    ///         if message.subject == "away" {
    ///             ctx.untrack("me");
    ///         }
    ///     }
    /// }
    /// ```
    pub fn untrack(&mut self, key: &str) -> bool {
        self.hub.presence().untrack(self.link.id, self.topic, Some(key))
    }

    /// Replaces the meta this client tracks under `key` (a status change):
    /// other clients see it leave and join again, with a new `phx_ref`.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct StatusChannel;
    /// impl<S: Socket> Channel<S> for StatusChannel {
    ///     async fn message(&mut self, ctx: &mut Context<'_, S>, message: Message) {
    ///         ctx.update_presence("me", json!({"status": message.payload["status"]}));
    ///     }
    /// }
    /// ```
    pub fn update_presence(&mut self, key: &str, meta: Value) {
        let presence = self.hub.presence();
        presence.untrack(self.link.id, self.topic, Some(key));
        presence.track(self.link.id, self.topic, key, meta);
    }

    /// A handle to this client on this topic that outlives the callback:
    /// clone it, move it into a spawned task, push later.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] pub struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # #[derive(Default)] struct RoomChannel;
    /// impl Channel<ChatSocket> for RoomChannel {
    ///     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _payload: Value) -> Result<Value, String> {
    ///         let client = ctx.client();
    ///         tokio::spawn(async move {
    ///             // Every 30 s until the client leaves.
    ///             while client.push("tick", Value::Null).is_ok() {
    ///                 tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    ///             }
    ///         });
    ///         Ok(Value::Null)
    ///     }
    /// }
    /// ```
    pub fn client(&self) -> Client {
        Client { topic: self.topic.into(), link: self.link.clone(), joined: Arc::downgrade(self.joined) }
    }
}

/// A handle to one client on one topic, for pushing to it later (from a
/// spawned task, a timer, another service's callback).
///
/// ```
/// use maze::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Default)]
/// pub struct Jobs;
///
/// impl<S: Socket> Channel<S> for Jobs {
///     async fn message(&mut self, ctx: &mut Context<'_, S>, message: Message) {
///         let client = ctx.client();
///         tokio::spawn(async move {
///             tokio::time::sleep(Duration::from_secs(1)).await;
///             // Err when the client left the topic or disconnected meanwhile.
///             let _ = client.push("job_done", message.payload);
///         });
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    topic: Arc<str>,
    link: Subscriber,
    joined: Weak<()>,
}

impl Client {
    /// The topic this handle pushes on.
    ///
    /// ```
    /// fn describe(client: &maze::socket::Client) -> String {
    ///     format!("a client of {}", client.topic())
    /// }
    /// ```
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `subject` to this client on the handle's topic.
    ///
    /// ```
    /// use maze::socket::{Client, ClientGone};
    ///
    /// fn report(client: &Client, done: u32) -> Result<(), ClientGone> {
    ///     client.push("progress", maze::serde_json::json!({"done": done}))
    /// }
    /// ```
    pub fn push(&self, subject: &str, payload: Value) -> Result<(), ClientGone> {
        if !self.is_joined() {
            return Err(ClientGone);
        }
        let frame =
            Outbound::Message { topic: self.topic.to_string(), subject: subject.to_string(), payload };
        if self.link.offer_own(Outgoing::Frame(Box::new(frame))) { Ok(()) } else { Err(ClientGone) }
    }

    /// Whether the client is still connected and joined to the topic.
    ///
    /// ```
    /// async fn wait_until_gone(client: maze::socket::Client) {
    ///     while client.is_joined() {
    ///         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///     }
    /// }
    /// ```
    pub fn is_joined(&self) -> bool {
        self.joined.strong_count() > 0 && self.link.is_open()
    }
}

/// The client left the topic or disconnected (or could not keep up, and is
/// being disconnected): the push was not sent.
///
/// ```
/// fn notify(client: &maze::socket::Client) {
///     if let Err(gone) = client.push("notice", maze::serde_json::Value::Null) {
///         println!("{gone}"); // nothing to retry: the client is not there
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGone;

impl fmt::Display for ClientGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client left the topic or disconnected")
    }
}

impl std::error::Error for ClientGone {}
