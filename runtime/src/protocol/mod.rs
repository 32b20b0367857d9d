//! The two wire protocols, over one message model.
//!
//! **maze JSON** (what `maze.js` speaks; Amber's frame shapes, so Amber's
//! client works unchanged), one JSON object per text frame:
//! client → server `{"event":"join"|"message"|"leave","topic":..,"subject":..,"payload":..,"ref":..}`;
//! server → client `{"event":"message","topic":..,"subject":..,"payload":..}` and
//! `{"event":"reply","ref":..,"topic":..,"payload":{"status":"ok"|"error","response":{..}}}`.
//!
//! **Phoenix Channels V2** (the `phoenix` JS client and its Swift, Kotlin and
//! Dart siblings), chosen by the query `vsn=2.0.0`: JSON arrays
//! `[join_ref, ref, topic, event, payload]` with `phx_join`, `phx_leave`,
//! `phx_reply`, `phx_close` and the `phoenix`/`heartbeat` keep-alive. The
//! seed's `subject` is Phoenix's `event`.

mod broadcast;
mod position;

pub use broadcast::Broadcast;
pub use position::{Offset, Position};

use crate::websocket::Frame;
use serde::Deserialize;
use serde_json::{Value, json};

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Maze = 0,
    PhoenixV2 = 1,
}

/// A client frame, whatever its protocol.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inbound {
    pub join_ref: Option<Value>,
    pub reference: Option<Value>,
    pub topic: String,
    pub kind: InboundKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InboundKind {
    /// `recover`: the client asks for history: `Some(None)` on a first join
    /// (it wants to know the topic's position), `Some(Some(last seen))` on a
    /// rejoin (it wants what it missed); `None`: it does not.
    Join {
        payload: Value,
        recover: Option<Option<Position>>,
    },
    Message {
        subject: String,
        payload: Value,
    },
    Leave,
    Heartbeat,
}

/// A frame that could not be read, with what is known of it for the error reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DecodeError {
    pub reference: Option<Value>,
    pub topic: String,
    pub reason: String,
}

/// A frame for one client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outbound {
    Message {
        topic: String,
        subject: String,
        payload: Value,
    },
    Reply {
        join_ref: Option<Value>,
        reference: Option<Value>,
        topic: String,
        ok: bool,
        response: Value,
    },
    /// The server ended a channel (a second join of its topic replaced it).
    Close {
        join_ref: Option<Value>,
        topic: String,
    },
    /// A channel crashed (Phoenix's `phx_error`): the client rejoins.
    Crashed {
        join_ref: Option<Value>,
        topic: String,
    },
}

impl Outbound {
    pub fn ok(inbound: &Inbound) -> Outbound {
        Outbound::ok_with(inbound, json!({}))
    }

    /// An ok reply carrying `response`; `null` answers an empty object.
    pub fn ok_with(inbound: &Inbound, response: Value) -> Outbound {
        Outbound::Reply {
            join_ref: inbound.join_ref.clone(),
            reference: inbound.reference.clone(),
            topic: inbound.topic.clone(),
            ok: true,
            response: if response.is_null() { json!({}) } else { response },
        }
    }

    pub fn error(inbound: &Inbound, reason: &str) -> Outbound {
        Outbound::error_with(inbound, json!({ "reason": reason }))
    }

    /// An error reply carrying `response` (`{"reason": ...}` by convention).
    pub fn error_with(inbound: &Inbound, response: Value) -> Outbound {
        Outbound::Reply {
            join_ref: inbound.join_ref.clone(),
            reference: inbound.reference.clone(),
            topic: inbound.topic.clone(),
            ok: false,
            response,
        }
    }

