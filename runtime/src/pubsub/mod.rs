//! Pub/sub: who on this instance has joined which topic, and how a broadcast
//! reaches them.
//!
//! The [`Registry`] knows this instance's subscribers. An [`Adapter`] carries
//! broadcasts between instances: [`Memory`] (the default) delivers straight to
//! the local registry; an adapter for a message broker publishes there and
//! hands what it receives to [`Registry::deliver`].
//!
//! Each app's [`Hub`](crate::Hub) owns one [`PubSub`].
//!
//! ```
//! use maze::pubsub::{Broadcast, Memory, PubSub};
//! use serde_json::json;
//!
//! // What `hub.broadcast` does: hand the broadcast to the hub's pub/sub.
//! let pubsub = PubSub::new(Memory);
//! pubsub.publish(Broadcast::new("chat_room:lobby", "message_new", json!({"body": "hi"})));
//! ```

pub(crate) mod cork;
pub(crate) mod mailbox;
#[cfg(feature = "redis")]
mod redis_adapter;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use crate::history::{MemoryHistory, Policy, Position, Recovery};
use crate::protocol::Outbound;
use crate::websocket::Frame;
use crate::{Config, Error};

pub use crate::protocol::Broadcast;

/// What a registry belongs to (its hub), as pub/sub sees it: something to
/// run its adapter's work in, so that the work's telemetry is the hub's.
/// Held weakly: it never keeps the hub alive.
pub(crate) trait Owner: Send + Sync {
    /// Runs `work` in the owner, or as it is once the owner is gone.
    fn run_in(&self, work: &mut dyn FnMut());
}

pin_project_lite::pin_project! {
    /// A task of a registry's adapter (the Redis worker), run in the hub the
    /// registry belongs to, once it has one.
    pub(crate) struct InOwner<F> {
        registry: Arc<Registry>,
        #[pin]
        task: F,
    }
}

impl<F> InOwner<F> {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // The Redis worker's.
    pub(crate) fn new(registry: Arc<Registry>, task: F) -> InOwner<F> {
        InOwner { registry, task }
    }
}

impl<F: Future> Future for InOwner<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let mut task = this.task;
        let Some(owner) = this.registry.owner.get() else { return task.poll(cx) };
        let mut polled = None;
        owner.run_in(&mut || polled = Some(task.as_mut().poll(cx)));
        polled.expect("run_in runs the work")
    }
}

/// A subscriber id (a connection's, the presence tracker's), unique within this process.
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a connection's outbound queue carries.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A broadcast on a topic the connection joined.
    Broadcast(Arc<Broadcast>),
    /// Broadcasts on a topic the connection joined, in order: what one
    /// task published at once (see [`cork`]), one item in every
    /// subscriber's queue. Only for connections (see [`Subscriber::batched`]).
    Broadcasts(Arc<[Arc<Broadcast>]>),
    /// A frame for this client only: a reply, a push. (Boxed, as is a
    /// replay: every connection's queue is sized for its largest variant.)
    Frame(Box<Outbound>),
    /// Hold this topic's broadcasts: what a rejoining client missed is being
    /// fetched, and goes first.
    Hold(String),
    /// A topic joined asking for recovery was left (see [`Outgoing::Hold`]).
    LeftRecovering,
    /// What the client missed on the topic, then what was held, less what
    /// the replay already sent.
    Replay(Box<(String, Recovery)>),
    /// The answer to the client's WebSocket ping.
    Pong(Box<Frame>),
    /// A reply that must reach the client after the broadcasts its
    /// callback made (with Redis history, this instance delivers them after
    /// a round trip): the writer waits for them, so the reader does not.
    AfterBroadcasts(Box<(Vec<Arc<Broadcast>>, Outbound)>),
}

impl mailbox::Counted for Outgoing {
    fn count(&self) -> usize {
        match self {
            Outgoing::Broadcasts(broadcasts) => broadcasts.len(),
            _ => 1,
        }
    }
}

/// Where a connection receives what is sent to it: a bounded queue, and a
/// bell rung when the queue is full so the connection can drop a client that
/// cannot keep up instead of holding ever more messages for it.
#[derive(Clone, Debug)]
pub(crate) struct Subscriber {
    /// The connection's id, unique within this instance.
    pub(crate) id: u64,
    queue: mailbox::Sender<Outgoing>,
    /// Whether it takes [`Outgoing::Broadcasts`] (a connection's writer
    /// does; the runtime's own subscribers take broadcasts one by one).
    batched: bool,
}

