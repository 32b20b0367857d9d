//! The presence tracker: each hub's, replicating its instance's presences
//! to the others through pub/sub. What it does for users is in the public
//! [`crate::presence`] module's documentation.

use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::pubsub::{Broadcast, Outgoing, PubSub, Subscriber, mailbox};

/// The internal topic instances replicate presence on. It starts with a
/// control character: no client can join it.
const REPLICATION_TOPIC: &str = "\u{1}presence";
/// How often pending changes go out, to clients and to other instances.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// An instance not heard from for this long is considered gone.
const NODE_TIMEOUT: Duration = Duration::from_secs(3);

/// Metas by key, in order: one topic's presences on one instance.
type Keys = HashMap<String, Vec<Value>>;
/// Presences by topic.
type Topics = HashMap<String, Keys>;

/// A hub's tracker: this instance's presences and its replicas of the others'.
pub(crate) struct Tracker {
    node: String,
    next_ref: AtomicU64,
    state: Mutex<State>,
    /// The background task (flushes, heartbeats, expiry, what other
    /// instances send), started at the first track.
    task: Mutex<Option<Running>>,
}

/// The tracker's background task, and its subscription to the replication topic.
struct Running {
    task: tokio::task::AbortHandle,
    subscriber: u64,
}

#[derive(Default)]
struct State {
    local: Topics,
    /// The refs each connection tracks on each topic, for untracking it.
    owners: HashMap<(u64, String), Vec<(String, String)>>,
    remotes: HashMap<String, Remote>,
    /// Changes not yet sent to this instance's clients, by topic.
    diffs: HashMap<String, Diff>,
    /// Changes not yet sent to other instances.
    outbound: Vec<Value>,
    /// Clients waiting for a topic's `presence_state`: built once per topic
    /// per flush and shared, however many joined meanwhile.
    state_wanted: HashMap<String, Vec<Subscriber>>,
    /// The sequence number of the last delta sent.
    seq: u64,
}

struct Remote {
    seq: u64,
    last_seen: Instant,
    topics: Topics,
}

#[derive(Default)]
struct Diff {
    joins: Keys,
    leaves: Keys,
}

impl Diff {
    /// Clients apply a diff's joins before its leaves (and may hold any
    /// list taken since the last diff: `presence_state`, [`list`]). So a
    /// presence that leaves and comes back within one diff (an instance
    /// dropped, then heard again) must not be in its leaves; one that joins
    /// and leaves is in both, and ends up gone whatever list a client holds.
    fn join(&mut self, key: &str, meta: Value) {
        if let Some(metas) = self.leaves.get_mut(key) {
            metas.retain(|left| left["phx_ref"] != meta["phx_ref"]);
            if metas.is_empty() {
                self.leaves.remove(key);
            }
        }
        self.joins.entry(key.into()).or_default().push(meta);
    }
}

impl Tracker {
    /// A tracker, its node named uniquely among the instances (the start
    /// time and the process id). Its task starts with [`Tracker::ensure_running`].
    pub(crate) fn new() -> Tracker {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let node = format!("{:x}-{:x}", now.as_nanos(), std::process::id());
        Tracker::named(node)
    }

    fn named(node: String) -> Tracker {
        Tracker { node, next_ref: AtomicU64::new(1), state: Mutex::default(), task: Mutex::new(None) }
    }

    /// Starts the background task of this tracker (the one of `home`, its
    /// hub, whose pub/sub is `pubsub`) on the current runtime, unless it
    /// runs: again if the runtime it ran on is gone (a test's). It stops
    /// when the hub is dropped.
    pub(crate) fn ensure_running(&self, pubsub: &PubSub, home: impl Home) {
        let mut task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if task.as_ref().is_some_and(|running| !running.task.is_finished()) {
            return;
        }
        if let Some(stale) = task.take() {
            pubsub.unsubscribe(REPLICATION_TOPIC, stale.subscriber);
        }
        let (queue, received) = mailbox::bounded(4096);
        let subscriber = crate::pubsub::next_id();
        pubsub.subscribe(REPLICATION_TOPIC, Subscriber::new(subscriber, queue));
        let spawned = tokio::spawn(run(home, received));
        *task = Some(Running { task: spawned.abort_handle(), subscriber });
        drop(task);
        self.send(pubsub, "state_request", json!({}));
    }

