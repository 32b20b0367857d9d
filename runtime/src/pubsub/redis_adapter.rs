//! Broadcasts across app instances through Redis pub/sub.
//!
//! Each instance subscribes to a topic's Redis channel (`maze:<app>:<topic>`)
//! while it has local subscribers to that topic, and unsubscribes when the
//! last one leaves. A broadcast is delivered locally at once and published
//! once to Redis, tagged with this instance's id so that its echo is not
//! delivered twice. When Redis goes away, local delivery goes on; the adapter
//! reconnects by itself and resubscribes every live topic.

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

use super::{Adapter, Broadcast, Registry};
use crate::Error;

/// How long startup waits for Redis before giving up with an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection delays grow to this.
const MAX_RETRY: Duration = Duration::from_secs(2);

pub(crate) struct RedisAdapter {
    commands: mpsc::UnboundedSender<Command>,
}

enum Command {
    Publish(Arc<Broadcast>),
    Subscribe(String),
    Unsubscribe(String),
}

/// What travels through Redis.
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    /// The publishing instance, so it can skip its own echo.
    instance: u64,
    event: &'a str,
    topic: &'a str,
    subject: &'a str,
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
        let (commands, receiver) = mpsc::unbounded_channel();
        let worker = Worker {
            client,
            prefix: format!("maze:{app}:"),
            instance: instance_id(),
            registry,
            live: HashSet::new(),
        };
        tokio::spawn(worker.run(link, receiver));
        Ok(RedisAdapter { commands })
    }
}

impl Adapter for RedisAdapter {
    fn publish(&self, broadcast: Arc<Broadcast>, local: &Registry) {
        local.deliver(broadcast.clone());
        let _ = self.commands.send(Command::Publish(broadcast));
    }

    fn topic_opened(&self, topic: &str) {
        let _ = self.commands.send(Command::Subscribe(topic.to_string()));
    }

    fn topic_closed(&self, topic: &str) {
        let _ = self.commands.send(Command::Unsubscribe(topic.to_string()));
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
}

impl Worker {
    async fn run(mut self, link: Link, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut link = Some(link);
        let mut retry = Duration::from_millis(100);
        loop {
            link = match link {
                Some(connected) => {
                    match self.serve(connected, &mut commands).await {
                        Served::Finished => return,
                        Served::Lost(error) => {
                            eprintln!("maze: lost the Redis connection ({error}); local delivery goes on, reconnecting");
                            None
                        }
                    }
                }
                None => {
                    let reconnect = tokio::time::sleep(retry);
                    tokio::pin!(reconnect);
                    loop {
                        tokio::select! {
                            command = commands.recv() => match command {
                                None => return,
                                // Redis is away: local subscribers already have it, others cannot.
                                Some(Command::Publish(_)) => {}
                                Some(command) => self.track(&command),
                            },
                            _ = &mut reconnect => break,
                        }
                    }
                    match self.reopen().await {
                        Ok(link) => {
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

    fn track(&mut self, command: &Command) {
        match command {
            Command::Subscribe(topic) => {
                self.live.insert(topic.clone());
            }
            Command::Unsubscribe(topic) => {
                self.live.remove(topic);
            }
            Command::Publish(_) => {}
        }
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// Runs commands and delivers Redis messages until the link fails.
    async fn serve(&mut self, mut link: Link, commands: &mut mpsc::UnboundedReceiver<Command>) -> Served {
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return Served::Finished };
                    self.track(&command);
                    let sent = match command {
                        Command::Publish(broadcast) => {
                            let channel = self.channel(&broadcast.topic);
                            let envelope = self.encode(&broadcast);
                            redis::cmd("PUBLISH")
                                .arg(channel)
                                .arg(envelope)
                                .query_async::<()>(&mut link.publisher)
                                .await
                        }
                        Command::Subscribe(topic) => link.sink.subscribe(self.channel(&topic)).await,
                        Command::Unsubscribe(topic) => link.sink.unsubscribe(self.channel(&topic)).await,
                    };
                    if let Err(error) = sent {
                        return Served::Lost(error.to_string());
                    }
                }
                message = link.stream.next() => {
                    let Some(message) = message else { return Served::Lost("connection closed".into()) };
                    self.receive(message.get_payload_bytes());
                }
            }
        }
    }

    fn encode(&self, broadcast: &Broadcast) -> String {
        serde_json::to_string(&Envelope {
            instance: self.instance,
            event: &broadcast.event,
            topic: &broadcast.topic,
            subject: &broadcast.subject,
            payload: broadcast.payload.clone(),
        })
        .expect("JSON values always serialize")
    }

    fn receive(&self, bytes: &[u8]) {
        match serde_json::from_slice::<Envelope>(bytes) {
            // Our own broadcast, already delivered locally.
            Ok(envelope) if envelope.instance == self.instance => {}
            Ok(envelope) => {
                let broadcast =
                    Broadcast::new(envelope.event, envelope.topic, envelope.subject, envelope.payload);
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
