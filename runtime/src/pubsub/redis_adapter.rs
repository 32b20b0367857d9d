//! Broadcasts across app instances through Redis pub/sub.
//!
//! Each instance subscribes to a topic's Redis channel (`maze:<app>:<topic>`)
//! while it has local subscribers to that topic, and unsubscribes when the
//! last one leaves. A broadcast is delivered locally at once and published
//! once to Redis, tagged with this instance's id so that its echo is not
//! delivered twice. When Redis goes away, local delivery goes on; the adapter
//! reconnects by itself, resubscribes every live topic and publishes what
//! waited meanwhile.
//!
//! Topics with history (see [`crate::history`]) keep it in a Redis stream
//! per topic (`maze:<app>:history:<topic>`), shared by the instances: one
//! script adds a broadcast to the stream (trimmed, exactly, to `history_size`
//! entries and `history_ttl`) and publishes it with its stream id, its offset, in
//! one round trip; this instance delivers it locally once Redis has given
//! it its place. The epoch is a key (`maze:<app>:epoch`): a Redis restart
//! without persistence loses it with the streams, and clients are told
//! their recovery failed. While Redis is away, broadcasts reach local
//! subscribers at once, without a position.
//!
//! Publishing never blocks the caller: broadcasts for other instances wait in
//! a bounded queue ([`PUBLISH_QUEUE`]). When Redis is slower than the app
//! (stalled, or far away), the queue fills and further broadcasts reach the
//! local subscribers only; each is counted and the first of a run is logged,
//! so memory stays bounded and the loss is visible.

use futures_util::{FutureExt, StreamExt};
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

use super::{Adapter, Broadcast, Registry};
use crate::{Error, ErrorKind};

/// Redis at `url` could not be reached.
fn unreachable(url: &str) -> Error {
    Error::new(ErrorKind::Redis, format!("cannot reach Redis at {url}"))
}
use crate::history::{self, Offset, Policy, Position, Recovery};

/// How long startup waits for Redis before giving up with an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first reconnection delay, doubled after each failure...
const RETRY: Duration = Duration::from_millis(100);
/// ...up to this.
const MAX_RETRY: Duration = Duration::from_secs(2);
/// Broadcasts waiting to be published; past this they reach local subscribers only.
pub(crate) const PUBLISH_QUEUE: usize = 4096;

/// Broadcasts sent to Redis in one pipeline at most: a burst costs a round
/// trip per this many, not one per broadcast.
const PUBLISH_BATCH: usize = 256;
/// How long a recovery waits for Redis before it counts as failed.
const RECOVER_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many broadcasts received from Redis are delivered together.
const RECEIVE_BATCH: usize = 64;

pub(crate) struct RedisAdapter {
    publishes: mpsc::Sender<Publish>,
    /// Whether the worker is connected: if not, broadcasts with history are
    /// delivered locally at once rather than after Redis gives them a place.
    connected: Arc<AtomicBool>,
    /// Subscription changes and recoveries, for the worker.
    subscriptions: Arc<SubscriptionQueue>,
    dropped: Arc<Dropped>,
    /// Which topics keep history.
    policy: Arc<Policy>,
}

/// A broadcast for Redis, and whether this instance's subscribers have it already.
struct Publish {
    broadcast: Arc<Broadcast>,
    delivered: bool,
}

/// What the worker follows besides publishes. A recovery is taken after
/// every subscription change queued before it (see [`SubscriptionQueue`]),
/// so the topic's subscription is in place when its stream is read and
/// nothing falls between.
enum Subscription {
    Subscribe(String),
    Unsubscribe(String),
    Recover { topic: String, from: Option<Position>, reply: tokio::sync::oneshot::Sender<Recovery> },
}

/// Recoveries waiting for the worker at most; more are answered "not
/// recovered" at once (Redis is far behind: they would time out anyway).
const MOST_RECOVERIES: usize = 1024;