    /// Whether the background task runs (for tests).
    #[cfg(test)]
    pub(crate) fn running(&self) -> Option<tokio::task::AbortHandle> {
        self.task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map(|running| running.task.clone())
    }

    /// Stops the background task (the hub is dropped).
    pub(crate) fn stop(&self) {
        if let Some(running) = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            running.task.abort();
        }
    }

    /// Each topic with presences, from every instance, with its keys and
    /// how many metas (a user's tabs) each has.
    pub(crate) fn keys_by_topic(&self) -> Vec<(String, Vec<(String, usize)>)> {
        let state = self.state();
        let mut topics: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>> =
            Default::default();
        let sources =
            std::iter::once(&state.local).chain(state.remotes.values().map(|remote| &remote.topics));
        for source in sources {
            for (topic, keys) in source {
                let counted = topics.entry(topic.clone()).or_default();
                for (key, metas) in keys {
                    *counted.entry(key.clone()).or_default() += metas.len();
                }
            }
        }
        topics.into_iter().map(|(topic, keys)| (topic, keys.into_iter().collect())).collect()
    }

    /// The presences on `topic`, from every instance.
    pub(crate) fn list(&self, topic: &str) -> Value {
        self.state().list(topic)
    }

    /// Sends `client` the presences of `topic` at the next flush (with whoever
    /// else asked meanwhile: the state is encoded once).
    pub(crate) fn send_state(&self, topic: &str, client: Subscriber) {
        self.state().state_wanted.entry(topic.to_string()).or_default().push(client);
    }

    /// Whatever `conn` tracks on `topic`, untracked as it leaves the topic;
    /// nothing to do (not even a lock) on a hub that never tracked.
    pub(crate) fn release(&self, conn: u64, topic: &str) {
        if self.next_ref.load(Ordering::Relaxed) > 1 {
            self.untrack(conn, topic, None);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes a replication message to every instance.
    fn send(&self, pubsub: &PubSub, kind: &str, mut body: Value) {
        body["node"] = json!(self.node);
        pubsub.publish(Broadcast::new(REPLICATION_TOPIC, kind, body));
    }

    /// Tracks connection `conn` on `topic` under `key`; true when the key
    /// had no presence on the topic before.
    pub(crate) fn track(&self, conn: u64, topic: &str, key: &str, meta: Value) -> bool {
        let phx_ref = format!("{}-{}", self.node, self.next_ref.fetch_add(1, Ordering::Relaxed));
        let mut meta = match meta {
            Value::Object(fields) => fields,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_string(), other)]),
        };
        meta.insert("phx_ref".into(), json!(phx_ref));
        let meta = Value::Object(meta);
        let mut state = self.state();
        let first = state.count(topic, key) == 0;
        add_meta(&mut state.local, topic, key, meta.clone());
        state.owners.entry((conn, topic.into())).or_default().push((key.into(), phx_ref));
        state.joined(topic, key, meta.clone());
        state.outbound.push(json!({"join": [topic, key, meta]}));
        first
    }

    /// Untracks what `conn` tracks under `key` on `topic` (every key if
    /// `None`); true when a key it held has no presence left on the topic.
    pub(crate) fn untrack(&self, conn: u64, topic: &str, key: Option<&str>) -> bool {
        let mut state = self.state();
        let owned = state.owners.remove(&(conn, topic.to_string())).unwrap_or_default();
        let (gone, kept): (Vec<_>, Vec<_>) =
            owned.into_iter().partition(|(k, _)| key.is_none_or(|key| key == k));
        if !kept.is_empty() {
            state.owners.insert((conn, topic.to_string()), kept);
        }
        let mut emptied = false;
        for (key, phx_ref) in gone {
            let Some(meta) = remove_ref(&mut state.local, topic, &key, &phx_ref) else { continue };
            state.left(topic, &key, meta);
            state.outbound.push(json!({"leave": [topic, key, phx_ref]}));
            emptied |= state.count(topic, &key) == 0;
        }
        emptied
    }

    /// Sends what changed since the last flush: diffs to this instance's
    /// clients, one delta to the other instances.
    fn flush(&self, pubsub: &PubSub) {
        let Pending { states, diffs, delta } = self.state().take_pending();
        if let Some(delta) = delta {
            self.send(pubsub, "delta", delta);
        }
        // The state first: a client applies the diffs it gets before its
        // state after it, in order, so either order converges; this one
        // spares it the buffering.
        for (state, clients) in states {
            for client in clients {
                client.offer(Outgoing::Broadcast(state.clone()));
            }
        }
        let registry = pubsub.registry();
        for (topic, diff) in diffs {
            let payload = json!({"joins": phoenix_shape(diff.joins), "leaves": phoenix_shape(diff.leaves)});
            registry.deliver(Arc::new(Broadcast::new(&topic, "presence_diff", payload)));
        }
    }

    /// Drops the instances not heard from within [`NODE_TIMEOUT`]: their users leave.
    fn expire(&self) {
        let mut state = self.state();
        let gone: Vec<String> = state
            .remotes
            .iter()
            .filter(|(_, remote)| remote.last_seen.elapsed() > NODE_TIMEOUT)
            .map(|(node, _)| node.clone())
            .collect();
        for node in gone {
            let remote = state.remotes.remove(&node).expect("listed above");
            state.replace_remote_topics(remote.topics, Topics::new());
        }
    }

    /// A replication message from an instance (this one's own are ignored);
    /// returns what to send the others in answer, in order.
    fn receive(&self, message: &Broadcast) -> Vec<(&'static str, Value)> {
        let body = &message.payload;
        let Some(node) = body["node"].as_str().filter(|node| *node != self.node) else { return Vec::new() };
        let seq = body["seq"].as_u64().unwrap_or(0);
        let mut state = self.state();
        let known = state.remotes.get_mut(node).map(|remote| {
            remote.last_seen = Instant::now();
            remote.seq
        });
        let mut ask = false;
        match message.subject.as_str() {
            "heartbeat" => ask = known.is_none_or(|known| known < seq),
            "delta" => match known {
                Some(known) if seq == known + 1 => state.apply_delta(node, seq, &body["ops"]),
                Some(known) if seq <= known => {}
                _ => ask = true,
            },
            "state" if body["to"].as_str().is_none_or(|to| to == self.node) => {
                let topics = topics_from_entries(&body["entries"]);
                let old = state.remotes.remove(node).map(|remote| remote.topics).unwrap_or_default();
                state.replace_remote_topics(old, topics.clone());
                state.remotes.insert(node.to_string(), Remote { seq, last_seen: Instant::now(), topics });
            }
            "state_request" => {
                // The state is this instance's presences after its delta
                // `seq`; changes not yet sent go out first as that delta,
                // or the asker would apply them twice (state, then delta).
                let delta = state.take_delta();
                let reply = json!({"seq": state.seq, "to": node, "entries": state.local_entries()});
                return delta.map(|delta| ("delta", delta)).into_iter().chain([("state", reply)]).collect();
            }
            _ => {}
        }
        if ask { vec![("state_request", json!({"from": node}))] } else { Vec::new() }
    }
}

