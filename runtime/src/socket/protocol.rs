//! The maze JSON protocol: Amber's frame shapes plus `ref` → `reply`.
//!
//! Client → server: `{"event":"join"|"message"|"leave","topic":..,"subject":..,"payload":..,"ref":..}`.
//! Server → client: `{"event":"message","topic":..,"subject":..,"payload":..}` and
//! `{"event":"reply","ref":..,"topic":..,"payload":{"status":"ok"|"error","response":{..}}}`.

use serde::Deserialize;
use serde_json::{json, Value};

/// A decoded client frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientFrame {
    pub event: ClientEvent,
    pub topic: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub payload: Value,
    /// Echoed back in the reply; any JSON value the client chose.
    #[serde(default, rename = "ref")]
    pub reference: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClientEvent {
    Join,
    Message,
    Leave,
}

pub(crate) fn decode(text: &str) -> Result<ClientFrame, String> {
    serde_json::from_str(text).map_err(|error| format!("invalid frame: {error}"))
}

/// A frame for one client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ServerFrame {
    Message { topic: String, subject: String, payload: Value },
    Reply { reference: Option<Value>, topic: String, ok: bool, response: Value },
}

impl ServerFrame {
    pub fn ok(reference: Option<Value>, topic: &str) -> ServerFrame {
        ServerFrame::Reply { reference, topic: topic.into(), ok: true, response: json!({}) }
    }

    pub fn error(reference: Option<Value>, topic: &str, reason: &str) -> ServerFrame {
        ServerFrame::Reply {
            reference,
            topic: topic.into(),
            ok: false,
            response: json!({ "reason": reason }),
        }
    }

    pub fn encode(&self) -> String {
        match self {
            ServerFrame::Message { topic, subject, payload } => {
                json!({"event": "message", "topic": topic, "subject": subject, "payload": payload})
            }
            ServerFrame::Reply { reference, topic, ok, response } => {
                let mut frame = json!({
                    "event": "reply",
                    "topic": topic,
                    "payload": {"status": if *ok { "ok" } else { "error" }, "response": response},
                });
                if let Some(reference) = reference {
                    frame["ref"] = reference.clone();
                }
                frame
            }
        }
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_amber_frames() {
        let join = decode(r#"{"event":"join","topic":"chat_room:123"}"#).unwrap();
        assert_eq!((join.event, join.topic.as_str()), (ClientEvent::Join, "chat_room:123"));
        let message = decode(
            r#"{"event":"message","topic":"chat_room:123","subject":"message_new","payload":{"message":"hi"},"ref":"7"}"#,
        )
        .unwrap();
        assert_eq!(message.subject.as_deref(), Some("message_new"));
        assert_eq!(message.payload, json!({"message": "hi"}));
        assert_eq!(message.reference, Some(json!("7")));
    }

    #[test]
    fn refuses_malformed_frames() {
        for text in ["", "ping!", "{}", r#"{"event":"shout","topic":"t"}"#, r#"{"event":"join"}"#, "[1]"] {
            assert!(decode(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn encodes_replies_with_their_ref() {
        let reply: Value =
            serde_json::from_str(&ServerFrame::error(Some(json!(3)), "x", "unmatched topic").encode())
                .unwrap();
        assert_eq!(
            reply,
            json!({"event": "reply", "ref": 3, "topic": "x", "payload": {"status": "error", "response": {"reason": "unmatched topic"}}})
        );
        let no_ref: Value = serde_json::from_str(&ServerFrame::ok(None, "x").encode()).unwrap();
        assert!(no_ref.get("ref").is_none());
    }
}
