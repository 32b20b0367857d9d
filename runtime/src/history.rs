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
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Config;
use crate::pubsub::{Broadcast, Registry};
use crate::topic_pattern::TopicPattern;

/// An offset within an epoch: `(n, 0)` in memory, a Redis stream id `ms-seq`
/// with Redis; written `a-b`, ordered by both numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u64, pub u64);

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

impl Offset {
    /// Reads `a-b` (or `a`).
    ///
    /// ```
    /// use maze::history::Offset;
    /// assert_eq!(Offset::parse("1700000000000-3"), Some(Offset(1700000000000, 3)));
    /// assert!(Offset(9, 0) < Offset(10, 0));
    /// ```
    pub fn parse(text: &str) -> Option<Offset> {
        let (a, b) = text.split_once('-').unwrap_or((text, "0"));
        Some(Offset(a.parse().ok()?, b.parse().ok()?))
    }
}

/// Where a broadcast stands in its topic's history.
///
/// ```
/// use maze::history::{Offset, Position};
/// let position = Position { epoch: "e1".into(), offset: Offset(7, 0) };
/// assert_eq!(position.to_json(), serde_json::json!({"epoch": "e1", "offset": "7-0"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Changes when the history starts again (with nothing kept).
    pub epoch: Arc<str>,
    /// Grows with each broadcast on the topic.
    pub offset: Offset,
}

impl Position {
    /// `{"epoch": ..., "offset": ...}`, as clients send it back.
    pub fn to_json(&self) -> Value {
        json!({"epoch": &*self.epoch, "offset": self.offset.to_string()})
    }

    /// Reads what [`Position::to_json`] writes.
    ///
    /// ```
    /// # use maze::history::{Offset, Position};
    /// let position = Position::from_json(&serde_json::json!({"epoch": "e1", "offset": "7-0"})).unwrap();
    /// assert_eq!(position.offset, Offset(7, 0));
    /// ```
    pub fn from_json(value: &Value) -> Option<Position> {
        Some(Position {
            epoch: value["epoch"].as_str()?.into(),
            offset: Offset::parse(value["offset"].as_str()?)?,
        })
    }
}

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
        Ok(Policy { size: settings.history_size, ttl: Duration::from_secs(settings.history_ttl), exclude })
    }

    /// The defaults of `[websockets]`: what a hub made without a config keeps.
    pub(crate) fn default_settings() -> Policy {
        let defaults = crate::config::WebSocketsConfig::default();
        Policy {
            size: defaults.history_size,
            ttl: Duration::from_secs(defaults.history_ttl),
            exclude: Vec::new(),
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

/// This instance's history, in memory: a ring per topic.
pub(crate) struct MemoryHistory {
    epoch: Arc<str>,
    topics: Mutex<HashMap<String, Ring>>,
}

#[derive(Default)]
struct Ring {
    /// The last offset given.
    last: u64,
    entries: VecDeque<(Instant, Arc<Broadcast>)>,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        MemoryHistory { epoch: new_epoch(), topics: Mutex::default() }
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
        local: &Registry,
        deliver: impl FnOnce(Arc<Broadcast>, &Registry),
    ) {
        let _recorded = self.record_all(policy, std::slice::from_ref(&broadcast));
        deliver(broadcast, local);
    }

    /// Gives each of `broadcasts` the next position of its topic and keeps
    /// it; deliver them while holding what this returns, so that positions
    /// and delivery order agree.
    pub(crate) fn record_all<'a>(
        &'a self,
        policy: &Policy,
        broadcasts: &[Arc<Broadcast>],
    ) -> impl Sized + 'a {
        let mut topics = self.topics.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        for broadcast in broadcasts.iter().filter(|broadcast| policy.keeps(&broadcast.topic)) {
            let ring = topics.entry(broadcast.topic.clone()).or_default();
            ring.last += 1;
            let _ =
                broadcast.position.set(Position { epoch: self.epoch.clone(), offset: Offset(ring.last, 0) });
            ring.entries.push_back((now, broadcast.clone()));
            while ring.entries.len() > policy.size
                || ring.entries.front().is_some_and(|(at, _)| now.duration_since(*at) > policy.ttl)
            {
                ring.entries.pop_front();
            }
        }
        topics
    }

    /// What a client at `from` missed on `topic` (see [`Recovery`]).
    pub(crate) fn recover(&self, policy: &Policy, topic: &str, from: Option<&Position>) -> Recovery {
        let mut topics = self.topics.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ring = topics.entry(topic.to_string()).or_default();
        let now = Instant::now();
        while ring.entries.front().is_some_and(|(at, _)| now.duration_since(*at) > policy.ttl) {
            ring.entries.pop_front();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_short_and_differ_between_starts() {
        let (first, second) = (new_epoch(), new_epoch());
        assert_eq!(first.len(), 10);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()), "no '/' (the Phoenix ref slot splits on it)");
        assert_ne!(first, second);
    }
}