/// What a flush sends.
struct Pending {
    /// Each `presence_state` asked for, with the clients it goes to.
    states: Vec<(Arc<Broadcast>, Vec<Subscriber>)>,
    /// Diffs for this instance's clients, by topic.
    diffs: HashMap<String, Diff>,
    /// Changes for the other instances.
    delta: Option<Value>,
}

impl State {
    /// What has to go out now, taken.
    fn take_pending(&mut self) -> Pending {
        let wanted = std::mem::take(&mut self.state_wanted);
        let states = wanted
            .into_iter()
            .map(|(topic, clients)| {
                let list = self.list(&topic);
                (Arc::new(Broadcast::new(&topic, "presence_state", list)), clients)
            })
            .collect();
        Pending { states, diffs: std::mem::take(&mut self.diffs), delta: self.take_delta() }
    }

    /// The changes not yet sent to other instances, as the next delta.
    fn take_delta(&mut self) -> Option<Value> {
        if self.outbound.is_empty() {
            return None;
        }
        self.seq += 1;
        Some(json!({"seq": self.seq, "ops": std::mem::take(&mut self.outbound)}))
    }

    /// How many metas `key` has on `topic`, on every instance.
    fn count(&self, topic: &str, key: &str) -> usize {
        let local = self.local.get(topic).and_then(|keys| keys.get(key)).map_or(0, Vec::len);
        let remote: usize = self
            .remotes
            .values()
            .filter_map(|remote| remote.topics.get(topic).and_then(|keys| keys.get(key)))
            .map(Vec::len)
            .sum();
        local + remote
    }

