//! `maze.toml`, the app's settings, with environment overrides.
//!
//! ```
//! let config = maze::Config::parse("[app]\nname = \"chat\"\n").unwrap();
//! assert_eq!(config.app.port, 3000);
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::Error;

/// The whole of `maze.toml`.
///
/// ```
/// let config = maze::Config::parse(
///     r#"
///     [app]
///     name = "chat"
///     [websockets]
///     adapter = "redis"
///     redis_url = "redis://127.0.0.1:6379"
///     "#,
/// )
/// .unwrap();
/// assert_eq!(config.websockets.adapter.as_deref(), Some("redis"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[app]`: name, address, static files.
    pub app: AppConfig,
    /// `[session]`: the signed session cookie.
    #[serde(default)]
    pub session: SessionConfig,
    /// `[websockets]`: sockets, pub/sub and their limits.
    #[serde(default)]
    pub websockets: WebSocketsConfig,
    /// `[metrics]`: the Prometheus endpoint, off unless it names a path.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[dashboard]`: the live dashboard, off unless it names a path.
    #[serde(default)]
    pub dashboard: DashboardConfig,
}

/// `[dashboard]` of `maze.toml`: a page showing what the app's sockets are
/// doing, live (connections, topics, presences, message rates, recent
/// refusals and panics), served at `path`. Off unless a path is given. Who
/// may open it is decided as for the metrics: `[metrics]`'s `allow`,
/// `trust_loopback` and `token` (sent as a bearer token or `?token=`).
///
/// ```
/// let config = maze::Config::parse("[app]\nname = \"chat\"\n[dashboard]\npath = \"/maze/dashboard\"\n").unwrap();
/// assert_eq!(config.dashboard.path.as_deref(), Some("/maze/dashboard"));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Where the page is, e.g. `"/maze/dashboard"`; none: no dashboard.
    #[serde(default)]
    pub path: Option<String>,
}

/// `[metrics]` of `maze.toml` (the `metrics` feature of the maze
/// dependency serves it). Scrapes must come from an address in `allow`
/// (default: loopback only) or carry `Authorization: Bearer <token>`.
///
/// ```
/// let config = maze::Config::parse(
///     "[app]\nname = \"chat\"\n[metrics]\npath = \"/metrics\"\ntoken = \"scrape-me\"\n",
/// )
/// .unwrap();
/// assert_eq!(config.metrics.path.as_deref(), Some("/metrics"));
/// assert!(config.metrics.allow.is_empty());
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where Prometheus scrapes, e.g. `"/metrics"`; none: no endpoint.
    #[serde(default)]
    pub path: Option<String>,
    /// A bearer token that lets any address scrape; `MAZE_METRICS_TOKEN` overrides it.
    #[serde(default)]
    pub token: Option<String>,
    /// Addresses (`"10.0.0.5"`) allowed to scrape without the token, besides loopback.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Whether scrapes from a loopback address need no token. Behind a
    /// reverse proxy on the same host every request comes from loopback:
    /// set it to `false` there, and scrapers show the token (or come from
    /// an address in `allow`).
    #[serde(default = "default_true")]
    pub trust_loopback: bool,
}

/// `[app]` of `maze.toml`.
///
/// ```
/// let config = maze::Config::parse("[app]\nname = \"chat\"\nport = 8080\n").unwrap();
/// assert_eq!((config.app.host.as_str(), config.app.port), ("127.0.0.1", 8080));
/// assert_eq!(config.app.public_dir, std::path::Path::new("public"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The app's name (its Redis channels are prefixed with it).
    pub name: String,
    /// Address to listen on; `MAZE_HOST` overrides it.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port to listen on (0: any free port); `MAZE_PORT` or `PORT` overrides it.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Folder of static files, relative to `maze.toml`.
    #[serde(default = "default_public_dir")]
    pub public_dir: PathBuf,
}

