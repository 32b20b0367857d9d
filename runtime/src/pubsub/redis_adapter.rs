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
//! Publishing never blocks the caller: broadcasts for other instances wait in
//! a bounded queue ([`PUBLISH_QUEUE`]). When Redis is slower than the app
//! (stalled, or far away), the queue fills and further broadcasts reach the
//! local subscribers only; each is counted and the first of a run is logged,
//! so memory stays bounded and the loss is visible.

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

use super::{Adapter, Broadcast, Registry};
use crate::Error;

/// How long startup waits for Redis before giving up with an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection delays grow to this.
const MAX_RETRY: Duration = Duration::from_secs(2);
/// Broadcasts waiting to be published; past this they reach local subscribers only.
pub(crate) const PUBLISH_QUEUE: usize = 4096;

pub(crate) struct RedisAdapter {
    publishes: mpsc::Sender<Arc<Broadcast>>,
    /// Subscriptions change with joins and leaves, at most one pending
    /// change per topic and connection: never dropped, so never bounded here.
    subscriptions: mpsc::UnboundedSender<Subscription>,
    dropped: Arc<Dropped>,
}

enum Subscription {
    Subscribe(String),
    Unsubscribe(String),
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
        url: &str,
        app: &str,
        registry: Arc<Registry>,
    ) -> Result<RedisAdapter, Error> {
        let client = redis::Client::open(url)
            .map_err(|error| Error::Config(format!("redis_url {url:?} is not a Redis URL: {error}")))?;
        let link = match tokio::time::timeout(CONNECT_TIMEOUT, Link::open(&client)).await {
            Ok(Ok(link)) => link,
            Ok(Err(error)) => return Err(Error::Config(format!("cannot reach Redis at {url}: {error}"))),
            Err(_) => return Err(Error::Config(format!("cannot reach Redis at {url}: timed out"))),
        };
        let (publishes, publish_queue) = mpsc::channel(PUBLISH_QUEUE);
        let (subscriptions, subscription_queue) = mpsc::unbounded_channel();
        let dropped = Arc::new(Dropped::default());
        let worker = Worker {
            client,
            prefix: format!("maze:{app}:"),
            instance: instance_id(),
            registry,
            live: HashSet::new(),
            dropped: dropped.clone(),
        };
        tokio::spawn(worker.run(link, publish_queue, subscription_queue));
        Ok(RedisAdapter { publishes, subscriptions, dropped })
    }
}

impl Adapter for RedisAdapter {
    fn publish(&self, broadcast: Arc<Broadcast>, local: &Registry) {
        local.deliver(broadcast.clone());
        match self.publishes.try_send(broadcast) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(broadcast)) => {
                self.dropped.total.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::redis_publish_dropped();
                if self.dropped.run.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!(
                        "maze: Redis is not keeping up ({PUBLISH_QUEUE} broadcasts waiting): \
                         broadcasts reach this instance's subscribers only until it does \
                         (first dropped: topic {:?})",
                        broadcast.topic
                    );
                }
            }
            // The worker ended: the runtime is shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn topic_opened(&self, topic: &str) {
        let _ = self.subscriptions.send(Subscription::Subscribe(topic.to_string()));
    }

    fn topic_closed(&self, topic: &str) {
        let _ = self.subscriptions.send(Subscription::Unsubscribe(topic.to_string()));
    }

    fn dropped(&self) -> u64 {
        self.dropped.total.load(Ordering::Relaxed)
    }
}

/// A random id for this process's adapter.
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    hasher.finish()
}

/// The connections to Redis: one for subscriptions, one for publishing.
struct Link {
    sink: PubSubSink,
    stream: PubSubStream,
    publisher: MultiplexedConnection,
}

impl Link {
    async fn open(client: &redis::Client) -> redis::RedisResult<Link> {
        let (sink, stream) = client.get_async_pubsub().await?.split();
        let publisher = client.get_multiplexed_async_connection().await?;
        Ok(Link { sink, stream, publisher })
    }
}

struct Worker {
    client: redis::Client,
    prefix: String,
    instance: u64,
    registry: Arc<Registry>,
    /// Topics with local subscribers: what to resubscribe after a reconnect.
    live: HashSet<String>,
    dropped: Arc<Dropped>,
}

/// The worker's two queues.
struct Queues {
    publishes: mpsc::Receiver<Arc<Broadcast>>,
    subscriptions: mpsc::UnboundedReceiver<Subscription>,
}

