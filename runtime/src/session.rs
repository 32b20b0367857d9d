//! Signed-cookie sessions and request cookies.
//!
//! The session is a JSON object stored in one cookie, signed (HMAC) with the
//! secret from `maze.toml` or `MAZE_SECRET_KEY`: clients can read it but not
//! forge it. Handlers and sockets see it through [`Session`].
//!
//! ```
//! use maze::prelude::*;
//!
//! async fn sign_out(session: Session) -> Redirect {
//!     session.clear();
//!     Redirect::to("/")
//! }
//! ```

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use cookie::{Cookie, CookieJar, Key, SameSite};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use crate::Error;
use crate::config::SessionConfig;

/// The current visitor's session: read and change it in handlers; sockets see
/// the session of their upgrade request.
///
/// ```
/// use maze::prelude::*;
///
/// async fn sign_in(session: Session) -> Redirect {
///     session.insert("user_id", 42);
///     Redirect::to("/")
/// }
///
/// async fn whoami(session: Session, cookies: Cookies) -> String {
///     let theme = cookies.get("theme").unwrap_or("light").to_string();
///     format!("user {:?}, theme {theme}", session.get("user_id"))
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Session(Arc<Mutex<SessionState>>);

#[derive(Debug, Default)]
struct SessionState {
    values: Map<String, Value>,
    changed: bool,
}

impl Session {
    fn from_values(values: Map<String, Value>) -> Session {
        Session(Arc::new(Mutex::new(SessionState { values, changed: false })))
    }

    fn state(&self) -> MutexGuard<'_, SessionState> {
        // A handler that panicked mid-update leaves plain data behind: keep using it.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value stored under `key`.
    ///
    /// ```
    /// # let session = maze::Session::default();
    /// session.insert("user_id", 42);
    /// assert_eq!(session.get("user_id"), Some(42.into()));
    /// assert_eq!(session.get("theme"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<Value> {
        self.state().values.get(key).cloned()
    }

    /// Stores `value` under `key`; the response sets the cookie.
    ///
    /// ```
    /// # let session = maze::Session::default();
    /// session.insert("user", serde_json::json!({"id": 42, "name": "ada"}));
    /// assert_eq!(session.get("user").unwrap()["name"], "ada");
    /// ```
    pub fn insert(&self, key: &str, value: impl Into<Value>) {
        let mut state = self.state();
        state.values.insert(key.to_string(), value.into());
        state.changed = true;
    }

    /// Removes `key`, returning its value.
    ///
    /// ```
    /// # let session = maze::Session::default();
    /// session.insert("flash", "saved");
    /// assert_eq!(session.remove("flash"), Some("saved".into()));
    /// assert_eq!(session.remove("flash"), None);
    /// ```
    pub fn remove(&self, key: &str) -> Option<Value> {
        let mut state = self.state();
        let old = state.values.remove(key);
        state.changed |= old.is_some();
        old
    }

    /// Removes every key (log out).
    ///
    /// ```
    /// # let session = maze::Session::default();
    /// session.insert("user_id", 42);
    /// session.clear();
    /// assert_eq!(session.get("user_id"), None);
    /// ```
    pub fn clear(&self) {
        let mut state = self.state();
        state.changed |= !state.values.is_empty();
        state.values.clear();
    }

    /// A read-only copy of the session as it is now: what sockets and
    /// channels see, since after a WebSocket upgrade no response is left to
    /// carry a changed cookie.
    ///
    /// ```
    /// # let session = maze::Session::default();
    /// session.insert("user_id", 42);
    /// let snapshot = session.snapshot();
    /// session.insert("user_id", 7); // the snapshot keeps what it saw
    /// assert_eq!(snapshot.get("user_id"), Some(&42.into()));
    /// ```
    pub fn snapshot(&self) -> SessionSnapshot {
        let state = self.state();
        if state.values.is_empty() {
            return SessionSnapshot::default();
        }
        SessionSnapshot(Arc::new(state.values.clone()))
    }

    fn take_changes(&self) -> Option<String> {
        let mut state = self.state();
        std::mem::take(&mut state.changed).then(|| Value::Object(state.values.clone()).to_string())
    }
}

