//! [`App`]: loads the config, builds the routes, serves.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

use crate::session::SessionLayerState;
use crate::shutdown::Shutdown;

use crate::{Config, Error, Routes};

/// A maze app: its routes, served with the settings of `maze.toml`, and
/// its state: what every handler and channel shares (a database pool, a
/// client for another service), without globals.
///
/// ```no_run
/// use maze::prelude::*;
/// use maze::axum::extract::State;
///
/// #[derive(Clone)]
/// struct AppState {
///     name: &'static str,
/// }
///
/// async fn index(State(state): State<AppState>) -> String {
///     format!("Welcome to {}", state.name)
/// }
///
/// fn routes(routes: &mut Routes<AppState>) {
///     routes.get("/", index);
/// }
///
/// fn main() -> Result<(), maze::Error> {
///     maze::App::new(routes).with_state(AppState { name: "chat" }).run()
/// }
/// ```
///
/// Sockets and channels of the app name the same type (`Socket<AppState>`,
/// `Channel<ChatSocket, AppState>`) and read it as `ctx.state()`.
pub struct App<St = ()> {
    routes: fn(&mut Routes<St>),
    state: Option<St>,
    /// The hub to serve with; made from the config when the app starts if none.
    #[cfg(feature = "websockets")]
    hub: Option<crate::Hub>,
    /// Where `App::run` puts the hub for its runtime's threads.
    #[cfg(feature = "websockets")]
    thread_default: Option<Arc<std::sync::OnceLock<crate::Hub>>>,
    /// Print the "listening on" line: the binary's, not the library's.
    announce: bool,
}