/// `[session]` of `maze.toml`.
///
/// ```
/// let config = maze::Config::parse("[app]\nname = \"chat\"\n").unwrap();
/// assert_eq!(config.session.cookie, "_maze_session");
/// assert!(config.session.secret.is_none()); // MAZE_SECRET_KEY must then be set
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Name of the signed session cookie.
    #[serde(default = "default_cookie")]
    pub cookie: String,
    /// Secret that signs the cookie (at least 32 bytes); `MAZE_SECRET_KEY` overrides it.
    #[serde(default)]
    pub secret: Option<String>,
    /// Whether browsers send the cookie over HTTPS only. Unset: yes in a
    /// release build, no in a development one (served over plain HTTP).
    #[serde(default)]
    pub secure: Option<bool>,
    /// Seconds the cookie lasts in the browser (its `Max-Age`): two weeks
    /// unless set; 0 makes it a cookie of the browser's session.
    #[serde(default = "default_max_age")]
    pub max_age: u64,
}

/// `[websockets]` of `maze.toml`. Every key has a default:
///
/// ```
/// let limits = maze::config::WebSocketsConfig::default();
/// assert_eq!(limits.ping_interval, 30);
/// assert_eq!(limits.max_message_size, 64 * 1024);
/// assert_eq!((limits.outbound_queue, limits.max_channels), (1024, 100));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketsConfig {
    /// Seconds between the server's `ping` frames.
    #[serde(default = "default_ping_interval")]
    pub ping_interval: u64,
    /// Where broadcasts travel: `"memory"` (one app instance) or `"redis"`.
    #[serde(default)]
    pub adapter: Option<String>,
    /// The Redis server of the `"redis"` adapter; `REDIS_URL` overrides it.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Nodes of the Redis Cluster of the `"redis-cluster"` adapter (any of
    /// them: the others are found from these); `REDIS_URLS` (comma-separated)
    /// overrides them.
    #[serde(default)]
    pub redis_urls: Vec<String>,
    /// The largest message a client may send, in bytes; larger ones close
    /// the connection with code 1009.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Seconds without a frame from the client (heartbeats and pongs count)
    /// after which the connection is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: u64,
    /// Broadcasts held for a slow client before it is disconnected (code 1013).
    #[serde(default = "default_outbound_queue")]
    pub outbound_queue: usize,
    /// Topics one connection may join at once.
    #[serde(default = "default_max_channels")]
    pub max_channels: usize,
    /// Pages (origins such as `"https://example.com"`) allowed to open
    /// sockets besides the app's own; `"*"` allows any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Broadcasts kept per topic for clients that reconnect (0: no history).
    #[serde(default = "default_history_size")]
    pub history_size: usize,
    /// Seconds a broadcast stays in its topic's history.
    #[serde(default = "default_history_ttl")]
    pub history_ttl: u64,
    /// Topic patterns (`"typing:*"`) whose broadcasts are not kept.
    #[serde(default)]
    pub history_exclude: Vec<String>,
    /// Topics whose history one instance keeps in memory at most: past
    /// it, a new topic's broadcasts are delivered without one (its clients
    /// are told `"recovered": false`), so broadcasting to ever new topics
    /// cannot grow the server without bound.
    #[serde(default = "default_history_topics")]
    pub history_topics: usize,
    /// Whether each socket also serves Phoenix's long-poll transport at
    /// `<path>/longpoll`, for clients whose WebSocket cannot open (maze.js
    /// and the Phoenix client fall back to it).
    #[serde(default = "default_true")]
    pub longpoll: bool,
    /// Seconds without a request from a long-poll client after which its
    /// session ends, as a silent WebSocket does (`idle_timeout`): channels
    /// left, `on_disconnect` run, subscriptions released. A poll is held
    /// open for at most half of it.
    #[serde(default = "default_longpoll_timeout")]
    pub longpoll_timeout: u64,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    3000
}
fn default_public_dir() -> PathBuf {
    "public".into()
}
fn default_max_message_size() -> usize {
    64 * 1024
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_outbound_queue() -> usize {
    1024
}
fn default_max_channels() -> usize {
    100
}
fn default_history_size() -> usize {
    100
}
fn default_history_ttl() -> u64 {
    300
}
fn default_history_topics() -> usize {
    100_000
}
fn default_true() -> bool {
    true
}
fn default_max_age() -> u64 {
    14 * 24 * 3600
}
fn default_cookie() -> String {
    "_maze_session".into()
}
fn default_ping_interval() -> u64 {
    30
}
fn default_longpoll_timeout() -> u64 {
    20
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { path: None, token: None, allow: Vec::new(), trust_loopback: true }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { cookie: default_cookie(), secret: None, secure: None, max_age: default_max_age() }
    }
}