/// The session of a WebSocket connection, as of its upgrade request.
///
/// It is read-only by type: a change made after the upgrade could never reach
/// the browser, so there is no method to make one. Change the session in a
/// controller (a [`Session`] argument), then reconnect the socket.
///
/// ```
/// use maze::prelude::*;
///
/// fn user_id(session: &SessionSnapshot) -> Option<i64> {
///     session.get("user_id").and_then(Value::as_i64)
/// }
/// ```
///
/// ```compile_fail
/// fn sign_out(session: &maze::SessionSnapshot) {
///     session.remove("user_id"); // no such method: the session is read-only here
/// }
/// ```
#[derive(Clone, Debug)]
pub struct SessionSnapshot(Arc<Map<String, Value>>);

/// The empty snapshot, shared: a guest's connection holds none of its own.
impl Default for SessionSnapshot {
    fn default() -> Self {
        static EMPTY: LazyLock<Arc<Map<String, Value>>> = LazyLock::new(Arc::default);
        SessionSnapshot(EMPTY.clone())
    }
}

impl SessionSnapshot {
    /// The value stored under `key`.
    ///
    /// ```
    /// # let session = maze::Session::default();
    /// session.insert("user_id", 42);
    /// let user_id = session.snapshot().get("user_id").and_then(|id| id.as_i64());
    /// assert_eq!(user_id, Some(42));
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Whether `key` is set.
    ///
    /// ```
    /// let snapshot = maze::Session::default().snapshot();
    /// assert!(!snapshot.contains_key("user_id")); // a guest
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// The cookies the client sent with the request: an extractor for handlers,
/// and [`Connect::cookies`](crate::socket::Connect::cookies) for sockets.
///
/// ```
/// use maze::prelude::*;
///
/// async fn page(cookies: Cookies) -> String {
///     format!("theme: {}", cookies.get("theme").unwrap_or("light"))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Cookies(Arc<CookieJar>);

/// No cookies, shared: a connection without any holds no jar of its own.
impl Default for Cookies {
    fn default() -> Self {
        static EMPTY: LazyLock<Arc<CookieJar>> = LazyLock::new(Arc::default);
        Cookies(EMPTY.clone())
    }
}

impl Cookies {
    /// The value of cookie `name`, percent-decoded.
    ///
    /// ```
    /// let cookies = maze::Cookies::default(); // a request without cookies
    /// assert_eq!(cookies.get("theme"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|cookie| cookie.value())
    }

    pub(crate) fn parse(headers: &HeaderMap) -> Cookies {
        if !headers.contains_key(COOKIE) {
            return Cookies::default();
        }
        let mut jar = CookieJar::new();
        for header in headers.get_all(COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for cookie in Cookie::split_parse_encoded(text.to_owned()).flatten() {
                jar.add_original(cookie);
            }
        }
        Cookies(Arc::new(jar))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Session>().cloned().unwrap_or_default())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Cookies>().cloned().unwrap_or_else(|| Cookies::parse(&parts.headers)))
    }
}

/// What the session middleware needs: the signing key and the cookie's name.
pub(crate) struct SessionLayerState {
    key: Key,
    cookie: String,
    /// The cookie's `Secure` attribute.
    secure: bool,
    /// Its `Max-Age`, if any.
    max_age: Option<cookie::time::Duration>,
}

impl SessionLayerState {
    pub(crate) fn new(config: &SessionConfig) -> Result<SessionLayerState, Error> {
        let key = match &config.secret {
            Some(secret) if secret.len() >= 32 => Key::derive_from(secret.as_bytes()),
            Some(_) => return Err(Error::config("session.secret must be at least 32 bytes long")),
            None => {
                tracing::warn!(
                    target: "maze",
                    "no session secret set: sessions will not survive a restart (set session.secret or MAZE_SECRET_KEY)"
                );
                Key::generate()
            }
        };
        Ok(SessionLayerState {
            key,
            cookie: config.cookie.clone(),
            secure: config.secure.unwrap_or(!cfg!(debug_assertions)),
            max_age: (config.max_age > 0)
                .then(|| cookie::time::Duration::seconds(config.max_age.min(i64::MAX as u64) as i64)),
        })
    }

