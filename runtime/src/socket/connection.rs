//! One WebSocket connection: its socket value, joined channels and frames.

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant};

use super::protocol::{self, ClientEvent, ClientFrame, ServerFrame};
use super::{Channel, Connect, Context, Endpoint, Message, Socket};
use crate::pubsub::{self, Broadcast};

/// Broadcasts waiting to be written to one client; a client further behind misses them.
const OUTBOUND_QUEUE: usize = 1024;
/// Close code for a connection `on_connect` refused (policy violation).
const CLOSE_REFUSED: u16 = 1008;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) async fn run<S: Socket>(mut ws: WebSocket, connect: Connect, endpoint: Endpoint) {
    let mut socket = S::default();
    if !socket.on_connect(&connect) {
        let close = CloseFrame { code: CLOSE_REFUSED, reason: "refused by on_connect".into() };
        let _ = ws.send(WsMessage::Close(Some(close))).await;
        return;
    }
    let (subscriber, mut broadcasts) = mpsc::channel(OUTBOUND_QUEUE);
    let mut connection = Connection {
        id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        connect,
        endpoint: endpoint.clone(),
        joined: HashMap::new(),
        subscriber,
    };
    let mut ping = interval_at(Instant::now() + endpoint.ping_interval, endpoint.ping_interval);

    'connection: loop {
        let frames: Vec<String> = tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => connection.handle(text.as_str()),
                Some(Ok(WsMessage::Binary(_))) => {
                    vec![ServerFrame::error(None, "", "binary frames are not supported").encode()]
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
            },
            Some(broadcast) = broadcasts.recv() => connection.forward(&broadcast),
            _ = ping.tick() => vec!["ping".to_string()],
        };
        for frame in frames {
            if ws.send(WsMessage::Text(frame.into())).await.is_err() {
                break 'connection;
            }
        }
    }
    connection.leave_all();
    socket.on_disconnect();
}

struct Connection {
    id: u64,
    connect: Connect,
    endpoint: Endpoint,
    joined: HashMap<String, Box<dyn Channel>>,
    subscriber: pubsub::Subscriber,
}

impl Connection {
    /// Handles one text frame; returns the frames to send back, reply first.
    fn handle(&mut self, text: &str) -> Vec<String> {
        // Amber's client answers the server's keep-alive; nothing to do.
        if text == "pong" || text == "ping" {
            return Vec::new();
        }
        let frame = match protocol::decode(text) {
            Ok(frame) => frame,
            Err(reason) => return vec![ServerFrame::error(None, "", &reason).encode()],
        };
        let mut outbox = Vec::new();
        let reply = match frame.event {
            ClientEvent::Join => self.join(&frame, &mut outbox),
            ClientEvent::Message => self.message(frame.clone(), &mut outbox),
            ClientEvent::Leave => self.leave(&frame, &mut outbox),
        };
        reply.into_iter().chain(outbox).map(|frame| frame.encode()).collect()
    }

    fn join(&mut self, frame: &ClientFrame, outbox: &mut Vec<ServerFrame>) -> Option<ServerFrame> {
        let topic = frame.topic.as_str();
        let Some(route) = self.endpoint.channels.find(topic) else {
            return Some(ServerFrame::error(frame.reference.clone(), topic, "unmatched topic"));
        };
        // A second join of a topic starts it afresh.
        if let Some(mut old) = self.joined.remove(topic) {
            old.leave(&mut self.context(topic, &mut Vec::new()));
        }
        let mut channel = route.open();
        let mut context = Context { topic, connect: &self.connect, outbox };
        match channel.join(&mut context, &frame.payload) {
            Ok(()) => {
                pubsub::global().subscribe(topic, self.id, self.subscriber.clone());
                self.joined.insert(topic.to_string(), channel);
                frame.reference.clone().map(|reference| ServerFrame::ok(Some(reference), topic))
            }
            Err(reason) => {
                pubsub::global().unsubscribe(topic, self.id);
                Some(ServerFrame::error(frame.reference.clone(), topic, &reason))
            }
        }
    }

    fn message(&mut self, frame: ClientFrame, outbox: &mut Vec<ServerFrame>) -> Option<ServerFrame> {
        let topic = frame.topic.as_str();
        let Some(subject) = frame.subject.clone() else {
            return Some(ServerFrame::error(frame.reference, topic, "a message needs a subject"));
        };
        let Some(channel) = self.joined.get_mut(topic) else {
            return Some(ServerFrame::error(frame.reference, topic, "not joined"));
        };
        let mut context = Context { topic, connect: &self.connect, outbox };
        channel.message(&mut context, Message { subject, payload: frame.payload });
        frame.reference.map(|reference| ServerFrame::ok(Some(reference), topic))
    }

    fn leave(&mut self, frame: &ClientFrame, outbox: &mut Vec<ServerFrame>) -> Option<ServerFrame> {
        let topic = frame.topic.as_str();
        let Some(mut channel) = self.joined.remove(topic) else {
            return Some(ServerFrame::error(frame.reference.clone(), topic, "not joined"));
        };
        pubsub::global().unsubscribe(topic, self.id);
        channel.leave(&mut self.context(topic, outbox));
        frame.reference.clone().map(|reference| ServerFrame::ok(Some(reference), topic))
    }

    /// The frame for a broadcast, unless its topic was left while it was queued.
    fn forward(&self, broadcast: &Arc<Broadcast>) -> Vec<String> {
        if self.joined.contains_key(&broadcast.topic) {
            vec![broadcast.maze_json().to_string()]
        } else {
            Vec::new()
        }
    }

    /// Runs every channel's `leave` when the connection ends, however it ends.
    fn leave_all(&mut self) {
        for (topic, mut channel) in std::mem::take(&mut self.joined) {
            pubsub::global().unsubscribe(&topic, self.id);
            channel.leave(&mut self.context(&topic, &mut Vec::new()));
        }
    }

    fn context<'a>(&'a self, topic: &'a str, outbox: &'a mut Vec<ServerFrame>) -> Context<'a> {
        Context { topic, connect: &self.connect, outbox }
    }
}
