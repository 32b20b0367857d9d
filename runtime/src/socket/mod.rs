//! Sockets and channels.
//!
//! A [`Socket`] is a value that lives as long as one WebSocket connection:
//! `on_connect` fills it in (who the user is), and every channel of the
//! connection reads it. It maps topic patterns to [`Channel`]s; a client
//! joins a topic, and the channel created for that join handles its
//! messages until it leaves. Callbacks are `async fn`s.
//!
//! ```
//! use maze::prelude::*;
//!
//! #[derive(Default)]
//! pub struct ChatSocket {
//!     pub user_id: Option<i64>,
//! }
//!
//! impl Socket for ChatSocket {
//!     fn channels(channels: &mut Channels<Self>) {
//!         channels.add::<ChatRoomChannel>("chat_room:*");
//!     }
//!
//!     async fn on_connect(&mut self, conn: &Connect) -> bool {
//!         // Only signed-in visitors may connect.
//!         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
//!         self.user_id.is_some()
//!     }
//!
//!     fn id(&self) -> Option<String> {
//!         // `maze::disconnect("user:42")` closes this user's connections.
//!         self.user_id.map(|id| format!("user:{id}"))
//!     }
//! }
//!
//! #[derive(Default)]
//! pub struct ChatRoomChannel;
//!
//! impl Channel<ChatSocket> for ChatRoomChannel {
//!     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
//!         ctx.rebroadcast(message);
//!     }
//! }
//!
//! // From anywhere in the app, to every subscriber of the topic (through
//! // the current app's hub: see `maze::hub`):
//! # let hub = maze::Hub::in_memory();
//! # let _current = hub.enter();
//! ChatSocket::broadcast("message", "chat_room:123", "message_new", json!({"message": "hi"}));
//! maze::broadcast("chat_room:123", "message_new", json!({"message": "hi"}));
//! ```
//!
//! # Failures
//!
//! A panic in a callback is contained to its connection; the server goes
//! on serving everyone else, and the panic is logged once (by the panic
//! hook). Every subscription the connection held is released, on Redis too.
//! - maze JSON clients: the connection closes with code 1011 after the other
//!   channels' `leave` and the socket's `on_disconnect` have run (`maze.js`
//!   reconnects and rejoins).
//! - Phoenix clients: a panic in `message` or `leave` ends that channel only
//!   and sends `phx_error` for its topic (the client rejoins); a panic in
//!   `join` answers the join with the error `join crashed`, as Phoenix does.
//!   A panic in `on_connect` or `on_disconnect` closes with 1011.

mod channel;
#[doc(hidden)]
pub mod conformance;
pub(crate) mod connection;
mod longpoll;
mod topics;

pub use channel::{Channel, Client, ClientGone, Context, Message};
pub use topics::Channels;

use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::Protocol;
use crate::shutdown::Shutdown;
use crate::websocket;
use crate::{Config, Cookies, Hub, Session, SessionSnapshot};

/// The JavaScript client, served at `/maze.js`.
pub const MAZE_JS: &str = include_str!("../../js/maze.js");
/// Its TypeScript declarations, served at `/maze.d.ts`.
pub const MAZE_D_TS: &str = include_str!("../../js/maze.d.ts");

