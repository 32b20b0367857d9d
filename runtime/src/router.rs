//! [`Routes`]: what an app's `src/routes.rs` fills in.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use std::sync::Arc;

use crate::Config;
use maze_routing::RouteInfo;

/// The app's HTTP routes and sockets. `St` is the app's state
/// (`App::with_state`): handlers take it as axum's `State<St>`, next to any
/// other axum extractor (`Path`, `Query`, `Json`, `Form`...).
///
/// It is an axum `Router` underneath, and composes like one: [`layer`](Routes::layer)
/// wraps the routes declared before it in tower middleware (CORS,
/// compression, auth), [`nest`](Routes::nest) and [`merge`](Routes::merge)
/// take axum routers, [`route`](Routes::route) takes any `MethodRouter`,
/// [`fallback`](Routes::fallback) answers what nothing else does.
///
/// A route that cannot be served (two routes on one verb and path, a socket
/// whose topic patterns are invalid) stops the app at startup with an error
/// naming it.
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
///
/// With state:
///
/// ```
/// use maze::prelude::*;
/// use maze::axum::extract::{Path, State};
///
/// #[derive(Clone)]
/// struct AppState {
///     greeting: String,
/// }
///
/// async fn hello(State(state): State<AppState>, Path(name): Path<String>) -> String {
///     format!("{}, {name}!", state.greeting)
/// }
///
/// fn routes(routes: &mut Routes<AppState>) {
///     routes.get("/hello/{name}", hello);
/// }
/// # let _ = maze::App::new(routes).with_state(AppState { greeting: "Hello".into() });
/// ```
pub struct Routes<St = ()> {
    router: Router<St>,
    table: Vec<RouteInfo>,
    /// Routes that cannot be served, reported at startup.
    errors: Vec<String>,
    /// What answers requests no route (and no static file) matches.
    fallback: Option<Router<St>>,
    #[cfg_attr(not(feature = "websockets"), allow(dead_code))]
    config: Arc<Config>,
    /// The app's hub, which its sockets share.
    #[cfg(feature = "websockets")]
    hub: crate::Hub,
}

