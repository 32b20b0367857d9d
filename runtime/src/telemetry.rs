//! What the runtime tells an operator, one function per thing that happens:
//! a `tracing` event (target `maze`, printed when `RUST_LOG` asks, e.g.
//! `RUST_LOG=maze=debug`) and, with the `metrics` feature and a `[metrics]`
//! path in maze.toml, a Prometheus metric. Each event has one name and one
//! set of labels, defined here. Labels are bounded (socket and channel
//! types, reasons): never a topic, a param or a token.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Increments a counter (with the `metrics` feature).
macro_rules! count {
    ($name:literal $(, $key:literal => $value:expr)* $(,)?) => {
        #[cfg(feature = "metrics")]
        record(|| metrics::counter!($name $(, $key => $value)*).increment(1));
    };
}

/// Runs `metric` against the current hub's recorder (see [`crate::hub`]),
/// if it keeps metrics: each app's are its own, and none is global.
#[cfg(feature = "metrics")]
fn record(metric: impl FnOnce()) {
    let Some(current_recorder) = CURRENT_RECORDER.get() else { return };
    let mut metric = Some(metric);
    current_recorder(&mut |recorder| {
        if let Some(metric) = metric.take() {
            metrics::with_local_recorder(recorder, metric);
        }
    });
}

/// How telemetry finds the current hub's recorder: given by the hub module,
/// which knows what is current, when the first hub is made (telemetry sits
/// below the hub and does not name it).
#[cfg(feature = "metrics")]
pub(crate) type RecorderLookup = fn(&mut dyn FnMut(&metrics_exporter_prometheus::PrometheusRecorder));

#[cfg(feature = "metrics")]
pub(crate) static CURRENT_RECORDER: std::sync::OnceLock<RecorderLookup> = std::sync::OnceLock::new();

/// What the dashboard shows of one hub, counted as things happen: kept only
/// by the hub of an app with a `[dashboard]`.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) connections: Padded<AtomicI64>,
    pub(crate) joins: Padded<AtomicU64>,
    pub(crate) messages_in: Padded<AtomicU64>,
    pub(crate) messages_out: Padded<AtomicU64>,
    /// The last refusals, contained panics, slow-consumer closes and limits
    /// hit, newest last: what happened and its reason, never a payload, a
    /// param or a token.
    pub(crate) recent: Mutex<VecDeque<Notable>>,
}

/// A counter on a cache line of its own: the connections' threads add to
/// each, and none slows the others down.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One of [`Stats::recent`].
#[derive(Clone, Debug)]
pub(crate) struct Notable {
    pub(crate) at: SystemTime,
    pub(crate) what: &'static str,
    pub(crate) detail: String,
}

/// How many [`Notable`]s a hub keeps.
const RECENT: usize = 50;

impl Stats {
    fn note(&self, what: &'static str, detail: String) {
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(Notable { at: SystemTime::now(), what, detail });
    }
}

/// How telemetry finds the current hub's [`Stats`], given by the hub module
/// once a hub keeps them: until then (no dashboard), counting is one load.
pub(crate) type StatsLookup = fn(&mut dyn FnMut(&Stats));

pub(crate) static CURRENT_STATS: OnceLock<StatsLookup> = OnceLock::new();

/// Runs `count` on the current hub's stats, if it keeps them.
fn tally(count: impl FnOnce(&Stats)) {
    let Some(current_stats) = CURRENT_STATS.get() else { return };
    let mut count = Some(count);
    current_stats(&mut |stats| {
        if let Some(count) = count.take() {
            count(stats);
        }
    });
}

pub(crate) fn connect_accepted(socket: &'static str) {
    tracing::info!(target: "maze", socket, "connect accepted");
    count!("maze_connects_total", "socket" => socket);
    tally(|stats| {
        stats.connections.fetch_add(1, Ordering::Relaxed);
    });
    #[cfg(feature = "metrics")]
    record(|| metrics::gauge!("maze_connections_open").increment(1.0));
}

/// `reason`: `panic`, `origin`, `version` (`on_connect`'s own refusals:
/// [`connect_refused_by_socket`]).
pub(crate) fn connect_refused(socket: &'static str, reason: &'static str) {
    tracing::info!(target: "maze", socket, reason, "connect refused");
    count!("maze_connects_refused_total", "socket" => socket, "reason" => reason);
    tally(|stats| stats.note("connect refused", format!("{socket}: {reason}")));
}

/// `on_connect` returned false, saying `detail` (its own words, in the log
/// only: a metric's labels stay bounded).
pub(crate) fn connect_refused_by_socket(socket: &'static str, detail: &str) {
    tracing::info!(target: "maze", socket, reason = "on_connect", detail, "connect refused");
    count!("maze_connects_refused_total", "socket" => socket, "reason" => "on_connect");
    tally(|stats| stats.note("connect refused", format!("{socket}: {detail}")));
}

