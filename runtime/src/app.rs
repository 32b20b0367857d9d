//! [`App`]: loads the config, builds the routes, serves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::services::ServeDir;

use crate::session::SessionLayerState;
use crate::{Config, Error, Routes};

/// A maze app: its routes, served with the settings of `maze.toml`.
pub struct App {
    routes: fn(&mut Routes),
}

impl App {
    /// An app whose routes `routes` declares.
    pub fn new(routes: fn(&mut Routes)) -> App {
        App { routes }
    }

    /// Loads `maze.toml` (see [`Config::load`]) and serves until Ctrl-C.
    pub fn run(self) -> Result<(), Error> {
        let (config, root) = Config::load()?;
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(self.serve(config, root))
    }

    /// The route table, without serving: what `maze routes` shows.
    pub fn route_table(&self, config: Config) -> Vec<crate::RouteInfo> {
        let mut routes = Routes::new(Arc::new(config));
        (self.routes)(&mut routes);
        routes.table().to_vec()
    }

    /// Serves with `config`; static files come from `root`/`public_dir`.
    pub async fn serve(self, config: Config, root: PathBuf) -> Result<(), Error> {
        let config = Arc::new(config);
        #[cfg(feature = "websockets")]
        crate::pubsub::install_configured(&config).await?;
        let session = SessionLayerState::new(&config.session)?;
        let mut routes = Routes::new(config.clone());
        (self.routes)(&mut routes);
        let router = with_client(routes.into_router())
            .fallback_service(ServeDir::new(root.join(&config.app.public_dir)))
            .layer(axum::middleware::from_fn_with_state(Arc::new(session), crate::session::middleware));

        let listener = tokio::net::TcpListener::bind((config.app.host.as_str(), config.app.port))
            .await
            .map_err(|error| {
                Error::Config(format!("cannot listen on {}:{}: {error}", config.app.host, config.app.port))
            })?;
        let address: SocketAddr = listener.local_addr()?;
        // Tests and scripts read this line to find an ephemeral port.
        println!("maze: {} listening on http://{address}", config.app.name);
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    }
}

/// Serves the JavaScript client at `/maze.js`, so every app has the same one.
#[cfg(feature = "websockets")]
fn with_client(router: axum::Router) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    router.route(
        "/maze.js",
        axum::routing::get(|| async {
            ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], crate::socket::MAZE_JS)
        }),
    )
}

#[cfg(not(feature = "websockets"))]
fn with_client(router: axum::Router) -> axum::Router {
    router
}
