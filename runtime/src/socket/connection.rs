//! One WebSocket connection: its socket value, joined channels and frames,
//! and every way it can end (client close, error, idle timeout, slow
//! consumer, oversized message, server shutdown) running the same cleanup.

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tokio::time::{interval_at, sleep_until, Instant};

use super::serializer::{DecodeError, Inbound, InboundKind, Outbound, Serializer};
use super::{Channel, Connect, Context, Endpoint, Message, Socket};
use crate::pubsub::{self, Broadcast, Subscriber};

/// Close codes (RFC 6455 and the registry).
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) async fn run<S: Socket>(
    mut ws: WebSocket,
    connect: Connect,
    endpoint: Endpoint,
    serializer: Serializer,
) {
    let _tracked = endpoint.shutdown.track();
    let mut shutdown = endpoint.shutdown.signalled();
    let mut socket = S::default();
    if !socket.on_connect(&connect) {
        let _ = ws.send(close_frame(close::POLICY, "refused by on_connect")).await;
        return;
    }
    let limits = endpoint.limits.clone();
    let (queue, mut broadcasts) = mpsc::channel(limits.outbound_queue);
    let overflow = Arc::new(Notify::new());
    let mut connection = Connection {
        id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        connect,
        endpoint,
        serializer,
        joined: HashMap::new(),
        subscriber: Subscriber::new(queue, overflow.clone()),
    };
    let mut ping = interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
    let mut idle_deadline = Instant::now() + limits.idle_timeout;

    let closing: Option<(u16, &str)> = 'connection: loop {
        let frames: Vec<WsMessage> = tokio::select! {
            incoming = ws.recv() => {
                idle_deadline = Instant::now() + limits.idle_timeout;
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => connection.handle(text.as_str()),
                    Some(Ok(WsMessage::Binary(_))) => connection.reply_error("binary frames are not supported"),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    Some(Ok(WsMessage::Close(_))) | None => break None,
                    // tungstenite reports an oversized message as a capacity error.
                    Some(Err(error)) if error.to_string().contains("too long") => {
                        break Some((close::TOO_BIG, "message too big"))
                    }
                    Some(Err(_)) => break Some((close::PROTOCOL_ERROR, "protocol error")),
                }
            }
            Some(broadcast) = broadcasts.recv() => connection.forward(&broadcast),
            _ = ping.tick() => {
                // A WebSocket ping every client answers by itself, plus Amber's text "ping".
                let mut frames = vec![WsMessage::Ping(Default::default())];
                if serializer == Serializer::Maze {
                    frames.push(WsMessage::Text("ping".into()));
                }
                frames
            }
            _ = sleep_until(idle_deadline) => break Some((close::NORMAL, "idle timeout")),
            _ = overflow.notified() => break Some((close::TRY_AGAIN_LATER, "too slow: outbound queue full")),
            _ = shutdown.changed() => break Some((close::GOING_AWAY, "server shutting down")),
        };
        for frame in frames {
            if ws.send(frame).await.is_err() {
                break 'connection None;
            }
        }
    };
    connection.leave_all();
    socket.on_disconnect();
    if let Some((code, reason)) = closing {
        let _ = ws.send(close_frame(code, reason)).await;
    }
}

fn close_frame(code: u16, reason: &str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))
}

struct Joined {
    channel: Box<dyn Channel>,
    join_ref: Option<Value>,
}

struct Connection {
    id: u64,
    connect: Connect,
    endpoint: Endpoint,
    serializer: Serializer,
    joined: HashMap<String, Joined>,
    subscriber: Subscriber,
}

impl Connection {
    /// Handles one text frame; returns the frames to send back, reply first.
    fn handle(&mut self, text: &str) -> Vec<WsMessage> {
        // Amber's client answers the server's keep-alive; nothing to do.
        if self.serializer == Serializer::Maze && (text == "pong" || text == "ping") {
            return Vec::new();
        }
        let inbound = match self.serializer.decode(text) {
            Ok(inbound) => inbound,
            Err(error) => return self.encode(vec![Outbound::decode_error(error)]),
        };
        let mut outbox = Vec::new();
        let reply = match &inbound.kind {
            InboundKind::Join { payload } => self.join(&inbound, payload, &mut outbox),
            InboundKind::Message { subject, payload } => {
                self.message(&inbound, subject, payload, &mut outbox)
            }
            InboundKind::Leave => self.leave(&inbound, &mut outbox),
            InboundKind::Heartbeat => Some(Outbound::ok(&inbound)),
        };
        self.encode(reply.into_iter().chain(outbox).collect())
    }