macro_rules! verb {
    ($($(#[$doc:meta])* $name:ident => $verb:literal),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name<H, T>(&mut self, path: &str, handler: H) -> &mut Self
        where
            H: Handler<T, St>,
            T: 'static,
        {
            self.add($verb, path, crate::type_names::in_crate(std::any::type_name::<H>()), routing::$name(handler))
        }
    )*};
}

impl<St: Clone + Send + Sync + 'static> Routes<St> {
    pub(crate) fn new(config: Arc<Config>, #[cfg(feature = "websockets")] hub: crate::Hub) -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
            errors: Vec::new(),
            fallback: None,
            config,
            #[cfg(feature = "websockets")]
            hub,
        }
    }

    verb! {
        /// Routes `GET path` to `handler`.
        ///
        /// ```
        /// use maze::axum::extract::Path;
        ///
        /// async fn show(Path(id): Path<u64>) -> String {
        ///     format!("post {id}")
        /// }
        /// fn routes(routes: &mut maze::Routes) {
        ///     routes.get("/posts/{id}", show);
        /// }
        /// # let _ = maze::App::new(routes);
        /// ```
        get => "GET",
        /// Routes `POST path` to `handler`.
        ///
        /// ```
        /// use maze::axum::extract::Path;
        ///
        /// async fn show(Path(id): Path<u64>) -> String {
        ///     format!("post {id}")
        /// }
        /// fn routes(routes: &mut maze::Routes) {
        ///     routes.post("/posts", show);
        /// }
        /// # let _ = maze::App::new(routes);
        /// ```
        post => "POST",
        /// Routes `PUT path` to `handler`.
        ///
        /// ```
        /// use maze::axum::extract::Path;
        ///
        /// async fn show(Path(id): Path<u64>) -> String {
        ///     format!("post {id}")
        /// }
        /// fn routes(routes: &mut maze::Routes) {
        ///     routes.put("/posts/{id}", show);
        /// }
        /// # let _ = maze::App::new(routes);
        /// ```
        put => "PUT",
        /// Routes `PATCH path` to `handler`.
        ///
        /// ```
        /// use maze::axum::extract::Path;
        ///
        /// async fn show(Path(id): Path<u64>) -> String {
        ///     format!("post {id}")
        /// }
        /// fn routes(routes: &mut maze::Routes) {
        ///     routes.patch("/posts/{id}", show);
        /// }
        /// # let _ = maze::App::new(routes);
        /// ```
        patch => "PATCH",
        /// Routes `DELETE path` to `handler`.
        ///
        /// ```
        /// use maze::axum::extract::Path;
        ///
        /// async fn show(Path(id): Path<u64>) -> String {
        ///     format!("post {id}")
        /// }
        /// fn routes(routes: &mut maze::Routes) {
        ///     routes.delete("/posts/{id}", show);
        /// }
        /// # let _ = maze::App::new(routes);
        /// ```
        delete => "DELETE",
    }

    fn add(&mut self, verb: &str, path: &str, handler: &str, method: MethodRouter<St>) -> &mut Self {
        let route =
            RouteInfo { verb: verb.into(), path: path.into(), handler: handler.into(), channels: None };
        if let Err(error) = self.route_verb(verb, path, method) {
            self.errors.push(format!("{verb} {path} ({handler}): {error}"));
        }
        self.table.push(route);
        self
    }

    /// Adds `method` at `path`, or says why it cannot be: the path is
    /// invalid, or an earlier route serves the same verb there (a socket
    /// serves `GET` at its path and its path + `/websocket`).
    fn route_verb(&mut self, verb: &str, path: &str, method: MethodRouter<St>) -> Result<(), String> {
        let gets = |route: &RouteInfo| route.verb == "GET" || route.verb == "WS";
        let clash = self.table.iter().find(|route| {
            let same_verb = route.verb == verb || (gets(route) && (verb == "GET" || verb == "WS"));
            let paths = |route: &RouteInfo| match route.verb.as_str() {
                "WS" => vec![route.path.clone(), websocket_path(&route.path)],
                _ => vec![route.path.clone()],
            };
            let mine = if verb == "WS" {
                vec![path.to_string(), websocket_path(path)]
            } else {
                vec![path.to_string()]
            };
            same_verb && paths(route).iter().any(|taken| mine.contains(taken))
        });
        if let Some(clash) = clash {
            return Err(format!("already routed to {} by `{} {}`", clash.handler, clash.verb, clash.path));
        }
        let mut paths = vec![path.to_string()];
        if verb == "WS" {
            paths.push(websocket_path(path));
        }
        let mut router = self.router.clone();
        for path in paths {
            router = unpanicked(|| router.route(&path, method.clone()))?;
        }
        self.router = router;
        Ok(())
    }

    /// Changes the router with `change`, or records why it cannot be
    /// changed so (`what` says where) as a startup error.
    fn change(&mut self, what: &str, change: impl FnOnce(Router<St>) -> Router<St>) -> &mut Self {
        let router = std::mem::take(&mut self.router);
        let kept = router.clone();
        match unpanicked(|| change(router)) {
            Ok(changed) => self.router = changed,
            Err(error) => {
                self.router = kept;
                self.errors.push(format!("{what}: {error}"));
            }
        }
        self
    }

    /// Routes `path` to an axum `MethodRouter`: several verbs at once, or
    /// `any`. (`maze routes` lists the verbs [`Routes::get`] and the others
    /// declare, not these.)
    ///
    /// ```
    /// use maze::axum::routing::{any, get};
    ///
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes
    ///         .route("/health", get(|| async { "ok" }).head(|| async {}))
    ///         .route("/echo", any(|body: String| async move { body }));
    /// }
    /// # let _ = maze::App::new(routes);
    /// ```
    pub fn route(&mut self, path: &str, method_router: MethodRouter<St>) -> &mut Self {
        self.change(&format!("route {path}"), |router| router.route(path, method_router))
    }

    /// Serves an axum `router` under `path` (its routes' paths start there).
    ///
    /// ```
    /// use maze::axum::{Router, routing::get};
    ///
    /// fn routes(routes: &mut maze::Routes) {
    ///     let api = Router::new().route("/status", get(|| async { "up" })); // GET /api/status
    ///     routes.nest("/api", api);
    /// }
    /// # let _ = maze::App::new(routes);
    /// ```
    pub fn nest(&mut self, path: &str, router: Router<St>) -> &mut Self {
        self.change(&format!("nest {path}"), |routes| routes.nest(path, router))
    }

    /// Serves an axum `router`'s routes beside these (a route on the same
    /// verb and path as one here stops the app at startup).
    ///
    /// ```
    /// use maze::axum::{Router, routing::get};
    ///
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes.merge(Router::new().route("/about", get(|| async { "about us" })));
    /// }
    /// # let _ = maze::App::new(routes);
    /// ```
    pub fn merge(&mut self, router: impl Into<Router<St>>) -> &mut Self {
        let router = router.into();
        self.change("merge", |routes| routes.merge(router))
    }

    /// Wraps every route declared so far (sockets included) in a tower
    /// `layer`, as axum's `Router::layer` does: routes declared after it
    /// are not wrapped. Middleware from tower-http (CORS, compression,
    /// request ids, timeouts) or `axum::middleware::from_fn`.
    ///
    /// ```
    /// use maze::axum::{extract::Request, http::StatusCode, middleware::{self, Next}, response::Response};
    ///
    /// /// Only requests carrying the API key reach the routes above the layer.
    /// async fn api_key(request: Request, next: Next) -> Result<Response, StatusCode> {
    ///     match request.headers().get("x-api-key") {
    ///         Some(key) if key == "s3cret" => Ok(next.run(request).await),
    ///         _ => Err(StatusCode::UNAUTHORIZED),
    ///     }
    /// }
    ///
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes.get("/admin", || async { "admin" }).layer(middleware::from_fn(api_key));
    ///     routes.get("/", || async { "home" }); // not behind the key
    /// }
    /// # let _ = maze::App::new(routes);
    /// ```
    pub fn layer<L>(&mut self, layer: L) -> &mut Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response:
            axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.router = std::mem::take(&mut self.router).layer(layer);
        self
    }

    /// Answers the requests no route matches and no file of `public/`
    /// serves (by default: 404 Not Found).
    ///
    /// ```
    /// use maze::axum::http::StatusCode;
    ///
    /// async fn not_found() -> (StatusCode, &'static str) {
    ///     (StatusCode::NOT_FOUND, "nothing here")
    /// }
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes.fallback(not_found);
    /// }
    /// # let _ = maze::App::new(routes);
    /// ```
    pub fn fallback<H, T>(&mut self, handler: H) -> &mut Self
    where
        H: Handler<T, St>,
        T: 'static,
    {
        self.fallback = Some(Router::new().fallback(handler));
        self
    }

    /// Serves the socket `S` at `path`, and at `path/websocket` where Phoenix
    /// clients connect: one `S` value per WebSocket connection.
    ///
    /// ```
    /// use maze::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct ChatSocket;
    ///
    /// impl Socket for ChatSocket {
    ///     fn channels(_channels: &mut Channels<Self>) {}
    /// }
    ///
    /// fn routes(routes: &mut Routes) {
    ///     routes.socket::<ChatSocket>("/chat"); // and /chat/websocket
    /// }
    /// # let _ = maze::App::new(routes);
    /// ```
    #[cfg(feature = "websockets")]
    pub fn socket<S: crate::socket::Socket<St>>(&mut self, path: &str) -> &mut Self {
        let socket_type = crate::type_names::in_crate(std::any::type_name::<S>());
        let endpoint = match crate::socket::Endpoint::<S, St>::new(&self.config, self.hub.clone()) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                self.errors.push(format!("WS {path} ({socket_type}): {error}"));
                return self;
            }
        };
        let channels = endpoint.topics();
        if self.config.websockets.longpoll {
            // Beside the socket, for clients whose WebSocket cannot open.
            let longpoll = endpoint.clone().into_longpoll_router(&self.config);
            if let Err(error) = self.route_verb("LONGPOLL", &longpoll_path(path), longpoll) {
                self.errors.push(format!("WS {path} ({socket_type}) long-poll: {error}"));
            }
        }
        self.add("WS", path, socket_type, endpoint.into_method_router());
        if let Some(route) = self.table.last_mut() {
            route.channels = Some(channels);
        }
        self
    }

    /// The routes declared so far, in order.
    ///
    /// ```
    /// fn routes(routes: &mut maze::Routes) {
    ///     routes.get("/", || async {});
    ///     assert_eq!(routes.table().len(), 1);
    /// }
    /// # let config = maze::Config::parse("[app]\nname = \"blog\"\n").unwrap();
    /// # maze::App::new(routes).route_table(config);
    /// ```
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    /// The router and the fallback, or every reason some routes cannot be served.
    pub(crate) fn into_router(self) -> Result<(Router<St>, Option<Router<St>>), crate::Error> {
        if self.errors.is_empty() {
            Ok((self.router, self.fallback))
        } else {
            Err(crate::Error::config(format!("the routes cannot be served:\n  {}", self.errors.join("\n  "))))
        }
    }
}