impl Default for WebSocketsConfig {
    fn default() -> Self {
        WebSocketsConfig {
            ping_interval: default_ping_interval(),
            adapter: None,
            redis_url: None,
            redis_urls: Vec::new(),
            max_message_size: default_max_message_size(),
            idle_timeout: default_idle_timeout(),
            outbound_queue: default_outbound_queue(),
            max_channels: default_max_channels(),
            allowed_origins: Vec::new(),
            history_size: default_history_size(),
            history_ttl: default_history_ttl(),
            history_topics: default_history_topics(),
            history_exclude: Vec::new(),
            longpoll: true,
            longpoll_timeout: default_longpoll_timeout(),
        }
    }
}

/// The secret a development build signs sessions with when none is set:
/// `root/.maze/secret`, made at the first start (random, never committed:
/// `maze new` ignores it in `.gitignore`), so that sessions survive
/// restarts and the instances of one app agree. A release build
/// (`development` false: no debug assertions) has none to fall back on.
fn development_secret(root: &Path, development: bool) -> Result<String, Error> {
    if !development {
        return Err(Error::config(
            "no session secret: set MAZE_SECRET_KEY (or session.secret in maze.toml, kept out of version \
             control); a release build does not start without one",
        ));
    }
    let path = root.join(".maze/secret");
    let read = |path: &Path| std::fs::read_to_string(path).ok().map(|text| text.trim().to_string());
    if let Some(secret) = read(&path).filter(|secret| secret.len() >= 32) {
        return Ok(secret);
    }
    let cannot = |error: std::io::Error| {
        Error::config(format!("cannot keep a development session secret in {}", path.display()))
            .caused_by(error)
    };
    let secret: String =
        cookie::Key::generate().master().iter().take(32).map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(root.join(".maze")).map_err(cannot)?;
    // Written whole, then linked into place: an instance starting at the
    // same moment reads either no file or the whole of the one that won.
    let written = root.join(format!(".maze/secret.{}", std::process::id()));
    std::fs::write(&written, &secret).map_err(cannot)?;
    let linked = std::fs::hard_link(&written, &path);
    let _ = std::fs::remove_file(&written);
    match linked {
        Ok(()) => Ok(secret),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&path).filter(|secret| secret.len() >= 32).ok_or_else(|| cannot(error))
        }
        Err(error) => Err(cannot(error)),
    }
}

impl Config {
    /// Parses `maze.toml` text; unknown keys are errors.
    ///
    /// ```
    /// let error = maze::Config::parse("[app]\nname = \"chat\"\nprot = 1\n").unwrap_err();
    /// assert!(error.report().to_string().contains("unknown field `prot`"), "{error}");
    /// ```
    pub fn parse(text: &str) -> Result<Config, Error> {
        toml::from_str(text).map_err(|error| Error::config("maze.toml is invalid").caused_by(error))
    }