/// Subscription changes and recoveries for the worker, bounded whatever
/// clients do: a topic's changes coalesce into the latest (a join/leave
/// loop is one entry, not one per join), and at most [`MOST_RECOVERIES`]
/// recoveries wait. The worker takes topic changes first, then recoveries.
struct SubscriptionQueue {
    state: std::sync::Mutex<QueueState>,
    ready: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueState {
    /// Topics with a change waiting, in the order they changed, and whether
    /// each is wanted now.
    order: std::collections::VecDeque<String>,
    wanted: std::collections::HashMap<String, bool>,
    recoveries: std::collections::VecDeque<Subscription>,
    /// The adapter is gone: the worker ends.
    closed: bool,
}

impl SubscriptionQueue {
    fn new() -> SubscriptionQueue {
        SubscriptionQueue { state: Default::default(), ready: tokio::sync::Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn send(&self, subscription: Subscription) {
        let mut state = self.lock();
        match subscription {
            Subscription::Subscribe(topic) | Subscription::Unsubscribe(topic) if state.closed => drop(topic),
            Subscription::Subscribe(topic) => state.want(topic, true),
            Subscription::Unsubscribe(topic) => state.want(topic, false),
            Subscription::Recover { from, reply, .. }
                if state.closed || state.recoveries.len() >= MOST_RECOVERIES =>
            {
                let _ = reply.send(Recovery { recovered: from.map(|_| false), ..Recovery::default() });
                return;
            }
            recover => state.recoveries.push_back(recover),
        }
        drop(state);
        self.ready.notify_one();
    }

    /// The next change or recovery, waiting for one; `None` once closed.
    async fn recv(&self) -> Option<Subscription> {
        loop {
            {
                let mut state = self.lock();
                if let Some(topic) = state.order.pop_front() {
                    let wanted = state.wanted.remove(&topic).unwrap_or(false);
                    return Some(if wanted {
                        Subscription::Subscribe(topic)
                    } else {
                        Subscription::Unsubscribe(topic)
                    });
                }
                if let Some(recovery) = state.recoveries.pop_front() {
                    return Some(recovery);
                }
                if state.closed {
                    return None;
                }
            }
            // A send in between left a permit: this returns at once then.
            self.ready.notified().await;
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }
}

impl QueueState {
    fn want(&mut self, topic: String, wanted: bool) {
        if self.wanted.insert(topic.clone(), wanted).is_none() {
            self.order.push_back(topic);
        }
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        self.subscriptions.close();
    }
}

/// Broadcasts that did not reach Redis because its queue was full.
#[derive(Default)]
pub(crate) struct Dropped {
    total: AtomicU64,
    /// Drops since the queue last had room: the first of a run is logged.
    run: AtomicU64,
}

/// What travels through Redis. Owned strings: a topic or subject holding
/// escapes (`say \"hi\"`) cannot be borrowed from the JSON text.
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The publishing instance, so it can skip its own echo.
    instance: u64,
    topic: String,
    subject: String,
    payload: Value,
}

impl RedisAdapter {
    /// Connects to `url` (failing clearly if it is not a Redis URL or Redis
    /// cannot be reached) and starts the task that owns the connections.
    pub(crate) async fn connect(
        target: Target,
        app: &str,
        registry: Arc<Registry>,
        policy: Arc<Policy>,
    ) -> Result<RedisAdapter, Error> {
        let url = target.describe();
        let mut link = match tokio::time::timeout(CONNECT_TIMEOUT, Link::open(&target)).await {
            Ok(Ok(link)) => link,
            Ok(Err(error)) => return Err(unreachable(&url).caused_by(error)),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Redis,
                    format!("cannot reach Redis at {url}: no answer within {CONNECT_TIMEOUT:?}"),
                ));
            }
        };
        let worker = Worker::new(target, app, registry, policy.clone());
        worker.refresh_epoch(&mut link).await.map_err(|error| unreachable(&url).caused_by(error))?;
        Ok(RedisAdapter::spawn(worker, Some(link), policy))
    }

    /// [`RedisAdapter::connect`] without waiting: the worker connects in the
    /// background (and retries, as after a disconnect); until it has,
    /// broadcasts reach this instance's subscribers and wait for Redis in
    /// their queue. Needs a tokio runtime, to start the worker in.
    pub(crate) fn connect_later(
        target: Target,
        app: &str,
        registry: Arc<Registry>,
        policy: Arc<Policy>,
    ) -> Result<RedisAdapter, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "the Redis adapter starts in a tokio runtime: make the hub inside one (e.g. in #[tokio::main])",
            ));
        }
        let worker = Worker::new(target, app, registry, policy.clone());
        Ok(RedisAdapter::spawn(worker, None, policy))
    }

    /// Starts `worker` on `link` (or, without one, connecting first).
    fn spawn(worker: Worker, link: Option<Link>, policy: Arc<Policy>) -> RedisAdapter {
        let (publishes, publish_queue) = mpsc::channel(PUBLISH_QUEUE);
        let subscriptions = Arc::new(SubscriptionQueue::new());
        let subscription_queue = subscriptions.clone();
        let dropped = worker.dropped.clone();
        let connected = worker.connected.clone();
        connected.store(link.is_some(), Ordering::Relaxed);
        // The worker's telemetry is its hub's (the registry's, once it has one).
        let scope = worker.registry.clone();
        tokio::spawn(super::InOwner::new(scope, worker.run(link, publish_queue, subscription_queue)));
        RedisAdapter { publishes, connected, subscriptions, dropped, policy }
    }
}

/// Where Redis is: one server, or a Redis Cluster (its seed nodes).
#[derive(Clone)]
pub(crate) enum Target {
    Server(redis::Client),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<String>),
}

