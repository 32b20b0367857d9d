//! `[dashboard]`: a page showing what the app's sockets are doing, live.
//!
//! Off unless maze.toml names a path. Who may open the page is decided as
//! for the metrics (`[metrics]`'s `allow`, `trust_loopback`, `token`); the
//! page it serves carries a signed token, which its socket's `on_connect`
//! checks. The page uses maze itself: maze.js on a socket of its own at
//! `PATH/socket`, whose one channel pushes each instance's view every
//! second. Each instance samples its hub (connections, joins and messages
//! counted by telemetry, topics with their subscribers and history, presence
//! keys, recent refusals and panics) and publishes the sample on an internal
//! topic, so with Redis every instance's page sees every instance.
//! Nothing is counted, sampled or served when the dashboard is off.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::MetricsConfig;
use crate::hub::Hub;
use crate::pubsub::{Broadcast, Outgoing, Subscriber, mailbox};
use crate::socket::{Channel, Channels, Client, Connect, Context, Socket};
use crate::{Config, Error, Routes};

/// The internal topic instances publish their samples on (a control
/// character: no client can join it).
const SAMPLES: &str = "\u{1}dashboard";
/// What the page joins on the dashboard's own socket.
const TOPIC: &str = "maze:dashboard";
/// The purpose of the page's token (see `maze::token`).
const PURPOSE: &str = "maze dashboard";
/// How long a page's token opens the socket.
const TOKEN_AGE: Duration = Duration::from_secs(12 * 60 * 60);
/// How often each instance samples.
const EVERY: Duration = Duration::from_secs(1);
/// Samples kept for the charts: five minutes.
const KEPT: usize = 300;
/// An instance not heard from for this long is dropped from the view.
const SILENT: Duration = Duration::from_secs(5);
/// Topics and presence keys shown at most.
const SHOWN: usize = 100;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("dashboard.js");

/// The dashboard's routes (the page, its script, its socket), and its
/// sampling started, when `config` has a `[dashboard]` path.
pub(crate) fn router(config: &Config, hub: &Hub) -> Result<Option<axum::Router>, Error> {
    let Some(path) = config.dashboard.path.clone() else { return Ok(None) };
    if !path.starts_with('/') || path.ends_with('/') {
        return Err(Error::config(format!(
            "[dashboard] path {path:?} must start with / and not end with one (e.g. \"/maze/dashboard\")"
        )));
    }
    let secret: Arc<str> = config
        .session
        .secret
        .as_deref()
        .ok_or_else(|| Error::config("[dashboard] needs the session secret, to sign its page's token"))?
        .into();
    let board = Arc::new(Board { viewers: Mutex::default(), instances: Mutex::default() });
    let state = DashState { secret: secret.clone(), board: board.clone() };
    let mut routes = Routes::new(Arc::new(config.clone()), hub.clone());
    routes.socket::<DashboardSocket>(&format!("{path}/socket"));
    let (sockets, _no_fallback) = routes.into_router()?;
    let access = Arc::new(config.metrics.clone());
    let socket_path = format!("{path}/socket");
    let script_path = format!("{path}/dashboard.js");
    // The page with its paths in place, once; each request adds a fresh token.
    let html: Arc<str> = PAGE.replace("{{socket}}", &socket_path).replace("{{script}}", &script_path).into();
    let page = move |request: Request| {
        let response = page(&access, &request, &secret, &html);
        async move { response }
    };
    let router = sockets
        .route(&path, axum::routing::get(page))
        .route(
            &script_path,
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], SCRIPT) }),
        )
        .with_state(state);
    start_sampling(hub, board);
    Ok(Some(router))
}

/// The page, with its token, for an allowed peer; 401 for anyone else.
fn page(access: &MetricsConfig, request: &Request, secret: &str, html: &str) -> Response {
    if !crate::access::allowed(access, request) {
        return (StatusCode::UNAUTHORIZED, "dashboard: not from an allowed address, and no valid token\n")
            .into_response();
    }
    let token = crate::token::sign(secret, PURPOSE, &"viewer");
    let page = html.replace("{{token}}", &token);
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

/// What the dashboard's socket and channel share.
#[derive(Clone)]
struct DashState {
    secret: Arc<str>,
    board: Arc<Board>,
}

/// The pages watching, and the latest sample of each instance.
struct Board {
    viewers: Mutex<Vec<Client>>,
    instances: Mutex<HashMap<String, (Instant, Value)>>,
}

impl Board {
    /// Every live instance's latest sample, by name.
    fn view(&self) -> Value {
        let mut instances = self.instances.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        instances.retain(|_, (heard, _)| heard.elapsed() < SILENT);
        let mut samples: Vec<&Value> = instances.values().map(|(_, sample)| sample).collect();
        samples.sort_by(|a, b| a["instance"].as_str().cmp(&b["instance"].as_str()));
        json!({ "instances": samples })
    }

    /// Pushes the view to every page; a page gone is forgotten.
    fn push(&self) {
        let view = self.view();
        let mut viewers = self.viewers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        viewers.retain(|viewer| viewer.push("view", view.clone()).is_ok());
    }
}

#[derive(Default)]
struct DashboardSocket;

impl Socket<DashState> for DashboardSocket {
    fn channels(channels: &mut Channels<Self, DashState>) {
        channels.add::<DashboardChannel>(TOPIC);
    }

    async fn on_connect(&mut self, conn: &Connect<DashState>) -> bool {
        let token = conn.params().get("token").unwrap_or_default();
        match crate::token::verify::<String>(&conn.state().secret, PURPOSE, token, TOKEN_AGE) {
            Ok(_) => true,
            Err(_) => conn.refuse("the dashboard needs the token its page gives: reload the page"),
        }
    }
}

#[derive(Default)]
struct DashboardChannel;

impl Channel<DashboardSocket, DashState> for DashboardChannel {
    async fn join(
        &mut self,
        ctx: &mut Context<'_, DashboardSocket, DashState>,
        _: Value,
    ) -> Result<Value, String> {
        let board = ctx.state().board.clone();
        board.viewers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(ctx.client());
        Ok(board.view())
    }
}

/// This instance's name on the page: its process and a random tag, so that
/// two instances on one machine differ.
fn instance_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let tag = std::collections::hash_map::RandomState::new().build_hasher().finish() & 0xffff;
    format!("pid {} #{tag:04x}", std::process::id())
}