    fn list(&self, topic: &str) -> Value {
        let mut merged = Keys::new();
        let sources = std::iter::once(&self.local).chain(self.remotes.values().map(|remote| &remote.topics));
        for topics in sources {
            for (key, metas) in topics.get(topic).into_iter().flatten() {
                merged.entry(key.clone()).or_default().extend(metas.iter().cloned());
            }
        }
        phoenix_shape(merged)
    }

    fn apply_delta(&mut self, node: &str, seq: u64, ops: &Value) {
        let Some(mut remote) = self.remotes.remove(node) else { return };
        for op in ops.as_array().into_iter().flatten() {
            if let Some([topic, key, meta]) = op["join"].as_array().map(Vec::as_slice) {
                let (Some(topic), Some(key)) = (topic.as_str(), key.as_str()) else { continue };
                add_meta(&mut remote.topics, topic, key, meta.clone());
                self.joined(topic, key, meta.clone());
            } else if let Some([topic, key, phx_ref]) = op["leave"].as_array().map(Vec::as_slice) {
                let (Some(topic), Some(key), Some(phx_ref)) =
                    (topic.as_str(), key.as_str(), phx_ref.as_str())
                else {
                    continue;
                };
                if let Some(meta) = remove_ref(&mut remote.topics, topic, key, phx_ref) {
                    self.left(topic, key, meta);
                }
            }
        }
        remote.seq = seq;
        self.remotes.insert(node.to_string(), remote);
    }

    /// Diffs for this instance's clients, as one instance's presences go from `old` to `new`.
    fn replace_remote_topics(&mut self, old: Topics, new: Topics) {
        let refs = |topics: &Topics| -> Vec<(String, String, Value)> {
            let mut all = Vec::new();
            for (topic, keys) in topics {
                for (key, metas) in keys {
                    all.extend(metas.iter().map(|meta| (topic.clone(), key.clone(), meta.clone())));
                }
            }
            all
        };
        let (old, new) = (refs(&old), refs(&new));
        let phx_refs = |list: &[(String, String, Value)]| -> HashSet<String> {
            list.iter().filter_map(|(_, _, meta)| meta["phx_ref"].as_str().map(str::to_string)).collect()
        };
        let (old_refs, new_refs) = (phx_refs(&old), phx_refs(&new));
        let has =
            |refs: &HashSet<String>, meta: &Value| meta["phx_ref"].as_str().is_some_and(|r| refs.contains(r));
        for (topic, key, meta) in &old {
            if !has(&new_refs, meta) {
                self.left(topic, key, meta.clone());
            }
        }
        for (topic, key, meta) in &new {
            if !has(&old_refs, meta) {
                self.joined(topic, key, meta.clone());
            }
        }
    }

