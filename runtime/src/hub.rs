//! [`Hub`]: what one app's sockets share (pub/sub and its adapter, history,
//! presence), owned by the app instead of the process.
//!
//! An app makes its hub from its config ([`Hub::from_config`]; `App` does it
//! when it starts) and everything reaches the same one: channels through
//! `ctx.hub()`, handlers through the [`Hub`] extractor, tasks through a clone
//! moved into them. Two hubs in one process never meet: two apps in one
//! test each deliver only their own broadcasts.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), maze::Error> {
//! let config = maze::Config::parse("[app]\nname = \"chat\"\n")?;
//! let hub = maze::Hub::from_config(&config).await?;
//! hub.broadcast("chat_room:lobby", "message_new", maze::serde_json::json!({"body": "hi"}));
//! # Ok(())
//! # }
//! ```
//!
//! # The current hub
//!
//! `maze::broadcast(...)` and `ChatSocket::broadcast(...)` take no hub: they
//! use the *current* one, as `tokio::spawn` uses the current runtime. A hub
//! is current
//!
//! - while a socket's connection runs its callbacks, and while a request
//!   passes through the app's router (`App` and [`Hub::layer`] set it);
//! - on every thread of the runtime `App::run` starts: so in any task a
//!   generated app spawns;
//! - inside [`Hub::enter`] (a guard) and [`Hub::scope`] (a future).
//!
//! Elsewhere (a test's own thread, a task spawned by an app that embeds maze
//! in its own runtime), there is none, and those calls panic saying so,
//! as `tokio::spawn` does outside a runtime: nothing is silently dropped.
//! [`Hub::try_current`] asks without panicking.

use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use crate::presence_tracker::{Home, Tracker};
use crate::pubsub::{Broadcast, Memory, PubSub};
use crate::shutdown::Shutdown;
use crate::telemetry::Stats;
use crate::{Config, Error};