    fn load(&self, cookies: &Cookies) -> Session {
        let values = cookies
            .0
            .signed(&self.key)
            .get(&self.cookie)
            .and_then(|cookie| serde_json::from_str(cookie.value()).ok())
            .unwrap_or_default();
        Session::from_values(values)
    }

    fn store(&self, json: String) -> Option<HeaderValue> {
        let mut jar = CookieJar::new();
        let mut cookie = Cookie::build((self.cookie.clone(), json))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure);
        if let Some(max_age) = self.max_age {
            cookie = cookie.max_age(max_age);
        }
        jar.signed_mut(&self.key).add(cookie);
        let cookie = jar.delta().next()?;
        HeaderValue::from_str(&cookie.encoded().to_string()).ok()
    }
}

/// Loads the session and cookies into the request; sets the cookie when the
/// handler changed the session.
pub(crate) async fn middleware(
    State(state): State<Arc<SessionLayerState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let cookies = Cookies::parse(request.headers());
    let session = state.load(&cookies);
    request.extensions_mut().insert(cookies);
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    if let Some(header) = session.take_changes().and_then(|json| state.store(json)) {
        response.headers_mut().append(SET_COOKIE, header);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> SessionLayerState {
        SessionLayerState::new(&SessionConfig {
            cookie: "_test".into(),
            secret: Some("x".repeat(40)),
            ..SessionConfig::default()
        })
        .unwrap()
    }

    fn request_headers(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    #[test]
    fn a_stored_session_reads_back() {
        let layer = layer();
        let session = Session::default();
        session.insert("user_id", 7);
        let header = layer.store(session.take_changes().unwrap()).unwrap();
        let loaded = layer.load(&Cookies::parse(&request_headers(&header)));
        assert_eq!(loaded.get("user_id"), Some(Value::from(7)));
    }

    #[test]
    fn a_forged_session_is_ignored() {
        let layer = layer();
        let session = Session::default();
        session.insert("user_id", 7);
        let header = layer.store(session.take_changes().unwrap()).unwrap();
        let forged = header.to_str().unwrap().replace("%3A7", "%3A8");
        assert_ne!(forged, header.to_str().unwrap(), "the test must change the value");
        let loaded = layer.load(&Cookies::parse(&request_headers(&HeaderValue::from_str(&forged).unwrap())));
        assert_eq!(loaded.get("user_id"), None);
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_lasts_two_weeks_and_secure_when_asked() {
        let session = Session::default();
        session.insert("user_id", 7);
        let header = layer().store(session.take_changes().unwrap()).unwrap();
        let header = header.to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"] {
            assert!(header.contains(attribute), "{attribute} in {header}");
        }
        assert_eq!(
            header.contains("Secure"),
            !cfg!(debug_assertions),
            "secure by default in release builds: {header}"
        );
        let config = SessionConfig {
            secret: Some("x".repeat(40)),
            secure: Some(true),
            max_age: 0,
            ..SessionConfig::default()
        };
        let session = Session::default();
        session.insert("user_id", 7);
        let header = SessionLayerState::new(&config).unwrap().store(session.take_changes().unwrap()).unwrap();
        let header = header.to_str().unwrap();
        assert!(header.contains("Secure") && !header.contains("Max-Age"), "{header}");
    }

    #[test]
    fn short_secrets_are_refused() {
        let error = SessionLayerState::new(&SessionConfig {
            cookie: "_test".into(),
            secret: Some("short".into()),
            ..SessionConfig::default()
        });
        assert!(error.is_err());
    }
}