    /// `meta` joined `key` on `topic`: in the next diff for this instance's clients.
    fn joined(&mut self, topic: &str, key: &str, meta: Value) {
        self.diffs.entry(topic.into()).or_default().join(key, meta);
    }

    /// `meta` left `key` on `topic`: in the next diff for this instance's clients.
    fn left(&mut self, topic: &str, key: &str, meta: Value) {
        self.diffs.entry(topic.into()).or_default().leaves.entry(key.into()).or_default().push(meta);
    }

    /// This instance's presences, as `[topic, key, meta]` entries.
    fn local_entries(&self) -> Vec<Value> {
        let mut entries = Vec::new();
        for (topic, keys) in &self.local {
            for (key, metas) in keys {
                entries.extend(metas.iter().map(|meta| json!([topic, key, meta])));
            }
        }
        entries
    }
}

fn topics_from_entries(entries: &Value) -> Topics {
    let mut topics = Topics::new();
    for entry in entries.as_array().into_iter().flatten() {
        if let Some([Value::String(topic), Value::String(key), meta]) = entry.as_array().map(Vec::as_slice) {
            add_meta(&mut topics, topic, key, meta.clone());
        }
    }
    topics
}

/// Adds `meta` under `key` on `topic`.
fn add_meta(topics: &mut Topics, topic: &str, key: &str, meta: Value) {
    topics.entry(topic.into()).or_default().entry(key.into()).or_default().push(meta);
}

/// Removes the meta with `phx_ref` from `topics`, dropping emptied keys and topics.
fn remove_ref(topics: &mut Topics, topic: &str, key: &str, phx_ref: &str) -> Option<Value> {
    let keys = topics.get_mut(topic)?;
    let metas = keys.get_mut(key)?;
    let at = metas.iter().position(|meta| meta["phx_ref"] == phx_ref)?;
    let meta = metas.remove(at);
    if metas.is_empty() {
        keys.remove(key);
        if keys.is_empty() {
            topics.remove(topic);
        }
    }
    Some(meta)
}

/// `{key: {"metas": [...]}}`.
fn phoenix_shape(keys: Keys) -> Value {
    Value::Object(keys.into_iter().map(|(key, metas)| (key, json!({"metas": metas}))).collect())
}

/// What the tracker's task needs of the hub it belongs to, which it holds
/// weakly: the tracker and pub/sub to work with, with the hub current (its
/// metrics count the work).
pub(crate) trait Home: Send + 'static {
    /// Runs `work` in the hub; false, without running it, once the hub is gone.
    fn visit(&self, work: &mut dyn FnMut(&Tracker, &PubSub)) -> bool;
}