/// What an app's sockets share: its pub/sub (in memory, or through Redis),
/// each topic's history, presence. Cheap to clone: clones are the same hub.
///
/// ```
/// use maze::prelude::*;
///
/// // In a handler: the app's hub, as an extractor.
/// async fn announce(hub: maze::Hub) -> &'static str {
///     hub.broadcast("news", "published", json!({"title": "Hello"}));
///     "sent"
/// }
/// # fn routes(routes: &mut Routes) { routes.post("/announce", announce); }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    pubsub: Arc<PubSub>,
    presence: Tracker,
    /// The hub's open connections, which [`Hub::close_sockets`] closes.
    shutdown: Arc<Shutdown>,
    /// Where the hub's metrics are recorded, when `[metrics]` names a path.
    #[cfg(feature = "metrics")]
    metrics: Option<metrics_exporter_prometheus::PrometheusRecorder>,
    /// The task that applies the history's TTL to idle topics.
    sweeper: OnceLock<tokio::task::AbortHandle>,
    /// What the dashboard shows, counted when the app has one.
    stats: OnceLock<Arc<Stats>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The hub's background tasks stop with it.
        self.presence.stop();
        if let Some(sweeper) = self.sweeper.get() {
            sweeper.abort();
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// The hub `[websockets]` asks for: in memory (the default), or through
    /// Redis (`adapter = "redis"`, or `redis_url` / `REDIS_URL` set, with
    /// the `redis` feature), keeping history as its settings say.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), maze::Error> {
    /// let config = maze::Config::parse("[app]\nname = \"chat\"\n[websockets]\nhistory_size = 0\n")?;
    /// let hub = maze::Hub::from_config(&config).await?;
    /// # drop(hub);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_config(config: &Config) -> Result<Hub, Error> {
        let pubsub = crate::pubsub::from_config(config).await?;
        Ok(Hub::with_metrics_of(config, pubsub).with_stats_of(config))
    }

    /// [`Hub::from_config`] without waiting: Redis (when `[websockets]` asks
    /// for it) is connected to in the background, and retried as after a
    /// disconnect; broadcasts meanwhile reach this instance's subscribers
    /// and go to Redis once it answers. For code that builds its router
    /// outside an `async fn` (`maze init` apps); a bad setting is still an
    /// error at once. With Redis, it must be called inside a tokio runtime.
    ///
    /// ```
    /// let config = maze::Config::parse("[app]\nname = \"chat\"\n").unwrap();
    /// let hub = maze::Hub::from_config_lazy(&config).unwrap();
    /// # drop(hub);
    /// ```
    pub fn from_config_lazy(config: &Config) -> Result<Hub, Error> {
        let pubsub = crate::pubsub::from_config_lazy(config)?;
        Ok(Hub::with_metrics_of(config, pubsub).with_stats_of(config))
    }

    /// A hub around `pubsub`, recording metrics when `config`'s `[metrics]` names a path.
    fn with_metrics_of(config: &Config, pubsub: PubSub) -> Hub {
        #[cfg(feature = "metrics")]
        let metrics = config
            .metrics
            .path
            .as_ref()
            .map(|_| metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder());
        #[cfg(not(feature = "metrics"))]
        let metrics = {
            let _ = config;
            None::<std::convert::Infallible>
        };
        Hub::build(pubsub, metrics)
    }

    /// Counts what the dashboard shows when `config` has a `[dashboard]`.
    fn with_stats_of(self, config: &Config) -> Hub {
        if config.dashboard.path.is_some() {
            let _ = self.inner.stats.set(Arc::default());
            crate::telemetry::CURRENT_STATS.get_or_init(|| {
                |count| {
                    with_current(|hub| {
                        if let Some(stats) = hub.and_then(Hub::stats) {
                            count(stats);
                        }
                    })
                }
            });
        }
        self
    }

    /// What the dashboard shows, when the app has one.
    pub(crate) fn stats(&self) -> Option<&Arc<Stats>> {
        self.inner.stats.get()
    }

    /// A hub on one instance, with `[websockets]`'s default history.
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// assert!(hub.pubsub().registry().topics().is_empty());
    /// ```
    pub fn in_memory() -> Hub {
        Hub::new(PubSub::new(Memory))
    }

    /// A hub around `pubsub`: for an adapter of your own.
    ///
    /// ```
    /// use maze::pubsub::{Memory, PubSub};
    /// let hub = maze::Hub::new(PubSub::new(Memory));
    /// # drop(hub);
    /// ```
    pub fn new(pubsub: PubSub) -> Hub {
        Hub::build(pubsub, None)
    }

    fn build(
        pubsub: PubSub,
        #[cfg(feature = "metrics")] metrics: Option<metrics_exporter_prometheus::PrometheusRecorder>,
        #[cfg(not(feature = "metrics"))] _metrics: Option<std::convert::Infallible>,
    ) -> Hub {
        let inner = Inner {
            pubsub: Arc::new(pubsub),
            presence: Tracker::new(),
            shutdown: Shutdown::new(),
            #[cfg(feature = "metrics")]
            metrics,
            sweeper: OnceLock::new(),
            stats: OnceLock::new(),
        };
        #[cfg(feature = "metrics")]
        crate::telemetry::CURRENT_RECORDER.get_or_init(|| {
            |record| {
                with_current(|hub| {
                    if let Some(recorder) = hub.and_then(Hub::metrics) {
                        record(recorder);
                    }
                })
            }
        });
        let hub = Hub { inner: Arc::new(inner) };
        hub.pubsub().registry().attach(Box::new(hub.downgrade()));
        hub.start_sweeping();
        hub
    }

    /// Starts the task that applies the history's TTL to topics nobody
    /// broadcasts to any more (they would keep their broadcasts otherwise),
    /// when the hub is made in a runtime and keeps history.
    fn start_sweeping(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if self.pubsub().policy().size == 0 {
            return;
        }
        let every = crate::history::sweep_every(self.pubsub().policy());
        let hub = self.downgrade();
        let sweeping = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.pubsub().sweep_history();
            }
        });
        let _ = self.inner.sweeper.set(sweeping.abort_handle());
    }

    /// Where the hub's metrics are recorded (`[metrics]` names a path).
    #[cfg(feature = "metrics")]
    pub(crate) fn metrics(&self) -> Option<&metrics_exporter_prometheus::PrometheusRecorder> {
        self.inner.metrics.as_ref()
    }

    /// Closes every socket connection of the hub with 1001 (going away),
    /// and returns once their channels' `leave` and sockets' `on_disconnect`
    /// have run, or after 5 s: what an app that embeds maze calls as it
    /// shuts down (`App` does it itself).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hub = maze::Hub::in_memory();
    /// hub.close_sockets().await; // none open: at once
    /// # }
    /// ```
    pub async fn close_sockets(&self) {
        self.inner.shutdown.close_all(crate::shutdown::SOCKET_GRACE).await;
    }

    /// The hub's open connections.
    pub(crate) fn shutdown(&self) -> &Arc<Shutdown> {
        &self.inner.shutdown
    }

    /// Sends `subject` with `payload` to every subscriber of `topic`, on
    /// every app instance.
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// hub.broadcast("chat_room:1", "message_new", maze::serde_json::json!({"body": "hi"}));
    /// ```
    pub fn broadcast(&self, topic: &str, subject: &str, payload: Value) {
        self.pubsub().publish(Broadcast::new(topic, subject, payload));
    }

    /// Closes every connection whose `Socket::id` is `id`, on every app
    /// instance (see [`crate::disconnect`]).
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// hub.disconnect("user:42");
    /// ```
    pub fn disconnect(&self, id: &str) {
        self.pubsub().publish(Broadcast::new(&identity_topic(id), DISCONNECT, Value::Null));
    }

    /// The presences on `topic`, from every instance (see [`crate::presence`]).
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// assert_eq!(hub.presence_list("room:1"), maze::serde_json::json!({}));
    /// ```
    pub fn presence_list(&self, topic: &str) -> Value {
        self.inner.presence.list(topic)
    }

    /// The hub's pub/sub: its registry of this instance's subscribers.
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// assert_eq!(hub.pubsub().dropped(), 0);
    /// ```
    pub fn pubsub(&self) -> &PubSub {
        &self.inner.pubsub
    }

    /// The hub's pub/sub, shared: what a connection's cork delivers through.
    pub(crate) fn pubsub_handle(&self) -> Arc<PubSub> {
        self.inner.pubsub.clone()
    }

    /// Presence's tracker, its background task running.
    pub(crate) fn presence(&self) -> &Tracker {
        self.inner.presence.ensure_running(self.pubsub(), self.downgrade());
        &self.inner.presence
    }

    /// Presence's tracker, as its own task uses it.
    pub(crate) fn presence_tracker(&self) -> &Tracker {
        &self.inner.presence
    }

    /// Whether `self` and `other` are the same hub.
    #[cfg(test)]
    pub(crate) fn same(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Presence's background task holds this, so that it stops with the hub.
    pub(crate) fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.inner))
    }

    /// The current hub (see the [module documentation](self)), if any.
    ///
    /// ```
    /// assert!(maze::Hub::try_current().is_none(), "no app runs here");
    /// let hub = maze::Hub::in_memory();
    /// let _current = hub.enter();
    /// assert!(maze::Hub::try_current().is_some());
    /// ```
    pub fn try_current() -> Option<Hub> {
        CURRENT.with(|current| current.borrow().clone()).or_else(|| {
            THREAD_DEFAULT.with(|slot| slot.borrow().as_ref().and_then(|slot| slot.get().cloned()))
        })
    }

    /// The current hub (see the [module documentation](self)).
    ///
    /// # Panics
    ///
    /// Where no hub is current, saying what to do instead.
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// let _current = hub.enter();
    /// maze::Hub::current().broadcast("room:1", "hi", maze::serde_json::Value::Null);
    /// ```
    #[track_caller]
    pub fn current() -> Hub {
        Hub::try_current().unwrap_or_else(|| panic!("{NO_CURRENT_HUB}"))
    }

    /// Makes this hub current on this thread until the guard is dropped:
    /// `maze::broadcast` and `ChatSocket::broadcast` then use it.
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// {
    ///     let _current = hub.enter();
    ///     maze::broadcast("room:1", "hi", maze::serde_json::Value::Null);
    /// }
    /// assert!(maze::Hub::try_current().is_none());
    /// ```
    pub fn enter(&self) -> EnterGuard {
        EnterGuard { previous: CURRENT.with(|current| current.replace(Some(self.clone()))) }
    }

    /// `future`, with this hub current whenever it runs: for a task an app
    /// that embeds maze spawns on its own runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hub = maze::Hub::in_memory();
    /// tokio::spawn(hub.scope(async {
    ///     maze::broadcast("room:1", "tick", maze::serde_json::Value::Null);
    /// }))
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn scope<F: Future>(&self, future: F) -> Scoped<F> {
        Scoped { hub: Some(self.clone()), future }
    }

    /// A tower layer that makes this hub current while each request is
    /// handled and gives handlers the [`Hub`] extractor: for an axum app
    /// that serves maze sockets without `maze::App`.
    ///
    /// ```
    /// let hub = maze::Hub::in_memory();
    /// let app: maze::axum::Router = maze::axum::Router::new().layer(hub.layer());
    /// # drop(app);
    /// ```
    pub fn layer(&self) -> HubLayer {
        HubLayer { hub: self.clone() }
    }
}