impl Subscriber {
    /// Connection `id`, fed through `queue` (which tells its receiver when it overflows).
    pub(crate) fn new(id: u64, queue: mailbox::Sender<Outgoing>) -> Subscriber {
        Subscriber { id, queue, batched: false }
    }

    /// A connection's: it takes [`Outgoing::Broadcasts`] too.
    pub(crate) fn connection(id: u64, queue: mailbox::Sender<Outgoing>) -> Subscriber {
        Subscriber { id, queue, batched: true }
    }

    /// Queues `outgoing`; false when the connection is gone or too slow.
    pub(crate) fn offer(&self, outgoing: Outgoing) -> bool {
        match self.queue.try_send(outgoing) {
            Ok(()) => true,
            Err(mailbox::Refused::Full) => false,
            Err(mailbox::Refused::Closed) => false,
        }
    }

    /// Queues what the connection sends its own client (a push), after
    /// what the task publishing it holds (see [`cork::flush`]); false when
    /// the connection is gone or too slow.
    pub(crate) fn offer_own(&self, outgoing: Outgoing) -> bool {
        cork::flush();
        self.offer(outgoing)
    }

    /// Queues what the connection sends its own client (replies), after
    /// what its task holds (see [`cork::flush`]), waiting for room: a
    /// client that does not read stops being read rather than being dropped.
    pub(crate) async fn send(&self, outgoing: Outgoing) -> bool {
        cork::flush();
        self.queue.send(outgoing).await
    }

    /// Ready when the queue is less than half full (see
    /// [`mailbox::Sender::poll_wait_for_room`]).
    pub(crate) fn poll_wait_for_room(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.queue.poll_wait_for_room(cx)
    }

    /// Marks the connection's client as heard from just now (see
    /// [`mailbox::Receiver::client_silent_for`]).
    pub(crate) fn heard_from_client(&self) {
        self.queue.heard_from_client()
    }

    /// Whether the connection still reads its queue.
    pub(crate) fn is_open(&self) -> bool {
        !self.queue.is_closed()
    }
}

/// This instance's subscribers, by topic.
///
/// ```
/// use maze::pubsub::{Broadcast, Registry};
/// use std::sync::Arc;
///
/// let registry = Registry::default();
/// // Nobody has joined the topic: the broadcast reaches no one.
/// assert_eq!(registry.deliver(Arc::new(Broadcast::new("room:1", "hi", serde_json::Value::Null))), 0);
/// assert!(registry.topics().is_empty());
/// ```
pub struct Registry {
    /// Each topic's subscribers, in the shard its name hashes to: a join or
    /// a leave waits only for the deliveries of its shard's topics.
    shards: Box<[RwLock<Topics>]>,
    /// Picks a topic's shard.
    hasher: std::collections::hash_map::RandomState,
    /// The hub this registry belongs to, once it has one: the tasks of its
    /// adapter run in it (see [`InOwner`]).
    owner: OnceLock<Box<dyn Owner>>,
}

/// A shard of the registry: topics and their subscribers, by connection id.
type Topics = HashMap<String, HashMap<u64, Subscriber>>;

/// How many locks the registry's topics are spread over.
const SHARDS: usize = 32;

impl Default for Registry {
    fn default() -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: Default::default(),
            owner: OnceLock::new(),
        }
    }
}

impl Registry {
    fn shard(&self, topic: &str) -> &RwLock<Topics> {
        use std::hash::BuildHasher;
        &self.shards[(self.hasher.hash_one(topic) % SHARDS as u64) as usize]
    }

    /// Makes `owner` (its hub) this registry's: set once, by [`crate::Hub::new`].
    pub(crate) fn attach(&self, owner: Box<dyn Owner>) {
        let _ = self.owner.set(owner);
    }

    /// Adds `subscriber` to `topic`; true when it is the topic's first local subscriber.
    pub(crate) fn subscribe(&self, topic: &str, subscriber: Subscriber) -> bool {
        let mut topics = self.shard(topic).write().unwrap_or_else(|e| e.into_inner());
        let subscribers = topics.entry(topic.to_string()).or_default();
        subscribers.insert(subscriber.id, subscriber);
        subscribers.len() == 1
    }