impl Target {
    /// One server at `url`, or why `url` is not a Redis URL.
    pub(crate) fn server(url: &str) -> Result<Target, Error> {
        redis::Client::open(url)
            .map(Target::Server)
            .map_err(|error| Error::config(format!("redis_url {url:?} is not a Redis URL")).caused_by(error))
    }

    /// A cluster reached through `urls` (any of its nodes), or why one is not a Redis URL.
    #[cfg(feature = "redis-cluster")]
    pub(crate) fn cluster(urls: &[String]) -> Result<Target, Error> {
        if urls.is_empty() {
            return Err(Error::config(
                "adapter = \"redis-cluster\" needs redis_urls in [websockets], or REDIS_URLS",
            ));
        }
        for url in urls {
            redis::Client::open(url.as_str()).map_err(|error| {
                Error::config(format!("redis_urls: {url:?} is not a Redis URL")).caused_by(error)
            })?;
        }
        Ok(Target::Cluster(urls.to_vec()))
    }

    /// Where it is, for errors.
    fn describe(&self) -> String {
        match self {
            Target::Server(client) => client.get_connection_info().addr().to_string(),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(urls) => format!("the cluster of {}", urls.join(", ")),
        }
    }

    /// Whether keys and channels are a cluster's: a topic's stream and
    /// channel then share a hash tag (the topic), so that they live in one
    /// slot, on one shard.
    fn is_cluster(&self) -> bool {
        !matches!(self, Target::Server(_))
    }
}

impl Worker {
    fn new(target: Target, app: &str, registry: Arc<Registry>, policy: Arc<Policy>) -> Worker {
        Worker {
            cluster: target.is_cluster(),
            target,
            prefix: format!("maze:{app}:"),
            instance: instance_id(),
            registry,
            live: HashSet::new(),
            dropped: Arc::new(Dropped::default()),
            connected: Arc::new(AtomicBool::new(false)),
            epoch: RwLock::new("".into()),
            backlog: Default::default(),
            policy,
        }
    }
}

impl RedisAdapter {
    /// Whether the worker delivers `broadcast` locally, once Redis has
    /// placed it in its topic's history (when connected); if not, it is
    /// delivered at once.
    fn deferred(&self, broadcast: &Broadcast) -> bool {
        self.policy.keeps(&broadcast.topic) && self.connected.load(Ordering::Relaxed)
    }

    /// Queues `broadcast` for the worker to publish (`delivered`: it
    /// already reached this instance's subscribers).
    fn queue(&self, broadcast: Arc<Broadcast>, delivered: bool, local: &Registry) {
        match self.publishes.try_send(Publish { broadcast, delivered }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(Publish { broadcast, delivered })) => {
                if !delivered {
                    local.deliver(broadcast.clone());
                }
                self.dropped.total.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::redis_publish_dropped();
                if self.dropped.run.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        target: "maze",
                        waiting = PUBLISH_QUEUE,
                        first_dropped = broadcast.topic,
                        "Redis is not keeping up: broadcasts reach this instance's subscribers only until it does"
                    );
                }
            }
            // The worker ended: the runtime is shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Adapter for RedisAdapter {
    fn publish(&self, broadcast: Arc<Broadcast>, local: &Registry) {
        self.publish_all(vec![broadcast], local);
    }

    fn publish_all(&self, broadcasts: Vec<Arc<Broadcast>>, local: &Registry) {
        // Decided once each: `connected` may change meanwhile.
        let deferred: Vec<bool> = broadcasts.iter().map(|broadcast| self.deferred(broadcast)).collect();
        let at_once: Vec<Arc<Broadcast>> = broadcasts
            .iter()
            .zip(&deferred)
            .filter(|(_, deferred)| !**deferred)
            .map(|(b, _)| b.clone())
            .collect();
        local.deliver_all(&at_once);
        for (broadcast, deferred) in broadcasts.into_iter().zip(deferred) {
            self.queue(broadcast, !deferred, local);
        }
    }

    fn topic_opened(&self, topic: &str) {
        self.subscriptions.send(Subscription::Subscribe(topic.to_string()));
    }

    fn topic_closed(&self, topic: &str) {
        self.subscriptions.send(Subscription::Unsubscribe(topic.to_string()));
    }

    fn dropped(&self) -> u64 {
        self.dropped.total.load(Ordering::Relaxed)
    }

    fn connected(&self) -> Option<bool> {
        Some(self.connected.load(Ordering::Relaxed))
    }

    fn keeps_history(&self) -> bool {
        true
    }

    fn recover(&self, topic: &str, from: Option<Position>) -> Pin<Box<dyn Future<Output = Recovery> + Send>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let failed = Recovery { recovered: from.as_ref().map(|_| false), ..Recovery::default() };
        self.subscriptions.send(Subscription::Recover { topic: topic.to_string(), from, reply });
        // Redis not answering (stalled, or far behind): the client is told
        // its recovery failed rather than wait, holding broadcasts meanwhile.
        Box::pin(async move {
            match tokio::time::timeout(RECOVER_TIMEOUT, answer).await {
                Ok(Ok(recovery)) => recovery,
                Ok(Err(_)) | Err(_) => failed,
            }
        })
    }
}