/// A weak handle on a hub: presence's background task stops once the hub is gone.
pub(crate) struct WeakHub(std::sync::Weak<Inner>);

impl WeakHub {
    pub(crate) fn upgrade(&self) -> Option<Hub> {
        self.0.upgrade().map(|inner| Hub { inner })
    }
}

/// What `maze::broadcast` and friends say where no hub is current.
pub(crate) const NO_CURRENT_HUB: &str = "no maze app is running here: maze::broadcast, maze::disconnect, \
     maze::presence::list and Socket::broadcast use the current app's hub, which is set in its \
     requests, its sockets' callbacks and on the threads of `App::run`'s runtime. Here (a test's \
     own thread, or a task of an app that embeds maze in its own runtime), call the method of the \
     same name on the app's `maze::Hub` (the `Hub` extractor in handlers, `ctx.hub()` in \
     channels), or wrap the task in `hub.scope(...)`";

thread_local! {
    /// The hub of the request, connection or scope being run on this thread.
    static CURRENT: RefCell<Option<Hub>> = const { RefCell::new(None) };
    /// The hub of the app whose runtime this thread belongs to (`App::run`),
    /// once the app has made it.
    static THREAD_DEFAULT: RefCell<Option<Arc<OnceLock<Hub>>>> = const { RefCell::new(None) };
}

