//! Per-topic history, so that a client that reconnects misses nothing.
//!
//! Each broadcast on a topic with history gets a [`Position`]: an offset
//! within an epoch. The last `history_size` broadcasts of each topic, none
//! older than `history_ttl` seconds, are kept (`[websockets]` in maze.toml;
//! `history_exclude` names topic patterns kept out). Clients see the
//! position of each broadcast; when one rejoins with the last position it
//! saw, it is sent what it missed, in order and once, before live
//! broadcasts; when that is impossible (the history was trimmed past it, or
//! the epoch changed: a restart without Redis, a Redis restart) it is told so
//! (`maze_recovery` with `"recovered": false`) and reloads what it shows.
//!
//! In memory, each topic's history is a ring buffer of this instance, whose
//! epoch is new at each start. With Redis, it is a Redis stream per topic
//! shared by the instances (see the Redis adapter), whose epoch lives in
//! Redis too.

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Config;
use crate::protocol::Broadcast;
pub use crate::protocol::{Offset, Position};
use maze_routing::TopicPattern;

/// What a rejoining client is sent, before live broadcasts.
///
/// ```
/// let nothing = maze::history::Recovery::default();
/// assert!(nothing.missed.is_empty() && nothing.recovered.is_none());
/// ```
#[derive(Debug, Default)]
pub struct Recovery {
    /// The broadcasts after the client's position, oldest first.
    pub missed: Vec<Arc<Broadcast>>,
    /// The topic's latest position once these are sent (none: no history yet).
    pub position: Option<Position>,
    /// `Some(true)`: nothing was lost; `Some(false)`: some of what was
    /// missed is gone; `None`: the client asked nothing (a first join).
    pub recovered: Option<bool>,
}

impl Recovery {
    /// The `maze_recovery` message's payload.
    pub(crate) fn payload(&self) -> Value {
        let mut payload = json!({"recovered": self.recovered});
        if let Some(position) = &self.position {
            payload["epoch"] = json!(&*position.epoch);
            payload["offset"] = json!(position.offset.to_string());
        }
        payload
    }
}

/// `[websockets]`'s history settings.
pub(crate) struct Policy {
    pub(crate) size: usize,
    pub(crate) ttl: Duration,
    exclude: Vec<TopicPattern>,
    /// Topics with a history in memory at most.
    pub(crate) topics: usize,
}