/// Adds a broadcast to its topic's stream, trims the stream by length and
/// age, and publishes `<stream id> <envelope>`: one round trip, and the
/// stream's order is the order subscribers receive.
const PUBLISH_WITH_HISTORY: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'm', ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call(ARGV[5], KEYS[2], id .. ' ' .. ARGV[2])
return id
";

/// A random id for this process's adapter.
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    hasher.finish()
}

/// The connections to Redis. One server: one connection for subscriptions,
/// one for commands. A cluster: one cluster connection (a connection per
/// node, following slot moves and failovers, resubscribing by itself) whose
/// messages arrive as RESP3 pushes.
enum Link {
    Server {
        sink: PubSubSink,
        stream: PubSubStream,
        publisher: MultiplexedConnection,
    },
    #[cfg(feature = "redis-cluster")]
    Cluster {
        connection: redis::cluster_async::ClusterConnection,
        pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
    },
}

/// A message from a subscribed channel.
enum Message {
    Server(redis::Msg),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::PushInfo),
}

impl Message {
    /// What was published; `None` for what is not a message (a
    /// subscription's confirmation).
    fn payload(&self) -> Option<&[u8]> {
        match self {
            Message::Server(message) => Some(message.get_payload_bytes()),
            #[cfg(feature = "redis-cluster")]
            Message::Cluster(push) => match (&push.kind, push.data.get(1)) {
                (
                    redis::PushKind::SMessage | redis::PushKind::Message,
                    Some(redis::Value::BulkString(bytes)),
                ) => Some(bytes),
                _ => None,
            },
        }
    }
}

impl Message {
    /// The sharded channel the server unsubscribed this connection from:
    /// its slot moved away (a failover demoted its master, or resharding
    /// gave it to another one). Our own unsubscribes are confirmed so too.
    fn unsubscribed(&self) -> Option<&[u8]> {
        match self {
            Message::Server(_) => None,
            #[cfg(feature = "redis-cluster")]
            Message::Cluster(push) => match (&push.kind, push.data.first()) {
                (redis::PushKind::SUnsubscribe, Some(redis::Value::BulkString(channel))) => Some(channel),
                _ => None,
            },
        }
    }
}