    /// An error reply to a frame that names no topic or ref.
    fn reply_error(&self, reason: &str) -> Vec<WsMessage> {
        let error = DecodeError { reference: None, topic: String::new(), reason: reason.to_string() };
        self.encode(vec![Outbound::decode_error(error)])
    }

    fn encode(&self, frames: Vec<Outbound>) -> Vec<WsMessage> {
        frames
            .iter()
            .filter_map(|frame| self.serializer.encode(frame))
            .map(|text| WsMessage::Text(text.into()))
            .collect()
    }

    fn join(&mut self, inbound: &Inbound, payload: &Value, outbox: &mut Vec<Outbound>) -> Option<Outbound> {
        let topic = inbound.topic.as_str();
        let Some(route) = self.endpoint.channels.find(topic) else {
            return Some(Outbound::error(inbound, "unmatched topic"));
        };
        // A second join of a topic replaces the first: the old channel leaves and is closed.
        if let Some(old) = self.joined.remove(topic) {
            let join_ref = old.join_ref.clone();
            self.close_channel(topic, old, outbox);
            outbox.push(Outbound::Close { join_ref, topic: topic.to_string() });
        } else if self.joined.len() >= self.endpoint.limits.max_channels {
            return Some(Outbound::error(inbound, "too many channels on this connection"));
        }
        let mut channel = route.open();
        let mut context = Context { topic, connect: &self.connect, outbox };
        match channel.join(&mut context, payload) {
            Ok(()) => {
                pubsub::global().subscribe(topic, self.id, self.subscriber.clone());
                self.joined.insert(topic.to_string(), Joined { channel, join_ref: inbound.join_ref.clone() });
                self.wants_reply(inbound).then(|| Outbound::ok(inbound))
            }
            Err(reason) => Some(Outbound::error(inbound, &reason)),
        }
    }

