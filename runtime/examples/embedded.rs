//! A plain axum app, not a maze app: its own `Router`, its own
//! `tokio::net::TcpListener`, `axum::serve`. It serves a maze socket, its
//! channel (with history and presence), `/maze.js`, and routes of its own
//! that broadcast through the app's `Hub`.
//!
//! ```text
//! cargo run -p maze --features websockets --example embedded
//! ```
//!
//! Listens on 127.0.0.1:3000 (`PORT` overrides; `PORT=0` picks a free port)
//! and prints where on its first line. Served by `axum::serve`, or by
//! `maze::serve` with `SERVER=maze`. Then open a client on
//! `ws://127.0.0.1:3000/chat` (maze.js) or `.../chat/websocket` (the
//! official phoenix client), join `chat_room:lobby`, and push `message_new`.

use maze::axum::Router;
use maze::axum::extract::{Path, State};
use maze::axum::routing::{get, post};
use maze::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The app's own state: axum's, which maze's sockets and channels see too.
#[derive(Clone, Default)]
struct AppState {
    /// How many messages the chat has relayed.
    relayed: Arc<AtomicU64>,
}

#[derive(Default)]
struct ChatSocket {
    user_id: Option<i64>,
}

impl Socket<AppState> for ChatSocket {
    fn channels(channels: &mut Channels<Self, AppState>) {
        channels.add::<ChatRoomChannel>("chat_room:*");
    }

    async fn on_connect(&mut self, conn: &Connect<AppState>) -> bool {
        self.user_id = conn.params().get("user_id").and_then(|id| id.parse().ok());
        true
    }
}

#[derive(Default)]
struct ChatRoomChannel;

impl Channel<ChatSocket, AppState> for ChatRoomChannel {
    async fn join(
        &mut self,
        ctx: &mut Context<'_, ChatSocket, AppState>,
        payload: Value,
    ) -> Result<Value, String> {
        // A client that gives a name (`{"name": "ada"}`) is listed in the topic's presence.
        if let Some(name) = payload["name"].as_str() {
            ctx.track(name, json!({"name": name}));
        }
        Ok(json!({}))
    }

    /// Sends a message on to everyone on the topic, tagged with its sender; a
    /// blank one is refused with its reason.
    async fn message(&mut self, ctx: &mut Context<'_, ChatSocket, AppState>, message: Message) {
        if message.payload["message"].as_str().is_some_and(|text| text.trim().is_empty()) {
            return ctx.reply_error(json!({"reason": "empty message"}));
        }
        ctx.state().relayed.fetch_add(1, Ordering::Relaxed);
        let mut payload = message.payload;
        if let Some(fields) = payload.as_object_mut() {
            fields.insert("user_id".into(), json!(ctx.socket().user_id));
        }
        ctx.broadcast(&message.subject, payload);
    }
}

/// `GET /`: a route of the axum app itself.
async fn index(State(state): State<AppState>) -> String {
    format!("an axum app; {} messages relayed", state.relayed.load(Ordering::Relaxed))
}

/// `POST /announce/{room}`: broadcasts from a handler, through the hub (an extractor).
async fn announce(hub: maze::Hub, Path(room): Path<String>, body: String) -> &'static str {
    hub.broadcast(&format!("chat_room:{room}"), "message_new", json!({"message": body, "user_id": null}));
    "announced"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // maze's settings ([websockets]: limits, history, Redis) come from a
    // `maze::Config`, parsed from a file or, as here, from text.
    let config = maze::Config::parse("[app]\nname = \"embedded\"\n")?;
    let hub = maze::Hub::from_config(&config).await?;
    // The socket at /chat (and /chat/websocket), /maze.js and /maze.d.ts.
    let sockets = maze::Sockets::new(&config, &hub).socket::<ChatSocket>("/chat").into_router()?;
    let app = Router::new()
        .route("/", get(index))
        .route("/announce/{room}", post(announce))
        .merge(sockets)
        // The app's handlers see the hub: the `Hub` extractor, `maze::broadcast`.
        .layer(hub.layer())
        .with_state(AppState::default());

    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("embedded listening on http://{}", listener.local_addr()?);
    // On Ctrl-C: the sockets close (1001, after their `leave` and
    // `on_disconnect`), then the requests in flight finish.
    let stop = async move {
        let _ = tokio::signal::ctrl_c().await;
        hub.close_sockets().await;
    };
    // `axum::serve`, as any axum app. `maze::serve` (SERVER=maze) is the same
    // with maze's HTTP/1.1 server, under which a WebSocket is the TCP stream
    // itself: less memory per connection, faster fan-out (BENCHMARKS.md).
    if std::env::var("SERVER").as_deref() == Ok("maze") {
        maze::serve(listener, app).with_graceful_shutdown(stop).await?;
    } else {
        maze::axum::serve(listener, app).with_graceful_shutdown(stop).await?;
    }
    Ok(())
}