impl<St: Clone + Send + Sync + 'static> App<St> {
    /// An app whose routes `routes` declares. When they take a state other
    /// than `()`, give it with [`App::with_state`].
    ///
    /// ```
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes.get("/", || async { "home" });
    /// }
    /// let app = maze::App::new(routes);
    /// # drop(app);
    /// ```
    pub fn new(routes: fn(&mut Routes<St>)) -> App<St> {
        App {
            routes,
            state: None,
            #[cfg(feature = "websockets")]
            hub: None,
            #[cfg(feature = "websockets")]
            thread_default: None,
            announce: false,
        }
    }

    /// Serves with `hub` rather than one made from the config when the app
    /// starts: to broadcast to the app from outside it (a test, another
    /// service's task), keep a clone.
    ///
    /// ```
    /// # fn routes(_: &mut maze::Routes) {}
    /// let hub = maze::Hub::in_memory();
    /// let app = maze::App::new(routes).with_hub(hub.clone());
    /// # drop(app);
    /// hub.broadcast("news", "published", maze::serde_json::Value::Null);
    /// ```
    #[cfg(feature = "websockets")]
    pub fn with_hub(mut self, hub: crate::Hub) -> App<St> {
        self.hub = Some(hub);
        self
    }

    /// The state handlers take as `State<St>` and channels as `ctx.state()`.
    ///
    /// ```
    /// use maze::axum::extract::State;
    ///
    /// async fn count(State(visits): State<std::sync::Arc<std::sync::atomic::AtomicU64>>) -> String {
    ///     visits.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string()
    /// }
    /// fn routes(routes: &mut maze::Routes<std::sync::Arc<std::sync::atomic::AtomicU64>>) {
    ///     routes.get("/count", count);
    /// }
    /// let app = maze::App::new(routes).with_state(Default::default());
    /// # drop(app);
    /// ```
    pub fn with_state(mut self, state: St) -> App<St> {
        self.state = Some(state);
        self
    }

    /// The state, which an app with no state (`()`) need not give.
    fn state(&self) -> Result<St, Error> {
        if let Some(state) = &self.state {
            return Ok(state.clone());
        }
        let unit: Box<dyn Any> = Box::new(());
        unit.downcast::<St>().map(|state| *state).map_err(|_| {
            Error::config(format!(
                "the routes take a state ({}): start the app with App::new(routes).with_state(state)",
                std::any::type_name::<St>()
            ))
        })
    }

    /// Loads `maze.toml` (see [`Config::load`]) and serves until SIGINT or
    /// SIGTERM. Run as `APP routes`, prints the route table instead (as
    /// `maze routes` does; `APP routes --json`: as JSON, the shape of `maze
    /// routes --json`); `APP --help` says so. Other arguments are an error.
    /// The generated `src/main.rs`
    /// prints an error with its causes (a TOML error with its caret
    /// display) and exits with 1:
    ///
    /// ```no_run
    /// # mod routes { pub fn routes(_: &mut maze::Routes) {} }
    /// use std::process::ExitCode;
    ///
    /// fn main() -> ExitCode {
    ///     match maze::App::new(routes::routes).run() {
    ///         Ok(()) => ExitCode::SUCCESS,
    ///         Err(error) => {
    ///             eprintln!("error: {}", error.report());
    ///             ExitCode::FAILURE
    ///         }
    ///     }
    /// }
    /// ```
    pub fn run(mut self) -> Result<(), Error> {
        let arguments: Vec<String> = std::env::args().skip(1).collect();
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        match arguments.as_slice() {
            [] => {}
            ["-h" | "--help" | "help"] => {
                print!("{}", usage());
                return Ok(());
            }
            ["routes"] | ["routes", "--json"] => {
                let (config, _root) = Config::load()?;
                let table = self.route_table(config);
                match arguments.len() {
                    1 => print!("{}", crate::RouteInfo::format_table(&table)),
                    _ => {
                        println!("{}", serde_json::to_string_pretty(&table).expect("route tables serialize"))
                    }
                }
                return Ok(());
            }
            _ => {
                return Err(Error::config(format!(
                    "unexpected arguments `{}`\n\n{}",
                    arguments.join(" "),
                    usage()
                )));
            }
        }
        crate::telemetry::init_from_env();
        let (config, root) = Config::load()?;
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.enable_all();
        #[cfg(feature = "websockets")]
        {
            // The app's hub is current on every thread of its runtime: a task
            // the app spawns can call `maze::broadcast`.
            let slot = Arc::new(std::sync::OnceLock::new());
            let for_threads = slot.clone();
            runtime.on_thread_start(move || crate::hub::set_thread_default(for_threads.clone()));
            crate::hub::set_thread_default(slot.clone());
            self.thread_default = Some(slot);
        }
        self.announce = true;
        let runtime = runtime.build()?;
        let served = runtime.block_on(self.serve(config, root));
        // A callback still running after the grace (one that blocks its
        // thread, say) does not keep the process alive.
        runtime.shutdown_timeout(crate::shutdown::SOCKET_GRACE);
        served
    }

    /// The route table, without serving: what `maze routes` shows.
    ///
    /// ```
    /// async fn index() {}
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes.get("/", index);
    /// }
    /// let config = maze::Config::parse("[app]\nname = \"blog\"\n").unwrap();
    /// let table = maze::App::new(routes).route_table(config);
    /// assert_eq!((table[0].verb.as_str(), table[0].path.as_str()), ("GET", "/"));
    /// assert!(table[0].handler.ends_with("index"));
    /// ```
    pub fn route_table(&self, config: Config) -> Vec<crate::RouteInfo> {
        let mut routes = Routes::new(
            Arc::new(config),
            #[cfg(feature = "websockets")]
            crate::Hub::in_memory(),
        );
        (self.routes)(&mut routes);
        routes.table().to_vec()
    }

    /// Serves with `config` on its host and port until SIGINT or SIGTERM;
    /// static files come from `root`/`public_dir`.
    ///
    /// ```no_run
    /// # fn routes(_: &mut maze::Routes) {}
    /// # async fn start() -> Result<(), maze::Error> {
    /// let config = maze::Config::parse("[app]\nname = \"blog\"\nport = 8080\n")?;
    /// maze::App::new(routes).serve(config, ".".into()).await
    /// # }
    /// ```
    pub async fn serve(self, config: Config, root: PathBuf) -> Result<(), Error> {
        let listener = tokio::net::TcpListener::bind((config.app.host.as_str(), config.app.port))
            .await
            .map_err(|error| {
                Error::new(
                    crate::ErrorKind::Bind,
                    format!("cannot listen on {}:{}", config.app.host, config.app.port),
                )
                .caused_by(error)
            })?;
        self.serve_until(listener, config, root, crate::shutdown::signal()).await
    }

    /// Serves on `listener` until `stop` completes, then closes every socket
    /// with 1001 (going away) and finishes the requests in flight. Tests
    /// serve on port 0 and stop when they are done:
    ///
    /// ```
    /// # fn routes(routes: &mut maze::Routes) { routes.get("/", || async { "home" }); }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), maze::Error> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let config = maze::Config::parse("[app]\nname = \"blog\"\n")?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let server = tokio::spawn(maze::App::new(routes).serve_until(listener, config, ".".into(), async {
    ///     let _ = stopped.await;
    /// }));
    /// stop.send(()).unwrap();
    /// server.await.unwrap()
    /// # }
    /// ```
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        config: Config,
        root: PathBuf,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let name = config.app.name.clone();
        let announce = self.announce;
        let (router, shutdown) = self.into_router(config, &root).await?;
        let address: SocketAddr = listener.local_addr()?;
        tracing::info!(target: "maze", app = name, %address, "listening");
        if announce {
            // The binary's first line (`App::run`): tests and scripts read it
            // to find an ephemeral port.
            println!("maze: {name} listening on http://{address}");
        }
        crate::server::run(listener, router, async move {
            stop.await;
            shutdown.close_all(crate::shutdown::SOCKET_GRACE).await;
        })
        .await;
        Ok(())
    }

    /// The app's router with its middleware, as it is served, and the
    /// shutdown that closes its sockets. Makes the app's hub from the config
    /// (unless it was given one).
    pub(crate) async fn into_router(
        self,
        config: Config,
        root: &Path,
    ) -> Result<(axum::Router, Arc<Shutdown>), Error> {
        let config = Arc::new(config);
        let state = self.state()?;
        let session = SessionLayerState::new(&config.session)?;
        #[cfg(feature = "websockets")]
        let hub = match self.hub {
            Some(hub) => hub,
            None => crate::Hub::from_config(&config).await?,
        };
        // The sockets' connections, which stopping closes: the hub's.
        #[cfg(feature = "websockets")]
        let shutdown = hub.shutdown().clone();
        #[cfg(not(feature = "websockets"))]
        let shutdown = Shutdown::new();
        #[cfg(feature = "websockets")]
        if let Some(slot) = &self.thread_default {
            let _ = slot.set(hub.clone());
        }
        let mut routes = Routes::new(
            config.clone(),
            #[cfg(feature = "websockets")]
            hub.clone(),
        );
        (self.routes)(&mut routes);
        if let Some(route) = routes.table().iter().find(|route| {
            Some(&route.path) == config.metrics.path.as_ref()
                || config
                    .dashboard
                    .path
                    .as_ref()
                    .is_some_and(|dashboard| route.path.starts_with(dashboard.as_str()))
        }) {
            return Err(Error::config(format!(
                "[metrics] or [dashboard] path {} is already routed to {}: choose another",
                route.path, route.handler
            )));
        }
        let (router, fallback) = routes.into_router()?;
        let router = router.with_state(state.clone());
        // Static files first; then the app's fallback, if any (else 404).
        let static_files = ServeDir::new(root.join(&config.app.public_dir));
        let router = with_client(router).merge(metrics(
            &config,
            #[cfg(feature = "websockets")]
            &hub,
        )?);
        let router = match dashboard(
            &config,
            #[cfg(feature = "websockets")]
            &hub,
        )? {
            Some(dashboard) => router.merge(dashboard),
            None => router,
        };
        let router = match fallback {
            Some(fallback) => router.fallback_service(
                static_files.call_fallback_on_method_not_allowed(true).fallback(fallback.with_state(state)),
            ),
            None => router.fallback_service(static_files),
        };
        // Handlers see the app's hub (the `Hub` extractor, `maze::broadcast`).
        #[cfg(feature = "websockets")]
        let router = router.layer(hub.layer());
        let router =
            router.layer(axum::middleware::from_fn_with_state(Arc::new(session), crate::session::middleware));
        Ok((router, shutdown))
    }
}