/// Makes the hub `slot` will hold the default on this thread: called on
/// each thread of the runtime `App::run` starts.
pub(crate) fn set_thread_default(slot: Arc<OnceLock<Hub>>) {
    THREAD_DEFAULT.with(|default| *default.borrow_mut() = Some(slot));
}

/// Runs `with` on the hub current on this thread, if any, without cloning it.
fn with_current<R>(with: impl FnOnce(Option<&Hub>) -> R) -> R {
    CURRENT.with(|current| with(current.borrow().as_ref()))
}

/// Runs `poll` with the hub in `slot` current, moving it out of the slot
/// for the while and back: what every future run in a hub does at each
/// poll (no reference count is touched on the hot path). An empty slot
/// runs `poll` as it is.
pub(crate) fn poll_in<T>(slot: &mut Option<Hub>, poll: impl FnOnce() -> T) -> T {
    let Some(hub) = slot.take() else { return poll() };
    let entered = Entered::new(hub);
    let polled = poll();
    *slot = entered.leave();
    polled
}

/// Puts `hub` in place as the current one for as long as it is alive, and
/// gives it back.
struct Entered {
    previous: Option<Hub>,
}

impl Entered {
    fn new(hub: Hub) -> Entered {
        Entered { previous: CURRENT.with(|current| current.replace(Some(hub))) }
    }

    /// Leaves, giving the hub back.
    fn leave(mut self) -> Option<Hub> {
        let previous = self.previous.take();
        CURRENT.with(|current| current.replace(previous))
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        // Reached only when the poll panicked (`leave` empties `previous`
        // otherwise, and then puts it back itself).
        if let Some(previous) = self.previous.take() {
            CURRENT.with(|current| current.replace(Some(previous)));
        }
    }
}

/// Made current by [`Hub::enter`] until dropped.
pub struct EnterGuard {
    previous: Option<Hub>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = self.previous.take());
    }
}

pin_project_lite::pin_project! {
    /// A future run with its hub current (see [`Hub::scope`]).
    pub struct Scoped<F> {
        hub: Option<Hub>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        poll_in(this.hub, || this.future.poll(cx))
    }
}