/// Samples the hub every [`EVERY`], publishes the sample to every instance,
/// and pushes the view to this instance's pages when its own sample comes
/// back; until the hub is dropped.
fn start_sampling(hub: &Hub, board: Arc<Board>) {
    let (queue, mut received) = mailbox::bounded(1024);
    hub.pubsub().subscribe(SAMPLES, Subscriber::new(crate::pubsub::next_id(), queue));
    let name = instance_name();
    let weak = hub.downgrade();
    tokio::spawn(async move {
        let mut series = Series::default();
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let Some(hub) = weak.upgrade() else { return };
                    let sample = sample(&hub, &name, &mut series);
                    hub.pubsub().publish(Broadcast::new(SAMPLES, "sample", sample));
                }
                Some(item) = received.recv() => {
                    let Outgoing::Broadcast(broadcast) = item else { continue };
                    let Some(instance) = broadcast.payload["instance"].as_str() else { continue };
                    let ours = instance == name;
                    board
                        .instances
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(instance.to_string(), (Instant::now(), broadcast.payload.clone()));
                    if ours {
                        board.push();
                    }
                }
            }
        }
    });
}

/// The last [`KEPT`] seconds of the counters, for the charts.
#[derive(Default)]
struct Series {
    last: Option<[u64; 3]>,
    points: VecDeque<Value>,
}

/// One instance's view of its hub, now.
fn sample(hub: &Hub, name: &str, series: &mut Series) -> Value {
    let stats = hub.stats();
    let load = |counter: fn(&crate::telemetry::Stats) -> u64| stats.map_or(0, |s| counter(s));
    let totals = [
        load(|s| s.joins.load(Ordering::Relaxed)),
        load(|s| s.messages_in.load(Ordering::Relaxed)),
        load(|s| s.messages_out.load(Ordering::Relaxed)),
    ];
    let connections = stats.map_or(0, |s| s.connections.load(Ordering::Relaxed).max(0));
    let per_second = match series.last {
        Some(last) => [0, 1, 2].map(|i| totals[i].saturating_sub(last[i])),
        None => [0; 3],
    };
    series.last = Some(totals);
    series.points.push_back(json!({
        "at": millis(SystemTime::now()),
        "connections": connections,
        "joins": per_second[0],
        "in": per_second[1],
        "out": per_second[2],
    }));
    while series.points.len() > KEPT {
        series.points.pop_front();
    }

    let pubsub = hub.pubsub();
    let mut topics: Vec<(String, usize)> =
        pubsub.registry().subscriber_counts().into_iter().filter(|(topic, _)| !is_internal(topic)).collect();
    topics.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let topics: Vec<Value> = topics
        .into_iter()
        .take(SHOWN)
        .map(|(topic, subscribers)| {
            json!({"topic": topic, "subscribers": subscribers, "history": pubsub.history_len(&topic)})
        })
        .collect();
    let presences: Vec<Value> = hub
        .presence_tracker()
        .keys_by_topic()
        .into_iter()
        .filter(|(topic, _)| !is_internal(topic))
        .take(SHOWN)
        .map(|(topic, keys)| {
            let keys: Vec<Value> = keys
                .into_iter()
                .take(SHOWN)
                .map(|(key, metas)| json!({"key": key, "metas": metas}))
                .collect();
            json!({"topic": topic, "keys": keys})
        })
        .collect();
    let recent: Vec<Value> = stats
        .map(|s| s.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|notable: crate::telemetry::Notable| {
            json!({"at": millis(notable.at), "what": notable.what, "detail": notable.detail})
        })
        .collect();
    json!({
        "instance": name,
        "at": millis(SystemTime::now()),
        "connections": connections,
        "totals": {"joins": totals[0], "in": totals[1], "out": totals[2]},
        "series": series.points,
        "topics": topics,
        "presences": presences,
        "recent": recent,
        "broker": match pubsub.connected() {
            None => "in memory",
            Some(true) => "Redis: connected",
            Some(false) => "Redis: disconnected",
        },
        "dropped": pubsub.dropped(),
    })
}

/// The runtime's own topics (a control character first): not the app's.
fn is_internal(topic: &str) -> bool {
    topic.starts_with(|c: char| c.is_control()) || topic == TOPIC
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}