/// A WebSocket endpoint's per-connection state and behaviour: one value per
/// connection, created with `Default`, filled in by `on_connect`, read by
/// every channel of the connection through [`Context::socket`].
///
/// ```
/// use maze::prelude::*;
///
/// #[derive(Default)]
/// pub struct ChatSocket {
///     pub user_id: Option<i64>,
/// }
///
/// impl Socket for ChatSocket {
///     fn channels(_channels: &mut Channels<Self>) {}
///
///     async fn on_connect(&mut self, conn: &Connect) -> bool {
///         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
///         true // guests may connect too
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a socket of an app whose state is `{St}`",
    note = "a socket names its app's state: `impl Socket<{St}> for {Self}`; one that reads no state can serve any app: \
            `impl<St: Clone + Send + Sync + 'static> Socket<St> for {Self}`"
)]
pub trait Socket<St = ()>: Default + Send + Sync + Sized + 'static {
    /// Maps topic patterns (`"chat_room:*"`, or an exact topic) to channels.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct RoomChannel;
    /// # impl<S: Socket> Channel<S> for RoomChannel {}
    /// # #[derive(Default)] struct LobbyChannel;
    /// # impl<S: Socket> Channel<S> for LobbyChannel {}
    ///
    /// #[derive(Default)]
    /// struct ChatSocket;
    ///
    /// impl Socket for ChatSocket {
    ///     fn channels(channels: &mut Channels<Self>) {
    ///         channels.add::<LobbyChannel>("chat_room:lobby"); // tried first
    ///         channels.add::<RoomChannel>("chat_room:*");
    ///     }
    /// }
    /// ```
    fn channels(channels: &mut Channels<Self, St>);

    /// Runs once when a client connects, before any join: the session,
    /// cookies and connect params of the upgrade request are in `conn`.
    /// `false` closes the connection at once (close code 1008), with the
    /// reason given to [`Connect::refuse`] if it was called (the client
    /// sees it as the close reason; the log records it).
    ///
    /// ```
    /// use maze::prelude::*;
    /// #
    /// # #[derive(Default)]
    /// # struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    /// async fn on_connect(&mut self, conn: &Connect) -> bool {
    ///     self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
    ///     self.user_id.is_some() // signed-in users only
    /// }
    /// # }
    /// ```
    fn on_connect(&mut self, conn: &Connect<St>) -> impl Future<Output = bool> + Send {
        let _ = conn;
        async { true }
    }

    /// The connection's identity, e.g. `"user:42"`: [`disconnect`] with it
    /// closes every connection that has it, on every app instance. `None`
    /// (the default) for anonymous connections. Read once, after `on_connect`.
    ///
    /// ```
    /// use maze::prelude::*;
    /// #
    /// # #[derive(Default)]
    /// # struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    /// fn id(&self) -> Option<String> {
    ///     self.user_id.map(|id| format!("user:{id}"))
    /// }
    /// # }
    /// ```
    fn id(&self) -> Option<String> {
        None
    }

    /// Runs once when the connection ends, after every channel's `leave`.
    ///
    /// ```
    /// use maze::prelude::*;
    /// #
    /// # #[derive(Default)]
    /// # struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    /// async fn on_disconnect(&mut self) {
    ///     if let Some(id) = self.user_id {
    ///         maze::broadcast("users", "went_offline", json!({"user_id": id}));
    ///     }
    /// }
    /// # }
    /// ```
    fn on_disconnect(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Sends `subject` with `payload` to every subscriber of `topic`, on every
    /// app instance, through the current app's hub: callable from its
    /// controllers, channels and tasks; it panics where no app is current
    /// (see [`crate::hub`]), as [`broadcast`] does.
    ///
    /// `event` is the kind of frame in Amber's protocol, whose broadcasts are
    /// always `"message"`: the argument is kept so that code written for
    /// Amber compiles, and any other value is sent as a message too. Clients
    /// dispatch on `subject`. [`broadcast`] is the same call without it.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # let hub = maze::Hub::in_memory();
    /// # let _current = hub.enter(); // as in the app's requests and callbacks
    ///
    /// ChatSocket::broadcast("message", "chat_room:123", "message_new", json!({"message": "hi"}));
    /// ```
    #[track_caller]
    fn broadcast(event: &str, topic: &str, subject: &str, payload: Value) {
        let _ = event;
        broadcast(topic, subject, payload);
    }
}