/// A hub's tracker at work: what other instances send, flushes every
/// [`FLUSH_EVERY`], heartbeats, expiry; until the hub is gone.
async fn run(home: impl Home, mut received: mailbox::Receiver<Outgoing>) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        enum Woke {
            Received(Arc<Broadcast>),
            Flush,
            Heartbeat,
        }
        let woke = tokio::select! {
            Some(Outgoing::Broadcast(message)) = received.recv() => Woke::Received(message),
            _ = flush.tick() => Woke::Flush,
            _ = heartbeat.tick() => Woke::Heartbeat,
        };
        let mut woke = Some(woke);
        let visited = home.visit(&mut |tracker, pubsub| match woke.take() {
            Some(Woke::Received(message)) => {
                for (kind, body) in tracker.receive(&message) {
                    tracker.send(pubsub, kind, body);
                }
            }
            Some(Woke::Flush) => {
                tracker.expire();
                tracker.flush(pubsub);
            }
            Some(Woke::Heartbeat) => {
                let seq = tracker.state().seq;
                tracker.send(pubsub, "heartbeat", json!({"seq": seq}));
            }
            None => {}
        });
        if !visited {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Replication between instances, with the messages another instance
    //! would send handed straight to a tracker that is not the global one.

    use super::*;

    fn tracker() -> Tracker {
        named("here")
    }

    fn named(node: &str) -> Tracker {
        Tracker::named(node.into())
    }

    /// What `from` sends, as the others receive it.
    fn sent(from: &Tracker, (kind, mut body): (&str, Value)) -> Broadcast {
        body["node"] = json!(from.node);
        message(kind, body)
    }

    fn message(kind: &str, body: Value) -> Broadcast {
        Broadcast::new(REPLICATION_TOPIC, kind, body)
    }

    fn meta(phx_ref: &str) -> Value {
        json!({"phx_ref": phx_ref, "name": "ada"})
    }

    /// Keys joined and left in the diffs pending for `topic`, then cleared.
    fn take_diff(tracker: &Tracker, topic: &str) -> (Vec<String>, Vec<String>) {
        let diff = tracker.state().diffs.remove(topic).unwrap_or_default();
        let keys = |keys: Keys| {
            let mut keys: Vec<String> = keys.into_keys().collect();
            keys.sort();
            keys
        };
        (keys(diff.joins), keys(diff.leaves))
    }

    #[test]
    fn a_full_state_then_deltas_in_order_build_the_remote_presences() {
        let tracker = tracker();
        let entries = json!([["room:1", "ada", meta("a1")]]);
        tracker.receive(&message("state", json!({"node": "there", "seq": 4, "entries": entries})));
        assert_eq!(take_diff(&tracker, "room:1"), (vec!["ada".into()], vec![]));

        let ops = json!([{"join": ["room:1", "bob", meta("b1")]}, {"leave": ["room:1", "ada", "a1"]}]);
        tracker.receive(&message("delta", json!({"node": "there", "seq": 5, "ops": ops})));
        assert_eq!(take_diff(&tracker, "room:1"), (vec!["bob".into()], vec!["ada".into()]));
        assert_eq!(tracker.state().list("room:1"), json!({"bob": {"metas": [meta("b1")]}}));

        // A delta seen twice (or late) changes nothing.
        tracker.receive(&message("delta", json!({"node": "there", "seq": 5, "ops": ops})));
        assert_eq!(take_diff(&tracker, "room:1"), (vec![], vec![]));
    }

    #[test]
    fn a_state_asked_for_while_changes_wait_to_go_out_holds_them_once() {
        let (there, here) = (named("there"), tracker());
        // Bob joins there; the change has not gone out when here asks for the state.
        there.track(1, "room:1", "bob", json!({}));
        let request = sent(&here, ("state_request", json!({})));
        for reply in there.receive(&request) {
            here.receive(&sent(&there, reply));
        }
        // Nothing there sends later repeats bob's join.
        if let Some(delta) = there.state().take_delta() {
            here.receive(&sent(&there, ("delta", delta)));
        }
        assert_eq!(here.state().count("room:1", "bob"), 1);

        // So when bob leaves, no ghost stays behind.
        there.untrack(1, "room:1", None);
        let delta = there.state().take_delta().expect("bob's leave");
        here.receive(&sent(&there, ("delta", delta)));
        assert_eq!(here.state().list("room:1"), json!({}));
    }

    #[test]
    fn a_gap_in_the_sequence_is_not_applied() {
        let tracker = tracker();
        tracker.receive(&message("state", json!({"node": "there", "seq": 1, "entries": []})));
        let ops = json!([{"join": ["room:1", "bob", meta("b1")]}]);
        tracker.receive(&message("delta", json!({"node": "there", "seq": 3, "ops": ops})));
        // Missing delta 2: the full state is asked for instead.
        assert_eq!(tracker.state().list("room:1"), json!({}));
    }

    #[test]
    fn a_new_state_replaces_the_old_one_with_the_difference_as_diffs() {
        let tracker = tracker();
        let before = json!([["room:1", "ada", meta("a1")], ["room:1", "bob", meta("b1")]]);
        tracker.receive(&message("state", json!({"node": "there", "seq": 1, "entries": before})));
        take_diff(&tracker, "room:1");
        let after = json!([["room:1", "bob", meta("b1")], ["room:1", "cy", meta("c1")]]);
        tracker.receive(&message("state", json!({"node": "there", "seq": 9, "entries": after})));
        assert_eq!(take_diff(&tracker, "room:1"), (vec!["cy".into()], vec!["ada".into()]));
    }

    #[test]
    fn a_silent_instance_expires_and_its_users_leave() {
        // The promise to users: those of a killed instance leave everywhere within 5 s.
        assert!(NODE_TIMEOUT + FLUSH_EVERY < Duration::from_secs(5));
        let tracker = tracker();
        let entries = json!([["room:1", "ada", meta("a1")]]);
        tracker.receive(&message("state", json!({"node": "there", "seq": 1, "entries": entries})));
        take_diff(&tracker, "room:1");
        tracker.expire();
        assert_eq!(tracker.state().remotes.len(), 1, "heard from just now");
        tracker.state().remotes.get_mut("there").unwrap().last_seen -=
            NODE_TIMEOUT + Duration::from_millis(1);
        tracker.expire();
        assert_eq!(take_diff(&tracker, "room:1"), (vec![], vec!["ada".into()]));
        assert_eq!(tracker.state().list("room:1"), json!({}));
    }

    #[test]
    fn this_instances_own_messages_are_ignored() {
        let tracker = tracker();
        let entries = json!([["room:1", "ada", meta("a1")]]);
        tracker.receive(&message("state", json!({"node": "here", "seq": 1, "entries": entries})));
        assert!(tracker.state().remotes.is_empty());
    }

    /// Two instances exchanging replication messages in any order Redis
    /// allows (each instance's messages in the order it sent them), flushing
    /// and heart-beating at any time, now and then cut off from each other
    /// (what was on its way lost): once everything sent has arrived, each
    /// holds exactly what the other owns, and a client of the first that
    /// took its list at any time and applied the diffs after it sees what
    /// that instance lists.
    mod replication {
        use super::*;
        use proptest::prelude::*;
        use std::collections::{BTreeMap, VecDeque};

        #[derive(Debug, Clone)]
        enum Step {
            Track {
                node: usize,
                conn: u64,
                key: u8,
            },
            Untrack {
                node: usize,
                conn: u64,
            },
            Flush(usize),
            Heartbeat(usize),
            Deliver(usize),
            /// The instance is cut off from Redis long enough to drop the
            /// other: what was on its way to it is lost.
            CutOff(usize),
            /// The first instance's client is handed its list (a
            /// `presence_state`, or a channel pushing [`list`]).
            Snapshot,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                (0..2usize, 0..4u64, 0..2u8).prop_map(|(node, conn, key)| Step::Track { node, conn, key }),
                (0..2usize, 0..4u64).prop_map(|(node, conn)| Step::Untrack { node, conn }),
                (0..2usize).prop_map(Step::Flush),
                (0..2usize).prop_map(Step::Heartbeat),
                // Twice as likely: messages arrive more often than anything else happens.
                (0..2usize).prop_map(Step::Deliver),
                (0..2usize).prop_map(Step::Deliver),
                (0..2usize).prop_map(Step::CutOff),
                Just(Step::Snapshot),
            ]
        }

        /// Refs by key, as a client holds them.
        type View = BTreeMap<String, Vec<String>>;

        fn refs(list: &Value) -> View {
            let mut view = View::new();
            for (key, presence) in list.as_object().into_iter().flatten() {
                for meta in presence["metas"].as_array().into_iter().flatten() {
                    view.entry(key.clone()).or_default().push(meta["phx_ref"].as_str().unwrap().into());
                }
            }
            view.values_mut().for_each(|refs| refs.sort());
            view
        }

        /// Applies a diff as the `phoenix` client's `Presence.syncDiff` does: by ref.
        fn apply(view: &mut View, diff: Diff) {
            for (key, metas) in diff.joins {
                let held = view.entry(key).or_default();
                for meta in metas {
                    let phx_ref = meta["phx_ref"].as_str().unwrap().to_string();
                    if !held.contains(&phx_ref) {
                        held.push(phx_ref);
                    }
                }
            }
            for (key, metas) in diff.leaves {
                let held = view.entry(key).or_default();
                held.retain(|r| metas.iter().all(|meta| meta["phx_ref"] != r.as_str()));
            }
            view.retain(|_, refs| !refs.is_empty());
            view.values_mut().for_each(|refs| refs.sort());
        }

        struct Cluster {
            nodes: [Tracker; 2],
            /// What each instance has yet to receive, in the order sent.
            inboxes: [VecDeque<Broadcast>; 2],
            /// The presences the first instance's client holds.
            client: View,
        }

        impl Cluster {
            fn new() -> Cluster {
                let nodes = [named("one"), named("two")];
                // Each asks for the other's state as it starts.
                let inboxes =
                    [0, 1].map(|to| VecDeque::from([sent(&nodes[1 - to], ("state_request", json!({})))]));
                Cluster { nodes, inboxes, client: View::new() }
            }

            fn send(&mut self, from: usize, message: (&'static str, Value)) {
                let message = sent(&self.nodes[from], message);
                self.inboxes[1 - from].push_back(message);
            }

            fn run(&mut self, step: Step) {
                match step {
                    Step::Track { node, conn, key } => {
                        self.nodes[node].track(conn, "room:1", &format!("user:{key}"), json!({}));
                    }
                    Step::Untrack { node, conn } => {
                        self.nodes[node].untrack(conn, "room:1", None);
                    }
                    Step::Flush(node) => {
                        let Pending { diffs, delta, .. } = self.nodes[node].state().take_pending();
                        if let Some(delta) = delta {
                            self.send(node, ("delta", delta));
                        }
                        if node == 0 {
                            diffs.into_values().for_each(|diff| apply(&mut self.client, diff));
                        }
                    }
                    Step::Heartbeat(node) => {
                        let seq = self.nodes[node].state().seq;
                        self.send(node, ("heartbeat", json!({"seq": seq})));
                    }
                    Step::Deliver(node) => {
                        if let Some(message) = self.inboxes[node].pop_front() {
                            for reply in self.nodes[node].receive(&message) {
                                self.send(node, reply);
                            }
                        }
                    }
                    Step::CutOff(node) => {
                        self.inboxes[node].clear();
                        for remote in self.nodes[node].state().remotes.values_mut() {
                            remote.last_seen -= NODE_TIMEOUT + Duration::from_millis(1);
                        }
                        self.nodes[node].expire();
                    }
                    Step::Snapshot => self.client = refs(&self.nodes[0].state().list("room:1")),
                }
            }

            /// Flushes, heart-beats and delivers until nothing is left to say.
            fn settle(&mut self) {
                for _ in 0..3 {
                    for node in 0..2 {
                        self.run(Step::Flush(node));
                        self.run(Step::Heartbeat(node));
                    }
                    while !self.inboxes.iter().all(VecDeque::is_empty) {
                        (0..2).for_each(|node| self.run(Step::Deliver(node)));
                    }
                }
                self.run(Step::Flush(0));
            }
        }

        proptest! {
            #[test]
            fn instances_agree_whatever_the_order(steps in prop::collection::vec(step(), 0..60)) {
                let mut cluster = Cluster::new();
                for step in steps {
                    cluster.run(step);
                }
                cluster.settle();
                let lists = cluster.nodes.each_ref().map(|node| refs(&node.state().list("room:1")));
                prop_assert_eq!(&lists[0], &lists[1], "both instances list the same presences");
                prop_assert_eq!(&cluster.client, &lists[0], "the client holds what its instance lists");
            }
        }
    }
}