    pub fn decode_error(error: DecodeError) -> Outbound {
        Outbound::Reply {
            join_ref: None,
            reference: error.reference,
            topic: error.topic,
            ok: false,
            response: json!({ "reason": error.reason }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MazeFrame {
    event: MazeEvent,
    topic: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default, rename = "ref")]
    reference: Option<Value>,
    /// On a join: `{"epoch", "offset"}`, the last broadcast the client saw,
    /// or `{}` on a first join.
    #[serde(default)]
    recover: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum MazeEvent {
    Join,
    Message,
    Leave,
}

impl Protocol {
    /// How many protocols there are: a broadcast caches one frame per protocol.
    pub const COUNT: usize = 2;

    /// Reads one text frame.
    pub fn decode(self, text: &str) -> Result<Inbound, DecodeError> {
        match self {
            Protocol::Maze => decode_maze(text),
            Protocol::PhoenixV2 => decode_phoenix(text),
        }
    }

    /// Writes one frame; `None` when this protocol has no such frame.
    pub fn encode(self, frame: &Outbound) -> Option<String> {
        let value = match (self, frame) {
            (_, Outbound::Message { topic, subject, payload }) => {
                return Some(self.encode_message(topic, subject, payload));
            }
            (Protocol::Maze, Outbound::Reply { reference, topic, ok, response, .. }) => {
                let mut reply = json!({"event": "reply", "topic": topic, "payload": status(*ok, response)});
                if let Some(reference) = reference {
                    reply["ref"] = reference.clone();
                }
                reply
            }
            // maze.js learns of both from the connection's close.
            (Protocol::Maze, Outbound::Close { .. } | Outbound::Crashed { .. }) => return None,
            (Protocol::PhoenixV2, Outbound::Reply { join_ref, reference, topic, ok, response }) => {
                json!([join_ref, reference, topic, "phx_reply", status(*ok, response)])
            }
            (Protocol::PhoenixV2, Outbound::Close { join_ref, topic }) => {
                json!([join_ref, join_ref, topic, "phx_close", {}])
            }
            (Protocol::PhoenixV2, Outbound::Crashed { join_ref, topic }) => {
                json!([join_ref, join_ref, topic, "phx_error", {}])
            }
        };
        Some(value.to_string())
    }

    /// The one encoding of a message for the client, pushed or broadcast:
    /// maze JSON `{"event":"message","topic","subject","payload"}`, Phoenix
    /// `[null, null, topic, subject, payload]`.
    fn encode_message(self, topic: &str, subject: &str, payload: &Value) -> String {
        self.encode_positioned(topic, subject, payload, None)
    }

    /// A message, with its place in the topic's history when it has one: an
    /// `"offset"` field in maze JSON, the offset in the (otherwise empty) ref
    /// slot of a Phoenix broadcast. Not the epoch: a client asking for
    /// recovery is told it once, in `maze_recovery`, before any broadcast.
    fn encode_positioned(
        self,
        topic: &str,
        subject: &str,
        payload: &Value,
        position: Option<&Position>,
    ) -> String {
        match self {
            Protocol::Maze => {
                let mut frame =
                    json!({"event": "message", "topic": topic, "subject": subject, "payload": payload});
                if let Some(position) = position {
                    frame["offset"] = json!(position.offset.to_string());
                }
                frame
            }
            Protocol::PhoenixV2 => {
                let reference = position.map(|position| position.offset.to_string());
                json!([null, reference, topic, subject, payload])
            }
        }
        .to_string()
    }

    /// A broadcast's WebSocket frame, encoded and framed once per protocol
    /// however many receive it: every subscriber's connection writes these
    /// same bytes. With its position in the topic's history when
    /// `with_position` (the client asked for recovery) and it has one;
    /// other clients are not sent what they have no use for.
    pub(crate) fn broadcast(self, broadcast: &Broadcast, with_position: bool) -> &Frame {
        let position = broadcast.position().filter(|_| with_position);
        let slot = self as usize * 2 + usize::from(position.is_some());
        broadcast.frames[slot].get_or_init(|| {
            let text =
                self.encode_positioned(&broadcast.topic, &broadcast.subject, &broadcast.payload, position);
            Frame::text(&text)
        })
    }
}

fn status(ok: bool, response: &Value) -> Value {
    json!({"status": if ok { "ok" } else { "error" }, "response": response})
}

fn invalid(reason: String) -> DecodeError {
    DecodeError { reference: None, topic: String::new(), reason }
}

fn decode_maze(text: &str) -> Result<Inbound, DecodeError> {
    let frame: MazeFrame =
        serde_json::from_str(text).map_err(|error| invalid(format!("invalid frame: {error}")))?;
    let kind = match frame.event {
        MazeEvent::Join => InboundKind::Join {
            payload: frame.payload,
            recover: frame.recover.as_ref().map(Position::from_json),
        },
        MazeEvent::Leave => InboundKind::Leave,
        MazeEvent::Message => match frame.subject {
            Some(subject) => InboundKind::Message { subject, payload: frame.payload },
            None => {
                return Err(DecodeError {
                    reference: frame.reference,
                    topic: frame.topic,
                    reason: "a message needs a subject".into(),
                });
            }
        },
    };
    Ok(Inbound { join_ref: None, reference: frame.reference, topic: frame.topic, kind })
}

fn decode_phoenix(text: &str) -> Result<Inbound, DecodeError> {
    let (join_ref, reference, topic, event, payload): (Option<Value>, Option<Value>, String, String, Value) =
        serde_json::from_str(text).map_err(|error| {
            invalid(format!("invalid frame: expected [join_ref, ref, topic, event, payload]: {error}"))
        })?;
    let kind = match event.as_str() {
        "heartbeat" if topic == "phoenix" => InboundKind::Heartbeat,
        "phx_join" => {
            // Phoenix clients opt in with `{"recover": {"epoch", "offset"}}` in their join params.
            let mut payload = payload;
            let recover = payload.as_object_mut().and_then(|params| params.remove("recover"));
            InboundKind::Join { payload, recover: recover.as_ref().map(Position::from_json) }
        }
        "phx_leave" => InboundKind::Leave,
        _ if event.starts_with("phx_") => {
            return Err(DecodeError { reference, topic, reason: format!("clients cannot send {event}") });
        }
        _ => InboundKind::Message { subject: event, payload },
    };
    Ok(Inbound { join_ref, reference, topic, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_amber_frames() {
        let join = Protocol::Maze.decode(r#"{"event":"join","topic":"chat_room:123"}"#).unwrap();
        assert_eq!(join.topic, "chat_room:123");
        assert_eq!(join.kind, InboundKind::Join { payload: Value::Null, recover: None });
        let message = Protocol::Maze
            .decode(r#"{"event":"message","topic":"chat_room:123","subject":"message_new","payload":{"message":"hi"},"ref":"7"}"#)
            .unwrap();
        assert_eq!(
            message.kind,
            InboundKind::Message { subject: "message_new".into(), payload: json!({"message": "hi"}) }
        );
        assert_eq!(message.reference, Some(json!("7")));
    }

    #[test]
    fn refuses_malformed_maze_frames() {
        for text in ["", "ping!", "{}", r#"{"event":"shout","topic":"t"}"#, r#"{"event":"join"}"#, "[1]"] {
            assert!(Protocol::Maze.decode(text).is_err(), "{text:?} should be refused");
        }
        let error = Protocol::Maze.decode(r#"{"event":"message","topic":"t","ref":1}"#).unwrap_err();
        assert_eq!((error.topic.as_str(), error.reference), ("t", Some(json!(1))));
    }

    #[test]
    fn encodes_maze_replies_with_their_ref() {
        let inbound = Inbound {
            join_ref: None,
            reference: Some(json!(3)),
            topic: "x".into(),
            kind: InboundKind::Leave,
        };
        let reply: Value = serde_json::from_str(
            &Protocol::Maze.encode(&Outbound::error(&inbound, "unmatched topic")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            reply,
            json!({"event": "reply", "ref": 3, "topic": "x", "payload": {"status": "error", "response": {"reason": "unmatched topic"}}})
        );
        let no_ref = Inbound { reference: None, ..inbound };
        let reply: Value =
            serde_json::from_str(&Protocol::Maze.encode(&Outbound::ok(&no_ref)).unwrap()).unwrap();
        assert!(reply.get("ref").is_none());
    }

    #[test]
    fn phoenix_frames_round_trip() {
        let join = Protocol::PhoenixV2.decode(r#"["1","1","room:lobby","phx_join",{"token":"t"}]"#).unwrap();
        assert_eq!(join.kind, InboundKind::Join { payload: json!({"token": "t"}), recover: None });
        let reply = Protocol::PhoenixV2.encode(&Outbound::ok(&join)).unwrap();
        assert_eq!(reply, r#"["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#);
        let beat = Protocol::PhoenixV2.decode(r#"[null,"5","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(beat.kind, InboundKind::Heartbeat);
        let push = Protocol::PhoenixV2.decode(r#"["1","6","room:lobby","new_msg",{"body":"hi"}]"#).unwrap();
        assert_eq!(
            push.kind,
            InboundKind::Message { subject: "new_msg".into(), payload: json!({"body": "hi"}) }
        );
        let broadcast = Broadcast::new("room:lobby", "new_msg", json!({"body": "hi"}));
        assert_eq!(
            Protocol::PhoenixV2.broadcast(&broadcast, false).text_payload(),
            r#"[null,null,"room:lobby","new_msg",{"body":"hi"}]"#
        );
    }

    #[test]
    fn encodes_a_broadcast_once_per_protocol() {
        let broadcast = Broadcast::new("t:1", "s", json!({"a": 1}));
        let first = Protocol::Maze.broadcast(&broadcast, true);
        let again = Protocol::Maze.broadcast(&broadcast, true);
        assert_eq!(first.as_bytes().as_ptr(), again.as_bytes().as_ptr(), "the same bytes, not a copy");
        let frame: Value = serde_json::from_str(first.text_payload()).unwrap();
        assert_eq!(frame, json!({"event": "message", "topic": "t:1", "subject": "s", "payload": {"a": 1}}));
    }

    #[test]
    fn refuses_malformed_phoenix_frames() {
        for text in
            ["", "{}", "[]", r#"[null,null,"t"]"#, r#"[1,2,3,4,5]"#, r#"[null,"1","t","phx_reply",{}]"#]
        {
            assert!(Protocol::PhoenixV2.decode(text).is_err(), "{text:?} should be refused");
        }
    }
}