impl Policy {
    pub(crate) fn from_config(config: &Config) -> Result<Policy, crate::Error> {
        let settings = &config.websockets;
        let exclude = settings
            .history_exclude
            .iter()
            .map(|pattern| {
                TopicPattern::parse(pattern)
                    .map_err(|error| crate::Error::config(format!("[websockets] history_exclude: {error}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            size: settings.history_size,
            ttl: Duration::from_secs(settings.history_ttl),
            exclude,
            topics: settings.history_topics,
        })
    }

    /// The defaults of `[websockets]`: what a hub made without a config keeps.
    pub(crate) fn default_settings() -> Policy {
        let defaults = crate::config::WebSocketsConfig::default();
        Policy {
            size: defaults.history_size,
            ttl: Duration::from_secs(defaults.history_ttl),
            exclude: Vec::new(),
            topics: defaults.history_topics,
        }
    }

    /// Whether broadcasts on `topic` are kept (internal topics never are).
    pub(crate) fn keeps(&self, topic: &str) -> bool {
        self.size > 0
            && !topic.starts_with(|c: char| c.is_control())
            && !self.exclude.iter().any(|pattern| pattern.matches(topic))
    }
}

/// A new epoch: 40 random bits (from the standard library's randomly keyed
/// hasher, over the time and the process id), as 10 hex digits: short,
/// because every broadcast frame on a topic with history carries it.
pub(crate) fn new_epoch() -> Arc<str> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    std::time::SystemTime::now().hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    format!("{:010x}", hasher.finish() & 0xFF_FFFF_FFFF).into()
}

/// How many locks the memory history's topics are spread over.
const SHARDS: usize = 32;

/// This instance's history, in memory: a ring per topic, each in the shard
/// its name hashes to, so that broadcasts on different topics (a chat's
/// many rooms) do not wait for one another: a shard stays locked while its
/// broadcast is delivered, which keeps positions in delivery order.
pub(crate) struct MemoryHistory {
    epoch: Arc<str>,
    shards: Box<[Mutex<HashMap<String, Ring>>]>,
    /// Picks a topic's shard.
    hasher: std::collections::hash_map::RandomState,
    /// Topics with a ring, in all shards (capped by `history_topics`).
    topics: std::sync::atomic::AtomicUsize,
    /// The cap on topics was reached and said so.
    full_noted: std::sync::atomic::AtomicBool,
}

type Shard<'a> = std::sync::MutexGuard<'a, HashMap<String, Ring>>;

#[derive(Default)]
struct Ring {
    /// The last offset given.
    last: u64,
    entries: VecDeque<(Instant, Arc<Broadcast>)>,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        MemoryHistory {
            epoch: new_epoch(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
            topics: Default::default(),
            full_noted: Default::default(),
        }
    }
}

impl MemoryHistory {
    /// Gives `broadcast` the next position of its topic, keeps it, and
    /// delivers it (through `deliver`) before any later one: positions and
    /// delivery order agree.
    pub(crate) fn publish(
        &self,
        policy: &Policy,
        broadcast: Arc<Broadcast>,
        deliver: impl FnOnce(Arc<Broadcast>),
    ) {
        let _recorded = self.record_all(policy, std::slice::from_ref(&broadcast));
        deliver(broadcast);
    }

    /// Gives each of `broadcasts` the next position of its topic and keeps
    /// it; deliver them while holding what this returns (the shards of
    /// their topics, locked), so that positions and delivery order agree.
    pub(crate) fn record_all<'a>(
        &'a self,
        policy: &Policy,
        broadcasts: &[Arc<Broadcast>],
    ) -> impl Sized + 'a {
        let kept: Vec<(usize, &Arc<Broadcast>)> = broadcasts
            .iter()
            .filter(|broadcast| policy.keeps(&broadcast.topic))
            .map(|broadcast| (self.shard_of(&broadcast.topic), broadcast))
            .collect();
        // Locked in ascending order, each once: two publishers never wait on each other in a circle.
        let mut indices: Vec<usize> = kept.iter().map(|(shard, _)| *shard).collect();
        indices.sort_unstable();
        indices.dedup();
        let mut shards: Vec<(usize, Shard<'a>)> =
            indices.into_iter().map(|index| (index, self.lock(index))).collect();
        let now = Instant::now();
        for (shard, broadcast) in kept {
            let topics = &mut shards.iter_mut().find(|(index, _)| *index == shard).expect("locked above").1;
            if !topics.contains_key(&broadcast.topic) {
                if self.topics.load(std::sync::atomic::Ordering::Relaxed) >= policy.topics {
                    self.note_full(policy);
                    continue;
                }
                self.topics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                topics.insert(broadcast.topic.clone(), Ring::default());
            }
            // Looked up, not `entry`: a topic that has a ring costs no copy of its name.
            let ring = topics.get_mut(&broadcast.topic).expect("inserted above");
            ring.last += 1;
            let _ =
                broadcast.position.set(Position { epoch: self.epoch.clone(), offset: Offset(ring.last, 0) });
            ring.entries.push_back((now, broadcast.clone()));
            while ring.entries.len() > policy.size {
                ring.entries.pop_front();
            }
            ring.expire(now, policy.ttl);
        }
        shards
    }

    fn shard_of(&self, topic: &str) -> usize {
        use std::hash::BuildHasher;
        (self.hasher.hash_one(topic) % SHARDS as u64) as usize
    }

    fn lock(&self, shard: usize) -> Shard<'_> {
        self.shards[shard].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Says once that the cap on topics with history was reached.
    fn note_full(&self, policy: &Policy) {
        if !self.full_noted.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                target: "maze",
                topics = policy.topics,
                "history_topics reached: broadcasts on new topics are not kept for recovery"
            );
        }
    }

    /// Drops every broadcast older than the TTL, on every topic, and frees
    /// what the emptied topics held: run periodically (see [`sweep_every`]),
    /// so that topics nobody broadcasts to any more do not keep theirs. An
    /// emptied topic keeps its last offset only, so that a returning
    /// client's position stays meaningful.
    pub(crate) fn sweep(&self, policy: &Policy) {
        let now = Instant::now();
        for shard in 0..SHARDS {
            for ring in self.lock(shard).values_mut() {
                ring.expire(now, policy.ttl);
            }
        }
    }

    /// How many topics keep a history here, and how many broadcasts they hold (for tests).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let shards: Vec<Shard<'_>> = (0..SHARDS).map(|shard| self.lock(shard)).collect();
        let topics = shards.iter().map(|topics| topics.len()).sum();
        (topics, shards.iter().flat_map(|topics| topics.values()).map(|ring| ring.entries.len()).sum())
    }

    /// How many broadcasts `topic`'s ring holds.
    pub(crate) fn len(&self, topic: &str) -> usize {
        self.lock(self.shard_of(topic)).get(topic).map_or(0, |ring| ring.entries.len())
    }

    /// What a client at `from` missed on `topic` (see [`Recovery`]). Asking
    /// keeps nothing: a topic with no history yet has none made for it.
    pub(crate) fn recover(&self, policy: &Policy, topic: &str, from: Option<&Position>) -> Recovery {
        let mut topics = self.lock(self.shard_of(topic));
        let Some(ring) = topics.get_mut(topic) else {
            // Nothing was ever kept here: a client from before the first
            // broadcast missed nothing.
            let position = Some(Position { epoch: self.epoch.clone(), offset: Offset(0, 0) });
            let recovered = from.map(|from| *from.epoch == *self.epoch && from.offset == Offset(0, 0));
            return Recovery { missed: Vec::new(), position, recovered };
        };
        ring.expire(Instant::now(), policy.ttl);
        let position = Some(Position { epoch: self.epoch.clone(), offset: Offset(ring.last, 0) });
        let Some(from) = from else { return Recovery { missed: Vec::new(), position, recovered: None } };
        let offset_of = |broadcast: &Arc<Broadcast>| broadcast.position.get().map(|p| p.offset);
        let kept_from = ring.entries.front().and_then(|(_, first)| offset_of(first));
        let recoverable = *from.epoch == *self.epoch
            && from.offset <= Offset(ring.last, 0)
            // Everything after `from` is still kept.
            && (from.offset == Offset(ring.last, 0) || kept_from.is_some_and(|first| first <= Offset(from.offset.0 + 1, 0)));
        if !recoverable {
            return Recovery { missed: Vec::new(), position, recovered: Some(false) };
        }
        let missed = ring
            .entries
            .iter()
            .filter(|(_, broadcast)| offset_of(broadcast).is_some_and(|offset| offset > from.offset))
            .map(|(_, broadcast)| broadcast.clone())
            .collect();
        Recovery { missed, position, recovered: Some(true) }
    }
}