    /// Removes connection `id` from `topic`; true when no local subscriber is left.
    pub(crate) fn unsubscribe(&self, topic: &str, id: u64) -> bool {
        let mut topics = self.shard(topic).write().unwrap_or_else(|e| e.into_inner());
        let Some(subscribers) = topics.get_mut(topic) else {
            return false;
        };
        if subscribers.remove(&id).is_none() {
            return false;
        }
        let emptied = subscribers.is_empty();
        if emptied {
            topics.remove(topic);
        }
        emptied
    }

    /// Hands `broadcast` to every local subscriber of its topic (but the one
    /// it excludes); returns how many took it. A subscriber whose queue is
    /// full misses it (and is told to disconnect) rather than stall the others.
    ///
    /// ```
    /// # use maze::pubsub::Broadcast;
    /// # use std::sync::Arc;
    /// # let hub = maze::Hub::in_memory();
    /// let reached = hub.pubsub().registry().deliver(Arc::new(Broadcast::new("room:9", "hi", 1.into())));
    /// assert_eq!(reached, 0); // no connection joined room:9
    /// ```
    pub fn deliver(&self, broadcast: Arc<Broadcast>) -> usize {
        self.deliver_all(std::slice::from_ref(&broadcast))
    }

    /// [`Registry::deliver`] for each of `broadcasts`, in order; the
    /// broadcasts of one topic in a row reach each connection as one item.
    /// Returns how many deliveries were made.
    pub(crate) fn deliver_all(&self, broadcasts: &[Arc<Broadcast>]) -> usize {
        let mut reached = 0;
        for run in broadcasts.chunk_by(|a, b| a.topic == b.topic) {
            let topics = self.shard(&run[0].topic).read().unwrap_or_else(|e| e.into_inner());
            let run_reached = topics.get(&run[0].topic).map_or(0, |subscribers| offer_run(subscribers, run));
            drop(topics);
            for broadcast in run {
                crate::telemetry::broadcast(run_reached / run.len());
                broadcast.delivered.add_permits(1);
            }
            reached += run_reached;
        }
        reached
    }

    /// Topics with at least one local subscriber.
    ///
    /// ```
    /// # let hub = maze::Hub::in_memory();
    /// for topic in hub.pubsub().registry().topics() {
    ///     println!("someone here listens to {topic}");
    /// }
    /// ```
    pub fn topics(&self) -> Vec<String> {
        let shards = self.shards.iter().map(|shard| shard.read().unwrap_or_else(|e| e.into_inner()));
        shards.flat_map(|topics| topics.keys().cloned().collect::<Vec<_>>()).collect()
    }