impl crate::pubsub::Owner for WeakHub {
    fn run_in(&self, work: &mut dyn FnMut()) {
        poll_in(&mut self.upgrade(), work)
    }
}

impl Home for WeakHub {
    fn visit(&self, work: &mut dyn FnMut(&Tracker, &PubSub)) -> bool {
        let Some(hub) = self.upgrade() else { return false };
        // What the tracker delivers is counted in the hub's metrics.
        let _current = hub.enter();
        work(hub.presence_tracker(), hub.pubsub());
        true
    }
}

/// The internal topic the connections of a socket with an id (`Socket::id`)
/// listen on, for [`Hub::disconnect`]. It starts with a control character,
/// which no topic a client may join holds.
pub(crate) fn identity_topic(id: &str) -> String {
    format!("\u{1}socket:{id}")
}

/// The subject of the broadcast that closes the connections of an id.
pub(crate) const DISCONNECT: &str = "disconnect";

/// The layer of [`Hub::layer`].
#[derive(Clone)]
pub struct HubLayer {
    hub: Hub,
}

impl<S> tower::Layer<S> for HubLayer {
    type Service = HubService<S>;

    fn layer(&self, inner: S) -> HubService<S> {
        HubService { hub: self.hub.clone(), inner }
    }
}

/// The service of [`HubLayer`].
#[derive(Clone)]
pub struct HubService<S> {
    hub: Hub,
    inner: S,
}

impl<S, B> tower::Service<axum::http::Request<B>> for HubService<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Scoped<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.hub.clone());
        let _current = self.hub.enter();
        self.hub.scope(self.inner.call(request))
    }
}

impl<St: Send + Sync> axum::extract::FromRequestParts<St> for Hub {
    type Rejection = (axum::http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &St,
    ) -> Result<Hub, Self::Rejection> {
        parts.extensions.get::<Hub>().cloned().ok_or((
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the maze::Hub extractor needs the app's hub: serve with maze::App, or add hub.layer() to the router",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_makes_a_hub_current_until_dropped_and_restores_the_one_before() {
        let (outer, inner) = (Hub::in_memory(), Hub::in_memory());
        assert!(Hub::try_current().is_none());
        let _outer = outer.enter();
        {
            let _inner = inner.enter();
            assert!(Hub::current().same(&inner));
        }
        assert!(Hub::current().same(&outer));
    }

    #[tokio::test]
    async fn presence_work_starts_with_the_first_track_and_stops_with_the_hub() {
        let hub = Hub::in_memory();
        assert!(hub.presence_tracker().running().is_none(), "nothing runs before anyone tracks");
        hub.presence().track(1, "room:1", "ada", Value::Null);
        let task = hub.presence_tracker().running().expect("tracking starts it");
        assert!(!task.is_finished());
        drop(hub);
        // An aborted task ends the next time the runtime gets to it.
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while !task.is_finished() {
                tokio::task::yield_now().await;
            }
        });
        assert!(ended.await.is_ok(), "presence's task outlived its hub");
    }

    #[tokio::test]
    async fn the_hub_sweeps_expired_history_off_idle_topics_and_stops_with_it() {
        let config = Config::parse("[app]\nname = \"t\"\n[websockets]\nhistory_ttl = 0\n").unwrap();
        let hub = Hub::from_config(&config).await.unwrap();
        hub.broadcast("room:idle", "said", Value::Null);
        assert_eq!(hub.pubsub().history_held(), (1, 1));
        let swept = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while hub.pubsub().history_held() != (1, 0) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        assert!(swept.await.is_ok(), "nothing swept the idle topic: {:?}", hub.pubsub().history_held());
        let sweeper = hub.inner.sweeper.get().cloned().expect("made in a runtime: it sweeps");
        drop(hub);
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while !sweeper.is_finished() {
                tokio::task::yield_now().await;
            }
        });
        assert!(stopped.await.is_ok(), "the sweeper outlived its hub");
    }

    #[test]
    #[should_panic(expected = "no maze app is running here")]
    fn no_current_hub_is_a_panic_that_says_what_to_do() {
        Hub::current();
    }
}