    /// Reads the file named by `MAZE_CONFIG`, else `maze.toml` in the current
    /// folder, then applies `MAZE_HOST`, `MAZE_PORT` (or `PORT`) and `MAZE_SECRET_KEY`.
    /// Returns the settings and the folder relative paths start from. With
    /// no session secret set, a development build uses (and at first makes)
    /// `.maze/secret` in that folder; a release build refuses to start.
    ///
    /// ```no_run
    /// let (config, root) = maze::Config::load()?;
    /// println!("{} serves {}", config.app.name, root.join(&config.app.public_dir).display());
    /// # Ok::<(), maze::Error>(())
    /// ```
    pub fn load() -> Result<(Config, PathBuf), Error> {
        let path =
            std::env::var_os("MAZE_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("maze.toml"));
        let mut config = Config::read(&path)?;
        config.apply_env(|name| std::env::var(name).ok())?;
        let root = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if config.session.secret.is_none() {
            config.session.secret = Some(development_secret(&root, cfg!(debug_assertions))?);
        }
        Ok((config, root))
    }

    fn read(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::config(format!(
                "cannot read {} (run the app from its folder, or set MAZE_CONFIG)",
                path.display()
            ))
            .caused_by(error)
        })?;
        Config::parse(&text)
    }

    /// Environment overrides, read through `var` so tests need not touch the process env.
    ///
    /// ```
    /// let mut config = maze::Config::parse("[app]\nname = \"chat\"\n").unwrap();
    /// config.apply_env(|name| (name == "PORT").then(|| "8080".to_string())).unwrap();
    /// assert_eq!(config.app.port, 8080);
    /// ```
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        if let Some(host) = var("MAZE_HOST") {
            self.app.host = host;
        }
        if let Some(port) = var("MAZE_PORT").or_else(|| var("PORT")) {
            self.app.port = port
                .parse()
                .map_err(|_| Error::config(format!("port {port:?} is not a number from 0 to 65535")))?;
        }
        if let Some(secret) = var("MAZE_SECRET_KEY") {
            self.session.secret = Some(secret);
        }
        if let Some(token) = var("MAZE_METRICS_TOKEN") {
            self.metrics.token = Some(token);
        }
        if let Some(urls) = var("REDIS_URLS") {
            self.websockets.redis_urls =
                urls.split(',').map(str::trim).filter(|url| !url.is_empty()).map(String::from).collect();
        }
        if let Some(url) = var("REDIS_URL") {
            self.websockets.redis_url = Some(url);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_tables() {
        let config = Config::parse("[app]\nname = \"chat\"\n").unwrap();
        assert_eq!(config.app.port, 3000);
        assert_eq!(config.session.cookie, "_maze_session");
        assert_eq!(config.websockets.ping_interval, 30);
    }

    #[test]
    fn a_development_build_keeps_its_secret_in_the_apps_folder_and_a_release_build_has_none() {
        let root = std::env::temp_dir().join(format!("maze-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let first = development_secret(&root, true).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(std::fs::read_to_string(root.join(".maze/secret")).unwrap(), first);
        assert_eq!(development_secret(&root, true).unwrap(), first, "kept across starts");
        let refused = development_secret(&root, false).unwrap_err().to_string();
        assert!(refused.contains("set MAZE_SECRET_KEY") && refused.contains("release build"), "{refused}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let error = Config::parse("[app]\nname = \"chat\"\nprot = 1\n").unwrap_err();
        assert!(error.report().to_string().contains("prot"), "{error}");
    }

    #[test]
    fn env_overrides_host_port_and_secret() {
        let mut config = Config::parse("[app]\nname = \"chat\"\n").unwrap();
        config
            .apply_env(|name| match name {
                "MAZE_PORT" => Some("0".into()),
                "MAZE_HOST" => Some("0.0.0.0".into()),
                "MAZE_SECRET_KEY" => Some("s".repeat(40)),
                _ => None,
            })
            .unwrap();
        assert_eq!((config.app.host.as_str(), config.app.port), ("0.0.0.0", 0));
        assert_eq!(config.session.secret.as_deref().map(str::len), Some(40));
        let bad = config.apply_env(|name| (name == "PORT").then(|| "x".into()));
        assert!(bad.unwrap_err().to_string().contains("\"x\""));
    }
}