/// The `[dashboard]` routes, when maze.toml names a path.
fn dashboard(
    config: &Config,
    #[cfg(feature = "websockets")] hub: &crate::Hub,
) -> Result<Option<axum::Router>, Error> {
    #[cfg(feature = "websockets")]
    return crate::dashboard::router(config, hub);
    #[cfg(not(feature = "websockets"))]
    match &config.dashboard.path {
        Some(path) => Err(Error::config(format!(
            "[dashboard] path = {path:?} needs the maze dependency's \"websockets\" feature (the page is live over a socket)"
        ))),
        None => Ok(None),
    }
}

/// The `[metrics]` route, when maze.toml names a path.
fn metrics(
    config: &Config,
    #[cfg(feature = "websockets")]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    hub: &crate::Hub,
) -> Result<axum::Router, Error> {
    match &config.metrics.path {
        None => Ok(axum::Router::new()),
        #[cfg(feature = "metrics")]
        Some(path) => {
            let recorder = hub.metrics().ok_or_else(|| {
                Error::config("[metrics] needs the app's hub to keep metrics: make it with Hub::from_config")
            })?;
            crate::metrics_endpoint::router(path, &config.metrics, recorder.handle())
        }
        #[cfg(not(feature = "metrics"))]
        Some(path) => Err(Error::config(format!(
            "[metrics] path = {path:?} needs the maze dependency's \"metrics\" feature: \
             features = [\"metrics\"] in Cargo.toml"
        ))),
    }
}

