//! [`TestApp`]: the app's router, driven with requests in-process.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use std::path::PathBuf;
use tower::ServiceExt;

use crate::{App, Config};

/// The app as it is served (routes, session middleware, static files),
/// answering requests without a TCP port.
///
/// It reads the app's `maze.toml` from the current folder (where `cargo
/// test` runs an app's tests) when there is one, and broadcasts in memory.
///
/// ```
/// use maze::prelude::*;
/// use maze::testing::TestApp;
///
/// async fn index() -> Html<&'static str> {
///     Html("<h1>Home</h1>")
/// }
///
/// fn routes(routes: &mut Routes) {
///     routes.get("/", index);
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = TestApp::new(maze::App::new(routes)).await;
/// let response = app.get("/").await;
/// assert_eq!(response.status, 200);
/// assert!(response.body.contains("Home"));
/// assert_eq!(app.get("/nowhere").await.status, 404);
/// # }
/// ```
pub struct TestApp {
    router: axum::Router,
}

/// A response, its body read as text.
#[derive(Debug)]
pub struct TestResponse {
    /// The status, comparable with a number: `response.status == 200`.
    pub status: StatusCode,
    /// The response's headers.
    pub headers: HeaderMap,
    /// The body, as text (lossily, for a binary body).
    pub body: String,
}

impl TestApp {
    /// Builds `app`'s router as [`App::run`] would; panics with the reason
    /// when the app could not start (a route clash, a bad topic pattern).
    ///
    /// ```
    /// # fn routes(_: &mut maze::Routes) {}
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = maze::testing::TestApp::new(maze::App::new(routes)).await;
    /// # let _ = app;
    /// # }
    /// ```
    pub async fn new<St: Clone + Send + Sync + 'static>(app: App<St>) -> TestApp {
        let (config, root) = test_config();
        match app.into_router(config, &root).await {
            Ok((router, _shutdown)) => TestApp { router },
            Err(error) => panic!("the app cannot start: {error}"),
        }
    }

    /// `GET path`.
    ///
    /// ```
    /// # async fn check(app: maze::testing::TestApp) {
    /// assert_eq!(app.get("/").await.status, 200);
    /// # }
    /// ```
    pub async fn get(&self, path: &str) -> TestResponse {
        self.empty(Method::GET, path).await
    }

    /// `POST path`, with no body.
    pub async fn post(&self, path: &str) -> TestResponse {
        self.empty(Method::POST, path).await
    }

    /// `PUT path`, with no body.
    pub async fn put(&self, path: &str) -> TestResponse {
        self.empty(Method::PUT, path).await
    }

    /// `PATCH path`, with no body.
    pub async fn patch(&self, path: &str) -> TestResponse {
        self.empty(Method::PATCH, path).await
    }

    /// `DELETE path`.
    ///
    /// ```
    /// # async fn check(app: maze::testing::TestApp) {
    /// assert_eq!(app.delete("/posts/1").await.status, 200);
    /// # }
    /// ```
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.empty(Method::DELETE, path).await
    }

    async fn empty(&self, method: Method, path: &str) -> TestResponse {
        let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("a valid path");
        self.request(request).await
    }

    /// Any request: another method, headers, a body.
    ///
    /// ```
    /// use maze::axum::body::Body;
    /// use maze::axum::http::Request;
    ///
    /// # async fn check(app: maze::testing::TestApp) {
    /// let request = Request::post("/posts")
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .body(Body::from("title=Hello"))
    ///     .unwrap();
    /// assert_eq!(app.request(request).await.status, 303);
    /// # }
    /// ```
    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("the body can be read");
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into(),
        }
    }
}

/// The app's `maze.toml` when the tests run in its folder, else the defaults;
/// in memory, with a fixed secret so that no warning is printed.
fn test_config() -> (Config, PathBuf) {
    let (mut config, root) = match Config::load() {
        Ok(loaded) => loaded,
        Err(_) => (Config::parse("[app]\nname = \"test\"\n").expect("a valid default"), PathBuf::from(".")),
    };
    config.websockets.adapter = Some("memory".into());
    config.session.secret.get_or_insert_with(|| "maze test secret, not for production use".into());
    (config, root)
}