impl Worker {
    async fn run(
        mut self,
        link: Link,
        publishes: mpsc::Receiver<Arc<Broadcast>>,
        subscriptions: mpsc::UnboundedReceiver<Subscription>,
    ) {
        let mut queues = Queues { publishes, subscriptions };
        let mut link = Some(link);
        let mut retry = Duration::from_millis(100);
        loop {
            link = match link {
                Some(connected) => match self.serve(connected, &mut queues).await {
                    Served::Finished => return,
                    Served::Lost(error) => {
                        crate::telemetry::redis_lost(&error);
                        eprintln!(
                            "maze: lost the Redis connection ({error}); local delivery goes on, reconnecting"
                        );
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
                                Some(subscription) => self.track(&subscription),
                            },
                            _ = &mut reconnect => break,
                        }
                    }
                    match self.reopen().await {
                        Ok(link) => {
                            crate::telemetry::redis_reconnected(self.live.len());
                            eprintln!(
                                "maze: reconnected to Redis; resubscribed {} topic(s)",
                                self.live.len()
                            );
                            retry = Duration::from_millis(100);
                            Some(link)
                        }
                        Err(_) => {
                            retry = (retry * 2).min(MAX_RETRY);
                            None
                        }
                    }
                }
            };
        }
    }

    async fn reopen(&self) -> redis::RedisResult<Link> {
        let mut link = Link::open(&self.client).await?;
        if !self.live.is_empty() {
            let channels: Vec<String> = self.live.iter().map(|topic| self.channel(topic)).collect();
            link.sink.subscribe(channels).await?;
        }
        Ok(link)
    }

    fn track(&mut self, subscription: &Subscription) {
        match subscription {
            Subscription::Subscribe(topic) => {
                self.live.insert(topic.clone());
            }
            Subscription::Unsubscribe(topic) => {
                self.live.remove(topic);
            }
        }
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// Publishes, follows subscriptions and delivers Redis messages until the link fails.
    async fn serve(&mut self, mut link: Link, queues: &mut Queues) -> Served {
        loop {
            let sent = tokio::select! {
                // Subscriptions first: a join's subscription should not wait behind a burst.
                biased;
                subscription = queues.subscriptions.recv() => {
                    let Some(subscription) = subscription else { return Served::Finished };
                    self.track(&subscription);
                    match subscription {
                        Subscription::Subscribe(topic) => link.sink.subscribe(self.channel(&topic)).await,
                        Subscription::Unsubscribe(topic) => link.sink.unsubscribe(self.channel(&topic)).await,
                    }
                }
                message = link.stream.next() => {
                    let Some(message) = message else { return Served::Lost("connection closed".into()) };
                    self.receive(message.get_payload_bytes());
                    Ok(())
                }
                broadcast = queues.publishes.recv() => {
                    let Some(broadcast) = broadcast else { return Served::Finished };
                    let published = redis::cmd("PUBLISH")
                        .arg(self.channel(&broadcast.topic))
                        .arg(self.encode(&broadcast))
                        .query_async::<()>(&mut link.publisher)
                        .await;
                    if queues.publishes.len() < PUBLISH_QUEUE / 2 {
                        let run = self.dropped.run.swap(0, Ordering::Relaxed);
                        if run > 0 {
                            eprintln!("maze: Redis keeps up again; {run} broadcast(s) reached this instance only");
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

    fn encode(&self, broadcast: &Broadcast) -> String {
        serde_json::to_string(&Envelope {
            instance: self.instance,
            topic: broadcast.topic.clone(),
            subject: broadcast.subject.clone(),
            payload: broadcast.payload.clone(),
        })
        .expect("JSON values always serialize")
    }

    fn receive(&self, bytes: &[u8]) {
        match serde_json::from_slice::<Envelope>(bytes) {
            // Our own broadcast, already delivered locally.
            Ok(envelope) if envelope.instance == self.instance => {}
            Ok(envelope) => {
                let broadcast = Broadcast {
                    topic: envelope.topic,
                    subject: envelope.subject,
                    payload: envelope.payload,
                    exclude: None,
                    frames: Default::default(),
                    position: Default::default(),
                };
                self.registry.deliver(Arc::new(broadcast));
            }
            Err(error) => {
                eprintln!("maze: ignored a message from Redis that is not a maze broadcast: {error}")
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