    fn message(
        &mut self,
        inbound: &Inbound,
        subject: &str,
        payload: &Value,
        outbox: &mut Vec<Outbound>,
    ) -> Option<Outbound> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.joined.get_mut(topic) else {
            return Some(Outbound::error(inbound, "not joined"));
        };
        let mut context = Context { topic, connect: &self.connect, outbox };
        joined
            .channel
            .message(&mut context, Message { subject: subject.to_string(), payload: payload.clone() });
        self.wants_reply(inbound).then(|| Outbound::ok(inbound))
    }

    fn leave(&mut self, inbound: &Inbound, outbox: &mut Vec<Outbound>) -> Option<Outbound> {
        let topic = inbound.topic.as_str();
        let Some(joined) = self.joined.remove(topic) else {
            return Some(Outbound::error(inbound, "not joined"));
        };
        self.close_channel(topic, joined, outbox);
        self.wants_reply(inbound).then(|| Outbound::ok(inbound))
    }

    /// Phoenix clients always get a reply; maze clients when they sent a ref.
    fn wants_reply(&self, inbound: &Inbound) -> bool {
        self.serializer == Serializer::PhoenixV2 || inbound.reference.is_some()
    }

    fn close_channel(&self, topic: &str, mut joined: Joined, outbox: &mut Vec<Outbound>) {
        pubsub::global().unsubscribe(topic, self.id);
        joined.channel.leave(&mut Context { topic, connect: &self.connect, outbox });
    }

    /// The frame for a broadcast, unless its topic was left while it was queued.
    fn forward(&self, broadcast: &Arc<Broadcast>) -> Vec<WsMessage> {
        if self.joined.contains_key(&broadcast.topic) {
            vec![WsMessage::Text(self.serializer.broadcast(broadcast).as_ref().into())]
        } else {
            Vec::new()
        }
    }

    /// Runs every channel's `leave` when the connection ends, however it ends.
    fn leave_all(&mut self) {
        for (topic, joined) in std::mem::take(&mut self.joined) {
            self.close_channel(&topic, joined, &mut Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    //! Property tests: whatever a client sends, the connection answers and
    //! keeps working; it never panics.

    use super::*;
    use crate::socket::{Channels, Endpoint};
    use crate::{Config, Cookies, Session};
    use proptest::prelude::*;

    #[derive(Default)]
    struct Echo;
    impl Channel for Echo {
        fn message(&mut self, ctx: &mut Context, message: Message) {
            ctx.push(&message.subject, message.payload);
        }
    }

    #[derive(Default)]
    struct TestSocket;
    impl Socket for TestSocket {
        fn channels(channels: &mut Channels) {
            channels.add::<Echo>("room:*");
        }
    }

    fn connection(serializer: Serializer) -> Connection {
        let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
        let (queue, _) = mpsc::channel(8);
        Connection {
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
            connect: Connect { session: Session::default(), cookies: Cookies::default() },
            endpoint: Endpoint::new::<TestSocket>(&config, crate::shutdown::Shutdown::new()),
            serializer,
            joined: HashMap::new(),
            subscriber: Subscriber::new(queue, Arc::default()),
        }
    }

    fn texts(frames: Vec<WsMessage>) -> Vec<Value> {
        frames
            .into_iter()
            .map(|frame| match frame {
                WsMessage::Text(text) => serde_json::from_str(text.as_str()).expect("replies are JSON"),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    /// Frames a fuzzer would send: random text, random JSON, and near-valid frames.
    fn frame() -> impl Strategy<Value = String> {
        let json_leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_:*0-9]{0,12}".prop_map(Value::from),
        ];
        let json = json_leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map("event|topic|subject|payload|ref|[a-z]{1,4}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        });
        prop_oneof![
            ".{0,64}",
            json.prop_map(|value| value.to_string()),
            ("join|message|leave|shout", "[a-z_:0-9]{0,10}", proptest::option::of("[a-z]{0,6}")).prop_map(
                |(event, topic, subject)| {
                    serde_json::json!({"event": event, "topic": topic, "subject": subject}).to_string()
                }
            ),
            ("phx_join|phx_leave|heartbeat|phx_reply|new", "phoenix|room:[0-9]|x")
                .prop_map(|(event, topic)| serde_json::json!([null, "1", topic, event, {}]).to_string()),
        ]
    }

    proptest! {
        #[test]
        fn decoders_never_panic(text in frame()) {
            let _ = Serializer::Maze.decode(&text);
            let _ = Serializer::PhoenixV2.decode(&text);
        }

        #[test]
        fn every_malformed_frame_gets_an_error_reply(text in frame()) {
            for serializer in [Serializer::Maze, Serializer::PhoenixV2] {
                if serializer.decode(&text).is_err() && text != "ping" && text != "pong" {
                    let replies = texts(connection(serializer).handle(&text));
                    prop_assert_eq!(replies.len(), 1, "{:?}", text);
                    let status = match serializer {
                        Serializer::Maze => replies[0]["payload"]["status"].clone(),
                        Serializer::PhoenixV2 => replies[0][4]["status"].clone(),
                    };
                    prop_assert_eq!(status, "error");
                }
            }
        }

        #[test]
        fn garbage_never_wedges_a_connection(garbage in prop::collection::vec(frame(), 0..12)) {
            let mut maze = connection(Serializer::Maze);
            let mut phoenix = connection(Serializer::PhoenixV2);
            for text in &garbage {
                maze.handle(text);
                phoenix.handle(text);
            }
            maze.leave_all();
            phoenix.leave_all();
            let join = texts(maze.handle(r#"{"event":"join","topic":"room:ok","ref":"z"}"#));
            prop_assert_eq!(&join[0]["payload"]["status"], "ok");
            let join = texts(phoenix.handle(r#"["z","z","room:ok","phx_join",{}]"#));
            prop_assert_eq!(&join[0][4]["status"], "ok");
            let echo = texts(maze.handle(r#"{"event":"message","topic":"room:ok","subject":"s","payload":1}"#));
            prop_assert_eq!(&echo[0]["payload"], 1);
            maze.leave_all();
            phoenix.leave_all();
        }
    }
}