/// An accepted connection ended, with `closing` (none: the client closed).
pub(crate) fn disconnected(socket: &'static str, closing: Option<(u16, &'static str)>) {
    let (code, reason) = closing.unwrap_or((1000, "closed by the client"));
    tracing::info!(target: "maze", socket, code, reason, "disconnected");
    tally(|stats| {
        stats.connections.fetch_sub(1, Ordering::Relaxed);
        if code == 1013 {
            stats.note("slow consumer closed", format!("{socket}: its outbound queue was full"));
        }
    });
    #[cfg(feature = "metrics")]
    record(|| metrics::gauge!("maze_connections_open").decrement(1.0));
    match code {
        1013 => {
            tracing::warn!(target: "maze", socket, "slow consumer closed: its outbound queue was full");
            count!("maze_slow_consumer_closes_total");
        }
        1009 => limit_hit("max_message_size"),
        _ => {}
    }
}

/// A channel callback ran: `callback` is `join`, `message`, `leave`,
/// `on_connect` or `on_disconnect`; `channel` the channel (or socket) type.
pub(crate) fn callback(callback: &'static str, channel: &'static str, took: Duration) {
    tracing::debug!(target: "maze", callback, channel, took_us = took.as_micros() as u64, "callback");
    #[cfg(feature = "metrics")]
    record(|| {
        metrics::histogram!("maze_callback_duration_seconds", "callback" => callback, "channel" => channel)
            .record(took.as_secs_f64())
    });
}

pub(crate) fn joined(channel: &'static str) {
    tracing::info!(target: "maze", channel, "joined");
    count!("maze_joins_total", "channel" => channel);
    tally(|stats| {
        stats.joins.fetch_add(1, Ordering::Relaxed);
    });
}

pub(crate) fn join_refused(channel: &'static str, reason: &str) {
    tracing::info!(target: "maze", channel, reason, "join refused");
    count!("maze_joins_refused_total", "channel" => channel);
    tally(|stats| stats.note("join refused", format!("{channel}: {reason}")));
}

pub(crate) fn left(channel: &'static str) {
    tracing::info!(target: "maze", channel, "left");
    count!("maze_leaves_total", "channel" => channel);
}

/// A frame from a client.
pub(crate) fn message_in() {
    count!("maze_messages_in_total");
    tally(|stats| {
        stats.messages_in.fetch_add(1, Ordering::Relaxed);
    });
}

/// Frames written to a client, in one batch.
pub(crate) fn messages_out(frames: usize) {
    #[cfg(feature = "metrics")]
    record(|| metrics::counter!("maze_messages_out_total").increment(frames as u64));
    tally(|stats| {
        stats.messages_out.fetch_add(frames as u64, Ordering::Relaxed);
    });
}

/// A broadcast reached `reached` subscribers on this instance.
pub(crate) fn broadcast(reached: usize) {
    tracing::trace!(target: "maze", reached, "broadcast");
    count!("maze_broadcasts_total");
}

/// `limit`: `max_channels`, `max_message_size`.
pub(crate) fn limit_hit(limit: &'static str) {
    tracing::warn!(target: "maze", limit, "limit hit");
    count!("maze_limit_hits_total", "limit" => limit);
    tally(|stats| stats.note("limit hit", limit.to_string()));
}

/// A panic in a callback was contained (the panic hook printed it).
pub(crate) fn panic_contained(callback: &'static str, channel: &'static str) {
    tracing::error!(target: "maze", callback, channel, "panic contained");
    count!("maze_panics_total", "callback" => callback);
    tally(|stats| stats.note("panic contained", format!("{channel}::{callback}")));
}

#[cfg(feature = "redis")]
pub(crate) fn redis_lost(error: &str) {
    tracing::warn!(target: "maze", error, "lost the Redis connection; local delivery goes on, reconnecting");
    count!("maze_redis_disconnects_total");
}

#[cfg(feature = "redis")]
pub(crate) fn redis_reconnected(topics: usize) {
    // A warning, as the loss was: who saw one sees the other.
    tracing::warn!(target: "maze", topics, "reconnected to Redis and resubscribed");
    count!("maze_redis_reconnects_total");
}

#[cfg(feature = "redis")]
pub(crate) fn redis_publish_dropped() {
    count!("maze_redis_publish_errors_total");
}

/// Installs a tracing subscriber printing to stderr, unless the app
/// installed one of its own: what `RUST_LOG` asks for, else maze's warnings
/// (Redis lost, slow consumers, a missing session secret).
/// `RUST_LOG` takes `target=level` directives and bare levels, comma-separated
/// (`maze=debug,tower_http=info`); not env-filter's span and field filters.
pub(crate) fn init_from_env() {
    use tracing_subscriber::layer::SubscriberExt;
    let default: tracing_subscriber::filter::Targets = "maze=warn".parse().expect("a valid filter");
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => directives.parse().unwrap_or_else(|error| {
            eprintln!("maze: RUST_LOG={directives:?} is not understood ({error}): showing maze's warnings");
            default
        }),
        Err(_) => default,
    };
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter);
    let _ = tracing::subscriber::set_global_default(subscriber);
}