    /// Each topic with its number of subscribers on this instance.
    pub(crate) fn subscriber_counts(&self) -> Vec<(String, usize)> {
        let shards = self.shards.iter().map(|shard| shard.read().unwrap_or_else(|e| e.into_inner()));
        shards
            .flat_map(|topics| {
                topics.iter().map(|(topic, subs)| (topic.clone(), subs.len())).collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Offers `run` (broadcasts of one topic, in order) to the topic's
/// `subscribers` (but those each excludes); returns how many deliveries
/// were made. A connection takes a run of several as one item.
fn offer_run(subscribers: &HashMap<u64, Subscriber>, run: &[Arc<Broadcast>]) -> usize {
    let shared: Option<Arc<[Arc<Broadcast>]>> = (run.len() > 1).then(|| run.into());
    let mut reached = 0;
    for subscriber in subscribers.values() {
        let excluded = |broadcast: &Arc<Broadcast>| broadcast.exclude == Some(subscriber.id);
        match &shared {
            Some(shared) if subscriber.batched && !run.iter().any(excluded) => {
                reached += run.len() * usize::from(subscriber.offer(Outgoing::Broadcasts(shared.clone())));
            }
            _ => {
                reached += run
                    .iter()
                    .filter(|broadcast| !excluded(broadcast))
                    .filter(|broadcast| subscriber.offer(Outgoing::Broadcast(Arc::clone(broadcast))))
                    .count();
            }
        }
    }
    reached
}

/// How broadcasts travel between app instances.
///
/// An adapter for a broker publishes there, and delivers what the broker
/// hands back into the [`Registry`] it was built with
/// ([`PubSub::from_parts`]). This one only counts:
///
/// ```
/// use maze::pubsub::{Adapter, Broadcast, PubSub, Registry};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Default)]
/// struct Counting(Arc<AtomicU64>);
///
/// impl Adapter for Counting {
///     fn publish(&self, broadcast: Arc<Broadcast>, local: &Registry) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         local.deliver(broadcast);
///     }
/// }
///
/// let count = Arc::new(AtomicU64::new(0));
/// let pubsub = PubSub::new(Counting(count.clone()));
/// pubsub.publish(Broadcast::new("room:1", "hi", serde_json::Value::Null));
/// assert_eq!(count.load(Ordering::Relaxed), 1);
/// ```
pub trait Adapter: Send + Sync + 'static {
    /// Sends `broadcast` to every instance, this one included (through `local`).
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Broadcast, Memory, Registry};
    /// # use std::sync::Arc;
    /// Memory.publish(Arc::new(Broadcast::new("room:1", "hi", 1.into())), &Registry::default());
    /// ```
    fn publish(&self, broadcast: Arc<Broadcast>, local: &Registry);
    /// [`Adapter::publish`] for each of `broadcasts`, in order (what a
    /// connection's task published at once). An adapter that delivers to
    /// `local` itself can hand the lot to it in one step.
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Broadcast, Memory, Registry};
    /// # use std::sync::Arc;
    /// Memory.publish_all(vec![Arc::new(Broadcast::new("room:1", "hi", 1.into()))], &Registry::default());
    /// ```
    fn publish_all(&self, broadcasts: Vec<Arc<Broadcast>>, local: &Registry) {
        for broadcast in broadcasts {
            self.publish(broadcast, local);
        }
    }
    /// This instance gained its first subscriber to `topic`.
    ///
    /// A broker adapter subscribes to the topic there (Redis: `SUBSCRIBE`).
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Memory};
    /// Memory.topic_opened("room:1"); // nothing to do in memory
    /// ```
    fn topic_opened(&self, _topic: &str) {}
    /// This instance lost its last subscriber to `topic`.
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Memory};
    /// Memory.topic_closed("room:1");
    /// ```
    fn topic_closed(&self, _topic: &str) {}
    /// Broadcasts that reached this instance's subscribers only, because the
    /// broker could not take them (see each adapter's documentation).
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Memory};
    /// assert_eq!(Memory.dropped(), 0); // there is no broker to fall behind
    /// ```
    fn dropped(&self) -> u64 {
        0
    }

    /// Whether the broker is reachable now (`None`: there is none, as in
    /// memory). The dashboard shows it.
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Memory};
    /// assert_eq!(Memory.connected(), None);
    /// ```
    fn connected(&self) -> Option<bool> {
        None
    }

    /// Whether the adapter keeps topics' history itself, shared by the
    /// instances (and then implements [`Adapter::recover`]); otherwise each
    /// instance keeps its own, in memory.
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Memory};
    /// assert!(!Memory.keeps_history());
    /// ```
    fn keeps_history(&self) -> bool {
        false
    }

    /// What a client at `from` missed on `topic`, for adapters that keep
    /// history.
    ///
    /// ```
    /// # use maze::pubsub::{Adapter, Memory};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let recovery = Memory.recover("room:1", None).await;
    /// assert!(recovery.missed.is_empty());
    /// # }
    /// ```
    fn recover(&self, topic: &str, from: Option<Position>) -> Pin<Box<dyn Future<Output = Recovery> + Send>> {
        let _ = (topic, from);
        Box::pin(async { Recovery::default() })
    }
}

/// One instance: broadcasts go straight to the local subscribers.
///
/// ```
/// use maze::pubsub::{Memory, PubSub};
/// let pubsub = PubSub::new(Memory); // what `Hub::in_memory()` holds
/// # drop(pubsub);
/// ```
pub struct Memory;

impl Adapter for Memory {
    fn publish(&self, broadcast: Arc<Broadcast>, local: &Registry) {
        local.deliver(broadcast);
    }

    fn publish_all(&self, broadcasts: Vec<Arc<Broadcast>>, local: &Registry) {
        local.deliver_all(&broadcasts);
    }
}

/// A registry and the adapter that feeds it.
///
/// ```
/// use maze::pubsub::{Broadcast, Memory, PubSub};
///
/// let pubsub = PubSub::new(Memory);
/// pubsub.publish(Broadcast::new("room:1", "hi", serde_json::Value::Null));
/// assert_eq!(pubsub.dropped(), 0);
/// ```
pub struct PubSub {
    registry: Arc<Registry>,
    adapter: Box<dyn Adapter>,
    /// Topics' history when the adapter keeps none.
    history: MemoryHistory,
    /// Which topics keep history, and how much (`[websockets]`).
    policy: Arc<Policy>,
}

