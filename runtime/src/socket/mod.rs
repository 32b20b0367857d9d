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
mod serializer;
mod topics;

pub use topics::Channels;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::pubsub::{self, Broadcast};
use crate::shutdown::Shutdown;
use crate::{Config, Cookies, Session};
use serializer::Serializer;

/// The JavaScript client, served at `/maze.js`.
pub const MAZE_JS: &str = include_str!("../../js/maze.js");
/// Its TypeScript declarations, served at `/maze.d.ts`.
pub const MAZE_D_TS: &str = include_str!("../../js/maze.d.ts");

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
    /// What the message is (`message_new`).
    pub subject: String,
    /// Its data.
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
    outbox: &'a mut Vec<serializer::Outbound>,
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
        self.outbox.push(serializer::Outbound::Message {
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

/// What every connection of one socket endpoint shares.
#[derive(Clone)]
pub(crate) struct Endpoint {
    channels: Arc<Channels>,
    limits: Arc<Limits>,
    shutdown: Arc<Shutdown>,
}

/// `[websockets]` settings, as a connection uses them.
pub(crate) struct Limits {
    ping_interval: Duration,
    idle_timeout: Duration,
    max_message_size: usize,
    outbound_queue: usize,
    max_channels: usize,
    allowed_origins: Vec<String>,
}

/// Read and write buffers per connection: small, since most messages are
/// small and idle connections should cost little (tungstenite's default
/// read buffer is 128 KiB).
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;

impl Endpoint {
    pub(crate) fn new<S: Socket>(config: &Config, shutdown: Arc<Shutdown>) -> Endpoint {
        let mut channels = Channels::default();
        S::channels(&mut channels);
        let settings = &config.websockets;
        Endpoint {
            channels: Arc::new(channels),
            limits: Arc::new(Limits {
                ping_interval: Duration::from_secs(settings.ping_interval.max(1)),
                idle_timeout: Duration::from_secs(settings.idle_timeout.max(1)),
                max_message_size: settings.max_message_size,
                outbound_queue: settings.outbound_queue.max(1),
                max_channels: settings.max_channels,
                allowed_origins: settings.allowed_origins.clone(),
            }),
            shutdown,
        }
    }

    pub(crate) fn topics(&self) -> Vec<crate::router::ChannelInfo> {
        self.channels.describe()
    }

    /// The upgrade handler: origin check, protocol choice (`vsn=2.0.0` is
    /// Phoenix V2), limits, then one [`connection::run`] per client.
    pub(crate) fn into_method_router<S: Socket>(self) -> MethodRouter {
        axum::routing::get(
            move |upgrade: WebSocketUpgrade,
                  headers: HeaderMap,
                  uri: Uri,
                  session: Session,
                  cookies: Cookies| async move {
                if !origin_allowed(&headers, &self.limits.allowed_origins) {
                    return (StatusCode::FORBIDDEN, "this page's origin may not open the socket")
                        .into_response();
                }
                let serializer = match requested_version(&uri) {
                    None => Serializer::Maze,
                    Some("2.0.0") => Serializer::PhoenixV2,
                    Some(other) => return unsupported_version(other),
                };
                let connect = Connect { session, cookies };
                upgrade
                    .max_message_size(self.limits.max_message_size)
                    .max_frame_size(self.limits.max_message_size)
                    .read_buffer_size(READ_BUFFER)
                    .write_buffer_size(WRITE_BUFFER)
                    .on_upgrade(move |ws| connection::run::<S>(ws, connect, self, serializer))
            },
        )
    }
}

fn unsupported_version(version: &str) -> Response {
    let message =
        format!("vsn={version} is not supported: use vsn=2.0.0 (Phoenix V2), or no vsn for maze JSON");
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// The `vsn` query parameter of Phoenix clients.
fn requested_version(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("vsn="))
}

/// Against cross-site WebSocket hijacking: a browser page may open the socket
/// only from the app's own origin or one listed in `allowed_origins`.
/// Clients that send no `Origin` (not browsers) are not affected.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if allowed.iter().any(|allowed| allowed == "*" || allowed.trim_end_matches('/') == origin) {
        return true;
    }
    let origin_host = origin.split_once("://").map_or(origin, |(_, host)| host);
    headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_the_apps_own_origin_by_default() {
        assert!(origin_allowed(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"), &[]));
        assert!(origin_allowed(&headers(Some("https://chat.example"), "chat.example"), &[]));
        assert!(!origin_allowed(&headers(Some("https://evil.example"), "chat.example"), &[]));
        assert!(!origin_allowed(&headers(Some("http://127.0.0.1:4000"), "127.0.0.1:3000"), &[]));
        assert!(origin_allowed(&headers(None, "chat.example"), &[]), "non-browser clients send no Origin");
    }

    #[test]
    fn listed_origins_are_allowed() {
        let allowed = vec!["https://app.example".to_string()];
        assert!(origin_allowed(&headers(Some("https://app.example"), "api.example"), &allowed));
        assert!(!origin_allowed(&headers(Some("https://other.example"), "api.example"), &allowed));
        assert!(origin_allowed(&headers(Some("https://other.example"), "api.example"), &["*".into()]));
    }

    #[test]
    fn phoenix_clients_ask_for_vsn_2() {
        assert_eq!(requested_version(&"/chat/websocket?token=x&vsn=2.0.0".parse().unwrap()), Some("2.0.0"));
        assert_eq!(requested_version(&"/chat".parse().unwrap()), None);
    }
}
