//! [`Routes`]: what an app's `src/routes.rs` fills in.

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;
use std::sync::Arc;

use crate::shutdown::Shutdown;
use crate::Config;

/// One line of the app's route table, as `maze routes --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteInfo {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, or `WS` for a socket.
    pub verb: String,
    /// The path as declared.
    pub path: String,
    /// The handler function or socket type, by its path in the app's crate.
    pub handler: String,
    /// For sockets: the topic patterns, in the order they are tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelInfo>>,
}

/// A topic pattern of a socket and the channel type it leads to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelInfo {
    /// The topic pattern, `chat_room:*`.
    pub topic: String,
    /// The channel type, by its path in the app's crate.
    pub channel: String,
}

/// `chat::controllers::home::index` → `controllers::home::index`: paths as
/// written inside the app's crate.
pub(crate) fn in_crate(type_name: &str) -> String {
    type_name.split_once("::").map_or(type_name, |(_, rest)| rest).to_string()
}

/// The app's HTTP routes and sockets.
///
/// ```
/// use maze::prelude::*;
///
/// async fn index() -> Html<&'static str> {
///     Html("<h1>Home</h1>")
/// }
///
/// async fn create() -> &'static str {
///     "created"
/// }
///
/// fn routes(routes: &mut Routes) {
///     routes.get("/", index).post("/posts", create);
/// }
/// # let _ = maze::App::new(routes);
/// ```
pub struct Routes {
    router: Router,
    table: Vec<RouteInfo>,
    #[cfg_attr(not(feature = "websockets"), allow(dead_code))]
    config: Arc<Config>,
    #[cfg_attr(not(feature = "websockets"), allow(dead_code))]
    shutdown: Arc<Shutdown>,
}

macro_rules! verb {
    ($(#[$doc:meta] $name:ident => $verb:literal),* $(,)?) => {$(
        #[$doc]
        pub fn $name<H, T>(&mut self, path: &str, handler: H) -> &mut Self
        where
            H: Handler<T, ()>,
            T: 'static,
        {
            self.add($verb, path, &in_crate(std::any::type_name::<H>()), routing::$name(handler))
        }
    )*};
}

impl Routes {
    pub(crate) fn new(config: Arc<Config>, shutdown: Arc<Shutdown>) -> Routes {
        Routes { router: Router::new(), table: Vec::new(), config, shutdown }
    }

    verb! {
        /// Routes `GET path` to `handler`.
        get => "GET",
        /// Routes `POST path` to `handler`.
        post => "POST",
        /// Routes `PUT path` to `handler`.
        put => "PUT",
        /// Routes `PATCH path` to `handler`.
        patch => "PATCH",
        /// Routes `DELETE path` to `handler`.
        delete => "DELETE",
    }

    fn add(&mut self, verb: &str, path: &str, handler: &str, method: MethodRouter) -> &mut Self {
        self.router = std::mem::take(&mut self.router).route(path, method);
        self.table.push(RouteInfo {
            verb: verb.into(),
            path: path.into(),
            handler: handler.into(),
            channels: None,
        });
        self
    }

    /// Serves the socket `S` at `path`, and at `path/websocket` where Phoenix
    /// clients connect: one `S` value per WebSocket connection.
    #[cfg(feature = "websockets")]
    pub fn socket<S: crate::socket::Socket>(&mut self, path: &str) -> &mut Self {
        let endpoint = crate::socket::Endpoint::new::<S>(&self.config, self.shutdown.clone());
        let channels = endpoint.topics();
        let phoenix_path = format!("{}/websocket", path.trim_end_matches('/'));
        let handler = endpoint.into_method_router::<S>();
        self.router = std::mem::take(&mut self.router).route(&phoenix_path, handler.clone());
        self.add("WS", path, &in_crate(std::any::type_name::<S>()), handler);
        if let Some(route) = self.table.last_mut() {
            route.channels = Some(channels);
        }
        self
    }

    /// The routes declared so far, in order.
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    pub(crate) fn into_router(self) -> Router {
        self.router
    }
}
