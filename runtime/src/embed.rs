//! [`Sockets`]: maze's sockets in an axum app that is not a `maze::App`.
//!
//! An app that already has its `axum::Router`, its listener and
//! `axum::serve` keeps them: it makes a [`Hub`], declares its sockets here,
//! merges the router this gives, and adds `hub.layer()` so that its own
//! handlers reach the hub. Connections are maze's own (its WebSocket framing,
//! channels, history, presence, `/maze.js`), as in a `maze::App`.
//!
//! ```no_run
//! use maze::prelude::*;
//! use maze::axum::{Router, routing::get};
//!
//! # #[derive(Default)] struct ChatSocket;
//! # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = maze::Config::parse("[app]\nname = \"shop\"\n")?;
//!     let hub = maze::Hub::from_config(&config).await?;
//!     let sockets = maze::Sockets::new(&config, &hub).socket::<ChatSocket>("/chat").into_router()?;
//!     let app = Router::new().route("/", get(|| async { "the shop" })).merge(sockets).layer(hub.layer());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     maze::axum::serve(listener, app)
//!         .with_graceful_shutdown(async move {
//!             let _ = tokio::signal::ctrl_c().await;
//!             hub.close_sockets().await; // 1001 to every client, after their cleanup
//!         })
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! Served by `axum::serve`, an upgraded connection reaches maze through
//! hyper's upgrade wrapper; served by `maze::App`, it is the TCP stream
//! itself (one buffer less per idle connection). BENCHMARKS.md compares the
//! two.

use std::path::PathBuf;
use std::sync::Arc;

use crate::socket::Socket;
use crate::{Config, Error, Hub, Routes};

/// The sockets of an axum app, and the router that serves them. `St` is
/// the app's state (its router's, given to it with `with_state`), which
/// the sockets' channels read as `ctx.state()`.
pub struct Sockets<St = ()> {
    routes: Routes<St>,
    /// Folders served as static files: (URL path, folder).
    files: Vec<(String, PathBuf)>,
}

impl<St: Clone + Send + Sync + 'static> Sockets<St> {
    /// Sockets connected through `hub`, with the limits of `config`'s
    /// `[websockets]` (the hub was made from the same config, usually).
    ///
    /// ```
    /// let config = maze::Config::parse("[app]\nname = \"shop\"\n").unwrap();
    /// let sockets: maze::Sockets = maze::Sockets::new(&config, &maze::Hub::in_memory());
    /// # drop(sockets);
    /// ```
    pub fn new(config: &Config, hub: &Hub) -> Sockets<St> {
        Sockets { routes: Routes::new(Arc::new(config.clone()), hub.clone()), files: Vec::new() }
    }

    /// Also serves the files in the folder `dir` under the URL path `path`:
    /// the scripts `maze g socket` writes, in an app that serves no static
    /// files of its own (`maze init` serves `public/js` at `/maze/js`).
    ///
    /// ```
    /// # let config = maze::Config::parse("[app]\nname = \"shop\"\n").unwrap();
    /// let sockets: maze::Sockets = maze::Sockets::new(&config, &maze::Hub::in_memory())
    ///     .static_files("/maze/js", "public/js");
    /// # drop(sockets);
    /// ```
    pub fn static_files(mut self, path: &str, dir: impl Into<PathBuf>) -> Sockets<St> {
        self.files.push((path.to_string(), dir.into()));
        self
    }

    /// Serves the socket `S` at `path` (maze JSON) and `path/websocket`
    /// (Phoenix clients), as [`Routes::socket`] does.
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # let config = maze::Config::parse("[app]\nname = \"shop\"\n").unwrap();
    /// let sockets = maze::Sockets::new(&config, &maze::Hub::in_memory()).socket::<ChatSocket>("/chat");
    /// # drop(sockets);
    /// ```
    pub fn socket<S: Socket<St>>(mut self, path: &str) -> Sockets<St> {
        self.routes.socket::<S>(path);
        self
    }

    /// The router to merge into the app's: the sockets, `/maze.js` and
    /// `/maze.d.ts`; or why the sockets cannot be served (a bad topic
    /// pattern, two sockets on one path).
    ///
    /// ```
    /// # use maze::prelude::*;
    /// # #[derive(Default)] struct ChatSocket;
    /// # impl Socket for ChatSocket { fn channels(_: &mut Channels<Self>) {} }
    /// # let config = maze::Config::parse("[app]\nname = \"shop\"\n").unwrap();
    /// let router = maze::Sockets::new(&config, &maze::Hub::in_memory()).socket::<ChatSocket>("/chat").into_router();
    /// let app: maze::axum::Router = maze::axum::Router::new().merge(router.unwrap());
    /// # drop(app);
    /// ```
    pub fn into_router(self) -> Result<axum::Router<St>, Error> {
        let (mut router, _no_fallback) = self.routes.into_router()?;
        for (path, dir) in self.files {
            router = router.nest_service(&path, tower_http::services::ServeDir::new(dir));
        }
        Ok(crate::app::with_client(router))
    }
}