/// Sends `subject` with `payload` to every subscriber of `topic`, on every
/// app instance, through the current app's hub: from its controllers,
/// channels and tasks. Where no app is current (a test's own thread, a
/// task of an app that embeds maze in its own runtime), it panics saying
/// so: call [`Hub::broadcast`](crate::Hub::broadcast) there (see [`crate::hub`]).
///
/// ```
/// use maze::prelude::*;
///
/// async fn create_post() -> &'static str {
///     maze::broadcast("posts", "post_created", json!({"title": "Hello"}));
///     "created"
/// }
/// ```
#[track_caller]
pub fn broadcast(topic: &str, subject: &str, payload: Value) {
    Hub::current().broadcast(topic, subject, payload);
}

/// Closes every connection whose [`Socket::id`] is `id`, on every app
/// instance (through Redis when it is the adapter): at logout, or to ban a
/// user. Their channels' `leave` and their sockets' `on_disconnect` run; the
/// close code is 1000 with the reason `disconnected by the server`.
/// Through the current app's hub, as [`broadcast`].
///
/// ```
/// use maze::prelude::*;
///
/// async fn sign_out(session: Session) -> Redirect {
///     if let Some(user_id) = session.remove("user_id") {
///         maze::disconnect(&format!("user:{user_id}"));
///     }
///     Redirect::to("/")
/// }
/// ```
#[track_caller]
pub fn disconnect(id: &str) {
    Hub::current().disconnect(id);
}

tokio::task_local! {
    /// Why `on_connect` refused, while it runs (see [`Connect::refuse`]):
    /// nothing is kept per connection once it has run.
    pub(crate) static REFUSAL: std::cell::RefCell<Option<String>>;
}

/// What `on_connect` knows about the upgrade request; channels see it too
/// (`ctx.session()`, `ctx.cookies()`, `ctx.params()`, `ctx.state()`).
///
/// ```
/// use maze::prelude::*;
/// # #[derive(Default)] struct ChatSocket { user_id: Option<i64>, token: Option<String>, theme: String }
/// # impl Socket for ChatSocket {
/// #     fn channels(_: &mut Channels<Self>) {}
///     async fn on_connect(&mut self, conn: &Connect) -> bool {
///         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
///         self.theme = conn.cookies().get("theme").unwrap_or("light").to_string();
///         self.token = conn.params().get("token").map(str::to_string);
///         true
///     }
/// # }
/// ```
pub struct Connect<St = ()> {
    session: SessionSnapshot,
    cookies: Cookies,
    params: Params,
    state: St,
}

