//! Sockets and channels.
//!
//! A [`Socket`] is a value that lives as long as one WebSocket connection. It
//! maps topic patterns to [`Channel`]s; a client joins a topic, and the
//! channel created for that join handles its messages until it leaves.
//!
//! ```
//! use maze::prelude::*;
//!
//! #[derive(Default)]
//! pub struct ChatSocket;
//!
//! impl Socket for ChatSocket {
//!     fn channels(channels: &mut Channels) {
//!         channels.add::<ChatRoomChannel>("chat_room:*");
//!     }
//!
//!     fn on_connect(&mut self, conn: &Connect) -> bool {
//!         // Only signed-in visitors may connect.
//!         conn.session().get("user_id").is_some()
//!     }
//! }
//!
//! #[derive(Default)]
//! pub struct ChatRoomChannel;
//!
//! impl Channel for ChatRoomChannel {
//!     fn message(&mut self, ctx: &mut Context, message: Message) {
//!         ctx.rebroadcast(message);
//!     }
//! }
//!
//! // From anywhere in the app, to every subscriber of the topic:
//! ChatSocket::broadcast("message", "chat_room:123", "message_new", json!({"message": "hi"}));
//! ```

mod connection;
mod protocol;
mod topics;

pub use topics::Channels;

use axum::extract::ws::WebSocketUpgrade;
use axum::routing::MethodRouter;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::pubsub::{self, Broadcast};
use crate::{Config, Cookies, Session};

/// The JavaScript client, served at `/maze.js`.
pub const MAZE_JS: &str = include_str!("../../js/maze.js");

/// A WebSocket endpoint's per-connection state and behaviour.
pub trait Socket: Default + Send + 'static {
    /// Maps topic patterns (`"chat_room:*"`, or an exact topic) to channels.
    fn channels(channels: &mut Channels);

    /// Runs once when a client connects, before any join. `false` closes the
    /// connection at once (close code 1008).
    fn on_connect(&mut self, conn: &Connect) -> bool {
        let _ = conn;
        true
    }

    /// Runs once when the connection ends, after every channel's `leave`.
    fn on_disconnect(&mut self) {}

    /// Sends `subject` with `payload` to every subscriber of `topic`, on every
    /// app instance. Callable from anywhere: controllers, tasks, channels.
    fn broadcast(event: &str, topic: &str, subject: &str, payload: Value) {
        pubsub::global().publish(Broadcast::new(event, topic, subject, payload));
    }
}

/// What `on_connect` knows about the upgrade request.
pub struct Connect {
    session: Session,
    cookies: Cookies,
}

impl Connect {
    /// The visitor's signed session, as of the upgrade request.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The cookies sent with the upgrade request.
    pub fn cookies(&self) -> &Cookies {
        &self.cookies
    }
}

/// A message a client pushed to a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub subject: String,
    pub payload: Value,
}

/// Handles one joined topic on one connection: created at join, dropped after leave.
pub trait Channel: Send + 'static {
    /// A client asks to join `ctx.topic()`; `Err(reason)` refuses, and the
    /// reason reaches the client.
    fn join(&mut self, ctx: &mut Context, payload: &Value) -> Result<(), String> {
        let _ = (ctx, payload);
        Ok(())
    }

    /// The client pushed `message` to this topic.
    fn message(&mut self, ctx: &mut Context, message: Message) {
        let _ = (ctx, message);
    }

    /// The client left the topic, or its connection ended.
    fn leave(&mut self, ctx: &mut Context) {
        let _ = ctx;
    }
}

/// What a channel callback can do: answer its own client, broadcast to the topic.
pub struct Context<'a> {
    topic: &'a str,
    connect: &'a Connect,
    outbox: &'a mut Vec<protocol::ServerFrame>,
}

impl Context<'_> {
    /// The topic this channel handles, e.g. `chat_room:123`.
    pub fn topic(&self) -> &str {
        self.topic
    }

    /// The connection's session, as of the upgrade request.
    pub fn session(&self) -> &Session {
        &self.connect.session
    }

    /// Sends `subject` to this client only.
    pub fn push(&mut self, subject: &str, payload: Value) {
        self.outbox.push(protocol::ServerFrame::Message {
            topic: self.topic.to_string(),
            subject: subject.to_string(),
            payload,
        });
    }

    /// Sends `subject` to every subscriber of this topic, this client included.
    pub fn broadcast(&self, subject: &str, payload: Value) {
        pubsub::global().publish(Broadcast::new("message", self.topic, subject, payload));
    }

    /// Sends a client's message on to every subscriber of this topic.
    pub fn rebroadcast(&self, message: Message) {
        self.broadcast(&message.subject, message.payload);
    }
}

/// Settings every connection of an endpoint shares.
#[derive(Clone)]
pub(crate) struct Endpoint {
    channels: Arc<Channels>,
    ping_interval: Duration,
}

impl Endpoint {
    pub(crate) fn new<S: Socket>(config: &Config) -> Endpoint {
        let mut channels = Channels::default();
        S::channels(&mut channels);
        Endpoint {
            channels: Arc::new(channels),
            ping_interval: Duration::from_secs(config.websockets.ping_interval.max(1)),
        }
    }

    pub(crate) fn topics(&self) -> Vec<(String, String)> {
        self.channels.describe()
    }

    pub(crate) fn into_method_router<S: Socket>(self) -> MethodRouter {
        axum::routing::get(move |upgrade: WebSocketUpgrade, session: Session, cookies: Cookies| async move {
            let connect = Connect { session, cookies };
            upgrade.on_upgrade(move |ws| connection::run::<S>(ws, connect, self))
        })
    }
}