/// `build()`, or what it panicked with: axum panics on routes it cannot
/// serve (no leading `/`, clashing parameters, overlapping merges), which
/// for an app are startup errors.
fn unpanicked<T>(build: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .unwrap_or_else(|| "cannot be routed".into())
    })
}

/// Where long-poll clients reach a socket at `path`.
#[cfg(feature = "websockets")]
fn longpoll_path(path: &str) -> String {
    format!("{}/longpoll", path.trim_end_matches('/'))
}

/// Where Phoenix clients connect to a socket at `path`.
fn websocket_path(path: &str) -> String {
    format!("{}/websocket", path.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn a() {}
    async fn b() {}

    fn routes() -> Routes {
        let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
        Routes::new(
            Arc::new(config),
            #[cfg(feature = "websockets")]
            crate::Hub::in_memory(),
        )
    }

    #[test]
    fn two_routes_on_one_verb_and_path_are_an_error_naming_both() {
        let mut routes = routes();
        routes.get("/", a).post("/", b).get("/", b);
        let error = routes.into_router().unwrap_err().to_string();
        assert!(
            error.contains("GET / (router::tests::b): already routed to router::tests::a by `GET /`"),
            "{error}"
        );
        assert!(!error.contains("POST"), "another verb on the same path is fine: {error}");
    }

    #[test]
    fn an_unroutable_path_is_an_error() {
        let mut routes = routes();
        routes.get("no-slash", a);
        let error = routes.into_router().unwrap_err().to_string();
        assert!(error.contains("GET no-slash") && error.contains("Paths must start with a `/`"), "{error}");
    }
}