impl<St> Connect<St> {
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))] // maze::testing's
    pub(crate) fn new(session: SessionSnapshot, cookies: Cookies, params: Params, state: St) -> Connect<St> {
        Connect { session, cookies, params, state }
    }

    /// Refuses the connection with `reason`, and returns `false` for
    /// `on_connect` to return: the client's WebSocket closes with 1008 and
    /// `reason` (cut to the 123 bytes a close frame holds), and the log
    /// line of the refusal says it.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket { user_id: Option<i64> }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    ///     async fn on_connect(&mut self, conn: &Connect) -> bool {
    ///         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
    ///         if self.user_id.is_none() {
    ///             return conn.refuse("sign in first");
    ///         }
    ///         true
    ///     }
    /// # }
    /// ```
    pub fn refuse(&self, reason: &str) -> bool {
        // Outside `on_connect` (no refusal is being decided) it only returns false.
        let _ = REFUSAL.try_with(|refusal| *refusal.borrow_mut() = Some(reason.to_string()));
        false
    }

    /// The visitor's signed session, as of the upgrade request (read-only).
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket { user_id: Option<i64>, token: Option<String>, theme: String }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    ///     async fn on_connect(&mut self, conn: &Connect) -> bool {
    ///         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
    ///         true
    ///     }
    /// # }
    /// ```
    pub fn session(&self) -> &SessionSnapshot {
        &self.session
    }

    /// The cookies sent with the upgrade request.
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket { user_id: Option<i64>, token: Option<String>, theme: String }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    ///     async fn on_connect(&mut self, conn: &Connect) -> bool {
    ///         self.theme = conn.cookies().get("theme").unwrap_or("light").to_string();
    ///         true
    ///     }
    /// # }
    /// ```
    pub fn cookies(&self) -> &Cookies {
        &self.cookies
    }

    /// The params the client connected with: the query string of the socket's
    /// URL (`new Socket("/chat", { params: { token } })` in maze.js, `params`
    /// in the Phoenix clients).
    ///
    /// ```
    /// use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket { user_id: Option<i64>, token: Option<String>, theme: String }
    /// # impl Socket for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self>) {}
    ///     async fn on_connect(&mut self, conn: &Connect) -> bool {
    ///         // new Socket("/chat", { params: { token: "..." } })
    ///         self.token = conn.params().get("token").map(str::to_string);
    ///         self.token.is_some()
    ///     }
    /// # }
    /// ```
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The app's state (`App::with_state`): its type is the socket's `St`,
    /// and `routes.socket::<S>()` in an app whose state is another type
    /// does not compile.
    ///
    /// ```
    /// use maze::prelude::*;
    /// use std::collections::HashSet;
    /// use std::sync::Arc;
    ///
    /// #[derive(Clone, Default)]
    /// struct AppState {
    ///     banned: Arc<HashSet<String>>,
    /// }
    ///
    /// #[derive(Default)]
    /// struct ChatSocket;
    ///
    /// impl Socket<AppState> for ChatSocket {
    ///     fn channels(_: &mut Channels<Self, AppState>) {}
    ///
    ///     async fn on_connect(&mut self, conn: &Connect<AppState>) -> bool {
    ///         !conn.params().get("name").is_some_and(|name| conn.state().banned.contains(name))
    ///     }
    /// }
    ///
    /// fn routes(routes: &mut Routes<AppState>) {
    ///     routes.socket::<ChatSocket>("/chat");
    /// }
    /// # let _ = maze::App::new(routes).with_state(AppState::default());
    /// ```
    ///
    /// The same socket in an app whose state is another type:
    ///
    /// ```compile_fail,E0277
    /// use maze::prelude::*;
    /// # use std::collections::HashSet;
    /// # use std::sync::Arc;
    /// # #[derive(Clone, Default)]
    /// # struct AppState {
    /// #     banned: Arc<HashSet<String>>,
    /// # }
    /// # #[derive(Default)]
    /// # struct ChatSocket;
    /// # impl Socket<AppState> for ChatSocket {
    /// #     fn channels(_: &mut Channels<Self, AppState>) {}
    /// #     async fn on_connect(&mut self, conn: &Connect<AppState>) -> bool {
    /// #         !conn.params().get("name").is_some_and(|name| conn.state().banned.contains(name))
    /// #     }
    /// # }
    /// #[derive(Clone, Default)]
    /// struct OtherState;
    ///
    /// fn routes(routes: &mut Routes<OtherState>) {
    ///     routes.socket::<ChatSocket>("/chat"); // error: `ChatSocket: Socket<OtherState>` is not satisfied
    /// }
    /// # let _ = maze::App::new(routes).with_state(OtherState);
    /// ```
    pub fn state(&self) -> &St {
        &self.state
    }
}

/// A connection's params: the query string of its URL, less the protocol's
/// own `vsn`.
///
/// ```
/// let params = maze::socket::Params::default(); // a URL without a query
/// assert_eq!(params.get("token"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// The value of param `name`.
    ///
    /// ```
    /// fn room(params: &maze::socket::Params) -> &str {
    ///     params.get("room").unwrap_or("lobby")
    /// }
    /// assert_eq!(room(&Default::default()), "lobby");
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))] // maze::testing's
    pub(crate) fn from_map(params: HashMap<String, String>) -> Params {
        Params(params)
    }

    fn from_uri(uri: &Uri) -> Params {
        let query = axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri);
        let mut params = query.map(|query| query.0).unwrap_or_default();
        params.remove("vsn");
        Params(params)
    }
}