impl Ring {
    /// Drops what is older than `ttl`; an emptied ring frees its buffer.
    fn expire(&mut self, now: Instant, ttl: Duration) {
        while self.entries.front().is_some_and(|(at, _)| now.duration_since(*at) > ttl) {
            self.entries.pop_front();
        }
        if self.entries.is_empty() && self.entries.capacity() > 0 {
            self.entries = VecDeque::new();
        }
    }
}

/// How often a hub sweeps its history (see [`MemoryHistory::sweep`]): a
/// fraction of the TTL, so that nothing is kept much past it.
pub(crate) fn sweep_every(policy: &Policy) -> Duration {
    (policy.ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn policy(ttl: Duration, topics: usize) -> Policy {
        Policy { ttl, topics, ..Policy::default_settings() }
    }

    fn said(history: &MemoryHistory, policy: &Policy, topic: &str) -> Arc<Broadcast> {
        let broadcast = Arc::new(Broadcast::new(topic, "said", Value::Null));
        let _recorded = history.record_all(policy, std::slice::from_ref(&broadcast));
        broadcast
    }

    #[test]
    fn a_topic_being_delivered_does_not_hold_up_another() {
        let history = Arc::new(MemoryHistory::default());
        let policy = policy(Duration::from_secs(60), 100);
        let held = "room:held";
        let other = (0..1_000)
            .map(|n| format!("room:{n}"))
            .find(|topic| history.shard_of(topic) != history.shard_of(held))
            .expect("topics spread over several locks");
        // `held` is being delivered (its shard locked) while another thread publishes elsewhere.
        let delivering = history.record_all(&policy, &[Arc::new(Broadcast::new(held, "said", Value::Null))]);
        let (done, finished) = std::sync::mpsc::channel();
        let elsewhere = history.clone();
        std::thread::spawn(move || {
            let broadcast = Arc::new(Broadcast::new(&other, "said", Value::Null));
            let other_policy = super::tests::policy(Duration::from_secs(60), 100);
            let _recorded = elsewhere.record_all(&other_policy, std::slice::from_ref(&broadcast));
            done.send(broadcast.position.get().cloned()).unwrap();
        });
        let position = finished.recv_timeout(Duration::from_secs(30)).expect("the other topic was held up");
        assert_eq!(position.map(|p| p.offset), Some(Offset(1, 0)));
        drop(delivering);
    }

    #[test]
    fn asking_to_recover_keeps_nothing_and_a_client_from_before_the_first_broadcast_recovers_it() {
        let (history, policy) = (MemoryHistory::default(), policy(Duration::from_secs(60), 100));
        let mut positions = Vec::new();
        for n in 0..1_000 {
            positions.push(history.recover(&policy, &format!("room:{n}"), None).position.unwrap());
        }
        assert_eq!(history.held(), (0, 0), "no topic gets a history by being asked about");
        let first = said(&history, &policy, "room:7");
        let recovery = history.recover(&policy, "room:7", Some(&positions[7]));
        assert_eq!(recovery.recovered, Some(true), "from 0-0: everything there is");
        assert!(Arc::ptr_eq(&recovery.missed[0], &first));
        let elsewhere = Position { epoch: "another".into(), offset: Offset(0, 0) };
        assert_eq!(history.recover(&policy, "room:8", Some(&elsewhere)).recovered, Some(false));
    }

    #[test]
    fn a_sweep_drops_what_the_ttl_expired_on_topics_nobody_broadcasts_to() {
        let (history, policy) = (MemoryHistory::default(), policy(Duration::ZERO, 100));
        for topic in ["a", "b", "c"] {
            said(&history, &policy, topic);
        }
        assert_eq!(history.held().0, 3);
        let started = Instant::now();
        while history.held().1 > 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "the sweep never expired them");
            history.sweep(&policy);
        }
        assert_eq!(history.held(), (3, 0), "emptied topics keep their last offset only");
        let next = said(&history, &policy, "a");
        assert_eq!(next.position().unwrap().offset, Offset(2, 0), "positions go on after a sweep");
    }

    #[test]
    fn past_the_cap_a_new_topic_keeps_no_history() {
        let (history, policy) = (MemoryHistory::default(), policy(Duration::from_secs(60), 2));
        assert!(said(&history, &policy, "a").position().is_some());
        assert!(said(&history, &policy, "b").position().is_some());
        assert!(said(&history, &policy, "c").position().is_none(), "a third topic is over the cap");
        assert!(said(&history, &policy, "a").position().is_some(), "topics under the cap go on");
        assert_eq!(history.held().0, 2);
        let from = Position { epoch: history.epoch.clone(), offset: Offset(0, 0) };
        assert_eq!(
            history.recover(&policy, "c", Some(&from)).recovered,
            Some(true),
            "nothing was kept, nothing lost"
        );
    }

    #[test]
    fn epochs_are_short_and_differ_between_starts() {
        let (first, second) = (new_epoch(), new_epoch());
        assert_eq!(first.len(), 10);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()), "no '/' (the Phoenix ref slot splits on it)");
        assert_ne!(first, second);
    }
}