impl Link {
    async fn open(target: &Target) -> redis::RedisResult<Link> {
        match target {
            Target::Server(client) => {
                let (sink, stream) = client.get_async_pubsub().await?.split();
                let publisher = client.get_multiplexed_async_connection().await?;
                Ok(Link::Server { sink, stream, publisher })
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(urls) => {
                let (sender, pushes) = mpsc::unbounded_channel();
                let client = redis::cluster::ClusterClientBuilder::new(urls.clone())
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(sender)
                    .build()?;
                let connection = client.get_async_connection().await?;
                Ok(Link::Cluster { connection, pushes })
            }
        }
    }

    /// Subscribes to `channels`: sharded channels (`SSUBSCRIBE`) on a
    /// cluster, each on the shard that owns its slot.
    async fn subscribe(&mut self, channels: Vec<String>) -> redis::RedisResult<()> {
        match self {
            Link::Server { sink, .. } => sink.subscribe(channels).await,
            #[cfg(feature = "redis-cluster")]
            Link::Cluster { connection, .. } => {
                for channel in channels {
                    connection.ssubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    async fn unsubscribe(&mut self, channel: String) -> redis::RedisResult<()> {
        match self {
            Link::Server { sink, .. } => sink.unsubscribe(channel).await,
            #[cfg(feature = "redis-cluster")]
            Link::Cluster { connection, .. } => connection.sunsubscribe(channel).await,
        }
    }

    /// The next message; `None` once the connection is gone.
    async fn next_message(&mut self) -> Option<Message> {
        match self {
            Link::Server { stream, .. } => stream.next().await.map(Message::Server),
            #[cfg(feature = "redis-cluster")]
            Link::Cluster { pushes, .. } => pushes.recv().await.map(Message::Cluster),
        }
    }

    async fn query<T: redis::FromRedisValue>(&mut self, command: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Link::Server { publisher, .. } => command.query_async(publisher).await,
            #[cfg(feature = "redis-cluster")]
            Link::Cluster { connection, .. } => command.query_async(connection).await,
        }
    }

    /// Runs `commands` in order, each answer in its place. One server: one
    /// pipeline (one round trip). A cluster: each command to its shard, all
    /// sent before any answer is awaited (a pipeline cannot span slots);
    /// those of one topic go to one shard on one connection, in order.
    async fn query_all(&mut self, commands: Vec<redis::Cmd>) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Link::Server { publisher, .. } => {
                let mut pipeline = redis::pipe();
                for command in commands {
                    pipeline.add_command(command);
                }
                pipeline.query_async(publisher).await
            }
            #[cfg(feature = "redis-cluster")]
            Link::Cluster { connection, .. } => {
                let answers = commands.iter().map(|command| {
                    let mut connection = connection.clone();
                    async move { command.query_async::<redis::Value>(&mut connection).await }
                });
                futures_util::future::join_all(answers).await.into_iter().collect()
            }
        }
    }
}

struct Worker {
    target: Target,
    /// Keys and channels named for a cluster (see [`Target::is_cluster`]).
    cluster: bool,
    prefix: String,
    instance: u64,
    registry: Arc<Registry>,
    /// Topics with local subscribers: what to resubscribe after a reconnect.
    live: HashSet<String>,
    dropped: Arc<Dropped>,
    connected: Arc<AtomicBool>,
    /// The history's epoch, as Redis keeps it.
    epoch: RwLock<Arc<str>>,
    /// Broadcasts taken from the queue when the link was lost: published first on reconnect.
    backlog: std::collections::VecDeque<Publish>,
    /// Which topics keep history.
    policy: Arc<Policy>,
}

/// The worker's two queues.
struct Queues {
    publishes: mpsc::Receiver<Publish>,
    subscriptions: Arc<SubscriptionQueue>,
}

impl Worker {
    async fn run(
        mut self,
        mut link: Option<Link>,
        publishes: mpsc::Receiver<Publish>,
        subscriptions: Arc<SubscriptionQueue>,
    ) {
        let mut queues = Queues { publishes, subscriptions };
        // Started without a connection (`connect_later`), the first attempt is at once.
        let mut retry = if link.is_some() { RETRY } else { Duration::ZERO };
        loop {
            link = match link {
                Some(connected) => match self.serve(connected, &mut queues).await {
                    Served::Finished => return,
                    Served::Lost(error) => {
                        self.connected.store(false, Ordering::Relaxed);
                        // What waited for Redis to place it reaches local subscribers now,
                        // and Redis once reconnected (first, before anything newer).
                        while let Ok(publish) = queues.publishes.try_recv() {
                            if !publish.delivered {
                                self.registry.deliver(publish.broadcast.clone());
                            }
                            self.backlog.push_back(Publish { broadcast: publish.broadcast, delivered: true });
                        }
                        crate::telemetry::redis_lost(&error);
                        None
                    }
                },
                None => {
                    // Broadcasts wait in their bounded queue meanwhile, and go out once
                    // reconnected: a short outage loses nothing.
                    let reconnect = tokio::time::sleep(retry);
                    tokio::pin!(reconnect);
                    loop {
                        tokio::select! {
                            subscription = queues.subscriptions.recv() => match subscription {
                                None => return,
                                Some(subscription) => self.track(subscription),
                            },
                            _ = &mut reconnect => break,
                        }
                    }
                    match self.reopen().await {
                        Ok(link) => {
                            self.connected.store(true, Ordering::Relaxed);
                            crate::telemetry::redis_reconnected(self.live.len());
                            retry = RETRY;
                            Some(link)
                        }
                        Err(_) => {
                            retry = (retry * 2).clamp(RETRY, MAX_RETRY);
                            None
                        }
                    }
                }
            };
        }
    }

    async fn reopen(&self) -> redis::RedisResult<Link> {
        let mut link = Link::open(&self.target).await?;
        // Redis may have restarted, without the epoch: a new one begins.
        self.refresh_epoch(&mut link).await?;
        if !self.live.is_empty() {
            let channels: Vec<String> = self.live.iter().map(|topic| self.channel(topic)).collect();
            link.subscribe(channels).await?;
        }
        Ok(link)
    }

    /// Follows a subscription change while disconnected; a recovery then fails.
    fn track(&mut self, subscription: Subscription) {
        match subscription {
            Subscription::Subscribe(topic) => {
                self.live.insert(topic);
            }
            Subscription::Unsubscribe(topic) => {
                self.live.remove(&topic);
            }
            Subscription::Recover { from, reply, .. } => {
                let _ = reply.send(Recovery { recovered: from.map(|_| false), ..Recovery::default() });
            }
        }
    }

    /// Reads the epoch, creating it when Redis has none.
    async fn refresh_epoch(&self, link: &mut Link) -> redis::RedisResult<()> {
        let key = format!("{}epoch", self.prefix);
        link.query::<()>(redis::cmd("SET").arg(&key).arg(&*history::new_epoch()).arg("NX")).await?;
        let epoch: String = link.query(redis::cmd("GET").arg(&key)).await?;
        *self.epoch.write().unwrap_or_else(|e| e.into_inner()) = epoch.into();
        Ok(())
    }

    fn epoch(&self) -> Arc<str> {
        self.epoch.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A topic's history stream: `maze:<app>:history:<topic>`, or on a
    /// cluster `maze:<app>:history:{<topic>}` (the channel's slot).
    fn stream(&self, topic: &str) -> String {
        if self.cluster {
            format!("{}history:{{{topic}}}", self.prefix)
        } else {
            format!("{}history:{topic}", self.prefix)
        }
    }

    /// Publishes `batch` in one round trip: a pipeline, which Redis runs in
    /// order, so stream ids follow the order of the batch. A topic with
    /// history goes through the history script; a broadcast that waited for
    /// its position is delivered locally with it (or, Redis failing, without).
    async fn publish(&self, link: &mut Link, batch: Vec<Publish>) -> redis::RedisResult<()> {
        let policy = &self.policy;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let ttl_ms = policy.ttl.as_millis();
        // Sharded on a cluster: the message goes to the channel's shard only.
        let publish = if self.cluster { "SPUBLISH" } else { "PUBLISH" };
        let commands = batch
            .iter()
            .map(|Publish { broadcast, .. }| {
                let mut command;
                if policy.keeps(&broadcast.topic) {
                    command = redis::cmd("EVAL");
                    command
                        .arg(PUBLISH_WITH_HISTORY)
                        .arg(2)
                        .arg(self.stream(&broadcast.topic))
                        .arg(self.channel(&broadcast.topic))
                        .arg(policy.size)
                        .arg(self.encode(broadcast))
                        .arg(format!("{}-0", now_ms.saturating_sub(ttl_ms)))
                        .arg(ttl_ms as u64)
                        .arg(publish);
                } else {
                    command = redis::cmd(publish);
                    command.arg(self.channel(&broadcast.topic)).arg(self.encode(broadcast));
                }
                command
            })
            .collect();
        let replies = link.query_all(commands).await;
        match &replies {
            Ok(replies) => {
                let epoch = self.epoch();
                for (Publish { broadcast, .. }, reply) in batch.iter().zip(replies) {
                    let id = <String as redis::FromRedisValue>::from_redis_value_ref(reply).ok();
                    if let Some(offset) = id.as_deref().and_then(Offset::parse) {
                        broadcast.set_position(Position { epoch: epoch.clone(), offset });
                    }
                }
            }
            // Before delivering: from now on broadcasts are delivered at once.
            Err(_) => self.connected.store(false, Ordering::Relaxed),
        }
        // Placed, or (Redis failing) not: this instance's subscribers get them either way.
        let placed: Vec<Arc<Broadcast>> =
            batch.into_iter().filter(|publish| !publish.delivered).map(|publish| publish.broadcast).collect();
        self.registry.deliver_all(&placed);
        replies.map(|_| ())
    }

    /// What a client at `from` missed on `topic`, from its stream.
    async fn recover(
        &self,
        link: &mut Link,
        topic: &str,
        from: Option<Position>,
    ) -> redis::RedisResult<Recovery> {
        let stream = self.stream(topic);
        let epoch = self.epoch();
        let last: Vec<(String, Vec<(String, String)>)> =
            link.query(redis::cmd("XREVRANGE").arg(&stream).arg("+").arg("-").arg("COUNT").arg(1)).await?;
        let top = last.first().and_then(|(id, _)| Offset::parse(id)).unwrap_or(Offset(0, 0));
        let position = Some(Position { epoch: epoch.clone(), offset: top });
        let Some(from) = from else { return Ok(Recovery { missed: Vec::new(), position, recovered: None }) };
        let failed = Ok(Recovery { missed: Vec::new(), position: position.clone(), recovered: Some(false) });
        if *from.epoch != *epoch || from.offset > top {
            return failed;
        }
        if from.offset == top {
            return Ok(Recovery { missed: Vec::new(), position, recovered: Some(true) });
        }
        // Recoverable only if nothing after `from` was trimmed away. Stream
        // ids are times, not counts, so from `0-0` (the client joined before
        // the topic had a stream) that is what Redis 7 says the stream ever
        // lost: nothing, if the newest id trimming removed is `0-0`. From a
        // later position, the stream must still start at or before it.
        // (A stream nobody broadcast to for `history_ttl` expires whole; one
        // made again afterwards has lost nothing of its own.)
        let recoverable = if from.offset == Offset(0, 0) {
            let info: std::collections::HashMap<String, redis::Value> =
                link.query(redis::cmd("XINFO").arg("STREAM").arg(&stream)).await?;
            let max_deleted = info
                .get("max-deleted-entry-id")
                .and_then(|id| redis::from_redis_value::<String>(id.clone()).ok())
                .and_then(|id| Offset::parse(&id));
            max_deleted == Some(Offset(0, 0))
        } else {
            let first: Vec<(String, Vec<(String, String)>)> =
                link.query(redis::cmd("XRANGE").arg(&stream).arg("-").arg("+").arg("COUNT").arg(1)).await?;
            let first = first.first().and_then(|(id, _)| Offset::parse(id));
            first.is_some_and(|first| first <= from.offset)
        };
        if !recoverable {
            return failed;
        }
        let entries: Vec<(String, Vec<(String, String)>)> =
            link.query(redis::cmd("XRANGE").arg(&stream).arg(format!("({}", from.offset)).arg("+")).await?;
        let missed = entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let offset = Offset::parse(&id)?;
                let (_, text) = fields.into_iter().find(|(name, _)| name == "m")?;
                let envelope: Envelope = serde_json::from_str(&text).ok()?;
                let broadcast = Broadcast::new(&envelope.topic, &envelope.subject, envelope.payload);
                broadcast.set_position(Position { epoch: epoch.clone(), offset });
                Some(Arc::new(broadcast))
            })
            .collect::<Vec<_>>();
        let position = missed.last().and_then(|broadcast| broadcast.position().cloned()).or(position);
        Ok(Recovery { missed, position, recovered: Some(true) })
    }

    /// A topic's channel: `maze:<app>:<topic>`, or on a cluster
    /// `maze:<app>:{<topic>}`: its hash tag is the topic, as its stream's is.
    fn channel(&self, topic: &str) -> String {
        if self.cluster { format!("{}{{{topic}}}", self.prefix) } else { format!("{}{topic}", self.prefix) }
    }

    /// Publishes, follows subscriptions and delivers Redis messages until the link fails.
    async fn serve(&mut self, mut link: Link, queues: &mut Queues) -> Served {
        while !self.backlog.is_empty() {
            let take = self.backlog.len().min(PUBLISH_BATCH);
            let batch = self.backlog.drain(..take).collect();
            if let Err(error) = self.publish(&mut link, batch).await {
                return Served::Lost(error.to_string());
            }
        }
        loop {
            // Subscriptions and publishes are served in turn (tokio picks at
            // random when both are ready): a join/leave loop cannot starve
            // the publishes, nor a burst the joins.
            let sent = tokio::select! {
                subscription = queues.subscriptions.recv() => {
                    let Some(subscription) = subscription else { return Served::Finished };
                    match subscription {
                        Subscription::Subscribe(topic) => {
                            self.live.insert(topic.clone());
                            link.subscribe(vec![self.channel(&topic)]).await
                        }
                        Subscription::Unsubscribe(topic) => {
                            self.live.remove(&topic);
                            link.unsubscribe(self.channel(&topic)).await
                        }
                        Subscription::Recover { topic, from, reply } => {
                            let failed = Recovery { recovered: from.as_ref().map(|_| false), ..Recovery::default() };
                            let recovered = self.recover(&mut link, &topic, from).await;
                            let result = recovered.as_ref().map(|_| ()).map_err(|error| error.to_string());
                            let _ = reply.send(recovered.unwrap_or(failed));
                            result.map_err(|error| redis::RedisError::from((redis::ErrorKind::Io, "recovery", error)))
                        }
                    }
                }
                message = link.next_message() => {
                    let Some(message) = message else { return Served::Lost("connection closed".into()) };
                    // With what else has arrived: delivered together (see `cork`).
                    let mut received: Vec<Arc<Broadcast>> = message.payload().and_then(|payload| self.receive(payload)).into_iter().collect();
                    let mut moved: Vec<String> = self.still_wanted(&message).into_iter().collect();
                    let mut ended = false;
                    while received.len() < RECEIVE_BATCH {
                        match link.next_message().now_or_never() {
                            Some(Some(message)) => {
                                received.extend(message.payload().and_then(|payload| self.receive(payload)));
                                moved.extend(self.still_wanted(&message));
                            }
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    self.registry.deliver_all(&received);
                    if ended {
                        return Served::Lost("connection closed".into());
                    }
                    // A slot of ours moved (a failover, resharding): the link is
                    // opened again, which finds the cluster as it is now and
                    // subscribes every live topic where its slot is. (Subscribing
                    // again on this link races the connection's own view of the
                    // cluster, which may still be the old one.)
                    match moved.first() {
                        None => Ok(()),
                        Some(channel) => return Served::Lost(format!("the slot of {channel} moved")),
                    }
                }
                publish = queues.publishes.recv() => {
                    let Some(publish) = publish else { return Served::Finished };
                    // With what queued up during the last round trip: one pipeline.
                    let mut batch = vec![publish];
                    while batch.len() < PUBLISH_BATCH {
                        match queues.publishes.try_recv() {
                            Ok(publish) => batch.push(publish),
                            Err(_) => break,
                        }
                    }
                    let published = self.publish(&mut link, batch).await;
                    if queues.publishes.len() < PUBLISH_QUEUE / 2 {
                        let run = self.dropped.run.swap(0, Ordering::Relaxed);
                        if run > 0 {
                            tracing::warn!(target: "maze", dropped = run, "Redis keeps up again; the dropped broadcasts reached this instance only");
                        }
                    }
                    published
                }
            };
            if let Err(error) = sent {
                return Served::Lost(error.to_string());
            }
        }
    }

    /// The channel the cluster unsubscribed this instance from when its topic
    /// still has local subscribers (its slot moved): to subscribe to again.
    fn still_wanted(&self, message: &Message) -> Option<String> {
        let channel = std::str::from_utf8(message.unsubscribed()?).ok()?;
        // `maze:<app>:{<topic>}` (see `channel`): a lookup, not a walk of
        // every live topic, as each of our own unsubscribes is confirmed so too.
        let topic = channel.strip_prefix(self.prefix.as_str())?.strip_prefix('{')?.strip_suffix('}')?;
        self.live.contains(topic).then(|| channel.to_string())
    }

    fn encode(&self, broadcast: &Broadcast) -> String {
        serde_json::to_string(&Envelope {
            instance: self.instance,
            topic: broadcast.topic.clone(),
            subject: broadcast.subject.clone(),
            payload: broadcast.payload.clone(),
        })
        .expect("JSON values always serialize")
    }

    /// The broadcast another instance published, from what Redis sent.
    fn receive(&self, bytes: &[u8]) -> Option<Arc<Broadcast>> {
        // `<stream id> <envelope>` for a topic with history, else the envelope.
        let (offset, bytes) =
            match bytes.iter().position(|b| *b == b' ').filter(|_| bytes.first() != Some(&b'{')) {
                Some(space) => {
                    (std::str::from_utf8(&bytes[..space]).ok().and_then(Offset::parse), &bytes[space + 1..])
                }
                None => (None, bytes),
            };
        match serde_json::from_slice::<Envelope>(bytes) {
            // Our own broadcast, already delivered locally.
            Ok(envelope) if envelope.instance == self.instance => None,
            Ok(envelope) => {
                let broadcast = Broadcast {
                    topic: envelope.topic,
                    subject: envelope.subject,
                    payload: envelope.payload,
                    exclude: None,
                    frames: Default::default(),
                    position: Default::default(),
                    delivered: tokio::sync::Semaphore::const_new(0),
                };
                if let Some(offset) = offset {
                    broadcast.set_position(Position { epoch: self.epoch(), offset });
                }
                Some(Arc::new(broadcast))
            }
            Err(error) => {
                tracing::warn!(target: "maze", %error, "ignored a message from Redis that is not a maze broadcast");
                None
            }
        }
    }
}

enum Served {
    Finished,
    Lost(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_join_and_leave_loop_is_one_entry_and_recoveries_are_capped() {
        let queue = SubscriptionQueue::new();
        for _ in 0..100_000 {
            queue.send(Subscription::Subscribe("room:1".into()));
            queue.send(Subscription::Unsubscribe("room:1".into()));
        }
        queue.send(Subscription::Subscribe("room:2".into()));
        assert_eq!(queue.lock().order.len(), 2, "one entry per topic");
        let mut answers = Vec::new();
        for _ in 0..MOST_RECOVERIES + 1 {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let from = Some(Position { epoch: "e".into(), offset: Offset(1, 0) });
            queue.send(Subscription::Recover { topic: "room:2".into(), from, reply });
            answers.push(answer);
        }
        assert!(
            matches!(queue.recv().await, Some(Subscription::Unsubscribe(topic)) if topic == "room:1"),
            "the latest wanted state"
        );
        assert!(matches!(queue.recv().await, Some(Subscription::Subscribe(topic)) if topic == "room:2"));
        let over = answers.pop().unwrap().try_recv().expect("over the cap: answered at once");
        assert_eq!(over.recovered, Some(false));
        assert!(answers.pop().unwrap().try_recv().is_err(), "under the cap: waiting for the worker");
        assert_eq!(queue.lock().recoveries.len(), MOST_RECOVERIES);
        queue.close();
        for _ in 0..MOST_RECOVERIES {
            assert!(
                matches!(queue.recv().await, Some(Subscription::Recover { .. })),
                "what waited is still taken"
            );
        }
        assert!(queue.recv().await.is_none(), "closed and empty: the worker ends");
    }

    #[test]
    fn envelopes_with_escapes_round_trip() {
        let envelope = Envelope {
            instance: 7,
            topic: "chat_room:\"7\"\\\u{1}é".into(),
            subject: "say \"hi\"\n\t".into(),
            payload: serde_json::json!({"text": "\\ \" \u{0} 日本"}),
        };
        let text = serde_json::to_string(&envelope).unwrap();
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (back.topic, back.subject, back.payload),
            (envelope.topic, envelope.subject, envelope.payload)
        );
    }
}