/// What every connection of one socket endpoint shares.
pub(crate) struct Endpoint<S, St> {
    channels: Arc<Channels<S, St>>,
    limits: Arc<Limits>,
    shutdown: Arc<Shutdown>,
    /// The app's hub: its pub/sub, history and presence.
    pub(crate) hub: Hub,
}

impl<S, St> Clone for Endpoint<S, St> {
    fn clone(&self) -> Self {
        Endpoint {
            channels: self.channels.clone(),
            limits: self.limits.clone(),
            shutdown: self.shutdown.clone(),
            hub: self.hub.clone(),
        }
    }
}

/// `[websockets]` settings, as a connection uses them.
#[derive(Clone)]
pub(crate) struct Limits {
    ping_interval: Duration,
    idle_timeout: Duration,
    max_message_size: usize,
    outbound_queue: usize,
    max_channels: usize,
    allowed_origins: Vec<String>,
}

impl<S: Socket<St>, St: Clone + Send + Sync + 'static> Endpoint<S, St> {
    /// The endpoint of socket `S`, or why its channels cannot be used.
    pub(crate) fn new(config: &Config, hub: Hub) -> Result<Endpoint<S, St>, String> {
        let mut channels = Channels::default();
        S::channels(&mut channels);
        if !channels.errors().is_empty() {
            return Err(channels.errors().join("; "));
        }
        let settings = &config.websockets;
        Ok(Endpoint {
            channels: Arc::new(channels),
            limits: Arc::new(Limits {
                ping_interval: Duration::from_secs(settings.ping_interval.max(1)),
                idle_timeout: Duration::from_secs(settings.idle_timeout.max(1)),
                max_message_size: settings.max_message_size,
                outbound_queue: settings.outbound_queue.max(1),
                max_channels: settings.max_channels,
                allowed_origins: settings.allowed_origins.clone(),
            }),
            shutdown: hub.shutdown().clone(),
            hub,
        })
    }

    /// The limits every connection of this endpoint has.
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))] // maze::testing's
    pub(crate) fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    pub(crate) fn topics(&self) -> Vec<crate::ChannelInfo> {
        self.channels.describe()
    }

    /// The upgrade handler: origin check, protocol choice (`vsn=2.0.0` is
    /// Phoenix V2), limits, then one [`connection::run`] per client, which
    /// holds the app's state (the router's).
    pub(crate) fn into_method_router(self) -> MethodRouter<St> {
        axum::routing::get(
            move |axum::extract::State(state): axum::extract::State<St>,
                  upgrade: websocket::Upgrade,
                  headers: HeaderMap,
                  uri: Uri,
                  session: Session,
                  cookies: Cookies| async move {
                if !origin_allowed(&headers, &self.limits.allowed_origins) {
                    crate::telemetry::connect_refused(
                        crate::type_names::in_crate(std::any::type_name::<S>()),
                        "origin",
                    );
                    return (StatusCode::FORBIDDEN, "this page's origin may not open the socket")
                        .into_response();
                }
                let serializer = match requested_version(&uri) {
                    None => Protocol::Maze,
                    Some("2.0.0") => Protocol::PhoenixV2,
                    Some(other) => {
                        crate::telemetry::connect_refused(
                            crate::type_names::in_crate(std::any::type_name::<S>()),
                            "version",
                        );
                        return unsupported_version(other);
                    }
                };
                let connect =
                    Connect { session: session.snapshot(), cookies, params: Params::from_uri(&uri), state };
                upgrade.on_upgrade(move |connection| {
                    connection::run::<S, St>(connection, connect, self, serializer)
                })
            },
        )
    }
}

pub(crate) fn unsupported_version(version: &str) -> Response {
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