impl PubSub {
    /// A pub/sub with its own registry, fed by `adapter`.
    ///
    /// ```
    /// # use maze::pubsub::{Memory, PubSub};
    /// let pubsub = PubSub::new(Memory);
    /// assert!(pubsub.registry().topics().is_empty());
    /// ```
    pub fn new(adapter: impl Adapter) -> PubSub {
        PubSub::from_parts(Arc::default(), adapter)
    }

    /// For adapters that deliver what they receive into `registry` themselves.
    ///
    /// ```
    /// # use maze::pubsub::{Memory, PubSub, Registry};
    /// # use std::sync::Arc;
    /// let registry = Arc::new(Registry::default());
    /// // A broker adapter keeps `registry.clone()` to deliver what it receives.
    /// let pubsub = PubSub::from_parts(registry.clone(), Memory);
    /// assert!(std::ptr::eq(pubsub.registry(), &*registry));
    /// ```
    pub fn from_parts(registry: Arc<Registry>, adapter: impl Adapter) -> PubSub {
        PubSub::with_policy(registry, adapter, Arc::new(Policy::default_settings()))
    }

    /// [`PubSub::from_parts`], keeping history as `policy` says.
    pub(crate) fn with_policy(registry: Arc<Registry>, adapter: impl Adapter, policy: Arc<Policy>) -> PubSub {
        PubSub { registry, adapter: Box::new(adapter), history: MemoryHistory::default(), policy }
    }

    /// Which topics keep history.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Topics with a history here, and the broadcasts they keep (for tests).
    #[cfg(test)]
    pub(crate) fn history_held(&self) -> (usize, usize) {
        self.history.held()
    }

    /// Applies the history's TTL to every topic this instance keeps a
    /// history of (see [`MemoryHistory::sweep`]); adapters that keep
    /// history expire it themselves.
    pub(crate) fn sweep_history(&self) {
        if !self.adapter.keeps_history() {
            self.history.sweep(&self.policy);
        }
    }

    /// Sends `broadcast` to every subscriber of its topic, through the adapter.
    ///
    /// ```
    /// # use maze::pubsub::{Broadcast, Memory, PubSub};
    /// PubSub::new(Memory).publish(Broadcast::new("room:1", "hi", serde_json::json!({"n": 1})));
    /// ```
    pub fn publish(&self, broadcast: Broadcast) {
        self.publish_shared(Arc::new(broadcast));
    }

    /// [`PubSub::publish`], keeping a handle on the broadcast.
    pub(crate) fn publish_shared(&self, broadcast: Arc<Broadcast>) {
        // A connection's task holds what it publishes until it waits (see `cork`).
        let broadcast = match cork::hold(self, broadcast) {
            Ok(()) => return,
            Err(broadcast) => broadcast,
        };
        if !self.adapter.keeps_history() && self.policy.keeps(&broadcast.topic) {
            let (adapter, local) = (&self.adapter, &self.registry);
            self.history.publish(&self.policy, broadcast, |broadcast| adapter.publish(broadcast, local));
        } else {
            self.adapter.publish(broadcast, &self.registry);
        }
    }

    /// [`PubSub::publish_shared`] for each of `broadcasts`, in order, at once.
    pub(crate) fn publish_all(&self, broadcasts: Vec<Arc<Broadcast>>) {
        if self.adapter.keeps_history() {
            return self.adapter.publish_all(broadcasts, &self.registry);
        }
        let _recorded = self.history.record_all(&self.policy, &broadcasts);
        self.adapter.publish_all(broadcasts, &self.registry);
    }

    /// What a client at `from` missed on `topic` (from the adapter's history,
    /// or this instance's): see [`crate::history`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let recovery = maze::Hub::in_memory().pubsub().recover("room:nothing", None).await;
    /// assert_eq!(recovery.recovered, None, "a first join asks nothing");
    /// # }
    /// ```
    pub async fn recover(&self, topic: &str, from: Option<Position>) -> Recovery {
        if self.adapter.keeps_history() {
            self.adapter.recover(topic, from).await
        } else {
            self.history.recover(&self.policy, topic, from.as_ref())
        }
    }

    /// The connection behind `subscriber` receives `topic`'s broadcasts.
    pub(crate) fn subscribe(&self, topic: &str, subscriber: Subscriber) {
        if self.registry.subscribe(topic, subscriber) {
            self.adapter.topic_opened(topic);
        }
    }