/// Serves the JavaScript client at `/maze.js` (and its types at
/// `/maze.d.ts`), so every app has the same one.
#[cfg(feature = "websockets")]
pub(crate) fn with_client<St: Clone + Send + Sync + 'static>(router: axum::Router<St>) -> axum::Router<St> {
    use axum::http::header::CONTENT_TYPE;
    router
        .route(
            "/maze.js",
            axum::routing::get(|| async {
                ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], crate::socket::MAZE_JS)
            }),
        )
        .route(
            "/maze.d.ts",
            axum::routing::get(|| async {
                ([(CONTENT_TYPE, "application/typescript; charset=utf-8")], crate::socket::MAZE_D_TS)
            }),
        )
}

#[cfg(not(feature = "websockets"))]
fn with_client<St>(router: axum::Router<St>) -> axum::Router<St> {
    router
}

/// What `APP --help` prints.
fn usage() -> String {
    let program = std::env::args().next().unwrap_or_else(|| "app".into());
    let program =
        Path::new(&program).file_name().map_or(program.clone(), |name| name.to_string_lossy().into());
    format!(
        "Usage:\n  \
         {program}                serve, with the settings of maze.toml (MAZE_CONFIG names another file)\n  \
         {program} routes         print the route table: verbs, paths, handlers, sockets' topics\n  \
         {program} routes --json  the same, as JSON\n  \
         {program} --help         print this\n\n\
         Environment: MAZE_HOST, MAZE_PORT (or PORT), MAZE_SECRET_KEY, MAZE_METRICS_TOKEN, REDIS_URL, REDIS_URLS\n\
         override maze.toml; RUST_LOG=maze=debug logs more.\n"
    )
}