    /// Connection `id` no longer receives `topic`'s broadcasts.
    pub(crate) fn unsubscribe(&self, topic: &str, id: u64) {
        if self.registry.unsubscribe(topic, id) {
            self.adapter.topic_closed(topic);
        }
    }

    /// Broadcasts that reached this instance's subscribers only (the
    /// adapter's broker could not keep up).
    ///
    /// ```
    /// # let hub = maze::Hub::in_memory();
    /// let dropped = hub.pubsub().dropped();
    /// if dropped > 0 {
    ///     eprintln!("{dropped} broadcasts reached this instance only");
    /// }
    /// ```
    pub fn dropped(&self) -> u64 {
        self.adapter.dropped()
    }

    /// Whether the adapter's broker is reachable (`None`: in memory).
    pub(crate) fn connected(&self) -> Option<bool> {
        self.adapter.connected()
    }

    /// How many broadcasts this instance keeps for `topic`: `None` when the
    /// adapter keeps the history (Redis).
    pub(crate) fn history_len(&self, topic: &str) -> Option<usize> {
        (!self.adapter.keeps_history()).then(|| self.history.len(topic))
    }

    /// This instance's subscribers.
    ///
    /// ```
    /// # let hub = maze::Hub::in_memory();
    /// let busy = hub.pubsub().registry().topics().len();
    /// # assert_eq!(busy, 0);
    /// ```
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Sets up the adapter `[websockets]` asks for: `"memory"` (the default),
/// `"redis"` (the default when `redis_url` or `REDIS_URL` is set and the
/// `redis` feature is on) or `"redis-cluster"` (`redis_urls`, `REDIS_URLS`;
/// the `redis-cluster` feature), with the history policy it sets. Redis is
/// reached before this returns.
pub(crate) async fn from_config(config: &Config) -> Result<PubSub, Error> {
    match chosen(config)? {
        Chosen::Memory(policy) => Ok(PubSub::with_policy(Arc::default(), Memory, policy)),
        #[cfg(feature = "redis")]
        Chosen::Redis { target, policy } => {
            let registry = Arc::new(Registry::default());
            let adapter = redis_adapter::RedisAdapter::connect(
                target,
                &config.app.name,
                registry.clone(),
                policy.clone(),
            )
            .await?;
            Ok(PubSub::with_policy(registry, adapter, policy))
        }
    }
}

/// [`from_config`] without waiting for Redis, which is reached in the background.
pub(crate) fn from_config_lazy(config: &Config) -> Result<PubSub, Error> {
    match chosen(config)? {
        Chosen::Memory(policy) => Ok(PubSub::with_policy(Arc::default(), Memory, policy)),
        #[cfg(feature = "redis")]
        Chosen::Redis { target, policy } => {
            let registry = Arc::new(Registry::default());
            let adapter = redis_adapter::RedisAdapter::connect_later(
                target,
                &config.app.name,
                registry.clone(),
                policy.clone(),
            )?;
            Ok(PubSub::with_policy(registry, adapter, policy))
        }
    }
}

/// The adapter `[websockets]` names, with what it needs.
enum Chosen {
    Memory(Arc<Policy>),
    #[cfg(feature = "redis")]
    Redis {
        target: redis_adapter::Target,
        policy: Arc<Policy>,
    },
}

fn chosen(config: &Config) -> Result<Chosen, Error> {
    let policy = Arc::new(Policy::from_config(config)?);
    let settings = &config.websockets;
    let default = if cfg!(feature = "redis") && settings.redis_url.is_some() { "redis" } else { "memory" };
    match settings.adapter.as_deref().unwrap_or(default) {
        "memory" => Ok(Chosen::Memory(policy)),
        "redis" => {
            #[cfg(feature = "redis")]
            {
                let url = settings.redis_url.as_deref().ok_or_else(|| {
                    Error::config("adapter = \"redis\" needs redis_url in [websockets], or REDIS_URL")
                })?;
                Ok(Chosen::Redis { target: redis_adapter::Target::server(url)?, policy })
            }
            #[cfg(not(feature = "redis"))]
            Err(Error::config(
                "adapter = \"redis\" needs the runtime's redis feature: \
                 features = [\"websockets\", \"redis\"] on the maze dependency in Cargo.toml",
            ))
        }
        "redis-cluster" => {
            #[cfg(feature = "redis-cluster")]
            {
                Ok(Chosen::Redis { target: redis_adapter::Target::cluster(&settings.redis_urls)?, policy })
            }
            #[cfg(not(feature = "redis-cluster"))]
            Err(Error::config(
                "adapter = \"redis-cluster\" needs the runtime's redis-cluster feature: \
                 features = [\"websockets\", \"redis-cluster\"] on the maze dependency in Cargo.toml",
            ))
        }
        other => Err(Error::config(format!(
            "[websockets] adapter {other:?} is unknown: use \"memory\", \"redis\" or \"redis-cluster\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn subscriber(id: u64, size: usize) -> (Subscriber, mailbox::Receiver<Outgoing>) {
        let (tx, rx) = mailbox::bounded(size);
        (Subscriber::new(id, tx), rx)
    }

    #[test]
    fn a_delivery_holds_up_only_the_joins_of_its_own_topics() {
        let registry = Arc::new(Registry::default());
        let delivering = "room:busy";
        let other = (0..1_000)
            .map(|n| format!("room:{n}"))
            .find(|topic| !std::ptr::eq(registry.shard(topic), registry.shard(delivering)))
            .expect("topics spread over several locks");
        // A delivery to `delivering` in progress holds its shard as deliver_all does...
        let held = registry.shard(delivering).read().unwrap();
        // ...while another connection joins another topic.
        let (done, joined) = std::sync::mpsc::channel();
        let elsewhere = registry.clone();
        std::thread::spawn(move || {
            let (subscriber, _rx) = subscriber(7, 4);
            done.send(elsewhere.subscribe(&other, subscriber)).unwrap();
        });
        let first = joined.recv_timeout(std::time::Duration::from_secs(30)).expect("the join was held up");
        assert!(first, "the topic's first subscriber");
        drop(held);
    }

    fn subject(outgoing: Outgoing) -> String {
        match outgoing {
            Outgoing::Broadcast(broadcast) => broadcast.subject.clone(),
            other => panic!("not a broadcast: {other:?}"),
        }
    }

    #[test]
    fn a_full_queue_tells_its_connection() {
        let pubsub = PubSub::new(Memory);
        let (tx, rx) = mailbox::bounded(1);
        pubsub.subscribe("t", Subscriber::new(1, tx));
        assert_eq!(pubsub.registry().deliver(Arc::new(Broadcast::new("t", "a", Value::Null))), 1);
        assert_eq!(pubsub.registry().deliver(Arc::new(Broadcast::new("t", "b", Value::Null))), 0);
        let told = futures_util::FutureExt::now_or_never(rx.overflow_watch().overflowed());
        assert!(told.is_some(), "the slow subscriber is told");
    }

    #[test]
    fn delivers_to_subscribers_of_the_topic_only() {
        let pubsub = PubSub::new(Memory);
        let (a, mut a_rx) = subscriber(1, 4);
        let (b, mut b_rx) = subscriber(2, 4);
        pubsub.subscribe("chat_room:1", a);
        pubsub.subscribe("chat_room:2", b);
        pubsub.publish(Broadcast::new("chat_room:1", "hi", Value::Null));
        assert_eq!(subject(a_rx.try_recv().unwrap()), "hi");
        assert!(b_rx.try_recv().is_none());
    }

    #[test]
    fn a_broadcast_to_others_skips_its_sender() {
        let pubsub = PubSub::new(Memory);
        let (sender, mut sender_rx) = subscriber(1, 4);
        let (other, mut other_rx) = subscriber(2, 4);
        pubsub.subscribe("t", sender);
        pubsub.subscribe("t", other);
        pubsub.publish(Broadcast::new("t", "hi", Value::Null).excluding(1));
        assert_eq!(subject(other_rx.try_recv().unwrap()), "hi");
        assert!(sender_rx.try_recv().is_none(), "the sender is skipped");
    }

    /// The subjects of what `rx` holds, each item's in a list of its own.
    fn items(rx: &mut mailbox::Receiver<Outgoing>) -> Vec<Vec<String>> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|item| match item {
                Outgoing::Broadcasts(broadcasts) => broadcasts.iter().map(|b| b.subject.clone()).collect(),
                other => vec![subject(other)],
            })
            .collect()
    }

    #[test]
    fn broadcasts_delivered_together_are_one_item_per_connection_counted_as_messages() {
        let registry = Registry::default();
        let (connection, mut connection_rx) = mailbox::bounded(4);
        registry.subscribe("t", Subscriber::connection(1, connection));
        let (sender, mut sender_rx) = mailbox::bounded(4);
        registry.subscribe("t", Subscriber::connection(2, sender));
        let (runtime_own, mut runtime_own_rx) = subscriber(3, 8);
        registry.subscribe("t", runtime_own);
        let broadcast = |subject: &str| Arc::new(Broadcast::new("t", subject, Value::Null));
        let other_topic = Arc::new(Broadcast::new("u", "elsewhere", Value::Null));
        let to_others = Arc::new(Broadcast::new("t", "c", Value::Null).excluding(2));
        registry.deliver_all(&[broadcast("a"), broadcast("b"), to_others, other_topic, broadcast("d")]);

        // A run of one topic's broadcasts is one item; another topic's breaks the run.
        assert_eq!(items(&mut connection_rx), [vec!["a", "b", "c"], vec!["d"]]);
        // The sender skips what it sent to others, so it gets that run's broadcasts one by one.
        assert_eq!(items(&mut sender_rx), [vec!["a"], vec!["b"], vec!["d"]]);
        // The runtime's own subscribers take them one by one.
        assert_eq!(items(&mut runtime_own_rx), [vec!["a"], vec!["b"], vec!["c"], vec!["d"]]);

        // Room is counted in messages: 3 wait in a queue of 4, so a run of 2 is refused.
        registry.deliver_all(&[broadcast("e"), broadcast("f"), broadcast("g")]);
        registry.deliver_all(&[broadcast("h"), broadcast("i")]);
        let told = futures_util::FutureExt::now_or_never(connection_rx.overflow_watch().overflowed());
        assert!(told.is_some(), "the slow connection is told");
        assert_eq!(items(&mut connection_rx), [vec!["e", "f", "g"]]);
    }

    #[test]
    fn tells_the_adapter_about_first_and_last_subscribers() {
        #[derive(Default, Clone)]
        struct Log(Arc<std::sync::Mutex<Vec<String>>>);
        impl Adapter for Log {
            fn publish(&self, b: Arc<Broadcast>, local: &Registry) {
                local.deliver(b);
            }
            fn topic_opened(&self, topic: &str) {
                self.0.lock().unwrap().push(format!("+{topic}"));
            }
            fn topic_closed(&self, topic: &str) {
                self.0.lock().unwrap().push(format!("-{topic}"));
            }
        }
        let log = Log::default();
        let pubsub = PubSub::new(log.clone());
        let (one, _rx1) = subscriber(1, 1);
        let (two, _rx2) = subscriber(2, 1);
        pubsub.subscribe("t", one);
        pubsub.subscribe("t", two);
        pubsub.unsubscribe("t", 1);
        pubsub.unsubscribe("t", 2);
        pubsub.unsubscribe("t", 2);
        assert_eq!(*log.0.lock().unwrap(), ["+t", "-t"]);
        assert!(pubsub.registry().topics().is_empty());
    }
}

#[cfg(test)]
mod adapter_choice {
    use super::*;

    fn chosen_for(websockets: &str) -> Result<Chosen, Error> {
        chosen(&Config::parse(&format!("[app]\nname = \"t\"\n[websockets]\n{websockets}")).unwrap())
    }

    #[test]
    fn a_cluster_needs_its_urls_and_each_must_be_a_redis_url() {
        let message = |websockets: &str| chosen_for(websockets).err().map(|error| error.to_string());
        #[cfg(feature = "redis-cluster")]
        {
            assert!(matches!(
                chosen_for("adapter = \"redis-cluster\"\nredis_urls = [\"redis://127.0.0.1:7000\"]"),
                Ok(Chosen::Redis { .. })
            ));
            let none = message("adapter = \"redis-cluster\"").unwrap();
            assert!(none.contains("needs redis_urls in [websockets], or REDIS_URLS"), "{none}");
            let bad = message("adapter = \"redis-cluster\"\nredis_urls = [\"redis://a:7000\", \"http://b\"]")
                .unwrap();
            assert!(bad.contains("\"http://b\" is not a Redis URL"), "{bad}");
        }
        #[cfg(not(feature = "redis-cluster"))]
        {
            let off = message("adapter = \"redis-cluster\"").unwrap();
            assert!(off.contains("needs the runtime's redis-cluster feature"), "{off}");
        }
        let unknown = message("adapter = \"etcd\"").unwrap();
        assert!(unknown.contains("use \"memory\", \"redis\" or \"redis-cluster\""), "{unknown}");
    }
}
